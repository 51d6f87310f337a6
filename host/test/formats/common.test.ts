import { describe, expect, it } from 'vitest';
import { MAX_NESTING, checkNesting, jsonText } from '../../src/stream/formats/common.js';
import { parseEvent } from '../../src/stream/formats/index.js';
import { endpointRecord } from '../helpers.js';
import { ARRIVAL, invalid } from './helpers.js';

const ep = endpointRecord(['a', 'b'], ['p0']);

/** A value in `levels` lists, one in another. */
function nested(levels: number, inner: unknown = 1): unknown {
  let v = inner;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

describe('what every event format shares', () => {
  it('refuses an event whose lists and objects nest deeper than 16, in any format, naming the field', () => {
    const flat = " (an event's values are flat: rows of values, outputs, labels)";
    expect(invalid(() => parseEvent({ inputs: [[1, 2]], labels: { a: nested(5000) } }, ep, ARRIVAL))).toBe(
      `labels: lists and objects nested more than 16 deep in the event${flat}`,
    );
    expect(invalid(() => parseEvent(nested(5000), ep, ARRIVAL))).toBe(`the event: lists and objects nested more than 16 deep in the event${flat}`);
    // a field no format reads, an MLRun event's, a columnar batch's, an error event's inputs (never read)
    expect(invalid(() => parseEvent({ inputs: [[1, 2]], extra: nested(20) }, ep, ARRIVAL))).toMatch(/^extra: lists and objects nested more than 16 deep/);
    expect(invalid(() => parseEvent({ request: { id: 'r', inputs: nested(20) }, resp: { outputs: 1 }, when: 1, microsec: 1 }, ep, ARRIVAL))).toMatch(
      /^request: lists and objects nested/,
    );
    expect(invalid(() => parseEvent({ format: 'columnar', inputs: { a: nested(20) } }, ep, ARRIVAL))).toMatch(/^inputs: lists and objects nested/);
    expect(invalid(() => parseEvent({ error: 'boom', inputs: nested(20) }, ep, ARRIVAL))).toMatch(/^inputs: lists and objects nested/);
  });

  it('takes nesting up to the bound: the event and 15 levels in a field', () => {
    expect(() => checkNesting({ labels: nested(MAX_NESTING - 1) })).not.toThrow();
    expect(() => checkNesting({ labels: nested(MAX_NESTING) })).toThrow(/^labels: /);
    expect(() => checkNesting(nested(MAX_NESTING))).not.toThrow();
    expect(() => checkNesting(nested(MAX_NESTING + 1))).toThrow(/^the event: /);
    expect(parseEvent({ inputs: [[1, 2]], labels: { a: 'b' }, meta: nested(MAX_NESTING - 1) }, ep, ARRIVAL)).toMatchObject({ n: 1 });
  });

  it('writes the JSON text of a value however deep, as JSON.stringify writes it', () => {
    const values: unknown[] = [
      { a: [1, 'x', null, true, { b: [] }], 'c"d': { e: {} }, u: undefined },
      [[], {}, [null], 'é\n"\u2028'],
      1.5e-7,
      'text',
      null,
      nested(3000, { k: [1, { z: 2 }] }),
    ];
    for (const v of values) expect(jsonText(v)).toBe(JSON.stringify(v));
    const deep = nested(100_000, { k: 'v' });
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    const text = jsonText(deep);
    expect(text).toBe(`${'['.repeat(100_000)}{"k":"v"}${']'.repeat(100_000)}`);
    expect(JSON.parse(text)).toBeDefined();
  });
});
