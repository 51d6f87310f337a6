/**
 * The calibrated decision of histogram-data-drift: a p-value for `general_drift` from a
 * reference bootstrap at the window's size, instead of MLRun's fixed thresholds (which flag
 * most small windows and almost no large ones, because the distance between a window's
 * histogram and the reference's shrinks as the window grows, drift or not).
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import type { FeatureStats, Sample } from '@modelwatch/sdk';
import { pairwiseSum, ReferenceCache, ReferenceNull, referenceFingerprint, type NullPValue } from '@modelwatch/sdk/stats';

/** Null statistics of general_drift for one reference and one set of features, per window size. */
export interface GeneralDriftNull {
  /** p-value of a window's general_drift at its size. */
  pValue(generalDrift: number, rows: number): NullPValue;
  bytes(): number;
}

/**
 * `general_drift` of histograms on the reference's bins: the mean over features of
 * `(hellinger + tvd) / 2`, as the app computes it (see histogramDistances).
 */
function generalDrift(refShares: Float64Array[], counts: Float64Array[], totals: number[]): number {
  let hellinger = 0;
  let tvd = 0;
  let k = 0;
  for (let f = 0; f < refShares.length; f++) {
    const total = totals[f]!;
    if (total === 0) continue;
    const u = refShares[f]!;
    const c = counts[f]!;
    let abs = 0;
    let root = 0;
    for (let b = 0; b < u.length; b++) {
      const t = c[b]! / total;
      abs += Math.abs(t - u[b]!);
      root += Math.sqrt(u[b]! * t);
    }
    tvd += abs / 2;
    hellinger += Math.sqrt(Math.max(1 - root, 0));
    k++;
  }
  return k === 0 ? 0 : (hellinger + tvd) / (2 * k);
}

/** numpy.histogram's bin of v on `edges` (half-open bins, the last closed), -1 outside or NaN. */
function binOf(edges: readonly number[], v: number): number {
  const last = edges.length - 1;
  if (!(v >= edges[0]! && v <= edges[last]!)) return -1;
  if (v === edges[last]) return last - 1;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The window size whose bootstrap variance equals a window's of n rows plus the reference's own: n N / (n + N). */
export function effectiveSize(n: number, referenceRows: number): number {
  return Math.max(1, Math.round((n * referenceRows) / (n + referenceRows)));
}

/**
 * The reference-bootstrap null of general_drift: at a window size `s`, a null statistic is the
 * general_drift of `effectiveSize(s, N)` reference rows drawn with replacement (their histograms
 * counted on the reference's bins) against the reference histograms, times the square root of
 * that size (the normalization makes nulls of neighbouring sizes alike, and larger windows than
 * the largest simulated size use it). The window's statistic is normalized the same way.
 */
export function createGeneralDriftNull(
  reference: Sample,
  features: readonly string[],
  featureStats: Readonly<Record<string, FeatureStats>>,
  options: { replicates: number; seed: number },
): GeneralDriftNull {
  const N = reference.length;
  const bins: Int16Array[] = [];
  const refShares: Float64Array[] = [];
  for (const name of features) {
    const stats = featureStats[name];
    const column = reference.column(name);
    if (stats?.type !== 'numeric' || !(column instanceof Float64Array))
      throw new Error(`histogram-data-drift: feature ${name} is not numeric in the reference`);
    const { edges, counts } = stats.hist;
    const total = pairwiseSum(counts);
    refShares.push(Float64Array.from(counts, (c) => c / total));
    const b = new Int16Array(N);
    for (let i = 0; i < N; i++) b[i] = binOf(edges, column[i]!);
    bins.push(b);
  }
  const counts = refShares.map((u) => new Float64Array(u.length));
  const totals = new Array<number>(features.length).fill(0);
  const nulls = new ReferenceNull(
    (size, random) => {
      const s = effectiveSize(size, N);
      for (const c of counts) c.fill(0);
      totals.fill(0);
      for (let i = 0; i < s; i++) {
        const row = random.int(N);
        for (let f = 0; f < bins.length; f++) {
          const b = bins[f]![row]!;
          if (b >= 0) {
            counts[f]![b]!++;
            totals[f]!++;
          }
        }
      }
      return generalDrift(refShares, counts, totals) * Math.sqrt(s);
    },
    { replicates: options.replicates, seed: options.seed },
  );
  return {
    pValue: (g, rows) => nulls.pValue(g * Math.sqrt(effectiveSize(rows, N)), rows),
    bytes: () => bins.reduce((s, b) => s + b.byteLength, 0) + nulls.bytes() + 1024,
  };
}

/** Nulls per endpoint, reference and feature set: kept across windows with `"isolation": "version"`. */
const nulls = new ReferenceCache<GeneralDriftNull>((n) => n.bytes(), { maxBytes: 64 * 1024 * 1024 });

/** The null of general_drift for this endpoint's reference and these features, built on first use. */
export function generalDriftNull(
  endpointId: string,
  reference: Sample,
  features: readonly string[],
  featureStats: Readonly<Record<string, FeatureStats>>,
  options: { replicates: number; seed: number },
): { pValue: (g: number, rows: number) => NullPValue } {
  const key = `${endpointId}/${referenceFingerprint(features.map((f) => reference.column(f)))}/${features.join('\u0000')}/${options.replicates}/${options.seed}`;
  const entry = nulls.getOrCreate(key, () => createGeneralDriftNull(reference, features, featureStats, options));
  return {
    pValue: (g, rows) => {
      const p = entry.pValue(g, rows);
      nulls.resize(key);
      return p;
    },
  };
}
