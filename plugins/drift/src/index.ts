/**
 * drift: the recommended data drift detector. Per feature, a two-sample test of the window
 * against the reference rows (Kolmogorov-Smirnov for numbers, a pooled chi-square for
 * categories, so an unseen category is no p = 0); the p-values corrected for multiple testing
 * (Benjamini-Hochberg, or Bonferroni); a multivariate MMD test on the numeric features with a
 * null from the reference alone; one combined p-value, `min(1, 2 × min(smallest adjusted p,
 * MMD p))`, whose false-alarm rate is `alpha` at every window size.
 *
 * What depends only on the reference (sorted reference columns, category counts, the MMD's
 * random features and its nulls per window size) is computed once per endpoint and reference
 * and kept in module state, which lasts across windows because plugin.json declares
 * `"isolation": "version"`.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import {
  DEFAULT_EXTRA_DATA_BYTES,
  jsonByteLength,
  MonitoringApplication,
  ResultKind,
  ResultStatus,
  type JsonValue,
  type MonitoringContext,
  type MonitoringResult,
  type Sample,
} from '@modelwatch/sdk';
import {
  categoricalTest,
  countCategories,
  createRandom,
  createReferenceMmd,
  ks2sampSorted,
  multipleTests,
  referenceFingerprint,
  ReferenceCache,
  shuffleInPlace,
  type CategoryCounts,
  type PValueCorrection,
  type ReferenceMmd,
} from '@modelwatch/sdk/stats';
import { whyNotComparable } from '@modelwatch/sdk/drift';

/** The app's configuration (`config` in plugin.json, checked against its `configSchema`). */
export interface DriftConfig {
  /** `detected` when the combined p-value is below this. @default 0.05 */
  alpha?: number;
  /** `potential_detection` when it is below this (and not below alpha). @default 0.2 */
  potentialAlpha?: number;
  /** Correction of the per-feature p-values. @default 'bh' */
  correction?: PValueCorrection;
  /** Features to test. @default all the endpoint's features */
  features?: string[];
  /** Run the multivariate MMD test. @default true */
  mmd?: boolean;
  /** Numeric features with at most this many distinct reference values are tested as categories (0: never). @default 0 */
  categoricalMaxValues?: number;
  /** Reference-bootstrap replicates of the MMD null per window size. @default 500 */
  replicates?: number;
  /** Seed of the MMD's random features and bootstrap. @default 0 */
  seed?: number;
}

export const DEFAULTS = {
  alpha: 0.05,
  potentialAlpha: 0.2,
  correction: 'bh',
  mmd: true,
  categoricalMaxValues: 0,
  replicates: 500,
  seed: 0,
} as const satisfies Omit<Required<DriftConfig>, 'features'>;

/** Reference rows a KS test compares with: larger references are sampled (seeded) to this many per feature. */
export const KS_REFERENCE_ROWS = 2000;
/** The exact KS p-value is used while it visits at most this many lattice cells, else the asymptotic one (Stephens'). */
export const KS_EXACT_COST = 40_000;
/** Random Fourier features of the MMD. */
export const MMD_FOURIER_FEATURES = 64;
/** Reference rows the MMD embeds (a seeded sample of larger references). */
export const MMD_REFERENCE_ROWS = 2000;

/** Why a feature was not tested (keys of `extraData.skipped`). */
export const SKIP_REASONS = {
  missing_from_window: 'the window has no such column',
  missing_from_reference: 'the reference rows have no such column',
  type_mismatch: 'the column holds numbers in one of reference and window, strings in the other',
  no_reference_values: 'every reference value of the column is missing',
  no_window_values: 'every window value of the column is missing',
} as const;
export type SkipReason = keyof typeof SKIP_REASONS;

/** What is kept per endpoint and reference. */
interface FeatureModel {
  name: string;
  /** `ks` on sorted reference values, or `chi2` (the pooled two-sample chi-square) on counts. */
  test: 'ks' | 'chi2';
  type: 'numeric' | 'categorical';
  sorted?: Float64Array;
  counts?: CategoryCounts;
  /** Non-missing reference values. */
  referenceCount: number;
}

interface ReferenceModel {
  features: Map<string, FeatureModel | SkipReason>;
  /** The MMD over the numeric features (in `mmdFeatures` order), when there is one. */
  mmd?: ReferenceMmd;
  mmdFeatures: string[];
  mmdSkipped?: string;
  referenceRows: number;
}

/** Per endpoint and reference: survives between windows with `"isolation": "version"`. */
const models = new ReferenceCache<ReferenceModel>(modelBytes, { maxBytes: 96 * 1024 * 1024 });

function modelBytes(m: ReferenceModel): number {
  let b = 1024;
  for (const f of m.features.values()) {
    if (typeof f === 'string') continue;
    b += 200 + (f.sorted?.byteLength ?? 0) + (f.counts ? f.counts.counts.size * 64 : 0);
  }
  return b + (m.mmd?.bytes() ?? 0);
}

/** The configuration with its defaults (the host checked it against configSchema). */
export function resolveConfig(config: DriftConfig | undefined): Required<Omit<DriftConfig, 'features'>> & { features?: string[] } {
  const c = config ?? {};
  return {
    alpha: c.alpha ?? DEFAULTS.alpha,
    potentialAlpha: c.potentialAlpha ?? DEFAULTS.potentialAlpha,
    correction: c.correction ?? DEFAULTS.correction,
    mmd: c.mmd ?? DEFAULTS.mmd,
    categoricalMaxValues: c.categoricalMaxValues ?? DEFAULTS.categoricalMaxValues,
    replicates: c.replicates ?? DEFAULTS.replicates,
    seed: c.seed ?? DEFAULTS.seed,
    ...(c.features ? { features: c.features } : {}),
  };
}

function distinctSorted(a: Float64Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (i === 0 || a[i] !== a[i - 1]) n++;
  return n;
}

function finiteValues(col: Float64Array): Float64Array {
  const out = new Float64Array(col.length);
  let n = 0;
  for (let i = 0; i < col.length; i++) {
    const v = col[i]!;
    if (Number.isFinite(v)) out[n++] = v;
  }
  return out.subarray(0, n);
}

/** Build what the app keeps for one reference. */
function buildModel(reference: Sample, features: readonly string[], cfg: ReturnType<typeof resolveConfig>): ReferenceModel {
  const out = new Map<string, FeatureModel | SkipReason>();
  const numeric: Array<{ name: string; values: Float64Array }> = [];
  const random = createRandom(cfg.seed);
  for (const name of features) {
    if (!reference.has(name)) {
      out.set(name, 'missing_from_reference');
      continue;
    }
    const col = reference.column(name);
    if (col instanceof Float64Array) {
      let values = finiteValues(col);
      if (values.length === 0) {
        out.set(name, 'no_reference_values');
        continue;
      }
      numeric.push({ name, values: col });
      if (values.length > KS_REFERENCE_ROWS) {
        values = shuffleInPlace(Float64Array.from(values), random).slice(0, KS_REFERENCE_ROWS);
      }
      const sorted = Float64Array.from(values).sort();
      if (distinctSorted(sorted) <= cfg.categoricalMaxValues) {
        const counts = countCategories(col);
        out.set(name, { name, test: 'chi2', type: 'numeric', counts, referenceCount: counts.n });
      } else out.set(name, { name, test: 'ks', type: 'numeric', sorted, referenceCount: sorted.length });
    } else {
      const counts = countCategories(col);
      if (counts.n === 0) out.set(name, 'no_reference_values');
      else out.set(name, { name, test: 'chi2', type: 'categorical', counts, referenceCount: counts.n });
    }
  }
  const model: ReferenceModel = { features: out, mmdFeatures: [], referenceRows: reference.length };
  if (!cfg.mmd) return model;
  if (numeric.length === 0) {
    model.mmdSkipped = 'no numeric feature';
    return model;
  }
  if (reference.length < 2) {
    model.mmdSkipped = 'the reference has fewer than 2 rows';
    return model;
  }
  // missing reference values are taken as the column's mean, as the MMD takes missing window values
  const columns = numeric.map(({ values }) => {
    const finite = finiteValues(values);
    let mean = 0;
    for (let i = 0; i < finite.length; i++) mean += finite[i]!;
    mean /= finite.length;
    return Float64Array.from(values, (v) => (Number.isFinite(v) ? v : mean));
  });
  model.mmd = createReferenceMmd(columns, {
    fourierFeatures: MMD_FOURIER_FEATURES,
    maxReferenceRows: MMD_REFERENCE_ROWS,
    replicates: cfg.replicates,
    seed: cfg.seed,
  });
  model.mmdFeatures = numeric.map((f) => f.name);
  return model;
}

/** One feature's outcome in extraData. */
interface FeatureOutcome {
  test: 'ks' | 'chi2';
  type: 'numeric' | 'categorical';
  statistic: number;
  pValue: number;
  adjustedPValue?: number;
  referenceCount: number;
  windowCount: number;
  /** chi2: cells of the pooled table, categories the reference lacks. */
  cells?: number;
  unseen?: number;
}

/** The combined p-value: `min(1, tests × min(p))` over the family-level p-values available (the features' smallest adjusted one, the MMD's). */
export function combinedPValue(featuresP: number | undefined, mmdP: number | undefined): number {
  const ps = [featuresP, mmdP].filter((p): p is number => p !== undefined);
  if (ps.length === 0) return 1;
  return Math.min(1, ps.length * Math.min(...ps));
}

/** The status of a combined p-value. */
export function driftStatus(p: number, alpha: number, potentialAlpha: number): ResultStatus {
  if (p < alpha) return ResultStatus.Detected;
  if (p < potentialAlpha) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

/**
 * Output per window: one result `drift` (kind data_drift) whose value is the combined p-value
 * (small means drift), with per-feature p-values, adjusted p-values and the MMD in extraData.
 */
export default class Drift extends MonitoringApplication<DriftConfig> {
  doTracking(ctx: MonitoringContext<DriftConfig>): MonitoringResult[] {
    const cfg = resolveConfig(ctx.config);
    const result = (status: ResultStatus, value: number, extraData: Record<string, JsonValue>): MonitoringResult => ({
      name: 'drift',
      value,
      kind: ResultKind.DataDrift,
      status,
      extraData,
    });
    const irrelevant = (reason: string, extra: Record<string, JsonValue> = {}) => result(ResultStatus.Irrelevant, 1, { reason, ...extra });

    const notComparable = whyNotComparable(ctx);
    if (notComparable) return [irrelevant(notComparable)];
    const reference = ctx.reference!;
    const rows = ctx.sample.length;
    const features = [...new Set(cfg.features ?? ctx.endpoint.featureNames)];
    if (features.length === 0) return [irrelevant('the endpoint has no feature names and the config lists none')];

    const fingerprint = referenceFingerprint(features.map((f) => (reference.has(f) ? reference.column(f) : [])));
    const key = `${ctx.endpoint.id}/${fingerprint}/${features.join('\u0000')}/${cfg.seed}/${cfg.replicates}/${cfg.categoricalMaxValues}/${cfg.mmd}`;
    const model = models.getOrCreate(key, () => buildModel(reference, features, cfg));

    const outcomes: Record<string, FeatureOutcome> = {};
    const skipped: Record<string, string[]> = {};
    const skip = (name: string, reason: SkipReason) => (skipped[reason] ??= []).push(name);
    const tested: string[] = [];
    const pValues: number[] = [];
    for (const name of features) {
      const m = model.features.get(name)!;
      if (typeof m === 'string') {
        skip(name, m);
        continue;
      }
      if (!ctx.sample.has(name)) {
        skip(name, 'missing_from_window');
        continue;
      }
      const col = ctx.sample.column(name);
      if (col instanceof Float64Array !== (m.type === 'numeric')) {
        skip(name, 'type_mismatch');
        continue;
      }
      const outcome = m.test === 'ks' ? this.ks(m, col as Float64Array) : this.chi2(m, col);
      if (!outcome) {
        skip(name, 'no_window_values');
        continue;
      }
      outcomes[name] = outcome;
      tested.push(name);
      pValues.push(outcome.pValue);
    }

    const family = tested.length > 0 ? multipleTests(pValues, cfg.alpha, cfg.correction) : undefined;
    tested.forEach((name, i) => (outcomes[name]!.adjustedPValue = family!.pAdjusted[i]!));

    let mmd: Record<string, JsonValue> | undefined;
    let mmdP: number | undefined;
    if (cfg.mmd) {
      const missing = model.mmdFeatures.filter((f) => !ctx.sample.has(f) || !(ctx.sample.column(f) instanceof Float64Array));
      if (!model.mmd) mmd = { skipped: model.mmdSkipped ?? 'no numeric feature' };
      else if (missing.length > 0) mmd = { skipped: `the window lacks numeric features: ${missing.join(', ')}` };
      else {
        const r = model.mmd.test(model.mmdFeatures.map((f) => ctx.sample.column(f) as Float64Array));
        mmdP = r.pValue;
        mmd = {
          statistic: r.statistic,
          normalized: r.normalized,
          pValue: r.pValue,
          features: model.mmdFeatures.length,
          bandwidth: model.mmd.bandwidth,
          fourierFeatures: model.mmd.fourierFeatures,
          referenceRows: model.mmd.referenceRows,
          nullSizes: r.nullSizes,
          replicates: cfg.replicates,
        };
      }
      models.resize(key);
    }

    if (tested.length === 0 && mmdP === undefined) {
      return [irrelevant('no feature could be compared with the reference (see skipped)', { rows, skipped, ...(mmd ? { mmd } : {}) })];
    }
    const p = combinedPValue(family?.minAdjusted, mmdP);
    const drifted = tested.filter((_, i) => family!.pAdjusted[i]! < cfg.alpha);
    const extra: Record<string, JsonValue> = {
      pValue: p,
      alpha: cfg.alpha,
      potentialAlpha: cfg.potentialAlpha,
      correction: cfg.correction,
      smallestAdjustedPValue: family?.minAdjusted ?? null,
      mmd: mmd ?? { skipped: 'disabled by config' },
      drifted,
      rows,
      referenceRows: reference.length,
      tested: tested.length,
      skipped,
    };
    return [result(driftStatus(p, cfg.alpha, cfg.potentialAlpha), p, fitFeatures(extra, outcomes, ctx))];
  }

  private ks(m: FeatureModel, col: Float64Array): FeatureOutcome | undefined {
    const values = finiteValues(col);
    if (values.length === 0) return undefined;
    const sorted = Float64Array.from(values).sort();
    const r = ks2sampSorted(sorted, m.sorted!, { exactCostLimit: KS_EXACT_COST, asymptotic: 'stephens' });
    return { test: 'ks', type: 'numeric', statistic: r.statistic, pValue: r.pValue, referenceCount: m.referenceCount, windowCount: values.length };
  }

  private chi2(m: FeatureModel, col: Float64Array | ReadonlyArray<string | null>): FeatureOutcome | undefined {
    const counts = countCategories(col);
    if (counts.n === 0) return undefined;
    const r = categoricalTest(m.counts!, counts);
    return {
      test: 'chi2',
      type: m.type,
      statistic: r.statistic,
      pValue: r.pValue,
      referenceCount: m.referenceCount,
      windowCount: counts.n,
      cells: r.cells,
      unseen: r.unseen,
    };
  }
}

/**
 * `extra` with `features` (per-feature outcomes) within the extraData limit: beyond it (several
 * hundred features), the features with the smallest p-values are kept and `truncated` says how
 * many of how many.
 */
function fitFeatures(
  extra: Record<string, JsonValue>,
  outcomes: Record<string, FeatureOutcome>,
  ctx: MonitoringContext<DriftConfig>,
): Record<string, JsonValue> {
  const full = { ...extra, features: outcomes as unknown as JsonValue };
  const budget = DEFAULT_EXTRA_DATA_BYTES - 512;
  if (jsonByteLength(full) <= budget) return full;
  const names = Object.keys(outcomes).sort((a, b) => outcomes[a]!.pValue - outcomes[b]!.pValue);
  const kept: Record<string, FeatureOutcome> = {};
  const drifted = extra.drifted as string[];
  const base: Record<string, JsonValue> = {
    ...extra,
    drifted: drifted.slice(0, 50),
    features: {},
    truncated: { features: { kept: 0, total: names.length }, drifted: { kept: 0, total: drifted.length } },
  };
  let used = jsonByteLength(base);
  for (const name of names) {
    const cost = jsonByteLength(name) + jsonByteLength(outcomes[name]!) + 2;
    if (used + cost > budget) break;
    kept[name] = outcomes[name]!;
    used += cost;
  }
  const count = Object.keys(kept).length;
  ctx.logger.warn('extraData of drift truncated to fit the limit', { features: names.length, kept: count });
  return {
    ...base,
    features: kept as unknown as JsonValue,
    truncated: {
      features: { kept: count, total: names.length },
      drifted: { kept: Math.min(50, drifted.length), total: drifted.length },
      note: 'kept the features with the smallest p-values; the p-value covers every feature',
    },
  };
}
