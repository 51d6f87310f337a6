import { describe, expect, it } from 'vitest';
import { MAX_LATENCY_MICROS, MAX_REQUEST_ID_LENGTH, MAX_TIME_MS, MIN_SAMPLING_PERCENTAGE } from '@modelwatch/protocol';
import { beginEvent } from '../../src/stream/formats/common.js';
import { eventFormatOf } from '../../src/stream/formats/index.js';
import { native } from '../../src/stream/formats/native.js';
import { endpointRecord } from '../helpers.js';
import { ARRIVAL, invalid } from './helpers.js';

const ep = endpointRecord(['a', 'b'], ['p0']);
const parse = (e: unknown) => {
  beginEvent();
  return native.parse(e, ep, ARRIVAL);
};

describe('native event format', () => {
  it('is the fallback: it detects anything, and the registry gives it what no other format takes', () => {
    expect(native.detect({ inputs: [[1, 2]] })).toBe(true);
    expect(native.detect('text')).toBe(true);
    expect(eventFormatOf({ inputs: [[1, 2]], outputs: [0] })).toBe(native);
    expect(eventFormatOf({ inputs: [[1, 2]], resp: { outputs: [0] } })).toBe(native);
    expect(eventFormatOf(42)).toBe(native);
  });

  it('parses rows (arrays, objects, one flat row) with outputs, request id and latency', () => {
    const p = parse({ when: ARRIVAL - 1000, inputs: [[1, 2], { b: 4 }], outputs: [0, 1], requestId: 'r', latencyMicros: 50 });
    expect(p).toMatchObject({
      kind: 'native',
      n: 2,
      x: [
        [1, null],
        [2, 4],
      ],
      y: [[0, 1]],
      rid: ['r#0', 'r#1'],
      lat: [50, 50],
      requests: 1,
      tMin: ARRIVAL - 1000,
    });
    expect(parse({ inputs: [5, 6], outputs: 1 })).toMatchObject({ n: 1, x: [[5], [6]], y: [[1]], ts: [ARRIVAL] });
  });

  it('counts an error event as one failed request without rows', () => {
    expect(parse({ error: 'boom', latencyMicros: 7 })).toMatchObject({ n: 0, requests: 1, errors: 1, latencies: [7] });
  });

  it('says what is wrong', () => {
    expect(invalid(() => native.parse('x', ep, ARRIVAL))).toBe('an event must be a JSON object, got the string "x"');
    expect(invalid(() => native.parse({}, ep, ARRIVAL))).toBe('inputs: missing (a list of rows)');
    expect(invalid(() => native.parse({ inputs: [[1]] }, ep, ARRIVAL))).toMatch(/^inputs\[0\]: 1 values, but the endpoint has 2 features/);
    expect(invalid(() => native.parse({ inputs: [[1, 2]], requestId: 3 }, ep, ARRIVAL))).toBe('requestId: expected a string, got number 3');
  });

  it('takes a request id of up to 256 characters, and refuses a longer one naming the field', () => {
    expect(MAX_REQUEST_ID_LENGTH).toBe(256);
    const longest = 'r'.repeat(MAX_REQUEST_ID_LENGTH);
    expect(parse({ inputs: [[1, 2]], requestId: longest })).toMatchObject({ rid: [longest] });
    expect(invalid(() => parse({ inputs: [[1, 2]], requestId: `${longest}x` }))).toBe('requestId: 257 characters, over the limit of 256 for a request id');
    expect(invalid(() => parse({ inputs: [[1, 2]], requestId: 'r'.repeat(100_000) }))).toBe(
      'requestId: 100000 characters, over the limit of 256 for a request id',
    );
  });

  it('takes a time a Date holds, a latency up to an hour, a sampling percentage from 0.001 to 100: one event cannot skew serving statistics', () => {
    const edge = parse({ inputs: [[1, 2]], when: MAX_TIME_MS, latencyMicros: MAX_LATENCY_MICROS, samplingPercentage: MIN_SAMPLING_PERCENTAGE });
    expect(edge).toMatchObject({ tMax: 8.64e15, latencies: [3.6e9], samplingPercentage: 0.001 });
    expect(invalid(() => parse({ inputs: [[1, 2]], when: 1e300 }))).toBe(
      'when: 1e+300 is out of range: a time in ms since the epoch is at most 8640000000000000 (the year 275760)',
    );
    expect(invalid(() => parse({ inputs: [[1, 2]], when: MAX_TIME_MS + 1 }))).toMatch(/^when: 8640000000000001 is out of range/);
    expect(invalid(() => parse({ error: 'boom', when: 1e300 }))).toMatch(/^when: 1e\+300 is out of range/);
    expect(invalid(() => parse({ inputs: [[1, 2]], latencyMicros: 1e308 }))).toBe('latencyMicros: 1e+308 µs is over the limit of 3600000000 µs (an hour)');
    expect(invalid(() => parse({ inputs: [[1, 2]], samplingPercentage: 1e-300 }))).toBe(
      'samplingPercentage: expected a percentage, 0.001 <= p <= 100, got number 1e-300',
    );
    expect(invalid(() => parse({ inputs: [[1, 2]], samplingPercentage: 0.0009 }))).toMatch(/^samplingPercentage: expected a percentage, 0.001 <= p <= 100/);
    // an error event with a latency out of range still counts as an error, without it
    expect(parse({ error: 'boom', latencyMicros: 1e308 })).toMatchObject({ requests: 1, errors: 1, latencies: [] });
  });

  it('infers f0..fn (or the keys of an object row) and p0..pn, only for the names the endpoint lacks', () => {
    const bare = endpointRecord([], []);
    expect(native.inferNames({ inputs: [[1, 2, 3]], outputs: [[0, 1]] }, bare)).toEqual({ featureNames: ['f0', 'f1', 'f2'], labelNames: ['p0', 'p1'] });
    expect(native.inferNames({ inputs: [{ x: 1, y: 2 }] }, bare)).toEqual({ featureNames: ['x', 'y'] });
    expect(native.inferNames({ inputs: [[1, 2]], outputs: [0] }, ep)).toEqual({});
    expect(native.inferNames('x', bare)).toEqual({});
  });
});
