import { DEFAULT_EXTRA_DATA_BYTES, ResultKind, ResultStatus, type MonitoringResult } from '@modelwatch/sdk';
import { normalizeAppOutput } from '@modelwatch/sdk/testing';
import { adjustPValues } from '@modelwatch/sdk/stats';
import { describe, expect, it } from 'vitest';
import { createContext, resultOf, rng, runApp, type Column } from '../../test-utils/context.js';
import DataDrift, { resolveDriftConfig, resultName, shareStatus, type DataDriftConfig } from '../src/index.js';
import reference from './evidently-reference.json' with { type: 'json' };

// ---------------------------------------------------------------------------------------
// parity with Evidently's choice of test and scipy's numbers (evidently_reference.py)
// ---------------------------------------------------------------------------------------

interface ExpectedFeature {
  type: 'numeric' | 'categorical';
  method: string;
  score: number | null;
  statistic: number | string | null;
  pValue: number | null;
  threshold: number;
  drifted: boolean;
  referenceCount: number;
  windowCount: number;
  uniqueValues: number;
  bins?: number;
  evidentlyPValue?: number;
  band?: { mean: number; std: number; lower: number; upper: number; chunks: number };
  adaptiveValue?: number | string;
  adaptiveDrifted?: boolean;
}

interface Case {
  name: string;
  config: DataDriftConfig;
  features: string[];
  reference: string;
  window: string;
  expected: {
    features: Record<string, ExpectedFeature>;
    dataset: { share: number; status: number; driftedCount: number };
    adaptiveDataset?: { share: number; status: number; driftedCount: number };
  };
}

const DOC = reference as unknown as { datasets: Record<string, Record<string, Column>>; cases: Case[] };
const TOLERANCE = 1e-9;

function num(v: number | string | null): number {
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v === null ? NaN : (v as number);
}

function relDiff(actual: number, expected: number): number {
  if (actual === expected) return 0;
  if (expected === 0) return Math.abs(actual) < 1e-300 ? 0 : Infinity;
  return Math.abs(actual - expected) / Math.abs(expected);
}

function contextOf(c: Case, config: DataDriftConfig = c.config) {
  return createContext<DataDriftConfig>({
    sample: DOC.datasets[c.window]!,
    reference: DOC.datasets[c.reference]!,
    featureNames: c.features,
    config,
    applicationName: 'data-drift',
  });
}

function featureResult(results: MonitoringResult[], feature: string): MonitoringResult {
  const r = results.find((x) => x.extraData?.column === feature);
  if (!r) throw new Error(`no result for ${feature}`);
  return r;
}

describe('parity with Evidently and scipy (evidently_reference.py)', () => {
  it('covers every method, both reference sizes, unseen categories, missing values and overrides', () => {
    const methods = new Set(DOC.cases.flatMap((c) => Object.values(c.expected.features).map((f) => f.method)));
    expect(methods).toEqual(new Set(['ks', 'chisquare', 'chi2_contingency', 'z', 'wasserstein', 'jensenshannon', 'psi', 'kl_div']));
    expect(DOC.datasets.small_ref!.income!.length).toBeLessThanOrEqual(1000);
    expect(DOC.datasets.large_ref!.income!.length).toBeGreaterThan(1000);
    expect((DOC.datasets.small_drift!.segment as string[]).filter((v) => v === 'epsilon').length).toBeGreaterThan(0);
    expect((DOC.datasets.small_ref!.segment as string[]).includes('epsilon')).toBe(false);
    // Sturges binning, the empty-bin fill and an infinite chi-square all appear
    const all = DOC.cases.flatMap((c) => Object.values(c.expected.features));
    expect(all.some((f) => f.statistic === 'Infinity')).toBe(true);
    expect(all.some((f) => f.method === 'jensenshannon' && f.bins !== undefined && f.uniqueValues > 20)).toBe(true);
    // both column typings, with integer columns at the limit (10 distinct values) and past it (11)
    const typed = DOC.cases.filter((c) => c.config.columnTyping === 'integer-cardinality').flatMap((c) => Object.values(c.expected.features));
    expect(typed.some((f) => f.type === 'categorical' && f.uniqueValues === 10)).toBe(true);
    expect(typed.some((f) => f.type === 'numeric' && f.uniqueValues === 11)).toBe(true);
    expect(new Set(typed.filter((f) => f.type === 'categorical').map((f) => f.method))).toEqual(
      new Set(['chisquare', 'jensenshannon', 'psi', 'chi2_contingency']),
    );
  });

  let worst = 0;
  let worstWhere = '';
  let worstEvidentlyZ = 0;
  for (const c of DOC.cases) {
    it(`${c.name}: method, statistic, p-value or distance, decision and dataset drift agree to ${TOLERANCE}`, () => {
      const { ctx } = contextOf(c);
      const out = runApp(new DataDrift(), ctx);
      const check = (what: string, actual: number, expected: number) => {
        const d = relDiff(actual, expected);
        if (d > worst) {
          worst = d;
          worstWhere = `${c.name} ${what}`;
        }
        expect(d, `${c.name} ${what}: got ${actual}, scipy ${expected}`).toBeLessThanOrEqual(TOLERANCE);
      };
      const adaptive = c.config.thresholds === 'adaptive';
      for (const f of c.features) {
        const e = c.expected.features[f]!;
        const r = featureResult(out.results, f);
        const x = r.extraData!;
        expect(r.kind).toBe(ResultKind.DataDrift);
        expect(x.type, `${c.name}/${f} type`).toBe(e.type);
        expect(x.method, `${c.name}/${f}`).toBe(e.method);
        expect(x.referenceCount).toBe(e.referenceCount);
        expect(x.windowCount).toBe(e.windowCount);
        expect(x.uniqueValues).toBe(e.uniqueValues);
        if (e.bins !== undefined) expect(x.bins, `${c.name}/${f} bins`).toBe(e.bins);
        const stat = num(e.statistic);
        if (Number.isFinite(stat)) check(`${f}.statistic`, x.statistic as number, stat);
        else expect(x.statistic).toBeNull();
        if (e.pValue !== null) check(`${f}.pValue`, x.pValue as number, e.pValue);
        else check(`${f}.distance`, x.distance as number, num(e.score));
        if (e.evidentlyPValue !== undefined) {
          // Evidently's 2 * (1 - norm.cdf(|z|)) differs from 2 * norm.sf(|z|) by rounding only
          worstEvidentlyZ = Math.max(worstEvidentlyZ, Math.abs((x.pValue as number) - e.evidentlyPValue));
          expect(Math.abs((x.pValue as number) - e.evidentlyPValue)).toBeLessThan(1e-15);
        }
        if (!adaptive) {
          expect(x.threshold).toBe(e.threshold);
          expect(x.drifted, `${c.name}/${f} drifted`).toBe(e.drifted);
          expect(r.status).toBe(e.drifted ? ResultStatus.Detected : ResultStatus.NoDetection);
          check(`${f} value`, r.value, num(e.score));
        } else {
          const band = x.band as Record<string, number>;
          check(`${f}.band.mean`, band.mean!, e.band!.mean);
          check(`${f}.band.std`, band.std!, e.band!.std);
          check(`${f}.band.upper`, band.upper!, e.band!.upper);
          expect(band.lower).toBeCloseTo(e.band!.lower, 12);
          expect(band.chunks).toBe(e.band!.chunks);
          // an infinite statistic (an unseen category) is carried as the largest double
          const adaptiveValue = num(e.adaptiveValue!);
          if (Number.isFinite(adaptiveValue)) check(`${f} adaptive value`, r.value, adaptiveValue);
          else expect(r.value).toBe(Number.MAX_VALUE);
          expect(x.drifted, `${c.name}/${f} adaptive drifted`).toBe(e.adaptiveDrifted);
          expect(x.fixedDrifted).toBe(e.drifted);
          expect(r.status).toBe(e.adaptiveDrifted ? ResultStatus.Detected : ResultStatus.NoDetection);
        }
      }
      const dataset = adaptive ? c.expected.adaptiveDataset! : c.expected.dataset;
      const summary = resultOf(out, 'data_drift');
      expect(summary.value).toBe(dataset.share);
      expect(summary.status).toBe(dataset.status);
      expect(summary.extraData!.driftedCount).toBe(dataset.driftedCount);
      expect(out.results).toHaveLength(c.features.length + 1);
    });
  }

  it('worst relative difference from scipy is within tolerance', async ({ annotate }) => {
    await annotate(
      `worst relative difference from scipy: ${worst.toExponential(3)} (${worstWhere}); z-test p vs Evidently's 1 - cdf: ${worstEvidentlyZ.toExponential(3)} absolute`,
    );
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});

// ---------------------------------------------------------------------------------------
// results, names, statuses
// ---------------------------------------------------------------------------------------

const smallDrift = DOC.cases.find((c) => c.name === 'small_drift')!;

describe('results', () => {
  it('names per-feature results drift_<feature>, sanitized and unique', () => {
    const taken = new Set<string>(['data_drift']);
    expect(resultName('age', taken)).toBe('drift_age');
    expect(resultName('prix (€)', taken)).toBe('drift_prix____');
    expect(resultName('prix_(€)', taken)).toBe('drift_prix_____2');
    expect(resultName('a-b', taken)).toBe('drift_a_b');
    expect(resultName('a b', taken)).toBe('drift_a_b_2');
    expect(resultName('a.b', taken)).toBe('drift_a_b_3');
    expect(resultName('9lives', taken)).toBe('drift_9lives');
    const { ctx } = contextOf(smallDrift);
    const out = runApp(new DataDrift(), ctx);
    expect(out.results.map((r) => r.name)).toEqual([
      'data_drift',
      'drift_income',
      'drift_age',
      'drift_visits',
      'drift_is_member',
      'drift_segment',
      'drift_prix____',
      'drift_channel',
    ]);
    expect(featureResult(out.results, 'prix (€)').name).toBe('drift_prix____');
  });

  it('an unseen category drifts: chi-square over the union of categories, p-value 0, statistic infinite', () => {
    const { ctx } = contextOf(smallDrift);
    const seg = featureResult(runApp(new DataDrift(), ctx).results, 'segment');
    expect(seg.status).toBe(ResultStatus.Detected);
    expect(seg.value).toBe(0);
    expect(seg.extraData).toMatchObject({ method: 'chisquare', statistic: null, statisticInfinite: true, pValue: 0, unseen: 1, bins: 5, drifted: true });
  });

  it('data_drift: share of drifted features, with the drifted names and methods', () => {
    const { ctx } = contextOf(smallDrift);
    const s = resultOf(runApp(new DataDrift(), ctx), 'data_drift');
    expect(s).toMatchObject({ value: 1, kind: ResultKind.DataDrift, status: ResultStatus.Detected });
    expect(s.extraData).toMatchObject({
      share: 1,
      driftedCount: 7,
      compared: 7,
      driftShare: 0.5,
      potentialShare: 0.25,
      datasetDrift: true,
      methods: { ks: 3, chisquare: 2, z: 2 },
      rows: 400,
      referenceRows: 800,
      thresholds: 'fixed',
      skipped: {},
    });
    expect(s.extraData!.drifted).toEqual(smallDrift.features);
  });

  it('status from the share: detected at driftShare, potential at potentialShare, else no detection', () => {
    const cfg = resolveDriftConfig({}, { app: 'data-drift', columnsKey: 'features', methodsKey: 'featureMethods', thresholdsKey: 'featureThresholds' });
    expect(cfg.driftShare).toBe(0.5);
    expect(cfg.potentialShare).toBe(0.25);
    expect(shareStatus(0.5, cfg)).toBe(ResultStatus.Detected);
    expect(shareStatus(0.49, cfg)).toBe(ResultStatus.PotentialDetection);
    expect(shareStatus(0.25, cfg)).toBe(ResultStatus.PotentialDetection);
    expect(shareStatus(0.2, cfg)).toBe(ResultStatus.NoDetection);
    expect(shareStatus(0, { driftShare: 0.5, potentialShare: 0 + Number.MIN_VALUE })).toBe(ResultStatus.NoDetection);
    // one drifted feature of seven (the no-drift fixture's chi-square false alarm): 0.14 < 0.25
    const noDrift = DOC.cases.find((c) => c.name === 'small_no_drift')!;
    const s = resultOf(runApp(new DataDrift(), contextOf(noDrift).ctx), 'data_drift');
    expect(s.value).toBeCloseTo(1 / 7, 15);
    expect(s.status).toBe(ResultStatus.NoDetection);
    const low = resultOf(runApp(new DataDrift(), contextOf(noDrift, { potentialShare: 0.1 }).ctx), 'data_drift');
    expect(low.status).toBe(ResultStatus.PotentialDetection);
    const high = resultOf(runApp(new DataDrift(), contextOf(noDrift, { driftShare: 0.1 }).ctx), 'data_drift');
    expect(high.status).toBe(ResultStatus.Detected);
  });

  it('config: features list, one method for all, thresholds per method and per feature', () => {
    const c = DOC.cases.find((x) => x.name === 'small_no_drift')!;
    const out = runApp(
      new DataDrift(),
      contextOf(c, { features: ['income', 'segment'], method: 'jensenshannon', methodThresholds: { jensenshannon: 0.3 }, featureThresholds: { segment: 0.01 } })
        .ctx,
    );
    expect(out.results.map((r) => r.name)).toEqual(['data_drift', 'drift_income', 'drift_segment']);
    expect(featureResult(out.results, 'income').extraData).toMatchObject({ method: 'jensenshannon', threshold: 0.3 });
    expect(featureResult(out.results, 'segment').extraData).toMatchObject({ method: 'jensenshannon', threshold: 0.01, drifted: true });
  });

  it('categoricalTest chi2_contingency: the two-sample test instead of the goodness of fit', () => {
    const out = runApp(new DataDrift(), contextOf(smallDrift, { categoricalTest: 'chi2_contingency' }).ctx);
    expect(featureResult(out.results, 'segment').extraData).toMatchObject({ method: 'chi2_contingency', drifted: true });
    expect(featureResult(out.results, 'visits').extraData!.method).toBe('chi2_contingency');
    expect(featureResult(out.results, 'is_member').extraData!.method).toBe('z');
  });

  it('jensenshannon uses the natural logarithm, as Evidently does: two disjoint distributions are sqrt(ln 2) apart, not 1', () => {
    const { ctx } = createContext<DataDriftConfig>({
      sample: { c: ['x', 'y', 'x', 'y'] },
      reference: { c: ['a', 'b', 'a', 'b'] },
      config: { method: 'jensenshannon' },
    });
    const r = resultOf(runApp(new DataDrift(), ctx), 'drift_c');
    // scipy.spatial.distance.jensenshannon([.5, .5, 0, 0], [0, 0, .5, .5]) = 0.8325546111576977
    expect(r.extraData!.distance).toBeCloseTo(Math.sqrt(Math.LN2), 15);
  });

  it("columnTyping integer-cardinality: an integer column with at most 10 distinct reference values is categorical, as Evidently's current typing", () => {
    const c = DOC.cases.find((x) => x.name === 'int_small_typed_drift')!;
    const typed = runApp(new DataDrift(), contextOf(c).ctx);
    const legacy = runApp(new DataDrift(), contextOf(c, {}).ctx);
    const typeOf = (out: ReturnType<typeof runApp>, f: string) => featureResult(out.results, f).extraData!;
    // rooms: 10 distinct integers; grade: 7; rating: 5, with missing values; floors: 11; score: one 2.5
    expect(typeOf(typed, 'rooms')).toMatchObject({ type: 'categorical', method: 'chisquare', uniqueValues: 10 });
    expect(typeOf(legacy, 'rooms')).toMatchObject({ type: 'numeric', method: 'ks' });
    expect(typeOf(typed, 'grade')).toMatchObject({ type: 'categorical', method: 'chisquare' });
    expect(typeOf(typed, 'rating')).toMatchObject({ type: 'categorical' });
    expect(typeOf(typed, 'floors')).toMatchObject({ type: 'numeric', method: 'ks', uniqueValues: 11 });
    expect(typeOf(typed, 'score')).toMatchObject({ type: 'numeric' });
    expect(resultOf(typed, 'data_drift').extraData).toMatchObject({ columnTyping: 'integer-cardinality' });
    expect(resultOf(legacy, 'data_drift').extraData!.columnTyping).toBeUndefined();
    // a numbers-only method does not apply to a column typed categorical
    const ks = runApp(new DataDrift(), contextOf(c, { columnTyping: 'integer-cardinality', method: 'ks' }).ctx);
    expect(typeOf(ks, 'rooms')).toMatchObject({ skipped: 'method_not_applicable', method: 'ks', type: 'categorical' });
    expect(typeOf(ks, 'floors')).toMatchObject({ method: 'ks', type: 'numeric' });
  });
});

// ---------------------------------------------------------------------------------------
// windows and columns that cannot be compared
// ---------------------------------------------------------------------------------------

describe('windows and features that cannot be compared', () => {
  const ref = { x: [1, 2, 3, 4, 5, 6, 7, 8], c: ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'] };

  it('no reference rows: Irrelevant with the reason, and a warning', () => {
    const { ctx, logs } = createContext<DataDriftConfig>({ sample: { x: [1, 2] } });
    const out = runApp(new DataDrift(), ctx);
    expect(out.results).toHaveLength(1);
    expect(out.results[0]).toMatchObject({ name: 'data_drift', value: 0, status: ResultStatus.Irrelevant });
    expect(out.results[0]!.extraData!.reason).toMatch(/no reference rows/);
    expect(logs.some((l) => l.level === 'warn')).toBe(true);
  });

  it('an empty window: Irrelevant with the reason', () => {
    const { ctx } = createContext<DataDriftConfig>({ sample: { x: [], c: [] }, reference: ref });
    const out = runApp(new DataDrift(), ctx);
    expect(out.results).toEqual([
      { name: 'data_drift', value: 0, kind: ResultKind.DataDrift, status: ResultStatus.Irrelevant, extraData: { reason: 'window has no rows' } },
    ]);
  });

  it('features that cannot be compared are Irrelevant per feature and listed in skipped', () => {
    const { ctx } = createContext<DataDriftConfig>({
      sample: { x: [null, null, null], c: [1, 2, 3], only_window: [1, 2, 3] },
      reference: { ...ref, only_ref: [1, 2, 3, 4, 5, 6, 7, 8] },
      featureNames: ['x', 'only_window', 'only_ref', 'absent'],
    });
    const out = runApp(new DataDrift(), ctx);
    const s = resultOf(out, 'data_drift');
    expect(s.status).toBe(ResultStatus.Irrelevant);
    expect(s.extraData!.reason).toBe('no feature could be compared with the reference (see skipped)');
    expect(s.extraData!.skipped).toEqual({
      no_window_values: ['x'],
      missing_from_reference: ['only_window'],
      missing_from_window: ['only_ref', 'absent'],
    });
    for (const name of ['drift_x', 'drift_only_window', 'drift_only_ref', 'drift_absent']) {
      expect(out.results.find((r) => r.name === name)).toMatchObject({ value: 0, status: ResultStatus.Irrelevant });
    }
  });

  it('a categorical reference makes the window column categorical, as the host does: numbers are categories when the reference has numeric ones', () => {
    const numericCategories = { c: ['1', '2', 'x', '1'] };
    const { ctx } = createContext<DataDriftConfig>({ sample: { c: [1, 2, 3] }, reference: numericCategories, featureNames: ['c'] });
    const r = resultOf(runApp(new DataDrift(), ctx), 'drift_c');
    expect(r.extraData).toMatchObject({ type: 'categorical', method: 'chisquare', unseen: 1, drifted: true });
  });

  it('values of the wrong type for the reference are missing, as the host makes them: a window with only those has no values', () => {
    const text = createContext<DataDriftConfig>({ sample: { c: [1, 2, 3] }, reference: ref, featureNames: ['c'] });
    expect(resultOf(runApp(new DataDrift(), text.ctx), 'drift_c').extraData).toMatchObject({ skipped: 'no_window_values' });
    const numbers = createContext<DataDriftConfig>({ sample: { x: ['1', '2', 'x'] }, reference: { x: [1, 2, 3] } });
    const r = resultOf(runApp(new DataDrift(), numbers.ctx), 'drift_x');
    expect(r.status).toBe(ResultStatus.Irrelevant);
    expect(r.extraData!.skipped).toBe('no_window_values');
  });

  it('a method that does not apply to the column type is skipped, not an error', () => {
    const { ctx } = createContext<DataDriftConfig>({ sample: { c: ['a', 'b', 'c'] }, reference: ref, featureNames: ['c'], config: { method: 'ks' } });
    const r = resultOf(runApp(new DataDrift(), ctx), 'drift_c');
    expect(r.extraData).toMatchObject({ skipped: 'method_not_applicable', method: 'ks', type: 'categorical' });
  });

  it('an endpoint without features: Irrelevant', () => {
    const { ctx } = createContext<DataDriftConfig>({ sample: { y: [1] }, labelNames: ['y'], reference: { y: [1] } });
    const out = runApp(new DataDrift(), ctx);
    expect(out.results[0]!.status).toBe(ResultStatus.Irrelevant);
    expect(out.results[0]!.extraData!.reason).toMatch(/no feature names/);
  });

  it('rejects shares out of order (each key alone is checked by configSchema at publish: host/test/builtin-config.test.ts)', () => {
    const run = (config: DataDriftConfig) => () => runApp(new DataDrift(), createContext({ sample: { x: [1, 2] }, reference: ref, config }).ctx);
    expect(run({ driftShare: 0.3, potentialShare: 0.4 })).toThrow(/data-drift: config potentialShare \(0.4\) must not exceed driftShare \(0.3\)/);
  });

  it('adaptive with too small a reference falls back to fixed thresholds and says why', () => {
    const { ctx } = createContext<DataDriftConfig>({
      sample: { x: [1, 2, 3, 4, 5, 6] },
      reference: ref,
      featureNames: ['x'],
      config: { thresholds: 'adaptive' },
    });
    const r = resultOf(runApp(new DataDrift(), ctx), 'drift_x');
    expect(r.extraData).toMatchObject({ thresholdMode: 'fixed', method: 'ks' });
    expect(r.extraData!.adaptiveFallback).toMatch(/the reference has 8 rows: 1 chunk\(s\) of 6, fewer than 3/);
  });

  it('many features: extraData stays within the limit', () => {
    const sample: Record<string, number[]> = {};
    const refCols: Record<string, number[]> = {};
    for (let i = 0; i < 1500; i++) {
      const name = `feature_with_a_rather_long_descriptive_name_${String(i).padStart(4, '0')}`;
      refCols[name] = [0, 1, 2, 3, 4, 5, 6, 7];
      sample[name] = [10, 11, 12, 13, 14, 15, 16, 17];
    }
    const { ctx, logs } = createContext<DataDriftConfig>({ sample, reference: refCols });
    const out = normalizeAppOutput(new DataDrift().doTracking(ctx));
    const s = resultOf(out, 'data_drift');
    expect(s.value).toBe(1);
    expect(JSON.stringify(s.extraData).length).toBeLessThanOrEqual(DEFAULT_EXTRA_DATA_BYTES);
    expect((s.extraData!.truncated as { drifted: { total: number } }).drifted.total).toBe(1500);
    expect(out.results).toHaveLength(1501);
    expect(logs.some((l) => /truncated/.test(l.message))).toBe(true);
  });
});

describe('datasetDecision: a family test of the features instead of the share of drifted ones', () => {
  const r = rng(99);
  const normals = (n: number, mu = 0) => Float64Array.from({ length: n }, () => r.normal(mu, 1));
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const reference = Object.fromEntries(names.map((f) => [f, normals(600)]));
  // one feature of six shifted by 0.6 sigma: the share rule (half the features) cannot see it
  const window = Object.fromEntries(names.map((f) => [f, normals(300, f === 'a' ? 0.6 : 0)]));
  const run = (config: DataDriftConfig) => runApp(new DataDrift(), createContext<DataDriftConfig>({ sample: window, reference, config }).ctx);

  it("'bh': detected from the smallest Benjamini-Hochberg adjusted p-value, which the share rule misses; adjusted p-values per feature", () => {
    const share = resultOf(run({}), 'data_drift');
    expect(share.status).toBe(ResultStatus.NoDetection);
    const out = run({ datasetDecision: 'bh' });
    const summary = resultOf(out, 'data_drift');
    expect(summary.status).toBe(ResultStatus.Detected);
    expect(summary.value).toBe(share.value);
    const p = names.map((f) => resultOf(out, `drift_${f}`).extraData!.pValue as number);
    const adjusted = adjustPValues(p, 'bh');
    expect(names.map((f) => resultOf(out, `drift_${f}`).extraData!.adjustedPValue)).toEqual(adjusted);
    expect(summary.extraData).toMatchObject({
      datasetDecision: 'bh',
      datasetAlpha: 0.05,
      datasetPValue: Math.min(...adjusted),
      untested: [],
      datasetDrift: true,
    });
  });

  it("'bonferroni': m p, at datasetAlpha", () => {
    const out = run({ datasetDecision: 'bonferroni', datasetAlpha: 0.01 });
    const summary = resultOf(out, 'data_drift');
    const pa = resultOf(out, 'drift_a').extraData!.pValue as number;
    expect(resultOf(out, 'drift_a').extraData!.adjustedPValue).toBe(Math.min(1, 6 * pa));
    expect(summary.status).toBe(6 * pa < 0.01 ? ResultStatus.Detected : ResultStatus.NoDetection);
  });

  it('features scored by a distance take no part; with none tested the dataset result is Irrelevant, saying why', () => {
    const big = Object.fromEntries(names.map((f) => [f, normals(1500)]));
    const out = runApp(new DataDrift(), createContext<DataDriftConfig>({ sample: window, reference: big, config: { datasetDecision: 'bh' } }).ctx);
    const summary = resultOf(out, 'data_drift');
    expect(summary.status).toBe(ResultStatus.Irrelevant);
    expect(summary.extraData!.reason).toMatch(/datasetDecision 'bh' needs p-values, and every feature was scored by a distance/);
    expect(summary.extraData!.untested).toEqual(names);
  });
});
