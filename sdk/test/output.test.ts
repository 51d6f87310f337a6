import { describe, expect, it } from 'vitest';
import { InvalidOutputError, isInvalidOutputError } from '../src/errors.js';
import { DEFAULT_EXTRA_DATA_BYTES, describe as describeValue, NAME_PATTERN, normalizeAppOutput, UNSERIALIZABLE_PREFIX } from '../src/output.js';
import { ResultKind, ResultStatus } from '../src/types.js';

/** What the sandbox puts where JSON cannot carry a value. */
const marker = (what: string) => `${UNSERIALIZABLE_PREFIX}${what}`;

/** The message of the InvalidOutputError normalizing `raw` throws. */
function rejection(raw: unknown, maxExtraDataBytes?: number): string {
  try {
    normalizeAppOutput(raw, maxExtraDataBytes === undefined ? {} : { maxExtraDataBytes });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOutputError);
    expect(isInvalidOutputError(err)).toBe(true);
    expect((err as InvalidOutputError).code).toBe('INVALID_OUTPUT');
    return (err as Error).message;
  }
  throw new Error('expected the output to be rejected');
}

const drift = { name: 'general_drift', value: 0.73, kind: ResultKind.DataDrift, status: ResultStatus.Detected };

describe('normalizeAppOutput', () => {
  describe('valid outputs', () => {
    it('takes a single result, defaulting extraData to {}', () => {
      expect(normalizeAppOutput(drift)).toEqual({ results: [{ ...drift, extraData: {} }], metrics: [] });
    });

    it('keeps a result’s extraData', () => {
      const extraData = { drifted: ['age', 'income'], scores: { age: 0.9 }, note: null, ok: true };
      expect(normalizeAppOutput({ ...drift, extraData }).results).toEqual([{ ...drift, extraData }]);
    });

    it('takes a single metric', () => {
      expect(normalizeAppOutput({ name: 'rows_with_nulls', value: 12 })).toEqual({ results: [], metrics: [{ name: 'rows_with_nulls', value: 12 }] });
    });

    it('splits an array of results and metrics, keeping their order', () => {
      const out = normalizeAppOutput([
        { name: 'm1', value: 1 },
        drift,
        { name: 'm2', value: -2.5 },
        { name: 'latency', value: 0, kind: ResultKind.SystemPerformance, status: ResultStatus.Irrelevant, extraData: { p99: 3 } },
      ]);
      expect(out).toEqual({
        results: [
          { ...drift, extraData: {} },
          { name: 'latency', value: 0, kind: ResultKind.SystemPerformance, status: ResultStatus.Irrelevant, extraData: { p99: 3 } },
        ],
        metrics: [
          { name: 'm1', value: 1 },
          { name: 'm2', value: -2.5 },
        ],
      });
    });

    it('takes an empty array', () => {
      expect(normalizeAppOutput([])).toEqual({ results: [], metrics: [] });
    });

    it('takes a Record<string, number> as metrics', () => {
      expect(normalizeAppOutput({ accuracy: 0.9, _f1: 0.8, Rows2: 100 })).toEqual({
        results: [],
        metrics: [
          { name: 'accuracy', value: 0.9 },
          { name: '_f1', value: 0.8 },
          { name: 'Rows2', value: 100 },
        ],
      });
    });

    it('takes a null-prototype record', () => {
      const rec = Object.assign(Object.create(null) as Record<string, number>, { a: 1 });
      expect(normalizeAppOutput(rec).metrics).toEqual([{ name: 'a', value: 1 }]);
    });

    it('drops fields that are not part of a result or metric', () => {
      const out = normalizeAppOutput({ ...drift, extraData: { a: 1 }, comment: 'ignored' });
      expect(out.results[0]).toEqual({ ...drift, extraData: { a: 1 } });
    });

    it.each(Object.values(ResultKind))('accepts kind %d', (kind) => {
      expect(normalizeAppOutput({ ...drift, kind }).results[0]!.kind).toBe(kind);
    });

    it.each(Object.values(ResultStatus))('accepts status %d', (status) => {
      expect(normalizeAppOutput({ ...drift, status }).results[0]!.status).toBe(status);
    });

    it('allows a result and a metric of the same name', () => {
      const out = normalizeAppOutput([drift, { name: 'general_drift', value: 1 }]);
      expect(out.results).toHaveLength(1);
      expect(out.metrics).toHaveLength(1);
    });
  });

  describe('what doTracking returned', () => {
    it.each([
      [undefined, 'undefined'],
      [null, 'null'],
      ['drift', '"drift"'],
      [0.5, '0.5'],
      [true, 'true'],
      [new Date(0), 'an object'],
      [marker('undefined'), 'undefined'],
      [marker('NaN'), 'NaN'],
    ])('rejects %j', (raw, what) => {
      expect(rejection(raw)).toBe(`doTracking returned ${what}: return a result, a metric, an array of them, or an object of metric names to numbers`);
    });
  });

  describe('names', () => {
    it.each([
      ['1st', '"1st"'],
      ['drift-score', '"drift-score"'],
      ['', '""'],
      ['with space', '"with space"'],
      ['é', '"é"'],
      [7, '7'],
      [undefined, 'undefined'],
      [marker('a function'), 'a function'],
    ])('rejects the name %j', (name, shown) => {
      expect(rejection({ name, value: 1 })).toBe(`output.name: must be a string matching ${NAME_PATTERN.source}, got ${shown}`);
    });

    it('names the item of an array with a bad name', () => {
      expect(
        rejection([
          { name: 'ok', value: 1 },
          { ...drift, name: 'bad-name' },
        ]),
      ).toBe(`output[1].name: must be a string matching ^[a-zA-Z_][a-zA-Z0-9_]*$, got "bad-name"`);
    });

    it('shortens a long bad name', () => {
      const name = `-${'x'.repeat(60)}`;
      expect(rejection({ name, value: 1 })).toContain(`got "${name.slice(0, 40)}..."`);
    });

    it('rejects a bad metric name in a record', () => {
      expect(rejection({ ok: 1, 'bad name': 2 })).toBe(`output metric name 'bad name': must be a string matching ^[a-zA-Z_][a-zA-Z0-9_]*$, got "bad name"`);
    });
  });

  describe('values', () => {
    it('names the missing value of a result (not a metrics map)', () => {
      expect(() => normalizeAppOutput({ name: 'general_drift', kind: 0, status: 2 })).toThrow('output.value: must be a finite number, got undefined');
      expect(() => normalizeAppOutput([{ name: 'general_drift', kind: 0, status: 2 }])).toThrow('output[0].value: must be a finite number, got undefined');
    });

    it.each([
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-Infinity', -Infinity],
      ['"0.5"', '0.5'],
      ['null', null],
      ['undefined', undefined],
      ['bigint 10n', 10n],
      ['an array of 1', [1]],
      // what the sandbox sends in place of a value JSON cannot carry
      ['NaN', marker('NaN')],
      ['Infinity', marker('Infinity')],
      ['-Infinity', marker('-Infinity')],
      ['bigint 10n', marker('bigint 10n')],
    ])('rejects a metric value shown as %s (%#)', (shown, value) => {
      expect(rejection({ name: 'm', value })).toBe(`output.value: must be a finite number, got ${shown}`);
    });

    it('rejects a non-finite result value, naming the item', () => {
      expect(
        rejection([
          { name: 'a', value: 1 },
          { ...drift, value: marker('NaN') },
        ]),
      ).toBe('output[1].value: must be a finite number, got NaN');
    });

    it.each([
      [NaN, 'NaN'],
      [marker('NaN'), 'NaN'],
      [marker('Infinity'), 'Infinity'],
      ['high', '"high"'],
    ])('rejects the value %j in a metrics record, naming the metric', (value, shown) => {
      expect(rejection({ accuracy: 0.9, f1: value })).toBe(`output.f1: must be a finite number, got ${shown}`);
    });
  });

  describe('items', () => {
    it.each([
      [null, 'null'],
      [5, '5'],
      ['m', '"m"'],
      [[{ name: 'm', value: 1 }], 'an array of 1'],
      [new Map(), 'an object'],
    ])('rejects the array item %j', (item, shown) => {
      expect(rejection([{ name: 'm', value: 1 }, item])).toBe(`output[1]: expected a result or metric object, got ${shown}`);
    });
  });

  describe('kind and status', () => {
    it.each([
      [5, '5'],
      [-1, '-1'],
      [1.5, '1.5'],
      ['data_drift', '"data_drift"'],
      [undefined, 'undefined'],
    ])('rejects kind %j', (kind, shown) => {
      expect(rejection({ ...drift, kind })).toBe(`output ('general_drift').kind: expected one of ResultKind (0-4), got ${shown}`);
    });

    it.each([
      [3, '3'],
      [-2, '-2'],
      ['detected', '"detected"'],
      [undefined, 'undefined'],
    ])('rejects status %j', (status, shown) => {
      expect(rejection({ ...drift, status })).toBe(`output ('general_drift').status: expected one of ResultStatus (-1-2), got ${shown}`);
    });

    it('treats an item with only extraData as a result missing kind', () => {
      expect(rejection([{ name: 'x', value: 1, extraData: {} }])).toBe("output[0] ('x').kind: expected one of ResultKind (0-4), got undefined");
    });
  });

  describe('extraData', () => {
    it.each([
      [null, 'null'],
      [[1, 2], 'an array of 2'],
      ['{}', '"{}"'],
      [3, '3'],
      [new Date(0), 'an object'],
    ])('rejects extraData %j, which is not a JSON object', (extraData, shown) => {
      expect(rejection({ ...drift, extraData })).toBe(`output ('general_drift').extraData: expected a JSON object, got ${shown}`);
    });

    it.each([
      [{ a: NaN }, "output ('general_drift').extraData.a: NaN cannot be stored as JSON"],
      [{ a: { b: [1, Infinity] } }, "output ('general_drift').extraData.a.b[1]: Infinity cannot be stored as JSON"],
      [{ a: { b: [1, marker('NaN')] } }, "output ('general_drift').extraData.a.b[1]: NaN cannot be stored as JSON"],
      [{ scores: { age: marker('-Infinity') } }, "output ('general_drift').extraData.scores.age: -Infinity cannot be stored as JSON"],
      [{ f: marker('a function') }, "output ('general_drift').extraData.f: a function cannot be stored as JSON"],
      [{ n: 1n }, "output ('general_drift').extraData.n: bigint 1n cannot be stored as JSON"],
      [{ d: new Date(0) }, "output ('general_drift').extraData.d: an object cannot be stored as JSON"],
      [{ u: undefined }, "output ('general_drift').extraData.u: undefined cannot be stored as JSON"],
    ])('rejects extraData %#, naming the path of the bad value', (extraData, message) => {
      expect(rejection({ ...drift, extraData })).toBe(message);
    });

    it('names the item in an array output', () => {
      expect(
        rejection([
          { name: 'm', value: 1 },
          { ...drift, extraData: { x: [NaN] } },
        ]),
      ).toBe("output[1] ('general_drift').extraData.x[0]: NaN cannot be stored as JSON");
    });

    it('rejects extraData nested more than 64 levels deep', () => {
      let deep: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 70; i++) deep = { d: deep };
      expect(rejection({ ...drift, extraData: deep })).toMatch(/^output \('general_drift'\)\.extraData(\.d)+: nested more than 64 levels deep$/);
    });

    /** extraData whose JSON text is exactly `bytes` UTF-8 bytes, made of `unit` repeated. */
    const extraOf = (bytes: number, unit = 'x', unitBytes = 1) => {
      const overhead = JSON.stringify({ s: '' }).length;
      const n = (bytes - overhead) / unitBytes;
      expect(Number.isInteger(n)).toBe(true);
      const extraData = { s: unit.repeat(n) };
      expect(Buffer.byteLength(JSON.stringify(extraData), 'utf8')).toBe(bytes);
      return extraData;
    };

    it('accepts extraData of exactly the default limit (64 KiB)', () => {
      expect(DEFAULT_EXTRA_DATA_BYTES).toBe(65_536);
      expect(normalizeAppOutput({ ...drift, extraData: extraOf(65_536) }).results).toHaveLength(1);
    });

    it('rejects extraData one byte over the default limit, saying bytes and the limit', () => {
      expect(rejection({ ...drift, extraData: extraOf(65_537) })).toBe(
        "output ('general_drift').extraData is 65537 bytes of JSON, over the limit of 65536 bytes (limits.extraDataBytes in plugin.json)",
      );
    });

    it('uses maxExtraDataBytes when given', () => {
      expect(normalizeAppOutput({ ...drift, extraData: extraOf(1_024) }, { maxExtraDataBytes: 1_024 }).results).toHaveLength(1);
      expect(
        rejection(
          [
            { name: 'm', value: 1 },
            { ...drift, extraData: extraOf(1_025) },
          ],
          1_024,
        ),
      ).toBe("output[1] ('general_drift').extraData is 1025 bytes of JSON, over the limit of 1024 bytes (limits.extraDataBytes in plugin.json)");
    });

    it.each([
      ['2-byte', 'é', 2],
      ['3-byte', '€', 3],
      ['4-byte (surrogate pair)', '😀', 4],
    ])('counts %s characters in UTF-8 bytes', (_, unit, unitBytes) => {
      const bytes = 8 + 1_200; // JSON overhead of { s: '' } plus a multiple of 2, 3 and 4
      const extraData = extraOf(bytes, unit, unitBytes);
      expect(normalizeAppOutput({ ...drift, extraData }, { maxExtraDataBytes: bytes }).results).toHaveLength(1);
      expect(rejection({ ...drift, extraData }, bytes - 1)).toBe(
        `output ('general_drift').extraData is ${bytes} bytes of JSON, over the limit of ${bytes - 1} bytes (limits.extraDataBytes in plugin.json)`,
      );
    });
  });

  describe('duplicate names', () => {
    it('rejects two results of the same name', () => {
      expect(rejection([drift, { ...drift, value: 0.1 }])).toBe("the result name 'general_drift' appears more than once in one output");
    });

    it('rejects two metrics of the same name', () => {
      expect(rejection([{ name: 'm', value: 1 }, drift, { name: 'm', value: 2 }])).toBe("the metric name 'm' appears more than once in one output");
    });
  });
});

describe('describe', () => {
  it.each([
    ['"abc"', 'abc'],
    [`"${'y'.repeat(40)}..."`, 'y'.repeat(41)],
    ['NaN', marker('NaN')],
    ['1.5', 1.5],
    ['false', false],
    ['null', null],
    ['undefined', undefined],
    ['bigint 5n', 5n],
    ['a function', () => 1],
    ['an array of 3', [1, 2, 3]],
    ['an object', { a: 1 }],
  ])('describes a value as %s (%#)', (text, v) => {
    expect(describeValue(v)).toBe(text);
  });
});

describe('jsonByteLength', () => {
  it('counts JSON text in UTF-8 bytes, as the extraData limit does', async () => {
    const { jsonByteLength } = await import('../src/output.js');
    expect(jsonByteLength({ a: 1 })).toBe(7);
    expect(jsonByteLength('é')).toBe(4); // quotes + 2 bytes
    expect(jsonByteLength('€')).toBe(5);
    expect(jsonByteLength('😀')).toBe(6);
    expect(jsonByteLength(undefined)).toBe(0);
  });
});
