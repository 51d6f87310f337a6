/**
 * The report of an endpoint over a range of windows (`modelwatch report`, `GET
 * /api/v1/endpoints/:name/report`): the data, version 1. The HTML file (`render.ts`) is drawn
 * from it alone, and `--format json` is this object as it is.
 */
import type { EndpointRecord, WindowRecord } from '@modelwatch/protocol';
import { NotFoundError, unknownBatchError } from '../errors.js';
import { resultKindName, resultStatusName, type FeatureStats, type FeatureStatsMap, type JsonValue, type ResultStatus } from '@modelwatch/sdk';

/** The version of the report's JSON; a change that removes or renames a field makes it 2. */
export const REPORT_VERSION = 1;

/** A status of the report: a result status's name, or what a window without one had. */
export type ReportStatus = 'detected' | 'potential_detection' | 'no_detection' | 'irrelevant' | 'failed' | 'no_data';

/** Which windows a report covers. Times are ms since the epoch; a range is `[from, to)` by window start. */
export interface ReportQuery {
  endpoint: string;
  /** Only this app's windows. */
  app?: string;
  from?: number;
  to?: number;
  /** One window: the windows starting at this time. */
  window?: number;
  /** The windows of this batch of historical events (`batch send`). */
  batch?: string;
}

/** A window's per-feature statistics (the window profile), as `GET /api/v1/endpoints/:name/profiles/:windowStart` answers. */
export interface ReportProfile {
  windowStart: number;
  windowEnd: number;
  rows: number;
  features: FeatureStatsMap;
}

/** Where the report's data comes from: the host's HTTP API (through the client, or the API itself). */
export interface ReportSource {
  /** The endpoint with its reference statistics; `undefined` when there is none of that name. */
  endpoint(name: string): Promise<EndpointRecord | undefined>;
  /** Whether the endpoint has a batch of this id (`batch send`). */
  hasBatch(name: string, id: string): Promise<boolean>;
  /** Stored windows, any order. */
  windows(q: { endpoint: string; app?: string; batch?: string; since?: number }): Promise<WindowRecord[]>;
  /** A window's profile; `undefined` when none is stored (or the host keeps none). */
  profile(name: string, windowStart: number): Promise<ReportProfile | undefined>;
}

/** Statistics of a feature, reference or window, as the report shows them. */
export type ReportFeatureStats =
  | { type: 'numeric'; count: number; missing: number; mean: number; std: number; min: number; max: number; quantiles: Record<string, number> }
  | { type: 'categorical'; count: number; missing: number; unique: number };

/** One app's verdict on one feature in the detailed window. */
export interface ReportFeatureTest {
  app: string;
  /** The result that holds it (`drift_age`, `general_drift`). */
  result: string;
  status: ReportStatus | null;
  method: string | null;
  statistic: number | null;
  pValue: number | null;
  /** A distance (data-drift's distance methods, histogram-data-drift's `(tvd + hellinger) / 2`). */
  distance: number | null;
  threshold: number | null;
  drifted: boolean | null;
  /** Anything else the app said of the feature (histogram-data-drift's tvd, hellinger, kld). */
  details: Record<string, JsonValue>;
}

export interface ReportFeature {
  name: string;
  type: 'numeric' | 'categorical' | 'unknown';
  /** Whether an app found it drifted in the detailed window. */
  drifted: boolean;
  tests: ReportFeatureTest[];
  /** Over the report's windows: in how many an app compared it, and in how many found it drifted. */
  comparedWindows: number;
  driftedWindows: number;
  reference: ReportFeatureStats | null;
  /** The detailed window's statistics, from its profile; `null` without one. */
  current: ReportFeatureStats | null;
  /** Numeric features: the reference's bins (22 counts on 23 edges, the outer two open) and the window's on the same edges. */
  histogram: { edges: number[]; reference: number[]; current: number[] | null } | null;
  /** Categorical features: the most frequent categories of both, with counts; `unseen`: not in the reference. */
  categories: Array<{ value: string; reference: number; current: number | null; unseen: boolean }> | null;
}

/** One result (or metric) of one app over the report's windows, oldest first. */
export interface ReportSeries {
  app: string;
  name: string;
  type: 'result' | 'metric';
  /** The result kind's name (`data_drift`), results only. */
  kind: string | null;
  /** Where the statuses change, when the app says (`extraData.thresholds`, data-drift's shares). */
  thresholds: { potential: number | null; detected: number | null } | null;
  points: Array<{ windowStart: number; windowEnd: number; value: number; status: ReportStatus | null }>;
}

export interface ReportApp {
  app: string;
  versions: string[];
  windows: number;
  /** Windows by outcome. */
  outcomes: { ok: number; empty: number; error: number };
  /** Windows by their worst result status. */
  statuses: Record<ReportStatus, number>;
  /** The newest window's worst status. */
  latest: { windowStart: number; status: ReportStatus } | null;
  /** The newest error, when any window failed. */
  lastError: { windowStart: number; code: string; message: string } | null;
}

/** The report, version 1. */
export interface Report {
  v: typeof REPORT_VERSION;
  generatedAt: string;
  endpoint: {
    name: string;
    id: string;
    featureNames: string[];
    labelNames: string[];
    modelName: string | null;
    modelVersion: string | null;
    tags: Record<string, string>;
    referenceRows: number | null;
  };
  query: ReportQuery;
  /** The windows found: how many, the first start and last end. */
  range: { windows: number; from: number | null; to: number | null };
  summary: {
    /** The worst dataset-level status over the windows (per-feature results aside). */
    status: ReportStatus;
    /** The window the feature table and plots detail: `query.window`, else the newest of the worst. */
    detail: { windowStart: number; windowEnd: number; rows: number; status: ReportStatus; profile: boolean } | null;
    /** Features found drifted in the detailed window, the most drifted first. */
    driftedFeatures: string[];
    apps: ReportApp[];
  };
  /** Every feature of the endpoint: drifted first, then by how far, then by name. */
  features: ReportFeature[];
  series: ReportSeries[];
  /** The windows, oldest first, with their results (extraData included) as stored. */
  windows: WindowRecord[];
}

/** The most windows a report reads (the results API's own cap). */
export const REPORT_MAX_WINDOWS = 10_000;
const MAX_CATEGORIES = 20;
const STATUS_ORDER: readonly ReportStatus[] = ['no_data', 'irrelevant', 'no_detection', 'potential_detection', 'failed', 'detected'];

const rank = (s: ReportStatus) => STATUS_ORDER.indexOf(s);
const worst = (a: ReportStatus, b: ReportStatus) => (rank(b) > rank(a) ? b : a);
const statusName = (s: number): ReportStatus => (resultStatusName[s as ResultStatus] as ReportStatus | undefined) ?? 'irrelevant';
const num = (v: JsonValue | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: JsonValue | undefined): Record<string, JsonValue> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, JsonValue>) : undefined;

/** The per-feature result of a window (data-drift's `drift_<feature>`): it names its column. */
function columnOf(r: WindowRecord['results'][number]): string | undefined {
  const c = r.extraData?.column;
  return typeof c === 'string' ? c : undefined;
}

/** A window's worst status over its dataset-level results; `failed` for an error, `no_data` for an empty window. */
function windowStatus(w: WindowRecord): ReportStatus {
  if (w.outcome === 'error') return 'failed';
  if (w.outcome === 'empty') return 'no_data';
  let s: ReportStatus = w.results.length ? 'irrelevant' : 'no_data';
  for (const r of w.results) if (columnOf(r) === undefined) s = worst(s, statusName(r.status));
  return s;
}

function statsOf(s: FeatureStats | undefined): ReportFeatureStats | null {
  if (!s) return null;
  if (s.type === 'categorical') return { type: 'categorical', count: s.count, missing: s.missing, unique: s.unique };
  return { type: 'numeric', count: s.count, missing: s.missing, mean: s.mean, std: s.std, min: s.min, max: s.max, quantiles: { ...s.quantiles } };
}

/** The tests of one feature in one window's results. */
function featureTests(windows: readonly WindowRecord[], feature: string): ReportFeatureTest[] {
  const tests: ReportFeatureTest[] = [];
  for (const w of windows) {
    for (const r of w.results) {
      const x = r.extraData;
      if (columnOf(r) === feature) {
        tests.push({
          app: w.app,
          result: r.name,
          status: statusName(r.status),
          method: typeof x?.method === 'string' ? x.method : null,
          statistic: num(x?.statistic),
          pValue: num(x?.pValue),
          distance: num(x?.distance),
          threshold: num(x?.threshold),
          drifted: typeof x?.drifted === 'boolean' ? x.drifted : r.status === 2,
          details: {},
        });
        continue;
      }
      // histogram-data-drift: distances per feature in extraData.features, no verdict of its own
      const f = obj(obj(x?.features)?.[feature]);
      if (!f) continue;
      const tvd = num(f.tvd);
      const hellinger = num(f.hellinger);
      tests.push({
        app: w.app,
        result: r.name,
        status: null,
        method: 'hellinger+tvd',
        statistic: null,
        pValue: null,
        distance: tvd !== null && hellinger !== null ? (tvd + hellinger) / 2 : null,
        threshold: null,
        drifted: null,
        details: { ...f },
      });
    }
  }
  return tests;
}

/** How far a feature drifted, for the order of the table: a verdict first, then the smallest p-value, then the largest distance. */
function severity(f: ReportFeature): [number, number, number] {
  let p = 1;
  let d = 0;
  for (const t of f.tests) {
    if (t.pValue !== null) p = Math.min(p, t.pValue);
    if (t.distance !== null) d = Math.max(d, t.distance);
  }
  return [f.drifted ? 1 : 0, -p, d];
}

function categoriesOf(ref: FeatureStats | undefined, cur: FeatureStats | undefined): ReportFeature['categories'] {
  if (ref?.type !== 'categorical' && cur?.type !== 'categorical') return null;
  const r = ref?.type === 'categorical' ? ref.frequencies : {};
  const c = cur?.type === 'categorical' ? cur.frequencies : undefined;
  const rTotal = Object.values(r).reduce((a, b) => a + b, 0) || 1;
  const cTotal = c ? Object.values(c).reduce((a, b) => a + b, 0) || 1 : 1;
  const values = new Set([...Object.keys(r), ...Object.keys(c ?? {})]);
  const share = (v: string) => Math.max((r[v] ?? 0) / rTotal, (c?.[v] ?? 0) / cTotal);
  return [...values]
    .sort((a, b) => share(b) - share(a) || (a < b ? -1 : 1))
    .slice(0, MAX_CATEGORIES)
    .map((value) => ({ value, reference: r[value] ?? 0, current: c ? (c[value] ?? 0) : null, unseen: !Object.hasOwn(r, value) }));
}

function thresholdsOf(x: Record<string, JsonValue> | undefined): ReportSeries['thresholds'] {
  const t = obj(x?.thresholds);
  if (t && (num(t.potentialThreshold) !== null || num(t.detectedThreshold) !== null))
    return { potential: num(t.potentialThreshold), detected: num(t.detectedThreshold) };
  if (num(x?.driftShare) !== null) return { potential: num(x?.potentialShare), detected: num(x?.driftShare) };
  return null;
}

/** The series of the windows' results (per-feature ones aside: they are in the feature table) and metrics. */
function seriesOf(windows: readonly WindowRecord[]): ReportSeries[] {
  const byKey = new Map<string, ReportSeries>();
  const add = (
    w: WindowRecord,
    name: string,
    type: 'result' | 'metric',
    value: number,
    kind: number | null,
    status: ReportStatus | null,
    x?: Record<string, JsonValue>,
  ) => {
    const key = `${w.app}\u0000${type}\u0000${name}`;
    let s = byKey.get(key);
    if (!s) {
      s = {
        app: w.app,
        name,
        type,
        kind: kind === null ? null : (resultKindName[kind as keyof typeof resultKindName] ?? String(kind)),
        thresholds: null,
        points: [],
      };
      byKey.set(key, s);
    }
    s.thresholds = thresholdsOf(x) ?? s.thresholds;
    s.points.push({ windowStart: w.windowStart, windowEnd: w.windowEnd, value, status });
  };
  for (const w of windows) {
    for (const r of w.results) if (columnOf(r) === undefined) add(w, r.name, 'result', r.value, r.kind, statusName(r.status), r.extraData);
    for (const m of w.metrics) add(w, m.name, 'metric', m.value, null, null);
  }
  // results before metrics, each by app and name
  return [...byKey.values()].sort(
    (a, b) => (a.type === b.type ? 0 : a.type === 'result' ? -1 : 1) || a.app.localeCompare(b.app) || a.name.localeCompare(b.name),
  );
}

function appsOf(windows: readonly WindowRecord[]): ReportApp[] {
  const apps = new Map<string, ReportApp>();
  for (const w of windows) {
    let a = apps.get(w.app);
    if (!a) {
      a = {
        app: w.app,
        versions: [],
        windows: 0,
        outcomes: { ok: 0, empty: 0, error: 0 },
        statuses: Object.fromEntries(STATUS_ORDER.map((s) => [s, 0])) as Record<ReportStatus, number>,
        latest: null,
        lastError: null,
      };
      apps.set(w.app, a);
    }
    if (!a.versions.includes(w.version)) a.versions.push(w.version);
    a.windows++;
    a.outcomes[w.outcome]++;
    const s = windowStatus(w);
    a.statuses[s]++;
    a.latest = { windowStart: w.windowStart, status: s };
    if (w.error) a.lastError = { windowStart: w.windowStart, code: w.error.code, message: w.error.message };
  }
  return [...apps.values()].sort((a, b) => a.app.localeCompare(b.app));
}

/** The report of `query` from what `source` holds; `now` for the time it was made. */
export async function buildReport(source: ReportSource, query: ReportQuery, now = Date.now()): Promise<Report> {
  const ep = await source.endpoint(query.endpoint);
  if (!ep) throw new NotFoundError(`no endpoint named '${query.endpoint}'`);
  // a batch id that names none would be an empty report: said instead
  if (query.batch !== undefined && !(await source.hasBatch(query.endpoint, query.batch))) throw unknownBatchError(query.endpoint, query.batch);
  const since = query.window ?? query.from;
  const stored = await source.windows({
    endpoint: query.endpoint,
    ...(query.app !== undefined && { app: query.app }),
    ...(query.batch !== undefined && { batch: query.batch }),
    ...(since !== undefined && { since }),
  });
  const windows = stored
    .filter((w) =>
      query.window !== undefined
        ? w.windowStart === query.window
        : (query.from === undefined || w.windowStart >= query.from) && (query.to === undefined || w.windowStart < query.to),
    )
    .sort((a, b) => a.windowStart - b.windowStart || a.app.localeCompare(b.app));

  // the detailed window: the asked one, else the newest of the worst status
  let status: ReportStatus = 'no_data';
  let detailStatus: ReportStatus | undefined;
  let detailStart: number | undefined;
  const byStart = new Map<number, WindowRecord[]>();
  for (const w of windows) {
    const s = windowStatus(w);
    status = worst(status, s);
    // windows are oldest first: the last of the worst wins
    if (w.outcome === 'ok' && (detailStatus === undefined || rank(s) >= rank(detailStatus))) {
      detailStatus = s;
      detailStart = w.windowStart;
    }
    byStart.set(w.windowStart, [...(byStart.get(w.windowStart) ?? []), w]);
  }
  if (query.window !== undefined) detailStart = byStart.has(query.window) ? query.window : undefined;
  const detailWindows = detailStart === undefined ? [] : byStart.get(detailStart)!;
  const profile = detailStart === undefined ? undefined : await source.profile(query.endpoint, detailStart);
  const detail =
    detailStart === undefined
      ? null
      : {
          windowStart: detailStart,
          windowEnd: Math.max(...detailWindows.map((w) => w.windowEnd)),
          rows: Math.max(...detailWindows.map((w) => w.rows)),
          status: detailWindows.map(windowStatus).reduce(worst, 'no_data' as ReportStatus),
          profile: profile !== undefined,
        };

  const features: ReportFeature[] = ep.featureNames.map((name) => {
    const ref = ep.featureStats[name];
    const cur = profile?.features[name];
    const tests = featureTests(detailWindows, name);
    let comparedWindows = 0;
    let driftedWindows = 0;
    for (const [, ws] of byStart) {
      const t = featureTests(ws, name);
      if (t.length === 0) continue;
      comparedWindows++;
      if (t.some((x) => x.drifted === true)) driftedWindows++;
    }
    const type = ref?.type ?? cur?.type ?? 'unknown';
    const histogram =
      ref?.type === 'numeric'
        ? {
            edges: [...ref.hist.edges],
            reference: [...ref.hist.counts],
            current: cur?.type === 'numeric' && cur.hist.counts.length === ref.hist.counts.length ? [...cur.hist.counts] : null,
          }
        : null;
    return {
      name,
      type,
      drifted: tests.some((t) => t.drifted === true),
      tests,
      comparedWindows,
      driftedWindows,
      reference: statsOf(ref),
      current: statsOf(cur),
      histogram,
      categories: categoriesOf(ref, cur),
    };
  });
  features.sort((a, b) => {
    const [x, y] = [severity(a), severity(b)];
    return y[0] - x[0] || y[1] - x[1] || y[2] - x[2] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });

  return {
    v: REPORT_VERSION,
    generatedAt: new Date(now).toISOString(),
    endpoint: {
      name: ep.name,
      id: ep.id,
      featureNames: [...ep.featureNames],
      labelNames: [...ep.labelNames],
      modelName: ep.modelName ?? null,
      modelVersion: ep.modelVersion ?? null,
      tags: { ...(ep.tags ?? {}) },
      referenceRows: ep.referenceRowCount ?? null,
    },
    query,
    range: { windows: windows.length, from: windows[0]?.windowStart ?? null, to: windows.length ? Math.max(...windows.map((w) => w.windowEnd)) : null },
    summary: { status, detail, driftedFeatures: features.filter((f) => f.drifted).map((f) => f.name), apps: appsOf(windows) },
    features,
    series: seriesOf(windows),
    windows,
  };
}
