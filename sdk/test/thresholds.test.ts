import { describe, expect, it } from 'vitest';
import { ResultStatus, type Sample } from '../src/index.js';
import { adaptiveBand, bandStatus, chunkRanges, chunkSample, referenceBand, sampleWithout, sliceSample } from '../src/thresholds.js';

function sample(n: number): Sample {
  const x = Float64Array.from({ length: n }, (_, i) => i);
  const c = Array.from({ length: n }, (_, i) => (i % 2 ? 'odd' : null));
  const cols: Record<string, Float64Array | Array<string | null>> = { x, c };
  const row = (i: number) => ({ x: x[i]!, c: c[i]! });
  return {
    length: n,
    columns: ['x', 'c'],
    timestamps: x.map((v) => 1000 + v),
    latencyMicros: x.map((v) => v * 10),
    requestIds: Array.from({ length: n }, (_, i) => `r${i}`),
    has: (name) => name in cols,
    column: (name) => cols[name]!,
    row,
    *rows() {
      for (let i = 0; i < n; i++) yield row(i);
    },
  };
}

describe('chunks', () => {
  it('chunkRanges: consecutive chunks, the incomplete last one dropped, at most maxChunks evenly spread', () => {
    expect(chunkRanges(10, 3)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 9 },
    ]);
    expect(chunkRanges(2, 3)).toEqual([]);
    expect(chunkRanges(100, 10, { maxChunks: 4 }).map((r) => r.start)).toEqual([0, 30, 60, 90]);
    expect(chunkRanges(100, 10, { maxChunks: 1 })).toEqual([{ start: 0, end: 10 }]);
    expect(chunkRanges(1000, 10).length).toBe(20);
    expect(() => chunkRanges(10, 0)).toThrow(/chunkSize must be a positive integer/);
  });

  it('chunkSample / sliceSample / sampleWithout: views of every column, timestamps, latencies and request ids', () => {
    const s = sample(10);
    const chunks = chunkSample(s, 4);
    expect(chunks).toHaveLength(2);
    expect(Array.from(chunks[1]!.column('x') as Float64Array)).toEqual([4, 5, 6, 7]);
    expect(chunks[1]!.column('c')).toEqual([null, 'odd', null, 'odd']);
    expect(Array.from(chunks[1]!.timestamps)).toEqual([1004, 1005, 1006, 1007]);
    expect(Array.from(chunks[1]!.latencyMicros)).toEqual([40, 50, 60, 70]);
    expect(chunks[1]!.requestIds).toEqual(['r4', 'r5', 'r6', 'r7']);
    expect(chunks[1]!.row(1)).toEqual({ x: 5, c: 'odd' });
    expect([...chunks[0]!.rows()]).toHaveLength(4);
    const rest = sampleWithout(s, 2, 8);
    expect(rest.length).toBe(4);
    expect(Array.from(rest.column('x') as Float64Array)).toEqual([0, 1, 8, 9]);
    expect(rest.column('c')).toEqual([null, 'odd', null, 'odd']);
    expect(rest.requestIds).toEqual(['r0', 'r1', 'r8', 'r9']);
    expect(() => sliceSample(s, 5, 11)).toThrow(/not a range of rows/);
  });
});

describe('adaptiveBand (NannyML StandardDeviationThreshold)', () => {
  it('mean ± k·std with ddof 0, limits, non-finite values left out', () => {
    // numpy: np.mean([0.91, 0.93, 0.92, 0.9, 0.94]) = 0.9200000000000002, np.std = 0.014142135623730963
    const b = adaptiveBand([0.91, 0.93, 0.92, 0.9, 0.94, NaN]);
    expect(b.count).toBe(5);
    expect(b.mean).toBeCloseTo(0.92, 15);
    expect(b.std).toBeCloseTo(0.014142135623730963, 15);
    expect(b.lower).toBeCloseTo(0.92 - 3 * 0.014142135623730963, 14);
    expect(b.upper).toBeCloseTo(0.92 + 3 * 0.014142135623730963, 14);
    const limited = adaptiveBand([0.97, 0.99, 1, 0.98], 3, { lowerLimit: 0, upperLimit: 1 });
    expect(limited.upper).toBe(1);
    expect(adaptiveBand([1, 3], 1)).toMatchObject({ mean: 2, std: 1, lower: 1, upper: 3 });
    expect(() => adaptiveBand([1])).toThrow(/need at least 2 finite values, got 1/);
    expect(() => adaptiveBand([1, 2], -1)).toThrow(/multiplier must be a finite number >= 0/);
  });

  it('bandStatus: Detected outside the band on the bad side', () => {
    const b = adaptiveBand([1, 3], 1);
    expect(bandStatus(3.01, b)).toBe(ResultStatus.Detected);
    expect(bandStatus(0.99, b)).toBe(ResultStatus.Detected);
    expect(bandStatus(3, b)).toBe(ResultStatus.NoDetection);
    expect(bandStatus(0.5, b, 'above')).toBe(ResultStatus.NoDetection);
    expect(bandStatus(5, b, 'below')).toBe(ResultStatus.NoDetection);
    expect(bandStatus(0.5, b, 'below')).toBe(ResultStatus.Detected);
  });

  it('referenceBand: the metric on each chunk, or why there is no band', () => {
    const s = sample(100);
    const mean = (c: Sample) => {
      const x = c.column('x') as Float64Array;
      return x.reduce((a, b) => a + b, 0) / x.length;
    };
    const r = referenceBand(s, 20, mean);
    expect(r.values).toEqual([9.5, 29.5, 49.5, 69.5, 89.5]);
    expect(r.band!.mean).toBe(49.5);
    expect(r.band!.std).toBeCloseTo(Math.sqrt(800), 12);
    const ranges: number[] = [];
    referenceBand(s, 30, (_c, range) => (ranges.push(range.start), 1));
    expect(ranges).toEqual([0, 30, 60]);
    const few = referenceBand(s, 40, mean);
    expect(few.band).toBeNull();
    expect(few).toMatchObject({ reason: 'the reference has 100 rows: 2 chunk(s) of 40, fewer than 3' });
    const nan = referenceBand(s, 10, () => NaN, { minChunks: 2 });
    expect(nan).toMatchObject({ band: null, reason: 'only 0 of 10 reference chunks gave a value, fewer than 2' });
  });
});
