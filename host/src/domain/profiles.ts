/**
 * Window profiles (per-feature statistics kept after a window's rows expire) and the hourly and
 * daily roll-ups of profiles and results: capping, exact merging where the statistics allow it.
 */
import type { CategoricalFeatureStats, FeatureStats, FeatureStatsMap, NumericFeatureStats } from '@modelwatch/sdk';
import type { ProfileResolution, ResultsRollup, RolledUpValue, WindowProfile, WindowRecord } from '@modelwatch/protocol';

/** Categories a stored profile keeps per column (the most frequent); the rest are counted in `other`. */
export const TOP_CATEGORIES = 50;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The hour or day (UTC) a window starting at `t` is rolled up into: `[start, end)`. */
export function bucketOf(t: number, resolution: 'hour' | 'day'): { start: number; end: number } {
  const len = resolution === 'hour' ? HOUR : DAY;
  const start = Math.floor(t / len) * len;
  return { start, end: start + len };
}

/** The one-letter key part of a resolution. */
export const RESOLUTION_KEY: Record<ProfileResolution, string> = { window: 'w', hour: 'h', day: 'd' };

/** A window's statistics as stored: each categorical column's categories capped to the top {@link TOP_CATEGORIES}, plus `other`. */
export function compactProfile(stats: FeatureStatsMap): FeatureStatsMap {
  const out: FeatureStatsMap = {};
  for (const [name, s] of Object.entries(stats)) out[name] = s.type === 'categorical' ? capCategories(s) : s;
  return out;
}

function capCategories(s: CategoricalFeatureStats): CategoricalFeatureStats {
  const entries = Object.entries(s.frequencies);
  if (entries.length <= TOP_CATEGORIES) return s;
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  let other = s.other ?? 0;
  for (const [, n] of entries.slice(TOP_CATEGORIES)) other += n;
  return { ...s, frequencies: Object.fromEntries(entries.slice(0, TOP_CATEGORIES)), other };
}

const num = (v: number | null | undefined) => (typeof v === 'number' ? v : NaN);

function sameEdges(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((e, i) => e === b[i]);
}

/**
 * Two numeric columns' statistics as one: count, missing, wrongType and mean exact; std (the
 * sample std, as the SDK's) exact through the pooled sums of squares; min and max exact; the
 * histograms summed when on the same edges (else the newer's, `b`); quantiles the
 * count-weighted mean of both (approximate).
 */
function mergeNumeric(a: NumericFeatureStats, b: NumericFeatureStats): NumericFeatureStats {
  const na = a.count;
  const nb = b.count;
  const n = na + nb;
  const base = { type: 'numeric' as const, count: n, missing: a.missing + b.missing, wrongType: (a.wrongType ?? 0) + (b.wrongType ?? 0) };
  const hist =
    sameEdges(a.hist.edges, b.hist.edges) && a.hist.counts.length === b.hist.counts.length
      ? { counts: a.hist.counts.map((c, i) => c + (b.hist.counts[i] ?? 0)), edges: a.hist.edges.slice() }
      : b.hist.edges.length
        ? b.hist
        : a.hist;
  if (na === 0) return { ...b, ...base, hist };
  if (nb === 0) return { ...a, ...base, hist };
  const ma = num(a.mean);
  const mb = num(b.mean);
  const mean = (na * ma + nb * mb) / n;
  const m2 = (s: number, k: number) => (k > 1 ? num(s) ** 2 * (k - 1) : 0);
  const delta = mb - ma;
  const sumSq = m2(a.std, na) + m2(b.std, nb) + (delta * delta * na * nb) / n;
  const quantiles: Record<string, number> = {};
  for (const q of Object.keys(a.quantiles)) {
    if (q in b.quantiles) quantiles[q] = (na * num(a.quantiles[q]) + nb * num(b.quantiles[q])) / n;
  }
  return {
    ...base,
    mean,
    std: n > 1 ? Math.sqrt(sumSq / (n - 1)) : 0,
    min: Math.min(num(a.min), num(b.min)),
    max: Math.max(num(a.max), num(b.max)),
    quantiles,
    hist,
  };
}

function mergeCategorical(a: CategoricalFeatureStats, b: CategoricalFeatureStats): CategoricalFeatureStats {
  const frequencies: Record<string, number> = { ...a.frequencies };
  for (const [k, n] of Object.entries(b.frequencies)) frequencies[k] = (frequencies[k] ?? 0) + n;
  const merged: CategoricalFeatureStats = {
    type: 'categorical',
    count: a.count + b.count,
    missing: a.missing + b.missing,
    wrongType: (a.wrongType ?? 0) + (b.wrongType ?? 0),
    unique: Math.max(a.unique, b.unique, Object.keys(frequencies).length),
    frequencies,
  };
  const other = (a.other ?? 0) + (b.other ?? 0);
  return capCategories(other ? { ...merged, other } : merged);
}

/** Two statistics of one column as one (`b` the newer: a column whose type changed keeps the newer's). */
export function mergeFeatureStats(a: FeatureStats, b: FeatureStats): FeatureStats {
  if (a.type === 'numeric' && b.type === 'numeric') return mergeNumeric(a, b);
  if (a.type === 'categorical' && b.type === 'categorical') return mergeCategorical(a, b);
  return b;
}

/** A window's profile merged into the roll-up of its hour or day (a new roll-up when `into` is undefined). */
export function rollUpProfile(into: WindowProfile | undefined, p: WindowProfile, resolution: 'hour' | 'day'): WindowProfile {
  const { start, end } = bucketOf(p.windowStart, resolution);
  if (!into) return { ...p, windowStart: start, windowEnd: end, resolution, windows: 1 };
  const features: FeatureStatsMap = { ...into.features };
  for (const [name, s] of Object.entries(p.features)) {
    const prev = features[name];
    features[name] = prev ? mergeFeatureStats(prev, s) : s;
  }
  return { ...into, endpoint: p.endpoint, rows: into.rows + p.rows, features, windows: (into.windows ?? 1) + 1 };
}

function rollValue(into: RolledUpValue | undefined, name: string, value: number, kind?: number, status?: number): RolledUpValue {
  if (!into)
    return { name, ...(kind !== undefined ? { kind } : {}), ...(status !== undefined ? { status } : {}), windows: 1, mean: value, min: value, max: value };
  const windows = into.windows + 1;
  return {
    ...into,
    ...(status !== undefined ? { status: Math.max(into.status ?? status, status) } : {}),
    windows,
    mean: into.mean + (value - into.mean) / windows,
    min: Math.min(into.min, value),
    max: Math.max(into.max, value),
  };
}

/** A stored window's results and metrics merged into the roll-up of its hour or day: worst status, mean/min/max of the values. */
export function rollUpResults(
  into: ResultsRollup | undefined,
  w: Pick<WindowRecord, 'endpointId' | 'endpointName' | 'app' | 'windowStart' | 'outcome' | 'results' | 'metrics'>,
  resolution: 'hour' | 'day',
): ResultsRollup {
  const { start, end } = bucketOf(w.windowStart, resolution);
  const cur: ResultsRollup = into ?? {
    endpointId: w.endpointId,
    endpointName: w.endpointName,
    app: w.app,
    resolution,
    start,
    end,
    windows: 0,
    errors: 0,
    results: [],
    metrics: [],
  };
  const results = new Map(cur.results.map((r) => [r.name, r]));
  for (const r of w.results) results.set(r.name, rollValue(results.get(r.name), r.name, r.value, r.kind, r.status));
  const metrics = new Map(cur.metrics.map((m) => [m.name, m]));
  for (const m of w.metrics) metrics.set(m.name, rollValue(metrics.get(m.name), m.name, m.value));
  return {
    ...cur,
    endpointName: w.endpointName,
    windows: cur.windows + 1,
    errors: cur.errors + (w.outcome === 'error' ? 1 : 0),
    results: [...results.values()],
    metrics: [...metrics.values()],
  };
}
