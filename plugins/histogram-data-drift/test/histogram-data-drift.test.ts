import { DEFAULT_EXTRA_DATA_BYTES, ResultKind, ResultStatus, type MonitoringContext, type MonitoringResult } from '@modelwatch/sdk';
import { normalizeAppOutput, type NormalizedOutput, type TestArtifact } from '@modelwatch/sdk/testing';
import { referenceStats, windowStats } from '@modelwatch/sdk/stats';
import { describe, expect, it } from 'vitest';
import { binomialUpperBound, createContext, rng as seededRandom, type Column, type LogLine } from '../../test-utils/context.js';
import HistogramDataDrift, {
  DRIFT_TABLE,
  calibratedStatus,
  histogramDistances,
  resolveDecision,
  resolveThresholds,
  type FeatureDrift,
  type HistogramDataDriftConfig,
} from '../src/index.js';
import mlrunReference from './mlrun-reference.json' with { type: 'json' };

// ---------------------------------------------------------------------------------------
// helpers: an in-process MonitoringContext built from columns
// ---------------------------------------------------------------------------------------

interface ContextOptions {
  /** Reference (training) columns; their statistics become featureStats. */
  reference: Record<string, Column>;
  /** The window's columns. */
  window: Record<string, Column>;
  /** @default the reference's column names */
  featureNames?: string[];
  config?: HistogramDataDriftConfig;
}

/** The context the host builds (MLRun's app reads no rows: the reference is given as statistics only). */
function makeContext(opts: ContextOptions): { ctx: MonitoringContext<HistogramDataDriftConfig>; logs: LogLine[]; artifacts: TestArtifact[] } {
  return createContext<HistogramDataDriftConfig>({
    sample: opts.window,
    reference: opts.reference,
    referenceRows: false,
    featureNames: opts.featureNames ?? Object.keys(opts.reference),
    config: opts.config ?? { potentialThreshold: 0.5, detectedThreshold: 0.7 },
    applicationName: 'histogram-data-drift',
  });
}

/** Run the app and validate its output as the host does. */
function run(ctx: MonitoringContext<HistogramDataDriftConfig>): NormalizedOutput {
  const raw = new HistogramDataDrift().doTracking(ctx);
  return normalizeAppOutput(raw);
}

function generalDrift(out: NormalizedOutput): MonitoringResult {
  const r = out.results.find((x) => x.name === 'general_drift');
  if (!r) throw new Error('no general_drift result');
  return r;
}

function metric(out: NormalizedOutput, name: string): number {
  const m = out.metrics.find((x) => x.name === name);
  if (!m) throw new Error(`no metric ${name}`);
  return m.value;
}

function featuresOf(r: MonitoringResult): Record<string, FeatureDrift> {
  return r.extraData!.features as unknown as Record<string, FeatureDrift>;
}

function skippedOf(r: MonitoringResult): Record<string, string[]> {
  return r.extraData!.skipped as unknown as Record<string, string[]>;
}

function relDiff(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), Number.MIN_VALUE);
}

/** A deterministic pseudo-random generator (mulberry32) for synthetic columns. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniformColumn(seed: number, n: number, lo: number, hi: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

// ---------------------------------------------------------------------------------------
// parity with MLRun (numbers from test/mlrun_reference.py, numpy)
// ---------------------------------------------------------------------------------------

interface ReferenceDoc {
  features: string[];
  thresholds: { potentialThreshold: number; detectedThreshold: number };
  reference: Record<string, Array<number | null>>;
  referenceHist: Record<string, { counts: number[]; edges: number[] }>;
  windows: Record<
    string,
    {
      data: Record<string, Array<number | null>>;
      expected: {
        windowCounts: Record<string, number[]>;
        features: Record<string, FeatureDrift>;
        metrics: { hellinger_mean: number; kld_mean: number; tvd_mean: number };
        generalDrift: number;
        status: 'no_detection' | 'potential_detection' | 'detected';
      };
    }
  >;
}

const REF = mlrunReference as unknown as ReferenceDoc;
const TOLERANCE = 1e-12;
const STATUS: Record<ReferenceDoc['windows'][string]['expected']['status'], ResultStatus> = {
  no_detection: ResultStatus.NoDetection,
  potential_detection: ResultStatus.PotentialDetection,
  detected: ResultStatus.Detected,
};

function parityContext(windowName: string, config?: HistogramDataDriftConfig) {
  return makeContext({
    reference: REF.reference,
    window: REF.windows[windowName]!.data,
    featureNames: REF.features,
    config: config ?? REF.thresholds,
  });
}

describe('parity with MLRun (numpy reference)', () => {
  it('has the three windows, four features and one of each status', () => {
    expect(Object.keys(REF.windows).sort()).toEqual(['drifted', 'edges', 'no_drift']);
    expect(REF.features).toHaveLength(4);
    expect(REF.reference[REF.features[0]!]).toHaveLength(1000);
    expect(new Set(Object.values(REF.windows).map((w) => w.expected.status))).toEqual(new Set(['no_detection', 'potential_detection', 'detected']));
  });

  it('builds the same reference histograms as np.histogram(ref, bins=20), padded', () => {
    for (const name of REF.features) {
      const stats = referenceStats(REF.reference[name]!);
      expect(stats.type).toBe('numeric');
      if (stats.type !== 'numeric') continue;
      expect(stats.hist.edges).toEqual(REF.referenceHist[name]!.edges);
      expect(stats.hist.counts).toEqual(REF.referenceHist[name]!.counts);
      expect(stats.hist.counts).toHaveLength(22);
      expect(stats.hist.edges).toHaveLength(23);
    }
  });

  it('counts each window on the reference edges as np.histogram does (min, max, edges, out of range)', () => {
    for (const [wname, w] of Object.entries(REF.windows)) {
      const { ctx } = parityContext(wname);
      for (const name of REF.features) {
        const stats = ctx.sampleStats[name]!;
        if (stats.type !== 'numeric') throw new Error(`${wname}/${name}: not numeric`);
        expect(stats.hist.counts, `${wname}/${name}`).toEqual(w.expected.windowCounts[name]);
      }
    }
  });

  let maxRel = 0;
  for (const wname of ['no_drift', 'drifted', 'edges']) {
    it(`agrees to ${TOLERANCE} relative on the ${wname} window`, () => {
      const expected = REF.windows[wname]!.expected;
      const { ctx } = parityContext(wname);
      const out = run(ctx);
      const check = (what: string, actual: number, exp: number) => {
        const d = relDiff(actual, exp);
        maxRel = Math.max(maxRel, d);
        expect(d, `${wname} ${what}: got ${actual}, numpy ${exp}`).toBeLessThanOrEqual(TOLERANCE);
      };
      const gd = generalDrift(out);
      const features = featuresOf(gd);
      expect(Object.keys(features)).toEqual(REF.features);
      for (const name of REF.features) {
        for (const key of ['tvd', 'hellinger', 'kld'] as const) {
          check(`${name}.${key}`, features[name]![key], expected.features[name]![key]);
        }
      }
      check('hellinger_mean', metric(out, 'hellinger_mean'), expected.metrics.hellinger_mean);
      check('kld_mean', metric(out, 'kld_mean'), expected.metrics.kld_mean);
      check('tvd_mean', metric(out, 'tvd_mean'), expected.metrics.tvd_mean);
      check('general_drift', gd.value, expected.generalDrift);
      expect(gd.kind).toBe(ResultKind.DataDrift);
      expect(gd.status).toBe(STATUS[expected.status]);
      expect(out.metrics.map((m) => m.name).sort()).toEqual(['hellinger_mean', 'kld_mean', 'tvd_mean']);
      expect(out.results).toHaveLength(1);
    });
  }

  it('max relative difference against numpy is within tolerance', async ({ annotate }) => {
    // runs after the three windows above (vitest runs the tests of a file in order)
    await annotate(`max relative difference against numpy: ${maxRel.toExponential(3)}`);
    expect(maxRel).toBeLessThanOrEqual(TOLERANCE);
  });

  it('reports thresholds, row count and empty skipped lists in extraData', () => {
    const { ctx } = parityContext('no_drift');
    const gd = generalDrift(run(ctx));
    expect(gd.extraData!.thresholds).toEqual({ potentialThreshold: 0.5, detectedThreshold: 0.7 });
    expect(gd.extraData!.rows).toBe(REF.windows.no_drift!.data[REF.features[0]!]!.length);
    expect(Object.values(skippedOf(gd)).flat()).toEqual([]);
    expect(gd.extraData!.truncated).toBeUndefined();
  });

  it("attaches the per-feature drift table as CSV, with MLRun's numbers", () => {
    for (const [wname, w] of Object.entries(REF.windows)) {
      const { ctx, artifacts } = parityContext(wname);
      const out = run(ctx);
      expect(artifacts.map((a) => [a.name, a.contentType])).toEqual([[DRIFT_TABLE, 'text/csv; charset=utf-8']]);
      const [head, ...lines] = artifacts[0]!.text().trimEnd().split('\n');
      expect(head).toBe('feature,tvd,hellinger,kld,general_drift');
      expect(lines.map((l) => l.split(',')[0])).toEqual(REF.features);
      for (const line of lines) {
        const [feature, tvd, hellinger, kld, general] = line.split(',');
        const e = w.expected.features[feature!]!;
        expect(Number(tvd)).toBeCloseTo(e.tvd, 12);
        expect(Number(hellinger)).toBeCloseTo(e.hellinger, 12);
        expect(Number(kld)).toBeCloseTo(e.kld, 12);
        expect(Number(general)).toBeCloseTo((e.tvd + e.hellinger) / 2, 12);
      }
      // the results are those of the parity tests: the table is an addition
      expect(generalDrift(out).value).toBeCloseTo(w.expected.generalDrift, 12);
    }
  });

  it('attaches no table when nothing was compared', () => {
    const { ctx, artifacts } = makeContext({ reference: REF.reference, window: {}, featureNames: REF.features });
    run(ctx);
    expect(artifacts).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// statuses and configuration
// ---------------------------------------------------------------------------------------

describe('statuses and thresholds', () => {
  it('classifies with >= at the thresholds, using configured thresholds', () => {
    const value = REF.windows.no_drift!.expected.generalDrift; // ~0.078
    const at = (potentialThreshold: number, detectedThreshold: number) =>
      generalDrift(run(parityContext('no_drift', { potentialThreshold, detectedThreshold }).ctx)).status;
    expect(at(0.5, 0.7)).toBe(ResultStatus.NoDetection);
    expect(at(0.05, 0.5)).toBe(ResultStatus.PotentialDetection);
    expect(at(0.01, 0.05)).toBe(ResultStatus.Detected);
    expect(at(value, 0.9)).toBe(ResultStatus.PotentialDetection); // value == potential
    expect(at(0.01, value)).toBe(ResultStatus.Detected); // value == detected
    const next = value + 1e-15;
    expect(at(next, 0.9)).toBe(ResultStatus.NoDetection); // just below potential
  });

  it('uses the defaults 0.5 / 0.7 when config leaves them out', () => {
    expect(resolveThresholds({})).toEqual({ potentialThreshold: 0.5, detectedThreshold: 0.7 });
    expect(resolveThresholds(undefined)).toEqual({ potentialThreshold: 0.5, detectedThreshold: 0.7 });
    expect(resolveThresholds({ detectedThreshold: 0.9 })).toEqual({ potentialThreshold: 0.5, detectedThreshold: 0.9 });
    const gd = generalDrift(run(parityContext('edges', {}).ctx));
    expect(gd.status).toBe(ResultStatus.PotentialDetection);
    expect(gd.extraData!.thresholds).toEqual({ potentialThreshold: 0.5, detectedThreshold: 0.7 });
  });

  it.each([
    [{ potentialThreshold: 0.7, detectedThreshold: 0.5 }, /potentialThreshold=0\.7 and detectedThreshold=0\.5/],
    [{ potentialThreshold: 0.6, detectedThreshold: 0.6 }, /potentialThreshold=0\.6 and detectedThreshold=0\.6/],
    [{ potentialThreshold: 0, detectedThreshold: 0.7 }, /potentialThreshold=0 and detectedThreshold=0\.7/],
    [{ potentialThreshold: -0.1, detectedThreshold: 0.7 }, /potentialThreshold=-0\.1 and/],
    [{ potentialThreshold: 0.5, detectedThreshold: 1 }, /detectedThreshold=1\b/],
    [{ potentialThreshold: 0.5, detectedThreshold: 1.5 }, /detectedThreshold=1\.5/],
    [{ potentialThreshold: 0.8 }, /potentialThreshold=0\.8 and detectedThreshold=0\.7/],
  ])('rejects thresholds out of order or range: %j', (config, message) => {
    const { ctx } = parityContext('no_drift', config);
    expect(() => new HistogramDataDrift().doTracking(ctx)).toThrow(/need 0 < potentialThreshold < detectedThreshold < 1/);
    expect(() => new HistogramDataDrift().doTracking(ctx)).toThrow(message);
  });

  it('validates the config even for an empty window', () => {
    const { ctx } = makeContext({
      reference: { a: [1, 2, 3] },
      window: { a: [] },
      config: { potentialThreshold: 0.9, detectedThreshold: 0.2 },
    });
    expect(() => new HistogramDataDrift().doTracking(ctx)).toThrow(/potentialThreshold=0\.9 and detectedThreshold=0\.2/);
  });
});

// ---------------------------------------------------------------------------------------
// empty windows, missing features, skipped features
// ---------------------------------------------------------------------------------------

describe('windows and features that cannot be compared', () => {
  const reference = { a: uniformColumn(1, 300, 0, 10), b: uniformColumn(2, 300, -1, 1) };

  it('an empty window gives an Irrelevant general_drift with the reason and no metrics', () => {
    const { ctx } = makeContext({ reference, window: { a: [], b: [] } });
    expect(ctx.sample.length).toBe(0);
    const out = run(ctx);
    expect(out.metrics).toEqual([]);
    expect(out.results).toEqual([
      {
        name: 'general_drift',
        value: 0,
        kind: ResultKind.DataDrift,
        status: ResultStatus.Irrelevant,
        extraData: { reason: 'window has no rows' },
      },
    ]);
  });

  it('an empty window without any columns is Irrelevant too', () => {
    const { ctx } = makeContext({ reference, window: {} });
    const gd = generalDrift(run(ctx));
    expect(gd.status).toBe(ResultStatus.Irrelevant);
    expect(gd.extraData).toEqual({ reason: 'window has no rows' });
  });

  it('no reference statistics at all: Irrelevant with the reason, and a warning', () => {
    const { ctx, logs } = makeContext({ reference: {}, window: { a: [1, 2, 3] }, featureNames: ['a'] });
    const out = run(ctx);
    expect(out.metrics).toEqual([]);
    expect(out.results).toEqual([
      {
        name: 'general_drift',
        value: 0,
        kind: ResultKind.DataDrift,
        status: ResultStatus.Irrelevant,
        extraData: { reason: 'endpoint has no reference statistics' },
      },
    ]);
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['endpoint has no reference statistics: no drift computed']);
  });

  it('a feature missing from the window is skipped; the others are computed', () => {
    const window = { a: uniformColumn(3, 200, 2, 12) };
    const { ctx } = makeContext({ reference, window });
    const out = run(ctx);
    const gd = generalDrift(out);
    expect(gd.status).not.toBe(ResultStatus.Irrelevant);
    expect(Object.keys(featuresOf(gd))).toEqual(['a']);
    expect(skippedOf(gd).missing_from_window).toEqual(['b']);
    const refA = ctx.featureStats.a!;
    const winA = ctx.sampleStats.a!;
    if (refA.type !== 'numeric' || winA.type !== 'numeric') throw new Error('expected numeric stats');
    const expected = histogramDistances(refA.hist.counts, winA.hist.counts);
    expect(featuresOf(gd).a).toEqual(expected);
    // means over the computed feature only
    expect(metric(out, 'tvd_mean')).toBe(expected.tvd);
    expect(metric(out, 'hellinger_mean')).toBe(expected.hellinger);
    expect(metric(out, 'kld_mean')).toBe(expected.kld);
    expect(gd.value).toBe((expected.hellinger + expected.tvd) / 2);
  });

  it('a feature without reference statistics is skipped with that reason', () => {
    const window = { a: uniformColumn(3, 200, 0, 10), b: uniformColumn(4, 200, -1, 1), c: uniformColumn(5, 200, 0, 1) };
    const { ctx } = makeContext({ reference, window, featureNames: ['a', 'b', 'c'] });
    const gd = generalDrift(run(ctx));
    expect(Object.keys(featuresOf(gd))).toEqual(['a', 'b']);
    expect(skippedOf(gd).no_reference_stats).toEqual(['c']);
    expect(gd.status).toBe(ResultStatus.NoDetection);
  });

  it('skips categorical features and features with no values in the window, with reasons', () => {
    const n = 120;
    const ref = {
      a: uniformColumn(1, n, 0, 10),
      color: Array.from({ length: n }, (_, i) => ['red', 'green', 'blue'][i % 3]!),
      b: uniformColumn(2, n, 0, 1),
      c: uniformColumn(3, n, 0, 1),
    };
    const window = {
      a: uniformColumn(6, 50, 0, 10),
      color: Array.from({ length: 50 }, (_, i) => ['red', 'blue'][i % 2]!),
      b: new Array<null>(50).fill(null), // all missing
      // strings where the reference is numeric: values of the wrong type, missing (as the host makes them)
      c: Array.from({ length: 50 }, (_, i) => (i % 2 ? 'x' : 'y')),
    };
    const { ctx } = makeContext({ reference: ref, window, featureNames: ['a', 'color', 'b', 'c'] });
    expect(ctx.sampleStats.c).toMatchObject({ type: 'numeric', count: 0, missing: 50, wrongType: 50 });
    const gd = generalDrift(run(ctx));
    expect(Object.keys(featuresOf(gd))).toEqual(['a']);
    const skipped = skippedOf(gd);
    expect(skipped.categorical).toEqual(['color']);
    expect(skipped.no_window_values).toEqual(['b', 'c']);
    expect(skipped.missing_from_window).toEqual([]);
    expect(skipped.no_reference_stats).toEqual([]);
    expect(gd.extraData!.rows).toBe(50);
  });

  it('skips a feature whose reference has no values', () => {
    const { ctx } = makeContext({
      reference: { a: uniformColumn(1, 100, 0, 1), z: new Array<null>(100).fill(null) },
      window: { a: uniformColumn(2, 40, 0, 1), z: uniformColumn(3, 40, 0, 1) },
    });
    const gd = generalDrift(run(ctx));
    expect(Object.keys(featuresOf(gd))).toEqual(['a']);
    expect(skippedOf(gd).no_reference_values).toEqual(['z']);
  });

  it('skips a window histogram not counted on the reference bins', () => {
    const { ctx } = makeContext({ reference, window: { a: uniformColumn(3, 50, 0, 10), b: uniformColumn(4, 50, -1, 1) } });
    // window statistics computed without the reference: their own 20 bins
    const sampleStats = { ...ctx.sampleStats, b: windowStats(ctx.sample.column('b')) };
    const gd = generalDrift(run({ ...ctx, sampleStats }));
    expect(Object.keys(featuresOf(gd))).toEqual(['a']);
    expect(skippedOf(gd).bins_mismatch).toEqual(['b']);
  });

  it('no computable feature at all: Irrelevant, value 0, reason and skipped lists, no metrics', () => {
    const { ctx } = makeContext({ reference, window: { a: [null, null], b: [null, null] } });
    const out = run(ctx);
    expect(out.metrics).toEqual([]);
    const gd = generalDrift(out);
    expect(gd.status).toBe(ResultStatus.Irrelevant);
    expect(gd.value).toBe(0);
    expect(gd.extraData!.reason).toBe('no feature could be compared with the reference (see skipped)');
    expect(skippedOf(gd).no_window_values).toEqual(['a', 'b']);
    expect(gd.extraData!.rows).toBe(2);
  });

  it('an endpoint with no feature names is Irrelevant, not an error', () => {
    const { ctx } = makeContext({ reference, window: { a: [1, 2] }, featureNames: [] });
    const gd = generalDrift(run(ctx));
    expect(gd.status).toBe(ResultStatus.Irrelevant);
    expect(gd.extraData!.reason).toBe('endpoint has no feature names');
  });
});

// ---------------------------------------------------------------------------------------
// formulas on hand-made histograms
// ---------------------------------------------------------------------------------------

describe('histogramDistances', () => {
  it('is zero for identical distributions, whatever the scale', () => {
    const d = histogramDistances([0, 2, 4, 2, 0], [0, 1, 2, 1, 0]);
    expect(d).toEqual({ tvd: 0, hellinger: 0, kld: 0 });
  });

  it('matches the formulas on a small case, with 1e-4 in place of zero probabilities', () => {
    // u = [0.5, 0.5, 0], t = [0, 0.5, 0.5]
    const d = histogramDistances([1, 1, 0], [0, 1, 1]);
    expect(d.tvd).toBe(0.5);
    expect(d.hellinger).toBeCloseTo(Math.sqrt(1 - 0.5), 15);
    // KL(t||u) = 0.5 ln(0.5/0.5) + 0.5 ln(0.5/1e-4); KL(u||t) = 0.5 ln(0.5/1e-4) + 0.5 ln(1)
    expect(d.kld).toBeCloseTo(2 * 0.5 * Math.log(0.5 / 1e-4), 12);
  });

  it('disjoint histograms: TVD 1, Hellinger 1', () => {
    const d = histogramDistances([3, 0], [0, 5]);
    expect(d.tvd).toBe(1);
    expect(d.hellinger).toBe(1);
    expect(d.kld).toBeCloseTo(2 * Math.log(1 / 1e-4), 12);
  });
});

// ---------------------------------------------------------------------------------------
// extraData size
// ---------------------------------------------------------------------------------------

function wideContext(features: number, nameOf: (i: number) => string, rows = 200) {
  const reference: Record<string, number[]> = {};
  const window: Record<string, number[]> = {};
  for (let i = 0; i < features; i++) {
    const name = nameOf(i);
    reference[name] = uniformColumn(1000 + i, 400, 0, 10);
    // drift grows with i: window shifted by i / features * 10
    const shift = (i / features) * 10;
    window[name] = uniformColumn(5000 + i, rows, shift, 10 + shift);
  }
  return makeContext({ reference, window });
}

function extraBytes(r: MonitoringResult): number {
  let n = 0;
  const s = JSON.stringify(r.extraData);
  for (const ch of s) n += ch.codePointAt(0)! < 0x80 ? 1 : ch.codePointAt(0)! < 0x800 ? 2 : ch.codePointAt(0)! < 0x10000 ? 3 : 4;
  return n;
}

describe('extraData size', () => {
  it('200 features: every feature, full precision, within the 64 KiB limit', () => {
    const { ctx } = wideContext(200, (i) => `feature_${String(i).padStart(3, '0')}`);
    const raw = new HistogramDataDrift().doTracking(ctx);
    const out = normalizeAppOutput(raw); // throws when over the limit
    const gd = generalDrift(out);
    const features = featuresOf(gd);
    expect(Object.keys(features)).toHaveLength(200);
    expect(gd.extraData!.truncated).toBeUndefined();
    const bytes = extraBytes(gd);
    expect(bytes).toBeLessThan(DEFAULT_EXTRA_DATA_BYTES);
    // values are not rounded: they are exactly what histogramDistances gives
    const f = ctx.featureStats.feature_123!;
    const w = ctx.sampleStats.feature_123!;
    if (f.type !== 'numeric' || w.type !== 'numeric') throw new Error('expected numeric stats');
    expect(features.feature_123).toEqual(histogramDistances(f.hist.counts, w.hist.counts));
    expect(gd.status).toBe(ResultStatus.PotentialDetection);
  });

  it('200 features with long names stay within the limit too', () => {
    const { ctx } = wideContext(200, (i) => `customer_account_transaction_history_feature_number_${i}`);
    const gd = generalDrift(normalizeAppOutput(new HistogramDataDrift().doTracking(ctx)));
    expect(Object.keys(featuresOf(gd))).toHaveLength(200);
    expect(gd.extraData!.truncated).toBeUndefined();
  });

  it('too many features for the limit: keeps the most drifted ones and says so', () => {
    const total = 1500;
    const { ctx, logs } = wideContext(total, (i) => `f${String(i).padStart(4, '0')}_with_a_long_descriptive_name`, 60);
    const out = normalizeAppOutput(new HistogramDataDrift().doTracking(ctx));
    const gd = generalDrift(out);
    expect(extraBytes(gd)).toBeLessThanOrEqual(DEFAULT_EXTRA_DATA_BYTES);
    const truncated = gd.extraData!.truncated as { features: { kept: number; total: number }; bytes: number; limit: number };
    expect(truncated.features.total).toBe(total);
    expect(truncated.limit).toBe(DEFAULT_EXTRA_DATA_BYTES);
    expect(truncated.bytes).toBeGreaterThan(DEFAULT_EXTRA_DATA_BYTES);
    const kept = featuresOf(gd);
    expect(Object.keys(kept)).toHaveLength(truncated.features.kept);
    expect(truncated.features.kept).toBeGreaterThan(300);
    expect(truncated.features.kept).toBeLessThan(total);
    // the kept features are the most drifted ones
    const driftOf = (d: FeatureDrift) => (d.hellinger + d.tvd) / 2;
    const minKept = Math.min(...Object.values(kept).map(driftOf));
    for (let i = 0; i < total; i++) {
      const name = `f${String(i).padStart(4, '0')}_with_a_long_descriptive_name`;
      if (name in kept) continue;
      const f = ctx.featureStats[name]!;
      const w = ctx.sampleStats[name]!;
      if (f.type !== 'numeric' || w.type !== 'numeric') throw new Error('expected numeric stats');
      expect(driftOf(histogramDistances(f.hist.counts, w.hist.counts))).toBeLessThanOrEqual(minKept);
    }
    // the metrics still cover every feature
    expect(out.metrics).toHaveLength(3);
    expect(logs.some((l) => l.level === 'warn' && /truncated/.test(l.message))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// decision: 'calibrated'
// ---------------------------------------------------------------------------------------

describe("decision: 'calibrated' (a reference-bootstrap p-value of general_drift at the window's size)", () => {
  const r = seededRandom(42);
  const columns = (n: number, shift = 0) => ({
    a: Float64Array.from({ length: n }, () => r.normal(shift, 1)),
    b: Float64Array.from({ length: n }, () => r.uniform() * 10),
    c: Float64Array.from({ length: n }, () => Math.exp(r.normal(0, 0.5))),
  });
  const calibrated = (reference: Record<string, Column>, window: Record<string, Column>, config: HistogramDataDriftConfig = {}) => {
    const { ctx, logs } = createContext<HistogramDataDriftConfig>({
      sample: window,
      reference,
      config: { decision: 'calibrated', replicates: 200, ...config },
    });
    return { res: generalDrift(run(ctx)), logs };
  };

  it("keeps the value (MLRun's general_drift) and decides by the p-value, with its details in extraData.calibration", () => {
    const reference = columns(1000);
    const window = columns(60);
    const mlrun = generalDrift(run(createContext<HistogramDataDriftConfig>({ sample: window, reference, config: {} }).ctx));
    const { res } = calibrated(reference, window);
    expect(res.value).toBe(mlrun.value);
    const cal = res.extraData!.calibration as {
      decision: string;
      pValue: number;
      nullSizes: number[];
      alpha: number;
      potentialAlpha: number;
      replicates: number;
    };
    expect(cal).toMatchObject({ decision: 'calibrated', alpha: 0.05, potentialAlpha: 0.2, replicates: 200, nullSizes: [32, 64] });
    expect(res.status).toBe(calibratedStatus(cal.pValue, cal));
    expect(calibratedStatus(0.01, cal)).toBe(ResultStatus.Detected);
    expect(calibratedStatus(0.1, cal)).toBe(ResultStatus.PotentialDetection);
    expect(calibratedStatus(0.5, cal)).toBe(ResultStatus.NoDetection);
  });

  it("MLRun's thresholds flag small windows without any shift; the calibrated decision keeps its level at 10 and 200 rows and detects a shift", async ({
    annotate,
  }) => {
    const trials = 100;
    const bound = binomialUpperBound(trials, 0.05, 0.001);
    const rates: string[] = [];
    for (const n of [10, 200]) {
      let mlrunFlags = 0;
      let alarms = 0;
      let detected = 0;
      for (let t = 0; t < trials; t++) {
        const reference = columns(500);
        const window = columns(n);
        const mlrun = generalDrift(run(createContext<HistogramDataDriftConfig>({ sample: window, reference, config: {} }).ctx));
        if (mlrun.status !== ResultStatus.NoDetection) mlrunFlags++;
        if (calibrated(reference, window).res.status === ResultStatus.Detected) alarms++;
        if (t < 50 && calibrated(reference, columns(n, 1.5)).res.status === ResultStatus.Detected) detected++;
      }
      rates.push(`n=${n}: MLRun flags ${mlrunFlags}/${trials}, calibrated false alarms ${alarms}/${trials}, detection of a 1.5 sigma shift ${detected}/50`);
      expect(alarms, `n=${n}`).toBeLessThanOrEqual(bound);
      if (n === 10) expect(mlrunFlags).toBeGreaterThan(50);
      if (n === 200) expect(detected).toBeGreaterThanOrEqual(45);
    }
    await annotate(rates.join('; '));
  });

  it('without reference rows: Irrelevant, with the reason and a warning; general_drift still computed', () => {
    const { ctx, logs } = createContext<HistogramDataDriftConfig>({
      sample: columns(50),
      reference: columns(300),
      referenceRows: false,
      config: { decision: 'calibrated' },
    });
    const res = generalDrift(run(ctx));
    expect(res.status).toBe(ResultStatus.Irrelevant);
    expect(res.value).toBeGreaterThan(0);
    expect((res.extraData!.calibration as { reason: string }).reason).toMatch(/^the calibrated decision needs the reference rows/);
    expect(logs.some((l) => l.level === 'warn')).toBe(true);
  });

  it('fills in the decision defaults (bad values are refused by configSchema at publish: host/test/builtin-config.test.ts)', () => {
    expect(resolveDecision({})).toEqual({ decision: 'mlrun', alpha: 0.05, potentialAlpha: 0.2, replicates: 500, seed: 0 });
    expect(resolveDecision({ decision: 'calibrated', alpha: 0.01 })).toMatchObject({ decision: 'calibrated', alpha: 0.01 });
  });
});
