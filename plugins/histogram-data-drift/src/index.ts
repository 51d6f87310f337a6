/**
 * histogram-data-drift: the built-in data drift app, with parity to MLRun's default app.
 *
 * For each numeric feature it compares the window's histogram (counted on the reference's
 * bins) with the reference histogram: total variation distance, Hellinger distance and the
 * symmetric Kullback-Leibler divergence, exactly as MLRun computes them (sums in numpy's
 * pairwise order, so the numbers agree with MLRun's to the last digits). It returns the
 * metrics `hellinger_mean`, `kld_mean`, `tvd_mean` and the result `general_drift`.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import {
  DEFAULT_EXTRA_DATA_BYTES,
  jsonByteLength,
  MonitoringApplication,
  ResultKind,
  ResultStatus,
  type FeatureStats,
  type JsonValue,
  type MonitoringContext,
  type MonitoringMetric,
  type MonitoringResult,
} from '@modelwatch/sdk';
import { pairwiseSum } from '@modelwatch/sdk/stats';
import { generalDriftNull } from './calibration.js';

/** The app's configuration (`config` in plugin.json). */
export interface HistogramDataDriftConfig {
  /** `general_drift` at or above this is a potential detection (decision `mlrun`). @default 0.5 */
  potentialThreshold?: number;
  /** `general_drift` at or above this is a detection (decision `mlrun`). @default 0.7 */
  detectedThreshold?: number;
  /**
   * How statuses are decided: `mlrun`, MLRun's fixed thresholds on general_drift (parity); or
   * `calibrated`, a reference-bootstrap p-value of general_drift at the window's size,
   * compared with `alpha` and `potentialAlpha` (needs the reference rows).
   * @default 'mlrun'
   */
  decision?: 'mlrun' | 'calibrated';
  /** Calibrated: `detected` when the p-value is below this. @default 0.05 */
  alpha?: number;
  /** Calibrated: `potential_detection` when the p-value is below this. @default 0.2 */
  potentialAlpha?: number;
  /** Calibrated: bootstrap replicates per window size. @default 500 */
  replicates?: number;
  /** Calibrated: seed of the bootstrap. @default 0 */
  seed?: number;
}

export const DEFAULT_POTENTIAL_THRESHOLD = 0.5;
export const DEFAULT_DETECTED_THRESHOLD = 0.7;
/** What MLRun's KL divergence puts in place of a zero in the second distribution. */
export const KL_ZERO_SCALING = 1e-4;

const APP = 'histogram-data-drift';

/** The artifact of every window with drift computed: one row per feature compared. */
export const DRIFT_TABLE = 'drift-table.csv';

/** The per-feature drift table as CSV: `feature,tvd,hellinger,kld,general_drift` (general_drift = (tvd + hellinger) / 2, as MLRun's). */
export function driftTableCsv(features: Readonly<Record<string, FeatureDrift>>, names: readonly string[]): string {
  // a feature name is quoted when CSV needs it
  const cell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['feature,tvd,hellinger,kld,general_drift'];
  for (const name of names) {
    const f = features[name]!;
    lines.push([cell(name), f.tvd, f.hellinger, f.kld, (f.tvd + f.hellinger) / 2].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The distances between one feature's window and reference histograms. */
export interface FeatureDrift {
  tvd: number;
  hellinger: number;
  kld: number;
}

/** Why a feature was not computed; the keys of `extraData.skipped`. */
export const SKIP_REASONS = {
  no_reference_stats: 'the endpoint has no reference statistics for the feature',
  categorical: 'the feature is categorical (reference or window): histogram drift covers numeric features',
  missing_from_window: 'the window has no such column',
  no_reference_values: 'the reference histogram is empty',
  bins_mismatch: "the window histogram is not counted on the reference's bins",
  no_window_values: 'the window has no values for the feature (all missing)',
} as const;
export type SkipReason = keyof typeof SKIP_REASONS;

/** Thresholds after validation. */
export interface Thresholds {
  potentialThreshold: number;
  detectedThreshold: number;
}

/**
 * The thresholds with defaults. The config's keys and values are checked by `configSchema` in
 * plugin.json, once, when the plugin is published or configured; their order, which a schema
 * cannot say, is checked here.
 * @throws {Error} when not 0 < potentialThreshold < detectedThreshold < 1
 */
export function resolveThresholds(config: HistogramDataDriftConfig | undefined): Thresholds {
  const potentialThreshold = config?.potentialThreshold ?? DEFAULT_POTENTIAL_THRESHOLD;
  const detectedThreshold = config?.detectedThreshold ?? DEFAULT_DETECTED_THRESHOLD;
  if (!(potentialThreshold > 0 && potentialThreshold < detectedThreshold && detectedThreshold < 1)) {
    throw new Error(
      `${APP}: invalid thresholds: need 0 < potentialThreshold < detectedThreshold < 1, ` +
        `got potentialThreshold=${potentialThreshold} and detectedThreshold=${detectedThreshold}`,
    );
  }
  return { potentialThreshold, detectedThreshold };
}

/** The decision settings after validation. */
export interface Decision {
  decision: 'mlrun' | 'calibrated';
  alpha: number;
  potentialAlpha: number;
  replicates: number;
  seed: number;
}

/** The decision settings with defaults (checked by `configSchema` when the plugin is published or configured). */
export function resolveDecision(config: HistogramDataDriftConfig | undefined): Decision {
  return {
    decision: config?.decision ?? 'mlrun',
    alpha: config?.alpha ?? 0.05,
    potentialAlpha: config?.potentialAlpha ?? 0.2,
    replicates: config?.replicates ?? 500,
    seed: config?.seed ?? 0,
  };
}

/** The calibrated status of a p-value. */
export function calibratedStatus(pValue: number, d: Pick<Decision, 'alpha' | 'potentialAlpha'>): ResultStatus {
  if (pValue < d.alpha) return ResultStatus.Detected;
  if (pValue < d.potentialAlpha) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

/** MLRun's status for a `general_drift` value. */
export function driftStatus(value: number, t: Thresholds): ResultStatus {
  if (value >= t.detectedThreshold) return ResultStatus.Detected;
  if (value >= t.potentialThreshold) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

/**
 * TVD, Hellinger and symmetric KL divergence of two histograms on the same bins, as MLRun
 * computes them: each histogram divided by its sum (t = window, u = reference), then
 * TVD = sum|t - u| / 2, Hellinger = sqrt(max(1 - sum sqrt(u t), 0)),
 * KLD = KL(t||u) + KL(u||t) with KL(a||b) = sum over a_i != 0 of a_i ln(a_i / b'_i),
 * b' = b with zeros replaced by 1e-4. Sums are numpy's pairwise sums.
 * Both histograms must have the same length and a positive sum.
 */
export function histogramDistances(reference: ArrayLike<number>, window: ArrayLike<number>): FeatureDrift {
  const n = reference.length;
  const refSum = pairwiseSum(reference);
  const winSum = pairwiseSum(window);
  const u = new Float64Array(n);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    u[i] = reference[i]! / refSum;
    t[i] = window[i]! / winSum;
  }
  const absDiff = new Float64Array(n);
  const rootProd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    absDiff[i] = Math.abs(t[i]! - u[i]!);
    rootProd[i] = Math.sqrt(u[i]! * t[i]!);
  }
  return {
    tvd: pairwiseSum(absDiff) / 2,
    hellinger: Math.sqrt(Math.max(1 - pairwiseSum(rootProd), 0)),
    kld: kl(t, u) + kl(u, t),
  };
}

function kl(a: Float64Array, b: Float64Array): number {
  const terms = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const ai = a[i]!;
    if (ai === 0) continue;
    const bi = b[i]!;
    terms[i] = ai * Math.log(ai / (bi !== 0 ? bi : KL_ZERO_SCALING));
  }
  return pairwiseSum(terms);
}

function numericHist(stats: FeatureStats): number[] | undefined {
  if (stats.type !== 'numeric') return undefined;
  const counts = stats.hist?.counts;
  return Array.isArray(counts) ? counts : undefined;
}

function emptySkipped(): Record<SkipReason, string[]> {
  const out = {} as Record<SkipReason, string[]>;
  for (const r of Object.keys(SKIP_REASONS) as SkipReason[]) out[r] = [];
  return out;
}

/**
 * The built-in data drift app. Output per window: the metrics `hellinger_mean`, `kld_mean`,
 * `tvd_mean` and the result `general_drift` = (hellinger_mean + tvd_mean) / 2 with
 * per-feature values in its extraData. An empty window, or one with no feature that can be
 * compared, gives `general_drift` with status Irrelevant and the reason.
 */
export default class HistogramDataDrift extends MonitoringApplication<HistogramDataDriftConfig> {
  doTracking(ctx: MonitoringContext<HistogramDataDriftConfig>): Array<MonitoringResult | MonitoringMetric> {
    const thresholds = resolveThresholds(ctx.config);
    const decision = resolveDecision(ctx.config);

    if (!ctx.featureStats || Object.keys(ctx.featureStats).length === 0) {
      ctx.logger.warn('endpoint has no reference statistics: no drift computed');
      return [irrelevant('endpoint has no reference statistics')];
    }
    const rows = ctx.sample.length;
    if (rows === 0) return [irrelevant('window has no rows')];

    const features: Record<string, FeatureDrift> = {};
    const computed: string[] = [];
    const skipped = emptySkipped();
    for (const name of ctx.endpoint.featureNames) {
      const reason = this.skipReason(ctx, name);
      if (reason) {
        skipped[reason].push(name);
        continue;
      }
      const refCounts = numericHist(ctx.featureStats[name]!)!;
      const winCounts = numericHist(ctx.sampleStats[name]!)!;
      features[name] = histogramDistances(refCounts, winCounts);
      computed.push(name);
    }

    if (computed.length === 0) {
      const extra: Record<string, JsonValue> = {
        reason: ctx.endpoint.featureNames.length === 0 ? 'endpoint has no feature names' : 'no feature could be compared with the reference (see skipped)',
        rows,
        skipped,
      };
      return [irrelevant(extra.reason as string, fitExtraData(extra, undefined, [], ctx))];
    }

    const mean = (key: keyof FeatureDrift): number => pairwiseSum(computed.map((f) => features[f]![key])) / computed.length;
    const hellingerMean = mean('hellinger');
    const kldMean = mean('kld');
    const tvdMean = mean('tvd');
    const value = (hellingerMean + tvdMean) / 2;

    // the per-feature table, as MLRun's app logs its features' drift results
    ctx.logArtifact(DRIFT_TABLE, driftTableCsv(features, computed), { contentType: 'text/csv; charset=utf-8' });

    const extra: Record<string, JsonValue> = { thresholds: { ...thresholds }, rows, skipped };
    let status = driftStatus(value, thresholds);
    if (decision.decision === 'calibrated') {
      const calibrated = this.calibrated(ctx, computed, value, rows, decision);
      status = calibrated.status;
      extra.calibration = calibrated.extra;
    }
    return [
      { name: 'hellinger_mean', value: hellingerMean },
      { name: 'kld_mean', value: kldMean },
      { name: 'tvd_mean', value: tvdMean },
      {
        name: 'general_drift',
        value,
        kind: ResultKind.DataDrift,
        status,
        extraData: fitExtraData(extra, features, computed, ctx),
      },
    ];
  }

  /**
   * The calibrated status: general_drift's p-value from the reference bootstrap at the window's
   * size. Irrelevant, with the reason, when the reference rows are not there.
   */
  private calibrated(
    ctx: MonitoringContext<HistogramDataDriftConfig>,
    computed: readonly string[],
    value: number,
    rows: number,
    d: Decision,
  ): { status: ResultStatus; extra: Record<string, JsonValue> } {
    const base = { decision: 'calibrated', alpha: d.alpha, potentialAlpha: d.potentialAlpha, replicates: d.replicates };
    const reference = ctx.reference;
    const missing = reference ? computed.filter((f) => !reference.has(f) || !(reference.column(f) instanceof Float64Array)) : [];
    if (!reference || reference.length === 0 || missing.length > 0) {
      const reason = !reference
        ? 'the calibrated decision needs the reference rows (the endpoint has none: modelwatch endpoint set-reference)'
        : `the reference rows lack numeric columns: ${missing.join(', ') || '(no rows)'}`;
      ctx.logger.warn(reason);
      return { status: ResultStatus.Irrelevant, extra: { ...base, reason } };
    }
    const p = generalDriftNull(ctx.endpoint.id, reference, computed, ctx.featureStats, d).pValue(value, rows);
    return { status: calibratedStatus(p.pValue, d), extra: { ...base, pValue: p.pValue, nullSizes: p.sizes } };
  }

  private skipReason(ctx: MonitoringContext<HistogramDataDriftConfig>, name: string): SkipReason | undefined {
    const ref = ctx.featureStats[name];
    if (!ref) return 'no_reference_stats';
    if (ref.type === 'categorical') return 'categorical';
    const refCounts = numericHist(ref);
    const win = ctx.sampleStats[name];
    if (!win || !ctx.sample.has(name)) return 'missing_from_window';
    if (win.type === 'categorical') return 'categorical';
    if (!refCounts || !(pairwiseSum(refCounts) > 0)) return 'no_reference_values';
    const winCounts = numericHist(win);
    if (!winCounts || winCounts.length !== refCounts.length) return 'bins_mismatch';
    if (!(pairwiseSum(winCounts) > 0)) return 'no_window_values';
    return undefined;
  }
}

function irrelevant(reason: string, extraData: Record<string, JsonValue> = { reason }): MonitoringResult {
  return { name: 'general_drift', value: 0, kind: ResultKind.DataDrift, status: ResultStatus.Irrelevant, extraData };
}

/**
 * `extra` plus `features`, kept within the default extraData limit (64 KiB of JSON). About
 * 600 features fit; beyond that the most drifted features are kept (then skipped names), and
 * `truncated` says how many of each were kept, so nothing is dropped silently.
 */
function fitExtraData(
  extra: Record<string, JsonValue>,
  features: Record<string, FeatureDrift> | undefined,
  computed: readonly string[],
  ctx: MonitoringContext<HistogramDataDriftConfig>,
): Record<string, JsonValue> {
  const withFeatures = (f: Record<string, FeatureDrift>): Record<string, JsonValue> => (features ? { features: f as unknown as JsonValue } : {});
  const full: Record<string, JsonValue> = { ...withFeatures(features ?? {}), ...extra };
  const fullBytes = jsonBytes(full);
  if (fullBytes <= DEFAULT_EXTRA_DATA_BYTES) return full;

  const skipped = extra.skipped as Record<string, string[]>;
  const skippedTotal = Object.values(skipped).reduce((n, l) => n + l.length, 0);
  const truncated = {
    bytes: fullBytes,
    limit: DEFAULT_EXTRA_DATA_BYTES,
    features: { kept: computed.length, total: computed.length },
    skipped: { kept: skippedTotal, total: skippedTotal },
    note: 'extraData was over the limit: kept the most drifted features, then skipped names; metrics cover all features',
  };
  const emptySkippedLists: Record<string, string[]> = {};
  for (const r of Object.keys(skipped)) emptySkippedLists[r] = [];
  // size of everything but the kept items; the counts are written at their widest
  let used = jsonBytes({ ...withFeatures({}), ...extra, skipped: emptySkippedLists, truncated });
  const budget = DEFAULT_EXTRA_DATA_BYTES;

  const all = features ?? {};
  const drift = (f: string): number => (all[f]!.hellinger + all[f]!.tvd) / 2;
  const ranked = computed.slice().sort((a, b) => drift(b) - drift(a));
  const keep = new Set<string>();
  for (const f of ranked) {
    const cost = jsonBytes(f) + 1 + jsonBytes(all[f]!) + 1;
    if (used + cost > budget) break;
    keep.add(f);
    used += cost;
  }
  const keptFeatures: Record<string, FeatureDrift> = {};
  for (const f of computed) if (keep.has(f)) keptFeatures[f] = all[f]!;

  const keptSkipped: Record<string, string[]> = {};
  let skippedKept = 0;
  let room = true;
  for (const [reason, names] of Object.entries(skipped)) {
    keptSkipped[reason] = [];
    for (const name of names) {
      const cost = jsonBytes(name) + 1;
      if (!room || used + cost > budget) {
        room = false;
        break;
      }
      keptSkipped[reason].push(name);
      used += cost;
      skippedKept++;
    }
  }
  truncated.features.kept = keep.size;
  truncated.skipped.kept = skippedKept;
  ctx.logger.warn('extraData of general_drift truncated to fit the limit', {
    bytes: fullBytes,
    limit: DEFAULT_EXTRA_DATA_BYTES,
    featuresKept: keep.size,
    featuresTotal: computed.length,
  });
  return {
    ...withFeatures(keptFeatures),
    ...extra,
    skipped: keptSkipped,
    truncated: truncated as unknown as JsonValue,
  };
}

const jsonBytes = jsonByteLength;
