import { describe, expect, it } from 'vitest';
import type { CategoricalFeatureStats, NumericFeatureStats } from '@modelwatch/sdk';
import { referenceStats, windowStats } from '@modelwatch/sdk/stats';
import type { WindowProfile } from '@modelwatch/protocol';
import { bucketOf, compactProfile, mergeFeatureStats, rollUpProfile, rollUpResults, TOP_CATEGORIES } from '../src/domain/profiles.js';

const HOUR = 3_600_000;
const values = (n: number, f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));

describe('window profiles: merging for roll-ups', () => {
  const ref = referenceStats(values(500, (i) => Math.sin(i) * 10)) as NumericFeatureStats;
  const a = values(300, (i) => Math.cos(i) * 7 + 1);
  const b = values(200, (i) => ((i * 37) % 101) / 5 - 4);
  const both = new Float64Array([...a, ...b]);

  it('merges numeric statistics exactly: count, missing, mean, std, min, max and the histogram on the same edges', () => {
    const sa = windowStats([...a, NaN, NaN], ref, 1) as NumericFeatureStats;
    const sb = windowStats(b, ref) as NumericFeatureStats;
    const whole = windowStats(both, ref) as NumericFeatureStats;
    const m = mergeFeatureStats(sa, sb) as NumericFeatureStats;
    expect(m.count).toBe(500);
    expect(m.missing).toBe(2);
    expect(m.wrongType).toBe(1);
    expect(m.mean).toBeCloseTo(whole.mean, 10);
    expect(m.std).toBeCloseTo(whole.std, 10);
    expect(m.min).toBe(whole.min);
    expect(m.max).toBe(whole.max);
    expect(m.hist).toEqual(whole.hist);
    // quantiles are approximate: the count-weighted mean of the parts'
    expect(m.quantiles['0.5']).toBeCloseTo((300 * sa.quantiles['0.5']! + 200 * sb.quantiles['0.5']!) / 500, 10);
  });

  it('keeps the side with values when the other has none (JSON made its NaN statistics null)', () => {
    const empty = JSON.parse(JSON.stringify(windowStats(new Float64Array([NaN]), ref))) as NumericFeatureStats;
    const sb = windowStats(b, ref) as NumericFeatureStats;
    const m = mergeFeatureStats(empty, sb) as NumericFeatureStats;
    expect(m).toMatchObject({ count: 200, missing: 1, mean: sb.mean, std: sb.std, min: sb.min, max: sb.max });
  });

  it(`caps categories to the top ${TOP_CATEGORIES} with the rest counted in other, and merges them`, () => {
    const cats = Array.from({ length: 80 }, (_, i) => Array.from({ length: i + 1 }, () => `c${i}`)).flat();
    const s = windowStats(cats) as CategoricalFeatureStats;
    const c = compactProfile({ x: s }).x as CategoricalFeatureStats;
    expect(Object.keys(c.frequencies)).toHaveLength(TOP_CATEGORIES);
    expect(c.frequencies.c79).toBe(80);
    expect(c.frequencies.c0).toBeUndefined();
    // the 30 least frequent: 1 + 2 + ... + 30
    expect(c.other).toBe(465);
    expect(c.unique).toBe(80);
    const m = mergeFeatureStats(c, windowStats(['c79', 'c0', null]) as CategoricalFeatureStats) as CategoricalFeatureStats;
    // c0 is not among the top 50 of the merge either: its new value joins other
    expect(m).toMatchObject({ count: cats.length + 2, missing: 1, other: 466 });
    expect(m.frequencies.c79).toBe(81);
    const total = Object.values(m.frequencies).reduce((x, y) => x + y, 0) + (m.other ?? 0);
    expect(total).toBe(m.count);
  });

  it('rolls window profiles up into their UTC hour, and results into worst status and mean/min/max', () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 0);
    const p = (start: number, v: Float64Array): WindowProfile => ({
      v: 1,
      endpoint: 'e',
      endpointId: 'id',
      windowStart: start,
      windowEnd: start + 60_000,
      rows: v.length,
      features: { x: windowStats(v, ref) },
    });
    const h = rollUpProfile(rollUpProfile(undefined, p(t0 + 60_000, a), 'hour'), p(t0 + 120_000, b), 'hour');
    expect(h).toMatchObject({ windowStart: t0, windowEnd: t0 + HOUR, resolution: 'hour', windows: 2, rows: 500 });
    expect((h.features.x as NumericFeatureStats).mean).toBeCloseTo((windowStats(both, ref) as NumericFeatureStats).mean, 10);
    expect(bucketOf(t0 + 5 * HOUR + 1, 'day')).toEqual({ start: Date.UTC(2026, 0, 1), end: Date.UTC(2026, 0, 2) });

    const w = (status: 0 | 1 | 2, value: number, outcome: 'ok' | 'error' = 'ok') => ({
      endpointId: 'id',
      endpointName: 'e',
      app: 'drift',
      windowStart: t0,
      outcome,
      results: [{ name: 'drift', value, kind: 0 as const, status }],
      metrics: [{ name: 'm', value: value * 2 }],
    });
    let r = rollUpResults(undefined, w(0, 0.1), 'day');
    r = rollUpResults(r, w(2, 0.7), 'day');
    r = rollUpResults(r, { ...w(1, 0.4), outcome: 'error' }, 'day');
    expect(r).toMatchObject({ resolution: 'day', start: Date.UTC(2026, 0, 1), windows: 3, errors: 1 });
    expect(r.results[0]).toMatchObject({ name: 'drift', kind: 0, status: 2, windows: 3, min: 0.1, max: 0.7 });
    expect(r.results[0]!.mean).toBeCloseTo(0.4, 12);
    expect(r.metrics[0]!.mean).toBeCloseTo(0.8, 12);
  });
});
