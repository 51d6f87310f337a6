import { describe, expect, it } from 'vitest';
import { ModelwatchSdkError } from '../../src/errors.js';
import { ReferenceCache, ReferenceNull, referenceFingerprint } from '../../src/stats/index.js';
import { sizeBucket } from '../../src/stats/reference-null.js';

describe('sizeBucket', () => {
  it('is the smallest power of two at or above the size', () => {
    expect([1, 2, 3, 4, 5, 10, 16, 17, 1000, 1024, 1025].map(sizeBucket)).toEqual([1, 2, 4, 4, 8, 16, 16, 32, 1024, 1024, 2048]);
    expect(() => sizeBucket(0)).toThrow(/sizeBucket: n must be a positive integer, got 0/);
    expect(() => sizeBucket(2.5)).toThrow(ModelwatchSdkError);
  });
});

describe('ReferenceNull', () => {
  // a statistic whose null is uniform on [0, 1/size]: its p-values are easy to tell apart by size
  const uniformNull = (calls: number[] = []) =>
    new ReferenceNull(
      (size, r) => {
        calls.push(size);
        return r.uniform() / size;
      },
      { replicates: 999 },
    );

  it('p-value (1 + #{null >= t}) / (1 + replicates) at a power-of-two size', () => {
    const nulls = uniformNull();
    const sorted = nulls.at(8);
    expect(sorted.length).toBe(999);
    expect([...sorted]).toEqual([...sorted].sort((a, b) => a - b));
    const t = sorted[899]!;
    expect(nulls.pValue(t, 8)).toEqual({ pValue: (1 + 100) / 1000, sizes: [8] });
    expect(nulls.pValue(Infinity, 8).pValue).toBe(1 / 1000);
    expect(nulls.pValue(-Infinity, 8).pValue).toBe(1);
  });

  it('between powers of two, interpolates log p linearly in log n', () => {
    const nulls = uniformNull();
    const t = 0.05;
    const p8 = nulls.pValueAt(t, 8);
    const p16 = nulls.pValueAt(t, 16);
    const p = nulls.pValue(t, 11);
    expect(p.sizes).toEqual([8, 16]);
    const w = Math.log2(11 / 8);
    expect(p.pValue).toBeCloseTo(Math.exp((1 - w) * Math.log(p8) + w * Math.log(p16)), 15);
    // the null shrinks with the size: a window of 11 rows is between the two
    expect(p8).toBeGreaterThan(p16);
    expect(p.pValue).toBeLessThan(p8);
    expect(p.pValue).toBeGreaterThan(p16);
  });

  it('simulates each size once, the first time it is needed, whatever the order', () => {
    const calls: number[] = [];
    const a = uniformNull(calls);
    a.pValue(0.1, 12);
    a.pValue(0.1, 9);
    a.pValue(0.2, 16);
    expect(calls.length).toBe(2 * 999);
    expect(a.sizes()).toEqual([8, 16]);
    const b = uniformNull();
    b.pValue(0.2, 16);
    expect([...b.at(16)]).toEqual([...a.at(16)]);
    expect(b.bytes()).toBe(999 * 8);
  });

  it('uses the null at maxSize for larger windows', () => {
    const calls: number[] = [];
    const nulls = new ReferenceNull(
      (size, r) => {
        calls.push(size);
        return r.uniform();
      },
      { replicates: 10, maxSize: 64 },
    );
    expect(nulls.pValue(0.5, 5000).sizes).toEqual([64]);
    expect(nulls.pValue(0.5, 64).sizes).toEqual([64]);
    expect(nulls.pValue(0.5, 40).sizes).toEqual([32, 64]);
    expect(new Set(calls)).toEqual(new Set([32, 64]));
  });

  it('rejects a NaN statistic, a bad size or bad options', () => {
    const nulls = uniformNull();
    expect(() => nulls.pValue(NaN, 8)).toThrow(/the statistic is NaN/);
    expect(() => nulls.pValue(0.1, 0)).toThrow(/the window size must be a positive integer, got 0/);
    expect(() => new ReferenceNull(() => NaN).at(4)).toThrow(/the simulated statistic at size 4 is NaN/);
    expect(() => new ReferenceNull(() => 0, { replicates: 0 })).toThrow(/replicates must be a positive integer, got 0/);
  });
});

describe('ReferenceCache', () => {
  it('keeps entries by key and evicts the least recently used beyond its byte budget', () => {
    const made: string[] = [];
    const cache = new ReferenceCache<{ bytes: number }>((v) => v.bytes, { maxBytes: 100 });
    const make = (key: string, bytes: number) => () => {
      made.push(key);
      return { bytes };
    };
    cache.getOrCreate('a', make('a', 40));
    cache.getOrCreate('b', make('b', 40));
    cache.getOrCreate('a', make('a', 40)); // a is now the most recent
    cache.getOrCreate('c', make('c', 40)); // over 100: b goes
    expect(made).toEqual(['a', 'b', 'c']);
    expect(cache.size).toBe(2);
    expect(cache.bytes).toBe(80);
    cache.getOrCreate('a', make('a', 40));
    cache.getOrCreate('b', make('b', 40));
    expect(made).toEqual(['a', 'b', 'c', 'b']);
    expect(cache.stats).toEqual({ hits: 2, misses: 4, evictions: 2 });
  });

  it('forgets a deleted entry and its bytes; the next get makes it again', () => {
    const cache = new ReferenceCache<{ bytes: number }>((v) => v.bytes, { maxBytes: 100 });
    cache.getOrCreate('a', () => ({ bytes: 30 }));
    cache.getOrCreate('b', () => ({ bytes: 20 }));
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(20);
    let made = 0;
    cache.getOrCreate('a', () => ({ bytes: 30 + made++ }));
    expect(made).toBe(1);
    expect(cache.bytes).toBe(50);
  });

  it('counts an entry again when it grows, and never evicts the entry in use', () => {
    const cache = new ReferenceCache<{ bytes: number }>((v) => v.bytes, { maxBytes: 100 });
    const a = cache.getOrCreate('a', () => ({ bytes: 10 }));
    cache.getOrCreate('b', () => ({ bytes: 10 }));
    a.bytes = 150;
    cache.resize('a');
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(150);
    expect(cache.getOrCreate('a', () => ({ bytes: 0 }))).toBe(a);
  });

  it('bounds the number of entries too', () => {
    const cache = new ReferenceCache<number>(() => 0, { maxEntries: 3 });
    for (const k of ['a', 'b', 'c', 'd']) cache.getOrCreate(k, () => 1);
    expect(cache.size).toBe(3);
  });
});

describe('referenceFingerprint', () => {
  it('changes with any value, the order of rows or the columns, and not otherwise', () => {
    const base = referenceFingerprint([Float64Array.from([1, 2, 3]), ['a', null, 'b']]);
    expect(base).toMatch(/^[0-9a-f]{16}$/);
    expect(referenceFingerprint([Float64Array.from([1, 2, 3]), ['a', null, 'b']])).toBe(base);
    const others = [
      [Float64Array.from([1, 2, 3.0000000001]), ['a', null, 'b']],
      [Float64Array.from([2, 1, 3]), ['a', null, 'b']],
      [Float64Array.from([1, 2, 3]), ['a', 'b', null]],
      [Float64Array.from([1, 2, 3]), ['a', null, 'c']],
      [Float64Array.from([1, 2, 3])],
      [Float64Array.from([1, 2]), ['a', null]],
      [Float64Array.from([1, 2, NaN]), ['a', null, 'b']],
    ];
    const prints = others.map((cols) => referenceFingerprint(cols));
    expect(new Set([base, ...prints]).size).toBe(others.length + 1);
  });

  it('reads a Float64Array view (a column of a packed sample) by its own values only', () => {
    const packed = Float64Array.from([9, 1, 2, 3, 9]);
    expect(referenceFingerprint([packed.subarray(1, 4)])).toBe(referenceFingerprint([Float64Array.from([1, 2, 3])]));
  });
});
