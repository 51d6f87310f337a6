import { DEFAULT_EXTRA_DATA_BYTES, jsonByteLength, ResultKind, ResultStatus } from '@modelwatch/sdk';
import { adjustPValues, categoricalTest, ks2samp, ks2sampSorted } from '@modelwatch/sdk/stats';
import { describe, expect, it } from 'vitest';
import { createContext, resultOf, rng, runApp, type Column } from '../../test-utils/context.js';
import Drift, { combinedPValue, driftStatus, KS_EXACT_COST, resolveConfig, type DriftConfig } from '../src/index.js';

interface FeatureOut {
  test: string;
  type: string;
  statistic: number;
  pValue: number;
  adjustedPValue: number;
  referenceCount: number;
  windowCount: number;
  cells?: number;
  unseen?: number;
}
interface Extra {
  pValue: number;
  alpha: number;
  potentialAlpha: number;
  correction: string;
  smallestAdjustedPValue: number | null;
  mmd: { statistic: number; normalized: number; pValue: number; features: number; nullSizes: number[] } | { skipped: string };
  drifted: string[];
  rows: number;
  referenceRows: number;
  tested: number;
  skipped: Record<string, string[]>;
  features: Record<string, FeatureOut>;
  reason?: string;
  truncated?: { features: { kept: number; total: number } };
}

const r = rng(7);
const normals = (n: number, mu = 0, sigma = 1) => Float64Array.from({ length: n }, () => r.normal(mu, sigma));
const cats = (n: number, probs: number[], values = ['a', 'b', 'c', 'new']) => Array.from({ length: n }, () => r.choice(values, probs));

const REFERENCE: Record<string, Column> = { age: normals(800, 40, 10), income: normals(800, 5, 2), plan: cats(800, [0.5, 0.3, 0.2, 0]) };
const window = (o: { age?: number; income?: number; plan?: number[]; rows?: number } = {}): Record<string, Column> => {
  const n = o.rows ?? 300;
  return { age: normals(n, 40 + (o.age ?? 0) * 10, 10), income: normals(n, 5 + (o.income ?? 0) * 2, 2), plan: cats(n, o.plan ?? [0.5, 0.3, 0.2, 0]) };
};

function run(sample: Record<string, Column>, config: DriftConfig = {}, reference: Record<string, Column> = REFERENCE) {
  const { ctx, logs } = createContext<DriftConfig>({ sample, reference, config });
  const out = runApp(new Drift(), ctx);
  expect(out.results).toHaveLength(1);
  const res = resultOf(out, 'drift');
  return { res, extra: res.extraData as unknown as Extra, logs, out };
}

describe('drift: the result', () => {
  it('one data_drift result whose value is the combined p-value; no shift: no detection', () => {
    const { res, extra } = run(window());
    expect(res.kind).toBe(ResultKind.DataDrift);
    expect(res.status).toBe(ResultStatus.NoDetection);
    expect(res.value).toBe(extra.pValue);
    expect(extra.pValue).toBeGreaterThanOrEqual(0.2);
    expect(extra).toMatchObject({ alpha: 0.05, potentialAlpha: 0.2, correction: 'bh', rows: 300, referenceRows: 800, tested: 3, drifted: [], skipped: {} });
  });

  it('per feature: KS for numbers, the pooled chi-square for categories, equal to the SDK tests; adjusted p-values by BH', () => {
    const sample = window({ age: 0.3 });
    const { extra } = run(sample);
    const age = extra.features.age!;
    const want = ks2samp(REFERENCE.age as Float64Array, sample.age as Float64Array);
    expect(age).toMatchObject({ test: 'ks', type: 'numeric', statistic: want.statistic, referenceCount: 800, windowCount: 300 });
    // an exact p-value would visit more than KS_EXACT_COST lattice cells here: Stephens' asymptotic one, a few % from scipy's exact one
    const stephens = ks2sampSorted(Float64Array.from(sample.age as Float64Array).sort(), Float64Array.from(REFERENCE.age as Float64Array).sort(), {
      exactCostLimit: KS_EXACT_COST,
      asymptotic: 'stephens',
    });
    expect(stephens.method).toBe('asymp');
    expect(age.pValue).toBe(stephens.pValue);
    expect(Math.abs(age.pValue - want.pValue) / want.pValue).toBeLessThan(0.05);
    const plan = extra.features.plan!;
    const chi = categoricalTest(REFERENCE.plan as string[], sample.plan as string[]);
    expect(plan).toMatchObject({ test: 'chi2', type: 'categorical', statistic: chi.statistic, pValue: chi.pValue, cells: 3, unseen: 0 });
    const names = ['age', 'income', 'plan'];
    const adjusted = adjustPValues(
      names.map((n) => extra.features[n]!.pValue),
      'bh',
    );
    expect(names.map((n) => extra.features[n]!.adjustedPValue)).toEqual(adjusted);
    expect(extra.smallestAdjustedPValue).toBe(Math.min(...adjusted));
  });

  it('the combined p-value is min(1, 2 x min(smallest adjusted p, MMD p)); detected below alpha with the drifted features named', () => {
    const { res, extra } = run(window({ age: 0.5 }));
    const mmd = extra.mmd as Extract<Extra['mmd'], { pValue: number }>;
    expect(mmd.features).toBe(2);
    expect(mmd.statistic).toBeGreaterThan(0);
    expect(mmd.nullSizes).toEqual([256, 512]);
    expect(extra.pValue).toBe(Math.min(1, 2 * Math.min(extra.smallestAdjustedPValue!, mmd.pValue)));
    expect(res.status).toBe(ResultStatus.Detected);
    expect(extra.drifted).toEqual(['age']);
  });

  it('status: detected below alpha, potential below potentialAlpha, else no detection', () => {
    expect(driftStatus(0.049, 0.05, 0.2)).toBe(ResultStatus.Detected);
    expect(driftStatus(0.05, 0.05, 0.2)).toBe(ResultStatus.PotentialDetection);
    expect(driftStatus(0.19, 0.05, 0.2)).toBe(ResultStatus.PotentialDetection);
    expect(driftStatus(0.2, 0.05, 0.2)).toBe(ResultStatus.NoDetection);
    expect(driftStatus(0.03, 0.05, 0.01)).toBe(ResultStatus.Detected);
    expect(driftStatus(0.04, 0.01, 0.01)).toBe(ResultStatus.NoDetection);
    // only the tests that ran count
    expect(combinedPValue(0.01, 0.3)).toBe(0.02);
    expect(combinedPValue(0.01, undefined)).toBe(0.01);
    expect(combinedPValue(undefined, 0.6)).toBe(0.6);
    expect(combinedPValue(0.7, 0.9)).toBe(1);
  });

  it('a potential detection on a small shift, with a wide potentialAlpha', () => {
    // find the status of a borderline window through the config, not by luck: the same window twice
    const sample = window({ age: 0.15 });
    const base = run(sample).extra.pValue;
    expect(base).toBeGreaterThan(0.001);
    const potential = run(sample, { alpha: base / 2, potentialAlpha: Math.min(0.99, base * 2) });
    expect(potential.res.status).toBe(ResultStatus.PotentialDetection);
    expect(run(sample, { alpha: Math.min(0.49, base * 1.01) }).res.status).toBe(ResultStatus.Detected);
  });

  it("a category the reference never has is no alarm by itself (Evidently's chi-square gives p = 0)", () => {
    const sample = window({ plan: [0.49, 0.3, 0.2, 0.01] });
    const { res, extra } = run(sample);
    const plan = extra.features.plan!;
    expect(plan.unseen).toBe(1);
    expect(plan.pValue).toBeGreaterThan(0.01);
    expect(res.status).not.toBe(ResultStatus.Detected);
  });

  it('a shift of categories is detected', () => {
    const { res, extra } = run(window({ plan: [0.3, 0.3, 0.4, 0], rows: 300 }));
    expect(res.status).toBe(ResultStatus.Detected);
    expect(extra.drifted).toContain('plan');
  });

  it('Bonferroni instead of BH: adjusted p-values are m p, capped at 1', () => {
    const { extra } = run(window({ income: 0.2 }), { correction: 'bonferroni' });
    expect(extra.correction).toBe('bonferroni');
    for (const f of Object.values(extra.features)) expect(f.adjustedPValue).toBe(Math.min(1, 3 * f.pValue));
  });

  it('mmd: false leaves the p-value to the features alone', () => {
    const { extra } = run(window({ age: 0.2 }), { mmd: false });
    expect(extra.mmd).toEqual({ skipped: 'disabled by config' });
    expect(extra.pValue).toBe(extra.smallestAdjustedPValue);
  });

  it('features: only those listed; numeric features with few values are tested as categories', () => {
    const reference = { ...REFERENCE, children: Float64Array.from({ length: 800 }, () => Math.floor(r.uniform() * 4)) };
    const sample = { ...window(), children: Float64Array.from({ length: 300 }, () => Math.floor(r.uniform() * 4)) };
    const { extra } = run(sample, { features: ['age', 'children'], categoricalMaxValues: 5 }, reference);
    expect(Object.keys(extra.features)).toEqual(['age', 'children']);
    expect(extra.features.children).toMatchObject({ test: 'chi2', type: 'numeric', cells: 4 });
    expect((extra.mmd as { features: number }).features).toBe(2);
    expect(run(sample, { features: ['children'], categoricalMaxValues: 3 }, reference).extra.features.children!.test).toBe('ks');
    // by default every numeric feature is tested by KS: a value the reference lacks (4 children) counts as a move
    expect(run(sample, { features: ['children'] }, reference).extra.features.children!.test).toBe('ks');
  });

  it('the same window gives the same result, whether the reference model is new or kept', () => {
    const sample = window({ income: 0.1 });
    const first = run(sample).res;
    const again = run(sample).res;
    expect(again).toEqual(first);
    // another reference of the same endpoint: another model
    const other = run(sample, {}, { ...REFERENCE, income: normals(800, 5.2, 2) }).res;
    expect(other.value).not.toBe(first.value);
  });

  it('missing values are dropped per feature, and taken as the reference mean by the MMD', () => {
    const sample = window();
    const age = Float64Array.from(sample.age as Float64Array);
    for (let i = 0; i < age.length; i += 3) age[i] = NaN;
    const { extra } = run({ ...sample, age });
    expect(extra.features.age!.windowCount).toBe(200);
    expect((extra.mmd as { pValue: number }).pValue).toBeGreaterThan(0);
  });
});

describe('drift: windows and features that cannot be compared', () => {
  it('no reference rows: Irrelevant with the reason, and a warning', () => {
    const { ctx, logs } = createContext<DriftConfig>({ sample: window(), reference: REFERENCE, referenceRows: false });
    const res = resultOf(runApp(new Drift(), ctx), 'drift');
    expect(res.status).toBe(ResultStatus.Irrelevant);
    expect(res.extraData!.reason).toMatch(/^no reference rows/);
    expect(logs.some((l) => l.level === 'warn')).toBe(true);
  });

  it('an empty window: Irrelevant', () => {
    const res = run({ age: [], income: [], plan: [] }).res;
    expect(res).toMatchObject({ status: ResultStatus.Irrelevant, value: 1, extraData: { reason: 'window has no rows' } });
  });

  it('features that cannot be compared are listed in skipped; the others are tested', () => {
    // strings in a numeric feature are values of the wrong type: the host (and the testing helpers) make them missing, so
    // the column has no window values (README, values of the wrong type)
    const reference = { ...REFERENCE, gone: normals(800), empty: new Float64Array(800).fill(NaN), kind: normals(800) };
    const sample = { ...window(), empty: normals(300), kind: cats(300, [0.5, 0.5, 0, 0]), blank: normals(300) };
    const { res, extra } = run(sample, { features: ['age', 'gone', 'empty', 'kind', 'blank', 'plan'] }, { ...reference, blank: normals(800) });
    expect(res.status).not.toBe(ResultStatus.Irrelevant);
    expect(extra.skipped).toEqual({ missing_from_window: ['gone'], no_reference_values: ['empty'], no_window_values: ['kind'] });
    expect(Object.keys(extra.features)).toEqual(['age', 'blank', 'plan']);
    // the MMD needs all its numeric features in the window
    expect(extra.mmd).toEqual({ skipped: 'the window lacks numeric features: gone' });
  });

  it('a window column with no values: no_window_values', () => {
    const sample = { ...window(), income: new Float64Array(300).fill(NaN) };
    const { extra } = run(sample);
    expect(extra.skipped).toEqual({ no_window_values: ['income'] });
  });

  it('nothing comparable: Irrelevant with the reasons', () => {
    const { res, extra } = run({ other: normals(10) }, { features: ['age'] });
    expect(res.status).toBe(ResultStatus.Irrelevant);
    expect(extra.reason).toBe('no feature could be compared with the reference (see skipped)');
    expect(extra.skipped).toEqual({ missing_from_window: ['age'] });
  });

  it('an endpoint without features: Irrelevant', () => {
    const { ctx } = createContext<DriftConfig>({ sample: { x: normals(5) }, reference: { x: normals(5) }, featureNames: [] });
    expect(resultOf(runApp(new Drift(), ctx), 'drift').extraData!.reason).toBe('the endpoint has no feature names and the config lists none');
  });

  it('many features: extraData stays within the limit, keeping the smallest p-values', () => {
    const reference: Record<string, Column> = {};
    const sample: Record<string, Column> = {};
    for (let i = 0; i < 700; i++) {
      reference[`feature_with_a_long_name_${i}`] = normals(60);
      sample[`feature_with_a_long_name_${i}`] = normals(20, i === 3 ? 2 : 0);
    }
    const { extra, res, logs } = run(sample, { mmd: false }, reference);
    expect(jsonByteLength(res.extraData)).toBeLessThanOrEqual(DEFAULT_EXTRA_DATA_BYTES);
    expect(extra.truncated!.features.total).toBe(700);
    expect(extra.truncated!.features.kept).toBeGreaterThan(100);
    expect(extra.features.feature_with_a_long_name_3).toBeDefined();
    expect(extra.tested).toBe(700);
    expect(logs.some((l) => l.message.includes('truncated'))).toBe(true);
  });
});

describe('drift: configuration', () => {
  it('defaults', () => {
    expect(resolveConfig(undefined)).toEqual({
      alpha: 0.05,
      potentialAlpha: 0.2,
      correction: 'bh',
      mmd: true,
      categoricalMaxValues: 0,
      replicates: 500,
      seed: 0,
    });
    expect(resolveConfig({ alpha: 0.01, features: ['a'] })).toMatchObject({ alpha: 0.01, features: ['a'] });
  });

  it("the seed draws the MMD's random features: the same seed gives the same numbers, another seed others", () => {
    const sample = window({ rows: 64 });
    const a = run(sample, { seed: 1 }).extra.mmd as { statistic: number };
    expect(run(sample, { seed: 1 }).extra.mmd).toEqual(a);
    expect((run(sample, { seed: 2 }).extra.mmd as { statistic: number }).statistic).not.toBe(a.statistic);
  });
});
