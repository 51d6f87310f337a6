import { describe, expect, it } from 'vitest';
import type { AppOutputMessage, WindowCursor, WindowRecord } from '@modelwatch/protocol';
import { windowCursor, windowOrder } from '../src/domain/results-order.js';
import { jsonCodec } from '../src/nats/codec.js';
import { decodeOutput, decodeServingMinute, InvalidMessageError } from '../src/writer/messages.js';
import { pageOf } from '../src/writer/pages.js';

const output: AppOutputMessage = {
  v: 1,
  endpointId: 'a1b2',
  endpointName: 'churn',
  app: 'row-count',
  version: '1.0.0',
  windowStart: 1000,
  windowEnd: 2000,
  outcome: 'ok',
  rows: 3,
  results: [{ name: 'rows', value: 3, kind: 0, status: 0 }],
  metrics: [{ name: 'm', value: 1 }],
  durationMs: 1,
  completedAt: 2100,
  runner: 'r',
};

describe('the messages the writer consumes', () => {
  it('takes a valid output on its own subject', () => {
    expect(decodeOutput(jsonCodec.encode(output), 'mw.outputs.a1b2')).toEqual(output);
  });

  it('refuses, naming what is wrong: not JSON, not an output, another subject, bad names, a window that ends before it starts', () => {
    const refused = (data: unknown, subject = 'mw.outputs.a1b2') => {
      try {
        decodeOutput(typeof data === 'string' ? new TextEncoder().encode(data) : jsonCodec.encode(data), subject);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidMessageError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused('{nope')).toMatch(/^the output is not JSON: /);
    expect(refused({ v: 1 })).toBe("not an app output: (the message) must have required property 'endpointId'");
    expect(refused(output, 'mw.outputs.zz')).toBe('an output of endpoint id a1b2 published on mw.outputs.zz');
    expect(refused({ ...output, endpointName: '__x y' })).toMatch(/^not an app output: \/endpointName must match pattern/);
    expect(refused({ ...output, results: [{ name: 'a b', value: 1, kind: 0, status: 0 }] })).toMatch(
      /^not an app output: \/results\/0\/name must match pattern/,
    );
    expect(refused({ ...output, results: [{ name: 'r', value: 1, kind: 0, status: 7 }] })).toMatch(/^not an app output: \/results\/0\/status must be <= 2/);
    expect(refused({ ...output, windowEnd: 1000 })).toBe('window end 1000 is not after its start 1000');
    expect(() => decodeServingMinute(jsonCodec.encode({ v: 1 }), 'mw.serving.minute.x')).toThrow(/^not a serving interval: /);
  });

  it("takes an output with its window's profile, and refuses a profile that is not statistics per column", () => {
    const profile = { a: { type: 'categorical', count: 3, missing: 0, unique: 1, frequencies: { x: 3 } } } as const;
    expect(decodeOutput(jsonCodec.encode({ ...output, profile }), 'mw.outputs.a1b2')).toEqual({ ...output, profile });
    expect(() => decodeOutput(jsonCodec.encode({ ...output, profile: 'lots' }), 'mw.outputs.a1b2')).toThrow(/^not an app output: \/profile must be object/);
    expect(() => decodeOutput(jsonCodec.encode({ ...output, profile: { a: { type: 'text', count: 1, missing: 0 } } }), 'mw.outputs.a1b2')).toThrow(
      /^not an app output: \/profile\/a\/type must be equal to one of the allowed values/,
    );
  });
});

describe('pages of windows under a byte budget', () => {
  const windows = Array.from(
    { length: 10 },
    (_, i) => ({ ...output, windowStart: 1_000_000 + i * 1000, windowEnd: 1_001_000 + i * 1000, storedAt: 0 }) as unknown as WindowRecord,
  );
  const size = Buffer.byteLength(JSON.stringify(windows[0])) + 1;

  it("holds what fits, with the last window as the next page's cursor, until the last", () => {
    const budget = 64 + 3 * size;
    // as a query has them: newest first
    const ordered = [...windows].sort(windowOrder);
    const pages: WindowRecord[][] = [];
    for (let after: WindowCursor | undefined, more = true; more;) {
      const p = pageOf(after ? ordered.filter((w) => windowOrder(w, after!) > 0) : ordered, budget);
      pages.push(p.windows);
      more = p.next !== undefined;
      if (p.next) expect(p.next).toEqual(windowCursor(p.windows.at(-1)!));
      after = p.next;
    }
    expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
    expect(pages.flat()).toEqual(ordered);
  });

  it('holds at least one window, and all in one page when they fit', () => {
    expect(pageOf(windows, 1).windows).toHaveLength(1);
    expect(pageOf(windows, 1_000_000)).toEqual({ windows });
    expect(pageOf([], 1_000_000)).toEqual({ windows: [] });
  });
});

describe('the order of a results query', () => {
  const w = (windowStart: number, endpointName: string, app: string, version = '1.0.0') => ({ windowStart, endpointName, app, version });

  it('is newest first, then by endpoint name, app and version, by code point', () => {
    const sorted = [w(2, 'b', 'x'), w(1, 'B', 'x'), w(1, 'a', 'y'), w(1, 'b', 'x', '1.0.0'), w(1, 'b', 'x', '2.0.0'), w(1, 'b', 'z')].sort(windowOrder);
    expect(sorted).toEqual([w(2, 'b', 'x'), w(1, 'B', 'x'), w(1, 'a', 'y'), w(1, 'b', 'x', '1.0.0'), w(1, 'b', 'x', '2.0.0'), w(1, 'b', 'z')]);
    expect(windowOrder(w(1, 'a', 'y'), w(1, 'a', 'y'))).toBe(0);
  });
});
