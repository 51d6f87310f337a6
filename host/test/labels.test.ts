/** Ground-truth events (`domain/labels.ts`): what a label must give. */
import { describe, expect, it } from 'vitest';
import { normalizeLabel } from '../src/domain/labels.js';
import { InvalidEventError } from '../src/errors.js';
import { endpointRecord } from './helpers.js';

const ep = endpointRecord(['a'], ['churned']);

describe('normalizeLabel', () => {
  it('takes labels by output name, or one label for an endpoint with one output', () => {
    expect(normalizeLabel({ requestId: 'r-1', labels: { churned: 1 } }, ep)).toEqual({ requestId: 'r-1', labels: { churned: 1 } });
    expect(normalizeLabel({ requestId: 'r-2', label: true }, ep)).toEqual({ requestId: 'r-2', labels: { churned: 1 } });
  });

  it("takes a request id of up to 256 characters, or a row's id made of one (`<id>#<row>`), and refuses a longer one naming the field", () => {
    const longest = 'r'.repeat(256);
    expect(normalizeLabel({ requestId: longest, label: 0 }, ep).requestId).toBe(longest);
    // the id the host gives the row 123 of a request of the longest id
    expect(normalizeLabel({ requestId: `${longest}#123`, label: 0 }, ep).requestId).toBe(`${longest}#123`);
    expect(normalizeLabel({ requestId: `${longest}#${10 ** 15 - 1}`, label: 0 }, ep).requestId).toHaveLength(272);
    expect(() => normalizeLabel({ requestId: 'r'.repeat(273), label: 0 }, ep)).toThrow(
      new InvalidEventError('requestId: 273 characters, over the limit of 272 for a request id'),
    );
    expect(() => normalizeLabel({ requestId: 'r'.repeat(100_000), label: 0 }, ep)).toThrow(
      new InvalidEventError('requestId: 100000 characters, over the limit of 272 for a request id'),
    );
    expect(() => normalizeLabel({ label: 0 }, ep)).toThrow(/^requestId: missing/);
  });
});
