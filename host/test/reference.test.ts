import { describe, expect, it } from 'vitest';
import type { ReferenceTable } from '@modelwatch/protocol';
import { parseReference, referenceStatsFor, tableOf } from '../src/domain/reference.js';
import { ModelwatchError } from '../src/errors.js';

/** The INVALID_REFERENCE error `fn` throws. */
function invalid(fn: () => unknown): ModelwatchError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as ModelwatchError).code).toBe('INVALID_REFERENCE');
    return err as ModelwatchError;
  }
  throw new Error('expected an INVALID_REFERENCE error, but nothing was thrown');
}

const expected: ReferenceTable = {
  columns: ['age', 'income', 'city'],
  values: {
    age: [31, 45.5, null],
    income: [1200, null, -3],
    city: ['Oslo', 'Lima', null],
  },
  rows: 3,
};

describe('parseReference', () => {
  describe('CSV', () => {
    it('reads a header and rows: numbers, strings, empty cells as null', () => {
      const csv = 'age,income,city\n31,1200,Oslo\n45.5,,Lima\n,-3,\n';
      expect(parseReference(csv, 'csv')).toEqual(expected);
    });

    it('trims cells, skips empty lines and reads CRLF', () => {
      const csv = 'age , income,city\r\n 31 ,1200, Oslo\r\n\r\n45.5, ,Lima\r\n,-3,\r\n';
      expect(parseReference(csv, 'csv')).toEqual(expected);
    });

    it.each([
      ['1', 1],
      ['-2.5', -2.5],
      ['+4', 4],
      ['.5', 0.5],
      ['1e3', 1000],
      ['007', 7],
      ['1.2.3', '1.2.3'],
      ['12abc', '12abc'],
      ['e5', 'e5'],
      ['"quoted, with comma"', 'quoted, with comma'],
    ])('reads the cell %s as %j', (cell, value) => {
      expect(parseReference(`x\n${cell}\n`, 'csv').values.x).toEqual([value]);
    });

    it('keeps a column with any text as strings per cell', () => {
      const t = parseReference('code\n12\nA7\n\n3\n', 'csv');
      expect(t.values.code).toEqual([12, 'A7', 3]);
    });

    it.each(['Infinity', '-Infinity', '+inf', 'inf', '-inf', '1e999', '-1e400'])(
      'refuses the cell %s in a column of numbers, naming its row and column (an empty cell or nan is the missing value)',
      (cell) => {
        const err = invalid(() => parseReference(`age,income\n31,1200\n,${cell}\n45,-3\n`, 'csv'));
        expect(err.message).toBe(
          `reference row 2, column 'income': ${cell} is not a finite number (a column of numbers takes finite numbers only; a missing value's cell is empty or nan)`,
        );
        // alone in its column too
        expect(invalid(() => parseReference(`x\n${cell}\n`, 'csv')).message).toMatch(/^reference row 1, column 'x': /);
      },
    );

    it('keeps inf as a category in a column of text', () => {
      expect(parseReference('grade\nA\ninf\n2\n', 'csv').values.grade).toEqual(['A', 'inf', 2]);
    });

    it.each(['nan', 'NaN', '-nan', 'NAN'])('reads the cell %s as a missing value, as an empty one (numpy writes one so; pandas reads it so)', (cell) => {
      const t = parseReference(`age,grade\n31,A\n${cell},${cell}\n45,B\n`, 'csv');
      expect(t.values.age).toEqual([31, null, 45]);
      expect(t.values.grade).toEqual(['A', null, 'B']);
      expect(parseReference(`age,grade\n31,A\n,C\n45,B\n`, 'csv').values.age).toEqual(t.values.age);
    });

    it('reports malformed CSV', () => {
      const err = invalid(() => parseReference('a,b\n1,2,3\n', 'csv'));
      expect(err.message).toMatch(/^reference CSV: /);
    });

    it('rejects a CSV with a header and no rows', () => {
      expect(invalid(() => parseReference('a,b\n', 'csv')).message).toBe('reference: no rows');
    });
  });

  describe('JSON Lines', () => {
    it('reads one object per line, skipping blank lines', () => {
      const jsonl = [
        '{"age": 31, "income": 1200, "city": "Oslo"}',
        '',
        '{"age": 45.5, "income": null, "city": "Lima"}',
        '   ',
        '{"income": -3, "city": null}',
        '',
      ].join('\n');
      expect(parseReference(jsonl, 'jsonl')).toEqual(expected);
    });

    it('names the line of invalid JSON', () => {
      const jsonl = '{"a": 1}\n\n{"a": 2\n{"a": 3}\n';
      expect(invalid(() => parseReference(jsonl, 'jsonl')).message).toMatch(/^reference JSON Lines, line 3: /);
    });

    it.each([
      ['[1, 2]', 2],
      ['42', 1],
      ['null', 1],
    ])('names the line of a value that is not an object (%s)', (bad, line) => {
      const jsonl = line === 1 ? `${bad}\n{"a": 1}` : `{"a": 1}\n${bad}`;
      expect(invalid(() => parseReference(jsonl, 'jsonl')).message).toBe(`reference JSON Lines, line ${line}: expected an object of column -> value`);
    });

    it('rejects a file of blank lines', () => {
      expect(invalid(() => parseReference('\n\n  \n', 'jsonl')).message).toBe('reference: no rows');
    });
  });

  describe('JSON', () => {
    it('reads an array of row objects', () => {
      const json = JSON.stringify([
        { age: 31, income: 1200, city: 'Oslo' },
        { age: 45.5, city: 'Lima' },
        { age: null, income: -3 },
      ]);
      expect(parseReference(json, 'json')).toEqual(expected);
    });

    it('reports invalid JSON', () => {
      expect(invalid(() => parseReference('[{"a": 1},', 'json')).message).toMatch(/^reference JSON: /);
    });

    it('rejects JSON that is not an array', () => {
      expect(invalid(() => parseReference('{"a": [1, 2]}', 'json')).message).toBe('reference JSON: expected an array of row objects');
    });

    it('rejects an empty array', () => {
      expect(invalid(() => parseReference('[]', 'json')).message).toBe('reference: no rows');
    });
  });
});

describe('tableOf', () => {
  it('collects columns in order of first appearance, missing cells as null', () => {
    expect(tableOf([{ b: 1 }, { a: 'x', b: 2 }, { c: 3 }])).toEqual({
      columns: ['b', 'a', 'c'],
      values: { b: [1, 2, null], a: [null, 'x', null], c: [null, null, 3] },
      rows: 3,
    });
  });

  it('turns booleans into 1 and 0', () => {
    expect(tableOf([{ ok: true }, { ok: false }]).values.ok).toEqual([1, 0]);
  });

  it.each([
    [[{ a: 1 }, { a: NaN }], "reference row 2, column 'a': NaN is not a finite number"],
    [[{ a: Infinity }], "reference row 1, column 'a': Infinity is not a finite number"],
    [[{ a: 1 }, { a: 2 }, { a: { nested: 1 } }], "reference row 3, column 'a': expected a number or string"],
    [[{ a: [1, 2] }], "reference row 1, column 'a': expected a number or string"],
    [[{ a: 1 }, [1, 2]], 'reference: every row must be an object'],
    [[null], 'reference: every row must be an object'],
    [[], 'reference: no rows'],
  ])('rejects %j', (records, message) => {
    expect(invalid(() => tableOf(records as Array<Record<string, unknown>>)).message).toBe(message);
  });
});

describe('referenceStatsFor', () => {
  const table = tableOf(
    Array.from({ length: 40 }, (_, i) => ({
      a: i,
      b: i % 2 === 0 ? 'even' : 'odd',
      extra: 1,
      label: i % 3,
    })),
  );

  it('computes statistics of the features and, when present, the labels', () => {
    const stats = referenceStatsFor(table, ['a', 'b'], ['label']);
    expect(Object.keys(stats).sort()).toEqual(['a', 'b', 'label']);
    expect(stats.a).toMatchObject({ type: 'numeric', count: 40, missing: 0, min: 0, max: 39 });
    expect(stats.b).toEqual({ type: 'categorical', count: 40, missing: 0, unique: 2, frequencies: { even: 20, odd: 20 } });
    expect(stats.label).toMatchObject({ type: 'numeric', count: 40, min: 0, max: 2 });
  });

  it('leaves out columns that are neither features nor labels', () => {
    expect(Object.keys(referenceStatsFor(table, ['a'], []))).toEqual(['a']);
  });

  it('skips labels the reference has no column for', () => {
    expect(Object.keys(referenceStatsFor(table, ['a'], ['prediction', 'label'])).sort()).toEqual(['a', 'label']);
  });

  it('rejects a reference missing a feature column, naming the missing ones and the columns it has', () => {
    expect(invalid(() => referenceStatsFor(table, ['a', 'height', 'b', 'weight'], ['label'])).message).toBe(
      "reference: no column for feature(s) 'height', 'weight' (it has: a, b, extra, label)",
    );
  });
});
