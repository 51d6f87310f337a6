import { describe, expect, it } from 'vitest';
import { beginEvent } from '../../src/stream/formats/common.js';
import { eventFormatOf } from '../../src/stream/formats/index.js';
import { microBatch } from '../../src/stream/formats/micro-batch.js';
import { endpointRecord } from '../helpers.js';
import { ARRIVAL, invalid } from './helpers.js';

const ep = endpointRecord(['a', 'b'], ['p0']);
const parse = (e: unknown) => {
  beginEvent();
  return microBatch.parse(e, ep, ARRIVAL);
};

describe('columnar micro-batch format', () => {
  it('detects format "columnar", before the other formats', () => {
    expect(microBatch.detect({ format: 'columnar', inputs: {} })).toBe(true);
    expect(microBatch.detect({ format: 'batch' })).toBe(false);
    expect(microBatch.detect({ inputs: { a: [1] } })).toBe(false);
    expect(eventFormatOf({ format: 'columnar', request: {} })).toBe(microBatch);
  });

  it('parses columns by name or in order, with a time per row and the requests the sender counted', () => {
    const p = parse({ format: 'columnar', when: [ARRIVAL - 2, ARRIVAL - 1], inputs: { a: [1, 2], b: [3, 4] }, outputs: { p0: [0, 1] }, latencyMicros: 9 });
    expect(p).toMatchObject({
      kind: 'columnar',
      n: 2,
      x: [
        [1, 2],
        [3, 4],
      ],
      y: [[0, 1]],
      ts: [ARRIVAL - 2, ARRIVAL - 1],
      requests: 2,
      latencies: [9, 9],
      tMin: ARRIVAL - 2,
      tMax: ARRIVAL - 1,
    });
    expect(parse({ format: 'columnar', inputs: [[1], [2]], outputs: [5], requests: { count: 10, errors: 2 } })).toMatchObject({
      n: 1,
      y: [[5]],
      requests: 10,
      errors: 2,
    });
  });

  it('says what is wrong', () => {
    expect(invalid(() => microBatch.parse({ format: 'columnar' }, ep, ARRIVAL))).toBe('inputs: missing (one list of values per column)');
    expect(invalid(() => microBatch.parse({ format: 'columnar', inputs: { c: [1] } }, ep, ARRIVAL))).toBe("inputs: unknown column 'c' (the endpoint has a, b)");
    expect(invalid(() => microBatch.parse({ format: 'columnar', inputs: { a: [1], b: [1, 2] } }, ep, ARRIVAL))).toBe(
      'inputs.b: 2 values, but the other columns have 1',
    );
  });

  it('takes request ids of up to 256 characters, and refuses a longer one naming its row', () => {
    const ok = { format: 'columnar', inputs: { a: [1, 2], b: [3, 4] } };
    const longest = 'r'.repeat(256);
    expect(parse({ ...ok, requestIds: [longest, null] })).toMatchObject({ rid: [longest, null] });
    expect(invalid(() => parse({ ...ok, requestIds: ['a', 'r'.repeat(100_000)] }))).toBe(
      'requestIds[1]: 100000 characters, over the limit of 256 for a request id',
    );
  });

  it('bounds its times, latencies, request counts and sampling percentage as native events', () => {
    const ok = { format: 'columnar', inputs: { a: [1, 2], b: [3, 4] } };
    expect(invalid(() => parse({ ...ok, when: [ARRIVAL, 1e300] }))).toMatch(/^when\[1\]: 1e\+300 is out of range/);
    expect(invalid(() => parse({ ...ok, when: 1e300 }))).toMatch(/^when: 1e\+300 is out of range/);
    expect(invalid(() => parse({ ...ok, latencyMicros: 1e308 }))).toMatch(/^latencyMicros: 1e\+308 µs is over the limit/);
    expect(invalid(() => parse({ ...ok, latencyMicros: [5, 1e308] }))).toMatch(/^latencyMicros\[1\]: 1e\+308 µs is over the limit/);
    expect(invalid(() => parse({ ...ok, requests: { count: 2, latencyMicros: [1e308] } }))).toMatch(
      /^requests.latencyMicros\[0\]: 1e\+308 µs is over the limit/,
    );
    expect(invalid(() => parse({ ...ok, requests: { count: 1e300 } }))).toBe(
      'requests.count: expected a whole number, 0 <= n <= 9007199254740991, got number 1e+300',
    );
    expect(invalid(() => parse({ ...ok, requests: { count: 2, dropped: 2 ** 53 } }))).toMatch(/^requests.dropped: expected a whole number/);
    expect(invalid(() => parse({ ...ok, samplingPercentage: 1e-300 }))).toMatch(/^samplingPercentage: expected a percentage, 0.001 <= p <= 100/);
  });

  it('infers the column names of objects, or f0..fn and p0..pn of lists', () => {
    const bare = endpointRecord([], []);
    expect(microBatch.inferNames({ format: 'columnar', inputs: { x: [1], y: [2] }, outputs: { score: [0] } }, bare)).toEqual({
      featureNames: ['x', 'y'],
      labelNames: ['score'],
    });
    expect(microBatch.inferNames({ format: 'columnar', inputs: [[1], [2], [3]], outputs: [0] }, bare)).toEqual({
      featureNames: ['f0', 'f1', 'f2'],
      labelNames: ['p0'],
    });
    expect(microBatch.inferNames({ format: 'columnar', inputs: { x: [1] } }, ep)).toEqual({});
  });
});
