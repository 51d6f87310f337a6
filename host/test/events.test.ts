import { describe, expect, it } from 'vitest';
import type { EndpointRecord, Rows } from '@modelwatch/protocol';
import { ModelwatchError, InvalidEventError } from '../src/errors.js';
import { appendEventRows, emptyRows, inferNames, MAX_ROWS_PER_EVENT, parseWhen } from '../src/stream/events.js';

const ARRIVAL = Date.UTC(2026, 10, 27, 12, 0, 0);

function endpoint(featureNames: string[], labelNames: string[] = ['p0']): EndpointRecord {
  return { id: 'id', name: 'iris', featureNames, labelNames, featureStats: {}, monitoring: true, createdAt: 0, updatedAt: 0 };
}

const iris = endpoint(['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);

function rowsOf(event: unknown, ep: EndpointRecord = iris): Rows {
  const rows = emptyRows();
  appendEventRows(event, ep, ARRIVAL, rows);
  return rows;
}

/** The InvalidEventError `fn` throws (fails the test if it throws anything else). */
function invalid(fn: () => unknown): InvalidEventError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as InvalidEventError).code).toBe('INVALID_EVENT');
    return err as InvalidEventError;
  }
  throw new Error('expected an InvalidEventError, but nothing was thrown');
}

describe('parseWhen', () => {
  it('defaults to the given time when there is no time', () => {
    expect(parseWhen(undefined, 42)).toBe(42);
    expect(parseWhen(null, 42)).toBe(42);
  });

  it.each([
    ['ISO with Z', '2024-01-01T10:00:00.000Z', Date.UTC(2024, 0, 1, 10)],
    ['ISO with milliseconds', '2024-01-01T10:00:00.250Z', Date.UTC(2024, 0, 1, 10, 0, 0, 250)],
    ['ISO with an offset', '2024-01-01T12:00:00+02:00', Date.UTC(2024, 0, 1, 10)],
    ['ISO with a colonless offset', '2024-01-01T05:00:00-0500', Date.UTC(2024, 0, 1, 10)],
    ['ISO date only', '2024-01-01', Date.UTC(2024, 0, 1)],
    ['ISO without seconds', '2024-01-01T10:00Z', Date.UTC(2024, 0, 1, 10)],
    ['ISO without seconds or an offset (UTC)', '2024-01-01T10:00', Date.UTC(2024, 0, 1, 10)],
    ['ISO without an offset (UTC)', '2024-01-01T10:00:00', Date.UTC(2024, 0, 1, 10)],
    ['MLRun with microseconds (UTC)', '2024-01-01 10:00:00.123456', Date.UTC(2024, 0, 1, 10, 0, 0, 123)],
    ['MLRun without a fraction (UTC)', '2024-01-01 10:00:00', Date.UTC(2024, 0, 1, 10)],
    ['MLRun with a short fraction', '2024-01-01 10:00:00.5', Date.UTC(2024, 0, 1, 10, 0, 0, 500)],
    ['MLRun with an offset', '2024-01-01 11:00:00.000000+01:00', Date.UTC(2024, 0, 1, 10)],
    ['padded with spaces', '  2024-01-01 10:00:00  ', Date.UTC(2024, 0, 1, 10)],
  ])('reads %s', (_, text, ms) => {
    expect(parseWhen(text, 0)).toBe(ms);
  });

  it('reads numbers as milliseconds since the epoch', () => {
    expect(parseWhen(1_700_000_000_123, 0)).toBe(1_700_000_000_123);
    expect(parseWhen(0, 5)).toBe(0);
  });

  it.each([-1, NaN, Infinity])('rejects the number %d', (n) => {
    expect(invalid(() => parseWhen(n, 0)).message).toBe(`when: ${n} is not a time (ms since the epoch)`);
  });

  it.each([
    'yesterday',
    '',
    '2024-13-01 10:00:00',
    '2024-01-01 25:00:00',
    '10:00:00',
    // what Date.parse reads as some time: '1' and '-1' the year 2001, '2024-13-45' nothing ISO
    '1',
    '-1',
    '1700000000000',
    '2024-13-45',
    '2024-02-30',
    'Dec 5 2024',
    'Mon, 01 Jan 2024 10:00:00 GMT',
    '2024-01-01T10:00:00+25:00',
  ])('rejects the string %j', (s) => {
    expect(invalid(() => parseWhen(s, 0)).message).toBe(`when: '${s}' is not a time (use ISO 8601)`);
  });

  it.each([
    [true, 'boolean'],
    [{}, 'object'],
    [[2024], 'object'],
  ])('rejects %j, naming its type', (v, type) => {
    expect(invalid(() => parseWhen(v, 0)).message).toBe(`when: expected a string or number, got ${type}`);
  });
});

describe('appendEventRows', () => {
  describe('inputs', () => {
    it('appends array rows in feature order, with the event time, request id and latency', () => {
      const rows = rowsOf({
        when: '2026-11-27T10:00:00.000Z',
        inputs: [[5.1, 3.5, 1.4, 0.2]],
        outputs: [0],
        requestId: 'r-1',
        latencyMicros: 850,
      });
      expect(rows).toEqual({
        ts: [Date.UTC(2026, 10, 27, 10)],
        x: [[5.1, 3.5, 1.4, 0.2]],
        y: [[0]],
        rid: ['r-1'],
        lat: [850],
      });
    });

    it('uses the arrival time when there is no `when`', () => {
      expect(rowsOf({ inputs: [[1, 2, 3, 4]] }).ts).toEqual([ARRIVAL]);
    });

    it('puts object rows in feature order, missing features as null', () => {
      const rows = rowsOf({
        inputs: [
          { petal_width: 0.2, sepal_length: 5.1 },
          { sepal_width: 3, petal_length: null },
        ],
      });
      expect(rows.x).toEqual([
        [5.1, null, null, 0.2],
        [null, 3, null, null],
      ]);
    });

    it('rejects an unknown feature in an object row, naming the row, the feature and the known features', () => {
      const err = invalid(() => rowsOf({ inputs: [{ sepal_length: 1 }, { sepal_length: 1, colour: 'red' }] }));
      expect(err.message).toBe("inputs[1]: unknown feature 'colour' (the endpoint has sepal_length, sepal_width, petal_length, petal_width)");
    });

    it.each([
      [
        [
          [1, 2, 3, 4],
          [1, 2, 3],
        ],
        /^inputs\[1\]: 3 values, but the endpoint has 4 features \(sepal_length, sepal_width, petal_length, petal_width\)$/,
      ],
      [[[1, 2, 3, 4, 5]], /^inputs\[0\]: 5 values, but the endpoint has 4 features/],
      [[[]], /^inputs\[0\]: 0 values, but the endpoint has 4 features/],
    ])('rejects an array row with the wrong number of values (%j)', (inputs, message) => {
      expect(invalid(() => rowsOf({ inputs })).message).toMatch(message);
    });

    it('shortens a long feature list in messages', () => {
      const wide = endpoint(Array.from({ length: 12 }, (_, i) => `c${i}`));
      expect(invalid(() => rowsOf({ inputs: [[1]] }, wide)).message).toBe(
        'inputs[0]: 1 values, but the endpoint has 12 features (c0, c1, c2, c3, c4, c5, c6, c7, ... (12))',
      );
    });

    it('keeps strings and null, turns booleans into 1 and 0', () => {
      expect(rowsOf({ inputs: [[true, false, 'setosa', null]] }).x).toEqual([[1, 0, 'setosa', null]]);
      expect(rowsOf({ inputs: [{ sepal_length: true, petal_width: false }] }).x).toEqual([[1, null, null, 0]]);
    });

    it.each([
      [[1, NaN, 3, 4], 'inputs[0][1] (sepal_width): NaN is not a finite number'],
      [[1, 2, Infinity, 4], 'inputs[0][2] (petal_length): Infinity is not a finite number'],
      [[1, 2, 3, -Infinity], 'inputs[0][3] (petal_width): -Infinity is not a finite number'],
      [[{ v: 1 }, 2, 3, 4], 'inputs[0][0] (sepal_length): expected a number, string, boolean or null, got an object'],
      [[[1], 2, 3, 4], 'inputs[0][0] (sepal_length): expected a number, string, boolean or null, got a list'],
      [['x'.repeat(4097), 2, 3, 4], 'inputs[0][0] (sepal_length): a string of 4097 characters (at most 4096)'],
    ])('rejects an invalid cell in an array row (%#)', (row, message) => {
      expect(invalid(() => rowsOf({ inputs: [row] })).message).toBe(message);
    });

    it('accepts a string of 4096 characters', () => {
      expect(rowsOf({ inputs: [['x'.repeat(4096), 2, 3, 4]] }).x[0]![0]).toHaveLength(4096);
    });

    it('names the feature of an invalid cell in an object row', () => {
      expect(invalid(() => rowsOf({ inputs: [{ petal_width: NaN }] })).message).toBe('inputs[0].petal_width: NaN is not a finite number');
    });

    it.each([
      [{}, 'inputs: missing (a list of rows)'],
      [{ inputs: { sepal_length: 1 } }, 'inputs: expected a list of rows, got an object'],
      [{ inputs: 'rows' }, 'inputs: expected a list of rows, got the string "rows"'],
      [{ inputs: [] }, 'inputs: no rows'],
      [
        { inputs: [5] },
        'inputs: 1 values, but the endpoint has 4 features (sepal_length, sepal_width, petal_length, petal_width): a list of values is one row',
      ],
      [{ inputs: [[1, 2, 3, 4], 5] }, 'inputs[1]: a row must be an array or an object, got number 5'],
      [{ inputs: [[1, 2, 3, 4], null] }, 'inputs[1]: a row must be an array or an object, got null'],
    ])('rejects bad inputs (%j)', (event, message) => {
      expect(invalid(() => rowsOf(event)).message).toBe(message);
    });

    it('rejects more rows than the limit', () => {
      const inputs = new Array(MAX_ROWS_PER_EVENT + 1).fill([1, 2, 3, 4]);
      expect(invalid(() => rowsOf({ inputs })).message).toBe(`inputs: ${MAX_ROWS_PER_EVENT + 1} rows, over the limit of ${MAX_ROWS_PER_EVENT} per event`);
    });
  });

  describe('outputs', () => {
    const two = endpoint(['a'], ['p0', 'p1']);

    it.each([
      ['a scalar for one row', { inputs: [[1]], outputs: 7 }, endpoint(['a']), [[7]]],
      ['one value per row', { inputs: [[1], [2], [3]], outputs: [0, 1, 'x'] }, endpoint(['a']), [[0], [1], ['x']]],
      [
        'an array per row',
        {
          inputs: [[1], [2]],
          outputs: [
            [0.1, 0.9],
            [0.8, 0.2],
          ],
        },
        two,
        [
          [0.1, 0.9],
          [0.8, 0.2],
        ],
      ],
      ['a flat array of outputs for one row', { inputs: [[1]], outputs: [0.1, 0.9] }, two, [[0.1, 0.9]]],
      ['a nested array for one row', { inputs: [[1]], outputs: [[0.1, 0.9]] }, two, [[0.1, 0.9]]],
      ['booleans', { inputs: [[1], [2]], outputs: [true, false] }, endpoint(['a']), [[1], [0]]],
      [
        'no outputs (null per label)',
        { inputs: [[1], [2]] },
        two,
        [
          [null, null],
          [null, null],
        ],
      ],
      ['outputs: null', { inputs: [[1]], outputs: null }, two, [[null, null]]],
    ])('takes %s', (_, event, ep, y) => {
      expect(rowsOf(event, ep).y).toEqual(y);
    });

    it.each([
      ['a scalar for several rows', { inputs: [[1], [2]], outputs: 1 }, endpoint(['a']), 'outputs: one value for 2 rows; send one prediction per row'],
      ['fewer predictions than rows', { inputs: [[1], [2], [3]], outputs: [1, 2] }, endpoint(['a']), 'outputs: 2 predictions for 3 rows'],
      ['more predictions than rows', { inputs: [[1], [2]], outputs: [[1], [2], [3]] }, endpoint(['a']), 'outputs: 3 predictions for 2 rows'],
      [
        'too few values in one prediction',
        { inputs: [[1], [2]], outputs: [[1, 2], [3]] },
        two,
        'outputs[1]: 1 values, but the endpoint has 2 outputs (p0, p1)',
      ],
      ['a scalar for two outputs', { inputs: [[1]], outputs: 0.5 }, two, 'outputs: 1 values, but the endpoint has 2 outputs (p0, p1)'],
      ['too many flat values for one row', { inputs: [[1]], outputs: [1, 2, 3] }, two, 'outputs: 3 values, but the endpoint has 2 outputs (p0, p1)'],
      [
        'a non-finite prediction',
        {
          inputs: [[1], [2]],
          outputs: [
            [1, 2],
            [3, NaN],
          ],
        },
        two,
        'outputs[1][1] (p1): NaN is not a finite number',
      ],
      [
        'an object prediction',
        { inputs: [[1]], outputs: { label: 1 } },
        endpoint(['a']),
        'outputs[0] (p0): expected a number, string, boolean or null, got an object',
      ],
    ])('rejects %s', (_, event, ep, message) => {
      expect(invalid(() => rowsOf(event, ep)).message).toBe(message);
    });
  });

  describe('request id, latency and labels', () => {
    it('suffixes the request id with #i when an event has several rows', () => {
      const rows = rowsOf({ inputs: [[1], [2], [3]], requestId: 'req', latencyMicros: 5 }, endpoint(['a']));
      expect(rows.rid).toEqual(['req#0', 'req#1', 'req#2']);
      expect(rows.lat).toEqual([5, 5, 5]);
      expect(rows.ts).toEqual([ARRIVAL, ARRIVAL, ARRIVAL]);
    });

    it('keeps the request id as is for a single row, and null without one', () => {
      expect(rowsOf({ inputs: [[1]], requestId: 'req' }, endpoint(['a'])).rid).toEqual(['req']);
      expect(rowsOf({ inputs: [[1], [2]] }, endpoint(['a']))).toMatchObject({ rid: [null, null], lat: [null, null] });
      expect(rowsOf({ inputs: [[1]], requestId: null, latencyMicros: null }, endpoint(['a']))).toMatchObject({ rid: [null], lat: [null] });
    });

    it('accepts a latency of 0', () => {
      expect(rowsOf({ inputs: [[1]], latencyMicros: 0 }, endpoint(['a'])).lat).toEqual([0]);
    });

    it.each([
      [-1, 'latencyMicros: expected a non-negative number, got number -1'],
      ['850', 'latencyMicros: expected a non-negative number, got the string "850"'],
      [NaN, 'latencyMicros: expected a non-negative number, got number NaN'],
      [Infinity, 'latencyMicros: expected a non-negative number, got number Infinity'],
      [[1], 'latencyMicros: expected a non-negative number, got a list'],
    ])('rejects the latency %j', (latencyMicros, message) => {
      expect(invalid(() => rowsOf({ inputs: [[1]], latencyMicros }, endpoint(['a']))).message).toBe(message);
    });

    it.each([
      [7, 'requestId: expected a string, got number 7'],
      [{ id: 1 }, 'requestId: expected a string, got an object'],
    ])('rejects the request id %j', (requestId, message) => {
      expect(invalid(() => rowsOf({ inputs: [[1]], requestId }, endpoint(['a']))).message).toBe(message);
    });

    it('rejects labels that are not an object', () => {
      expect(invalid(() => rowsOf({ inputs: [[1]], labels: ['a'] }, endpoint(['a']))).message).toBe('labels: expected an object, got a list');
      expect(() => rowsOf({ inputs: [[1]], labels: { team: 'a' } }, endpoint(['a']))).not.toThrow();
    });

    it('rejects an invalid time', () => {
      expect(invalid(() => rowsOf({ inputs: [[1]], when: 'noon' }, endpoint(['a']))).message).toBe("when: 'noon' is not a time (use ISO 8601)");
    });
  });

  describe('non-object events', () => {
    it.each([
      [null, 'null'],
      [[{ inputs: [[1]] }], 'a list'],
      ['{"inputs": []}', 'the string "{\\"inputs\\": []}"'],
      ['x'.repeat(40), `the string "${'x'.repeat(30)}..."`],
      [42, 'number 42'],
      [undefined, 'undefined undefined'],
    ])('rejects %j', (event, kind) => {
      expect(invalid(() => rowsOf(event)).message).toBe(`an event must be a JSON object, got ${kind}`);
    });
  });

  it('appends to rows already there, and appends nothing when the event is invalid', () => {
    const ep = endpoint(['a']);
    const rows = emptyRows();
    appendEventRows({ inputs: [[1]], outputs: 0, requestId: 'a' }, ep, ARRIVAL, rows);
    expect(() => appendEventRows({ inputs: [[2], [3, 4]], outputs: [0, 1] }, ep, ARRIVAL, rows)).toThrow(InvalidEventError);
    expect(() => appendEventRows({ inputs: [[2], [3]], outputs: [0] }, ep, ARRIVAL, rows)).toThrow(InvalidEventError);
    appendEventRows({ when: 1000, inputs: [[2], [3]], outputs: [1, 0], requestId: 'b' }, ep, ARRIVAL, rows);
    expect(rows).toEqual({
      ts: [ARRIVAL, 1000, 1000],
      x: [[1], [2], [3]],
      y: [[0], [1], [0]],
      rid: ['a', 'b#0', 'b#1'],
      lat: [null, null, null],
    });
  });
});

describe('inferNames', () => {
  const blank = endpoint([], []);

  it('names array features f0..fn and outputs p0..pn (MLRun)', () => {
    expect(inferNames({ inputs: [[1, 2, 3]], outputs: [[0.1, 0.2]] }, blank)).toEqual({
      featureNames: ['f0', 'f1', 'f2'],
      labelNames: ['p0', 'p1'],
    });
  });

  it('names features after the keys of an object row', () => {
    expect(inferNames({ inputs: [{ age: 40, income: 1 }], outputs: 1 }, blank)).toEqual({
      featureNames: ['age', 'income'],
      labelNames: ['p0'],
    });
  });

  it.each([
    ['a scalar', 1, ['p0']],
    ['one scalar per row', [1, 0], ['p0']],
    [
      'one array per row',
      [
        [1, 0, 0],
        [0, 1, 0],
      ],
      ['p0', 'p1', 'p2'],
    ],
  ])('infers one label per output from %s', (_, outputs, labelNames) => {
    expect(inferNames({ inputs: [[1], [2]], outputs }, blank).labelNames).toEqual(labelNames);
  });

  it('infers no labels without outputs', () => {
    expect(inferNames({ inputs: [[1, 2]] }, blank)).toEqual({ featureNames: ['f0', 'f1'] });
  });

  it('leaves names the endpoint already has', () => {
    expect(inferNames({ inputs: [[1, 2]], outputs: [[1, 2]] }, endpoint(['a', 'b'], []))).toEqual({ labelNames: ['p0', 'p1'] });
    expect(inferNames({ inputs: [[1, 2]], outputs: 1 }, endpoint([], ['y']))).toEqual({ featureNames: ['f0', 'f1'] });
    expect(inferNames({ inputs: [[1, 2]], outputs: 1 }, endpoint(['a', 'b'], ['y']))).toEqual({});
  });

  it.each([
    ['not an object', 'text'],
    ['without inputs', { outputs: 1 }],
    ['with inputs not a list', { inputs: { a: 1 } }],
    ['with no rows', { inputs: [], outputs: [] }],
  ])('infers nothing from an event %s', (_, event) => {
    expect(inferNames(event, blank)).toEqual({});
  });

  it.each([
    ['array rows, a scalar output', { inputs: [[1, 2]], outputs: 0 }],
    ['object rows, one output per row', { inputs: [{ a: 1 }, { a: 2 }], outputs: [0, 1] }],
    [
      'several outputs per row',
      {
        inputs: [[1], [2]],
        outputs: [
          [0.1, 0.9],
          [0.8, 0.2],
        ],
      },
    ],
    ['several outputs for one row, nested', { inputs: [[1]], outputs: [[0.1, 0.9]] }],
    // appendEventRows takes a flat array of several outputs for a single row (see above),
    // so the names inferred from such an event must accept it.
    ['several outputs for one row, flat', { inputs: [[1]], outputs: [0.1, 0.9] }],
  ])('infers names that accept the event they came from (%s)', (_, event) => {
    const names = inferNames(event, blank);
    const ep = endpoint(names.featureNames ?? [], names.labelNames ?? []);
    const rows = emptyRows();
    expect(() => appendEventRows(event, ep, ARRIVAL, rows)).not.toThrow();
    expect(rows.x).toHaveLength(event.inputs.length);
  });
});
