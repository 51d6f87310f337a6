import { describe, expect, it } from 'vitest';
import { downsample, type SeriesPoint } from '../src/api/ui.js';

describe('downsample (GET /api/v1/endpoints/:name/series)', () => {
  const series = (n: number, f: (i: number) => number, status: (i: number) => number | null = () => 0): SeriesPoint[] =>
    Array.from({ length: n }, (_, i) => [i * 1000, f(i), status(i)]);

  it('keeps every point of a series shorter than the target', () => {
    const s = series(50, (i) => i);
    expect(downsample(s, 100)).toEqual(s);
  });

  it('cuts 100,000 windows to at most the target, in time order, keeping the extremes and the detected windows', () => {
    // a sine with one spike and one lone detected window in a quiet stretch
    const s = series(
      100_000,
      (i) => (i === 31_337 ? 50 : i === 77_777 ? -50 : Math.sin(i / 1000)),
      (i) => (i === 55_555 ? 2 : 0),
    );
    const d = downsample(s, 1000);
    expect(d.length).toBeLessThanOrEqual(1000);
    expect(d.length).toBeGreaterThan(600);
    for (let i = 1; i < d.length; i++) expect(d[i]![0]).toBeGreaterThan(d[i - 1]![0]);
    expect(d.some((p) => p[1] === 50)).toBe(true);
    expect(d.some((p) => p[1] === -50)).toBe(true);
    expect(d.filter((p) => p[2] === 2).map((p) => p[0])).toEqual([55_555_000]);
    // every point is one of the series'
    const starts = new Set(s.map((p) => p[0]));
    expect(d.every((p) => starts.has(p[0]))).toBe(true);
  });
});
