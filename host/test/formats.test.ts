import { describe, expect, it } from 'vitest';
import type { EndpointRecord } from '@modelwatch/protocol';
import { InvalidEventError } from '../src/errors.js';
import { eventKind, eventsOf, inferNames, inferNamesFrom, isRequestBatch, parseEvent, parseRequestBatch } from '../src/stream/events.js';
import { LatencySketch, RangeSet } from '../src/stream/sketch.js';
import { endpointRecord } from './helpers.js';

const ARRIVAL = Date.UTC(2026, 10, 27, 12);
const ep = (featureNames: string[], labelNames: string[] = ['p0']): EndpointRecord => endpointRecord(featureNames, labelNames);

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    return (err as Error).message;
  }
  throw new Error('expected an InvalidEventError');
}

/** What an MLRun serving function pushes (v2_serving.py, ModelLogPusher.push). */
const mlrun = (extra: Record<string, unknown> = {}) => ({
  class: 'ClassifierModel',
  worker: 0,
  model: 'churn:latest',
  host: 'serving-7d9',
  function_uri: 'proj/serving',
  request: {
    id: 'f3a1',
    inputs: [
      [42, 55000],
      [37, 61000],
    ],
  },
  op: 'infer',
  resp: { id: 'f3a1', model_name: 'churn', outputs: [0.12, 0.87] },
  when: '2026-11-27 11:59:58.123456+00:00',
  microsec: 1234,
  ...extra,
});

describe('MLRun inference events', () => {
  const churn = ep(['age', 'income']);

  it('is recognised and read as MLRun writes it', () => {
    expect(eventKind(mlrun())).toBe('mlrun');
    const p = parseEvent(mlrun(), churn, ARRIVAL);
    expect(p.kind).toBe('mlrun');
    expect(p.n).toBe(2);
    expect(p.ts).toEqual([Date.UTC(2026, 10, 27, 11, 59, 58, 123), Date.UTC(2026, 10, 27, 11, 59, 58, 123)]);
    expect(p.x).toEqual([
      [42, 37],
      [55000, 61000],
    ]);
    expect(p.y).toEqual([[0.12, 0.87]]);
    expect(p.rid).toEqual(['f3a1#0', 'f3a1#1']);
    expect(p.lat).toEqual([1234, 1234]);
    expect(p).toMatchObject({ requests: 1, errors: 0, latencies: [1234], samplingPercentage: 100 });
  });

  it('takes a scalar output as the one prediction of one row, and resp.id when request.id is missing', () => {
    const p = parseEvent(mlrun({ request: { inputs: [[1, 2]] }, resp: { id: 'x', outputs: 1 } }), churn, ARRIVAL);
    expect(p.y).toEqual([[1]]);
    expect(p.rid).toEqual(['x']);
  });

  it('reads the time without an offset as UTC', () => {
    expect(parseEvent(mlrun({ when: '2024-01-01 10:00:00.123456' }), churn, ARRIVAL).ts[0]).toBe(Date.UTC(2024, 0, 1, 10, 0, 0, 123));
  });

  it.each([
    ['when', { when: undefined }, /^when: missing/],
    ['request.id and resp.id', { request: { inputs: [[1, 2]] }, resp: { outputs: [1] } }, /^request\.id: missing/],
    ['microsec', { microsec: undefined }, /^microsec: missing/],
    ['request.inputs', { request: { id: 'a' } }, /^request\.inputs: missing/],
    ['resp.outputs', { resp: { id: 'a' } }, /^resp\.outputs: missing/],
  ])('requires %s', (_, change, message) => {
    expect(invalid(() => parseEvent(mlrun(change), churn, ARRIVAL))).toMatch(message);
  });

  it('rejects inputs that are not a list, and outputs of the wrong length', () => {
    expect(invalid(() => parseEvent(mlrun({ request: { id: 'a', inputs: { age: 1 } } }), churn, ARRIVAL))).toBe(
      'request.inputs: expected a list of rows, got an object',
    );
    expect(invalid(() => parseEvent(mlrun({ resp: { id: 'a', outputs: [1, 2, 3] } }), churn, ARRIVAL))).toBe('resp.outputs: 3 predictions for 2 rows');
    expect(invalid(() => parseEvent(mlrun({ request: { id: 'a', inputs: [[1, 2, 3]] } }), churn, ARRIVAL))).toMatch(
      /^request\.inputs\[0\]: 3 values, but the endpoint has 2 features/,
    );
  });

  it('counts an event with `error` as an error request without rows (MLRun pushes them without resp and microsec)', () => {
    const p = parseEvent(
      { request: { id: 'a', inputs: [[1, 2]] }, op: 'infer', when: '2026-11-27 11:00:00.000000', error: 'ValueError: bad input' },
      churn,
      ARRIVAL,
    );
    expect(p).toMatchObject({ n: 0, requests: 1, errors: 1, latencies: [], tMin: Date.UTC(2026, 10, 27, 11) });
  });

  it('reads the sampling percentage', () => {
    expect(parseEvent(mlrun({ sampling_percentage: 25, effective_sample_count: 2 }), churn, ARRIVAL).samplingPercentage).toBe(25);
    expect(invalid(() => parseEvent(mlrun({ sampling_percentage: 0 }), churn, ARRIVAL))).toMatch(/^sampling_percentage: expected a percentage/);
  });

  it("unpacks MLRun's batched form (headers and values) into one event per value", () => {
    const body = {
      class: 'C',
      model: 'churn:latest',
      headers: ['request', 'op', 'resp', 'when', 'microsec', 'metrics'],
      values: [
        [{ id: 'a', inputs: [[1, 2]] }, 'infer', { id: 'a', outputs: [0] }, '2026-11-27 11:00:00.000000', 10, {}],
        [{ id: 'b', inputs: [[3, 4]] }, 'infer', { id: 'b', outputs: [1] }, '2026-11-27 11:00:01.000000', 20, {}],
      ],
    };
    const units = eventsOf(body);
    expect(units.map((u) => u.index)).toEqual([0, 1]);
    const parsed = units.map((u) => parseEvent(u.event, churn, ARRIVAL));
    expect(parsed.map((p) => [p.rid, p.lat, p.x])).toEqual([
      [['a'], [10], [[1], [2]]],
      [['b'], [20], [[3], [4]]],
    ]);
  });

  it('names features f0..fn and outputs p0..pn for an endpoint without names', () => {
    expect(inferNames(mlrun(), ep([], []))).toEqual({ featureNames: ['f0', 'f1'], labelNames: ['p0'] });
  });

  it('names outputs after the first event that has them, when an error event comes first', () => {
    const error = { request: { id: 'e', inputs: [[1, 2, 3]] }, when: '2026-11-27 11:00:00', error: 'boom' };
    expect(inferNamesFrom([{ event: error }, { event: mlrun() }], ep([], []))).toEqual({ featureNames: ['f0', 'f1', 'f2'], labelNames: ['p0'] });
    expect(inferNamesFrom([{ event: error }], ep(['a'], ['y']))).toEqual({});
  });
});

describe('columnar micro-batches', () => {
  const e = ep(['a', 'b'], ['y']);

  it('reads columns by name, one time for all rows, latencies per row', () => {
    const p = parseEvent(
      { format: 'columnar', when: 5000, inputs: { a: [1, 2, 3], b: [true, null, 'x'] }, outputs: { y: [0, 1, 0] }, latencyMicros: [10, 20, 30] },
      e,
      ARRIVAL,
    );
    expect(p).toMatchObject({ kind: 'columnar', n: 3, ts: [5000, 5000, 5000], requests: 3, errors: 0, latencies: [10, 20, 30], tMin: 5000, tMax: 5000 });
    expect(p.x).toEqual([
      [1, 2, 3],
      [1, null, 'x'],
    ]);
    expect(p.y).toEqual([[0, 1, 0]]);
  });

  it('reads columns in order, a time per row, a single output column as a plain list, missing columns as null', () => {
    const p = parseEvent(
      {
        format: 'columnar',
        when: [1000, '2026-11-27T11:00:00Z'],
        inputs: [
          [1, 2],
          [3, 4],
        ],
        outputs: [7, 8],
        requestIds: ['r1', null],
      },
      e,
      ARRIVAL,
    );
    expect(p.ts).toEqual([1000, Date.UTC(2026, 10, 27, 11)]);
    expect(p.x).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(p.y).toEqual([[7, 8]]);
    expect(p.rid).toEqual(['r1', null]);
    expect(parseEvent({ format: 'columnar', inputs: { a: [1] } }, e, ARRIVAL).x).toEqual([[1], [null]]);
  });

  it('takes request counts, errors and latencies from `requests`, and the sampling percentage', () => {
    const p = parseEvent(
      { format: 'columnar', inputs: { a: [1], b: [2] }, samplingPercentage: 10, requests: { count: 12, errors: 2, latencyMicros: [5, 6, 7], dropped: 4 } },
      e,
      ARRIVAL,
    );
    expect(p).toMatchObject({ n: 1, requests: 12, errors: 2, latencies: [5, 6, 7], dropped: 4, samplingPercentage: 10 });
  });

  it.each([
    [{ inputs: { a: [1, 2], b: [1] } }, 'inputs.b: 1 values, but the other columns have 2'],
    [{ inputs: { a: [1], c: [1] } }, "inputs: unknown column 'c' (the endpoint has a, b)"],
    [{ inputs: [[1]] }, 'inputs: 1 columns, but the endpoint has 2 (a, b)'],
    [{ inputs: { a: 'x' } }, 'inputs.a: expected a list of values, got the string "x"'],
    [{ inputs: { a: [1, NaN] } }, 'inputs.a[1]: NaN is not a finite number'],
    [{ inputs: { a: [1, {}] } }, 'inputs.a[1]: expected a number, string, boolean or null, got an object'],
    [{ inputs: { a: [1] }, outputs: { y: [1, 2] } }, 'outputs: columns of 2 values for 1 rows'],
    [{ inputs: { a: [1] }, when: [1, 2] }, 'when: 2 times for 1 rows'],
    [{ inputs: { a: [1] }, latencyMicros: [-1] }, 'latencyMicros[0]: expected a non-negative number, got number -1'],
    [{ inputs: { a: [1] }, requestIds: [5] }, 'requestIds[0]: expected a string, got number 5'],
    [{ inputs: { a: [] } }, 'inputs: no rows'],
    [{ inputs: { a: [1] }, requests: { count: 1, errors: 2 } }, 'requests.errors: 2 errors for 1 requests'],
    [{}, 'inputs: missing (one list of values per column)'],
  ])('rejects %j', (change, message) => {
    expect(invalid(() => parseEvent({ format: 'columnar', ...change }, e, ARRIVAL))).toBe(message);
  });

  it('infers names from column keys', () => {
    expect(inferNames({ format: 'columnar', inputs: { age: [1], income: [2] }, outputs: { churn: [0] } }, ep([], []))).toEqual({
      featureNames: ['age', 'income'],
      labelNames: ['churn'],
    });
    expect(inferNames({ format: 'columnar', inputs: [[1], [2]], outputs: [[0], [1]] }, ep([], []))).toEqual({
      featureNames: ['f0', 'f1'],
      labelNames: ['p0', 'p1'],
    });
  });
});

describe('request batches (the SDK tracker)', () => {
  it('are told apart, their events unpacked, their request counts validated', () => {
    const body = {
      format: 'batch',
      samplingPercentage: 50,
      requests: { count: 4, errors: 1, latencyMicros: [1, 2, 3], firstWhen: 10, lastWhen: 20 },
      events: [{ inputs: [[1]] }, { inputs: [[2]] }],
    };
    expect(isRequestBatch(body)).toBe(true);
    expect(eventsOf(body).map((u) => u.index)).toEqual([0, 1]);
    expect(parseRequestBatch(body, ARRIVAL)).toEqual({ requests: 4, errors: 1, latencies: [1, 2, 3], dropped: 0, samplingPercentage: 50, tMin: 10, tMax: 20 });
    expect(invalid(() => parseRequestBatch({ format: 'batch', events: [] }, ARRIVAL))).toMatch(/^requests: expected an object/);
    expect(invalid(() => parseRequestBatch({ format: 'batch', requests: { count: 1 }, events: 'x' }, ARRIVAL))).toMatch(/^events: expected a list/);
    expect(invalid(() => parseRequestBatch({ format: 'batch', requests: { count: 1, latencyMicros: [1, 2] }, events: [] }, ARRIVAL))).toBe(
      'requests.latencyMicros: 2 latencies for 1 requests',
    );
  });
});

describe('native events', () => {
  it('count an event with `error` as an error request, even without inputs', () => {
    expect(parseEvent({ error: 'timeout', latencyMicros: 30_000_000 }, ep(['a']), ARRIVAL)).toMatchObject({
      n: 0,
      requests: 1,
      errors: 1,
      latencies: [30_000_000],
    });
  });
});

describe('LatencySketch', () => {
  it('gives quantiles within 1% whatever the order, and exact min, max, sum', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 50 + ((i * 7919) % 10_000) * 3.7);
    const a = new LatencySketch();
    for (const v of values) a.add(v);
    const b = new LatencySketch();
    for (const v of [...values].reverse()) b.add(v);
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      expect(Math.abs(a.quantile(q)! - exact) / exact).toBeLessThan(0.01);
      expect(b.quantile(q)).toBe(a.quantile(q));
    }
    expect(a.count).toBe(10_000);
    expect(a.min).toBe(Math.min(...values));
    expect(a.max).toBe(Math.max(...values));
    expect(new LatencySketch().quantile(0.5)).toBeNull();
  });

  it('merges by adding counts', () => {
    const a = new LatencySketch();
    const b = new LatencySketch();
    const all = new LatencySketch();
    for (let i = 1; i <= 1000; i++) {
      (i % 2 ? a : b).add(i);
      all.add(i);
    }
    a.merge(b);
    expect(a.quantile(0.5)).toBe(all.quantile(0.5));
    expect(a.count).toBe(1000);
    expect(a.sum).toBe(all.sum);
  });

  it('counts repeated values in one go', () => {
    const s = new LatencySketch();
    s.add(800, 999);
    s.add(5000, 1);
    expect(s.count).toBe(1000);
    expect(s.quantile(0.5)).toBeCloseTo(800, -1);
    expect(s.quantile(1)).toBe(5000);
  });
});

describe('RangeSet', () => {
  it('keeps sorted ranges and tells what it has seen', () => {
    const r = new RangeSet();
    for (const v of [1, 2, 3, 10, 5, 4, 12, 11, 7]) expect(r.add(v)).toBe(true);
    for (const v of [1, 3, 4, 5, 10, 11, 12, 7]) expect(r.add(v)).toBe(false);
    expect(r.has(6)).toBe(false);
    expect(r.has(9)).toBe(false);
    expect(r.ranges).toBe(3); // 1-5, 7, 10-12
    expect(r.add(6)).toBe(true);
    expect(r.ranges).toBe(2);
  });
});
