import { referenceStatsMap } from '@modelwatch/sdk/stats';
import { describe, expect, it } from 'vitest';
import type { EndpointRecord, RowBatch } from '@modelwatch/protocol';
import { InvalidEventError } from '../src/errors.js';
import { decodeRowBatch, RowsChunk, SeenRows } from '../src/nats/rows.js';
import { buildWindowData, packColumns } from '../src/runner/window-data.js';
import { eventsOf, inferNames, parseEvent } from '../src/stream/events.js';
import { endpointRecord } from './helpers.js';

const ARRIVAL = Date.UTC(2026, 10, 27, 12);
const IRIS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    return (err as Error).message;
  }
  throw new Error('expected an InvalidEventError');
}

/** MLRun's iris test event of a request made from one dict (serving up to 1.7): the inputs one flat row, the output a scalar. */
const mlrunFlat = (inputs: unknown[], outputs: unknown = 0) => ({
  class: 'ClassifierModel',
  model: 'iris:latest',
  function_uri: 'proj/serving',
  request: { id: 'r-1', inputs },
  op: 'infer',
  resp: { id: 'r-1', model_name: 'iris', outputs },
  when: '2026-11-27 11:59:58.123456+00:00',
  microsec: 1234,
});

describe("a flat list of values is one row (MLRun's single-row inputs)", () => {
  const iris = endpointRecord(IRIS, ['p0']);

  it("reads MLRun's flat request.inputs with a scalar output as one row", () => {
    const p = parseEvent(mlrunFlat([5.1, 3.5, 1.4, 0.2]), iris, ARRIVAL);
    expect(p).toMatchObject({ n: 1, x: [[5.1], [3.5], [1.4], [0.2]], y: [[0]], rid: ['r-1'], requests: 1 });
  });

  it('reads a flat native inputs list as one row, with several outputs of that row as a flat list', () => {
    const p = parseEvent({ inputs: [5.1, 3.5, 1.4, 0.2], outputs: [0.1, 0.9], requestId: 'a' }, endpointRecord(IRIS, ['p0', 'p1']), ARRIVAL);
    expect(p).toMatchObject({ n: 1, x: [[5.1], [3.5], [1.4], [0.2]], y: [[0.1], [0.9]], rid: ['a'] });
  });

  it('reads a flat row of strings, booleans and nulls as one row', () => {
    const p = parseEvent({ inputs: ['red', true, null], outputs: 1 }, endpointRecord(['colour', 'member', 'age'], ['y']), ARRIVAL);
    expect(p.x).toEqual([['red'], [1], [null]]);
  });

  it("reads MLRun's batched form with flat rows, one row per value", () => {
    const body = {
      headers: ['request', 'op', 'resp', 'when', 'microsec'],
      values: [
        [{ id: 'a', inputs: [5.1, 3.5, 1.4, 0.2] }, 'infer', { id: 'a', outputs: 0 }, '2026-11-27 11:00:00.000000', 10],
        [{ id: 'b', inputs: [6.2, 2.9, 4.3, 1.3] }, 'infer', { id: 'b', outputs: [1] }, '2026-11-27 11:00:01.000000', 20],
      ],
    };
    const parsed = eventsOf(body).map((u) => parseEvent(u.event, iris, ARRIVAL));
    expect(parsed.map((p) => [p.n, p.x.map((c) => c[0]), p.y[0]])).toEqual([
      [1, [5.1, 3.5, 1.4, 0.2], [0]],
      [1, [6.2, 2.9, 4.3, 1.3], [1]],
    ]);
  });

  it('reads [5.1] for a one-feature endpoint as one row, as MLRun does; rows of a one-feature model are [[5.1], [4.9]]', () => {
    const one = endpointRecord(['x'], ['y']);
    expect(parseEvent({ inputs: [5.1], outputs: 1 }, one, ARRIVAL)).toMatchObject({ n: 1, x: [[5.1]], y: [[1]] });
    expect(parseEvent(mlrunFlat([5.1], 1), one, ARRIVAL)).toMatchObject({ n: 1, x: [[5.1]], y: [[1]] });
    expect(parseEvent({ inputs: [[5.1], [4.9]], outputs: [1, 0] }, one, ARRIVAL)).toMatchObject({ n: 2, x: [[5.1, 4.9]], y: [[1, 0]] });
    expect(invalid(() => parseEvent({ inputs: [5.1, 4.9], outputs: [1, 0] }, one, ARRIVAL))).toBe(
      'inputs: 2 values, but the endpoint has 1 features (x): a list of values is one row; rows of a one-feature model are written [[v], [v], ...]',
    );
    expect(invalid(() => parseEvent(mlrunFlat([5.1, 4.9], [1, 0]), one, ARRIVAL))).toMatch(/^request\.inputs: 2 values, but the endpoint has 1 features/);
  });

  it('refuses a list that mixes rows and values, naming the value', () => {
    expect(invalid(() => parseEvent({ inputs: [[5.1, 3.5, 1.4, 0.2], 6.2], outputs: [0, 1] }, iris, ARRIVAL))).toBe(
      'inputs[1]: a row must be an array or an object, got number 6.2',
    );
  });

  it('names f0..fn and p0 from a flat row for an endpoint without names', () => {
    const blank = endpointRecord([], []);
    expect(inferNames(mlrunFlat([5.1, 3.5, 1.4, 0.2]), blank)).toEqual({ featureNames: ['f0', 'f1', 'f2', 'f3'], labelNames: ['p0'] });
    expect(inferNames({ inputs: [5.1, 3.5], outputs: [0.2, 0.8] }, blank)).toEqual({ featureNames: ['f0', 'f1'], labelNames: ['p0', 'p1'] });
  });
});

/** An endpoint whose reference says: `age` numeric, `plan` text, `zip` text with numbers among its categories; output `y` numeric. */
function typed(): EndpointRecord {
  const e = endpointRecord(['age', 'plan', 'zip'], ['y']);
  e.featureStats = referenceStatsMap({ age: [30, 40, 50], plan: ['free', 'pro', 'pro'], zip: [2139, 'A1B', 10001], y: [0, 1, 1] });
  return e;
}

describe('values of the wrong type for the reference', () => {
  it('are made missing and listed per column in native events (array and object rows) and outputs', () => {
    const p = parseEvent(
      {
        inputs: [['a', 'pro', 2139], [41, 7, 'A1B'], { age: '42', plan: true, zip: 10001 }],
        outputs: [1, 'yes', 0],
      },
      typed(),
      ARRIVAL,
    );
    expect(p.x).toEqual([
      [null, 41, null],
      ['pro', null, null],
      [2139, 'A1B', 10001],
    ]);
    expect(p.y).toEqual([[1, null, 0]]);
    // per column, features then outputs: the rows that had a value of the wrong type
    expect(p.wrongType).toEqual([[0, 2], [1, 2], [], [1]]);
  });

  it("are made missing in MLRun's events, flat ones included", () => {
    const p = parseEvent(mlrunFlat(['a', 'pro', 2139], 1), typed(), ARRIVAL);
    expect(p.x).toEqual([[null], ['pro'], [2139]]);
    expect(p.wrongType).toEqual([[0], [], [], []]);
  });

  it('are made missing in columnar micro-batches, without changing the lists of the sender', () => {
    const event = { format: 'columnar', inputs: { age: [1, 'x', 3], plan: [5, 'pro', null], zip: [1, 2, 3] }, outputs: { y: [0, 1, 1] } };
    const sent = JSON.stringify(event);
    const p = parseEvent(event, typed(), ARRIVAL);
    expect(p.x).toEqual([
      [1, null, 3],
      [null, 'pro', null],
      [1, 2, 3],
    ]);
    expect(p.wrongType).toEqual([[1], [0], [], []]);
    expect(JSON.stringify(event)).toBe(sent);
  });

  it('are none when the endpoint has no reference, or the values agree with it', () => {
    expect(parseEvent({ inputs: [['a', 7, 'x']], outputs: 'no' }, endpointRecord(['age', 'plan', 'zip'], ['y']), ARRIVAL).wrongType).toBeNull();
    const p = parseEvent({ inputs: [[40, 'free', 'A1B']], outputs: 1 }, typed(), ARRIVAL);
    expect(p.wrongType).toBeNull();
    expect(p.x).toEqual([[40], ['free'], ['A1B']]);
  });
});

function decode(...messages: Uint8Array[]): RowBatch[] {
  const seen = new SeenRows();
  const out: RowBatch[] = [];
  for (const m of messages) decodeRowBatch(m, seen, out);
  return out;
}

describe('wrong-type counts in the row chunks', () => {
  const e = typed();
  const event = {
    format: 'columnar',
    inputs: { age: ['a', 2, 'b', 4, 5, 'c'], plan: ['pro', 1, 'free', 'pro', 'pro', 'free'], zip: [1, 2, 3, 4, 5, 6] },
    outputs: { y: [0, 1, 'x', 1, 0, 1] },
  };

  it('are carried per part and dropped with a part seen before: a redelivered event counts once', () => {
    const p = parseEvent(event, e, ARRIVAL);
    // the event in two parts (rows 0-2 and 3-5), as the stream processor cuts a large message
    const first = new RowsChunk(3, 1);
    first.beginPart(7, 0);
    first.addRange(p, 0, 3, Infinity);
    const second = new RowsChunk(3, 1);
    second.beginPart(7, 3);
    second.addRange(p, 3, 6, Infinity);
    const [a, b] = decode(first.encode(), second.encode());
    expect(a!.wrongType).toEqual([2, 1, 0, 1]);
    expect(b!.wrongType).toEqual([1, 0, 0, 0]);
    // the same event stored again (redelivered, batched with another one): its parts are dropped, counts and all
    const again = new RowsChunk(3, 1);
    again.beginPart(7, 0);
    again.addRange(p, 0, 6, Infinity);
    again.beginPart(8, 0);
    again.addRange(parseEvent({ inputs: [['z', 'pro', 1]], outputs: 1 }, e, ARRIVAL), 0, 1, Infinity);
    const batches = decode(first.encode(), second.encode(), again.encode());
    expect(batches.map((x) => x.ts.length)).toEqual([3, 3, 1]);
    expect(batches.map((x) => x.wrongType)).toEqual([
      [2, 1, 0, 1],
      [1, 0, 0, 0],
      [1, 0, 0, 0],
    ]);
  });

  it('are kept with a part kept whole, and dropped with a part that overlaps rows seen before (never counted twice)', () => {
    const p = parseEvent(event, e, ARRIVAL);
    const part = (offset: number, to: number) => {
      const c = new RowsChunk(3, 1);
      c.beginPart(7, offset);
      c.addRange(p, offset, to, Infinity);
      return c.encode();
    };
    // rows 0-3, then the event redelivered and cut at other offsets: rows 2-5 (2-3 seen), then 0-5 (all seen)
    const batches = decode(part(0, 4), part(2, 6), part(0, 6));
    expect(batches.map((x) => x.ts.length)).toEqual([4, 2]);
    expect(batches.map((x) => x.x.map((r) => r[2]))).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    // rows 0-3 hold age 'a', 'b', plan 2 (1), y 'x': counted with their part; the part of rows 2-5
    // is kept in part, and its counts (age 'b' of row 2 among them) are dropped
    expect(batches.map((x) => x.wrongType)).toEqual([[2, 1, 0, 1], undefined]);
    // in other parts, each row once, and a part wholly new keeps its counts
    const other = decode(part(0, 2), part(4, 6), part(0, 6), part(2, 4));
    expect(other.map((x) => x.ts.length)).toEqual([2, 2, 2]);
    expect(other.map((x) => x.wrongType)).toEqual([[1, 1, 0, 0], [1, 0, 0, 0], undefined]);
  });

  it('add up per column in the window statistics, with missing values counting them too', () => {
    const p = parseEvent(event, e, ARRIVAL);
    const c = new RowsChunk(3, 1);
    c.beginPart(1, 0);
    c.addRange(p, 0, 6, Infinity);
    const nulls = new RowsChunk(3, 1);
    nulls.beginPart(2, 0);
    nulls.addRange(parseEvent({ inputs: [[null, null, null]], outputs: [null] }, e, ARRIVAL), 0, 1, Infinity);
    const data = buildWindowData(decode(c.encode(), nulls.encode()), e);
    expect(data.numeric).toEqual(['age', 'y']);
    expect(data.sampleStats.age).toMatchObject({ type: 'numeric', count: 3, missing: 4, wrongType: 3 });
    expect(data.sampleStats.plan).toMatchObject({ type: 'categorical', count: 5, missing: 2, wrongType: 1 });
    expect(data.sampleStats.zip).toMatchObject({ type: 'categorical', count: 6, missing: 1, wrongType: 0 });
    expect(data.sampleStats.y).toMatchObject({ type: 'numeric', count: 5, missing: 2, wrongType: 1 });
  });

  it('count values stored before the endpoint had a reference when the window is read with one', () => {
    const bare = endpointRecord(['age', 'plan', 'zip'], ['y']);
    const c = new RowsChunk(3, 1);
    c.beginPart(1, 0);
    c.addRange(
      parseEvent(
        {
          inputs: [
            ['a', 3, 1],
            [40, 'pro', 2],
          ],
          outputs: [1, 0],
        },
        bare,
        ARRIVAL,
      ),
      0,
      2,
      Infinity,
    );
    const data = buildWindowData(decode(c.encode()), e);
    // each column keeps the reference's type: numbers for age and y, text for plan and zip
    expect(data.numeric).toEqual(['age', 'y']);
    expect(data.strings.plan).toEqual([null, 'pro']);
    expect(data.sampleStats.age).toMatchObject({ count: 1, missing: 1, wrongType: 1 });
    expect(data.sampleStats.plan).toMatchObject({ count: 1, missing: 1, wrongType: 1 });
  });

  it('are not looked for in tables without a reference (the reference rows themselves, ground truth)', () => {
    const packed = packColumns(
      ['m'],
      2,
      (_, i) => (i === 0 ? 1 : 'a'),
      () => false,
    );
    expect(packed.strings.m).toEqual(['1', 'a']);
    expect(packed.wrongType).toEqual([0]);
  });
});
