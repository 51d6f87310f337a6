/*
 * Feature and output names, declared or inferred (issue #10, finding 13): the names an event or a
 * reference's columns give an endpoint are checked as declared ones are, and bounded.
 */
import { describe, expect, it } from 'vitest';
import { checkNames, DEFAULT_MAX_FEATURES, namesProblem } from '../src/domain/names.js';
import { prepareReference, referenceFeatureNames, tableOf } from '../src/domain/reference.js';
import { InvalidEventError } from '../src/errors.js';
import { inferNamesFrom } from '../src/stream/events.js';
import { prepareIngest } from '../src/stream/ingest.js';
import { endpointRecord } from './helpers.js';

const row = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, i]));

describe('namesProblem and checkNames', () => {
  it('bound the number of names (10,000 by default), and say so', () => {
    expect(DEFAULT_MAX_FEATURES).toBe(10_000);
    expect(namesProblem(Object.keys(row(10_000)), 'featureNames')).toBeUndefined();
    expect(namesProblem(Object.keys(row(10_001)), 'featureNames')).toBe(
      "featureNames: 10001 names, over the limit of 10000 per endpoint (the host's maxFeatures, MODELWATCH_MAX_FEATURES)",
    );
    expect(() => checkNames(['a', 'b', 'c'], 'labelNames', 2)).toThrow('labelNames: 3 names, over the limit of 2 per endpoint');
  });

  it('refuse invalid and repeated names', () => {
    expect(namesProblem(['a', ''], 'x')).toBe('x: "" is not a valid name (1-256 printable characters)');
    expect(namesProblem(['a', 'b\nc'], 'x')).toBe('x: "b\\nc" is not a valid name (1-256 printable characters)');
    expect(namesProblem(['a', 'x'.repeat(257)], 'x')).toMatch(/is not a valid name/);
    // DEL, C1 controls, a bidirectional override, half of a surrogate pair: not printable either
    for (const bad of ['a\u007f', 'a\u0085', 'admin\u202egnp', '\ud800'])
      expect(namesProblem([bad], 'x')).toMatch(/is not a valid name \(1-256 printable characters\)$/);
    // any language's letters, symbols and a whole astral character are
    expect(namesProblem(['âge', '年齢', 'temp_°C', 'score 🙂'], 'x')).toBeUndefined();
    expect(namesProblem(['a', 'a'], 'x')).toBe("x: 'a' appears twice");
  });
});

describe('inferNamesFrom: names from the first event are checked like declared ones', () => {
  const none = endpointRecord([], []);

  it('takes valid names', () => {
    expect(inferNamesFrom([{ event: { inputs: [{ a: 1, b: 2 }], outputs: [1] } }], none)).toEqual({ featureNames: ['a', 'b'], labelNames: ['p0'] });
  });

  it('refuses more than maxNames features or outputs with INVALID_EVENT naming the limit', () => {
    const err = (() => {
      try {
        inferNamesFrom([{ event: { inputs: [row(11)], outputs: [1] } }], none, 10);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as Error).message).toBe(
      "feature names inferred from the first event: 11 names, over the limit of 10 per endpoint (the host's maxFeatures, MODELWATCH_MAX_FEATURES); declare the endpoint's names instead (modelwatch endpoint create --features ...)",
    );
    // f0..f10 from a list row, p0..p10 from a list of outputs
    expect(() => inferNamesFrom([{ event: { inputs: [Array.from({ length: 11 }, () => 1)] } }], none, 10)).toThrow('feature names inferred');
    expect(() => inferNamesFrom([{ event: { inputs: [[1]], outputs: [Array.from({ length: 11 }, () => 1)] } }], none, 10)).toThrow(
      'output names inferred from the first event: 11 names',
    );
  });

  it('refuses names a declaration would refuse (control characters, empty, too long)', () => {
    for (const bad of ['a\u0000b', '', 'x'.repeat(300)]) {
      expect(() => inferNamesFrom([{ event: { inputs: [{ ok: 1, [bad]: 2 }] } }], none)).toThrow(
        /feature names inferred from the first event: .* is not a valid name/,
      );
    }
    expect(() => inferNamesFrom([{ event: { format: 'columnar', when: 0, inputs: { 'tab\there': [1] }, outputs: { p0: [1] } } }], none)).toThrow(
      'is not a valid name',
    );
  });

  it('prepareIngest refuses a request whose first event gives bad names: every event rejected, one dead letter for the message', () => {
    const body = Buffer.from(JSON.stringify([{ inputs: [row(3)] }, { inputs: [{ c0: 1 }] }]));
    const out = prepareIngest({
      name: 'e',
      endpoint: none,
      body: { type: 'json', raw: body },
      now: Date.now(),
      maxFutureSkewMs: 60_000,
      maxFeatures: 2,
      keyed: false,
    });
    expect(out).toMatchObject({ status: 400, accepted: 0, payloads: [] });
    expect(out.rejected.map((r) => r.index)).toEqual([0, 1]);
    expect(out.letters).toHaveLength(1);
    expect(out.letters[0]).toMatchObject({ reason: { code: 'INVALID_EVENT' }, payloadScope: 'message' });
  });
});

describe('reference columns as feature names', () => {
  it('an endpoint without names takes the columns that are not outputs, checked and bounded', () => {
    expect(referenceFeatureNames(['a', 'b', 'p0'], [], ['p0'])).toEqual(['a', 'b']);
    expect(referenceFeatureNames(['a', 'b'], ['b'], [])).toEqual(['b']);
    expect(() => referenceFeatureNames(['a', 'b', 'c'], [], [], 2)).toThrow('feature names from the reference columns: 3 names, over the limit of 2');
    expect(() => referenceFeatureNames(['a', 'b\u0007'], [], [])).toThrow('is not a valid name');
  });

  it('prepareReference encodes the table and computes the statistics of the endpoint columns only', () => {
    const table = tableOf([
      { a: 1, id: 'x', p0: 0 },
      { a: 2, id: 'y', p0: 1 },
    ]);
    const prepared = prepareReference(table, { featureNames: ['a'], labelNames: ['p0'] });
    expect(JSON.parse(new TextDecoder().decode(prepared.encoded))).toEqual(table);
    expect(Object.keys(prepared.stats).sort()).toEqual(['a', 'p0']);
    expect(prepared).toMatchObject({ rows: 2, columns: ['a', 'id', 'p0'], featureNames: ['a'], labelNames: ['p0'] });
  });
});
