/**
 * The HTTP API's contract: request bodies and replies of its routes, shared by the routes and
 * the typed client (`client/`). The records and messages they carry are the wire's
 * (`@modelwatch/protocol`).
 */
import type { JsonValue } from '@modelwatch/sdk';
import type {
  ArtifactInfo,
  AuditEntry,
  TokenRecord,
  TokenScope,
  AppOutputMessage,
  WindowProfile,
  ProfileResolution,
  ResultsRollup,
  BatchRecord,
  DryRunResult,
  EndpointRecord,
  EndpointStatsRecord,
  MetricName,
  MetricPoint,
  PeriodSegment,
  PurgedResults,
  PluginRecord,
  ServingCounts,
  StoredDeadLetter,
  WindowRecord,
} from '@modelwatch/protocol';

/** Request body of `POST /api/v1/plugins` (what `modelwatch plugin publish` sends). */
export interface PublishPluginBody {
  manifest: unknown;
  code: string;
  map?: string;
  /** Replaces the manifest's `config` (`plugin publish --config FILE`). */
  config?: Record<string, JsonValue>;
  /** Refuse the version when the dry run fails on an endpoint (`plugin publish --strict`). @default false */
  strict?: boolean;
  /**
   * Publish it as the plugin's shadow (`plugin publish --shadow`): it runs beside the active
   * version from the next window, its outputs stored apart. @default false
   */
  shadow?: boolean;
}

/** A largest difference of a result's value between a shadow and the active version, and where. */
export interface ValueDifference {
  /** |shadow value - active value| */
  difference: number;
  endpoint: string;
  windowStart: number;
  windowEnd: number;
  active: number;
  shadow: number;
}

/** How one result of a shadow differs from the active version's over the windows both ran. */
export interface ResultComparison {
  name: string;
  /** Windows in which both versions produced this result. */
  windows: number;
  /** Windows whose status differs, per `from->to` (the active's status, then the shadow's: numbers of `ResultStatus`). */
  statusChanges: Record<string, number>;
  /** The largest |value difference|, null when no window had both values. */
  largest: ValueDifference | null;
  /** Windows both ran in which only the active version (or only the shadow) produced this result. */
  onlyActive: number;
  onlyShadow: number;
}

/** Answer of `GET /api/v1/plugins/:name/compare`: the shadow against the active version, per result. */
export interface ShadowComparison {
  app: string;
  shadowVersion: string;
  /** The versions that were active in the windows compared. */
  activeVersions: string[];
  /** Windows (endpoint, window start) both ran: stored outputs of the shadow and of the active version. */
  windows: number;
  /** Of those, windows whose outcome (`ok`, `empty`, `error`) differs, per `from->to`. */
  outcomeChanges: Record<string, number>;
  results: ResultComparison[];
}

/**
 * What `PUT /api/v1/monitoring` with `defaultApp` did: deployed the built-in app, or left it
 * because a version of it was published on this host before (still there, disabled by a user,
 * or removed), or nothing (`defaultApp: "none"`).
 */
export type DefaultAppOutcome =
  | { app: string; action: 'deployed'; version: string; dryRun: DryRunReport }
  | { app: string; action: 'already published'; version: string; status: PluginRecord['status'] }
  | { app: string; action: 'skipped'; reason: 'disabled'; version: string }
  | { app: string; action: 'skipped'; reason: 'removed' }
  | { app: null; action: 'none' };

/** `PUT /api/v1/monitoring`: turn monitoring on or off, change the base period, deploy a default app. */
export interface SetMonitoringBody {
  enabled?: boolean;
  /** A duration such as `5s` or `10m` (or ms). */
  basePeriod?: string | number;
  /**
   * With `enabled: true`: the built-in app to deploy unless a version of it was ever published
   * on this host, or `none`. Absent: nothing is deployed (the CLI sends `drift` by default).
   */
  defaultApp?: string;
}

/** Answer of `PUT /api/v1/monitoring`: the status, and what became of the default app when one was asked for. */
export type SetMonitoringReply = MonitoringStatus & { defaultApp?: DefaultAppOutcome };

/** Answer of `POST /api/v1/plugins`: the plugin record and what the dry run found. */
export type PublishPluginReply = PluginRecord & { dryRun: DryRunReport };

/** One window of an evaluation: what the app made of it and whether it was stored. */
export interface EvaluatedWindow {
  output: AppOutputMessage;
  stored: 'written' | 'already stored' | 'not written';
  /**
   * The window's stored profile when its rows have expired from the stream (the app saw no rows,
   * but the writer kept the window's statistics): what the window held.
   */
  profile?: WindowProfile;
}

/**
 * A line of `POST /plugins/{name}/evaluate` asked with `Accept: application/x-ndjson`: one progress
 * line per window evaluated, then the windows, or an error that stopped it.
 */
export type EvaluateLine = { progress: { done: number; total: number } } | { windows: EvaluatedWindow[] } | { error: { code: string; message: string } };

/** The dry run at publish: what ran where, and a warning per failure. */
export interface DryRunReport {
  /** Why it ran on no endpoint, or on fewer than it applies to. */
  note?: string;
  endpoints: DryRunResult[];
  /** One line per failure: the endpoint, the error, and the file and line in the plugin's sources. */
  warnings: string[];
}

/** What an ingest request answers. */
export interface IngestResult {
  accepted: number;
  rejected: Array<{ index: number; error: string }>;
  /**
   * Values of the accepted events whose type differs from the column's reference (a string in
   * a numeric feature, a number in a text one), by column: accepted as missing values. Only
   * present when there were some.
   */
  wrongType?: Record<string, number>;
}

/** Serving statistics of an endpoint, as the API shows them (`stats` of an endpoint). */
export interface EndpointStats extends ServingCounts {
  /** Average latency over every request with one (µs). */
  latencyAvg: number | null;
  /** The worst result status of the last 24 hours (-1..2), null when there was none. */
  driftStatus: number | null;
  /** Dead letters held now, by reason. */
  deadLetters: { total: number; byReason: Record<string, number> };
  /** The newest closed interval (a minute): requests, errors, latency average, p50, p99. */
  lastInterval: EndpointStatsRecord['lastInterval'] | null;
  /** Windows with rows and at least one app's output stored (a count the writer keeps as windows are stored and expire). */
  windowsAnalysed: number | null;
  /** App -> the outcome (`ok`, `error`) of its newest stored window that was not empty, and that window's start. */
  lastOutcomes: NonNullable<EndpointStatsRecord['lastOutcomes']>;
}

/** `GET /api/v1/monitoring`: whether windows are analysed, and their length now and next. */
export interface MonitoringStatus {
  enabled: boolean;
  /** The window length in force now, e.g. `10m`, and since when. */
  basePeriod: string;
  basePeriodMs: number;
  effectiveFrom: string;
  /** A new window length that applies from the next window boundary, or null. */
  pending: { basePeriod: string; basePeriodMs: number; effectiveFrom: string } | null;
  allowedLatenessMs: number;
  /** Every window length over time (`fromMs` on). */
  periods: PeriodSegment[];
}

/** An endpoint as `GET /api/v1/endpoints` lists it: its record without the reference statistics. */
export type EndpointSummary = Omit<EndpointRecord, 'featureStats'> & { hasReference: boolean; stats?: EndpointStats };

/**
 * The paths of the data-plane routes (Fastify's `:param` syntax): the routes register these,
 * and the client fills them in with {@link routePath}.
 */
const MiB = 1024 * 1024;

/**
 * The largest request body of each route, in bytes: a bigger one is refused with 413
 * `BODY_TOO_LARGE` naming the limit before it is read. Events and references of this size are
 * parsed and checked on a worker thread, never on the event loop.
 */
export const BodyLimits = {
  /** `POST /api/v1/endpoints/:name/events` and `.../batches`. */
  events: 64 * MiB,
  /** `PUT /api/v1/endpoints/:name/reference` (CSV, JSON Lines, JSON). */
  reference: 64 * MiB,
  /** `POST /api/v1/plugins`: a plugin's bundle and source map. */
  plugin: 16 * MiB,
  /** `POST /api/v1/endpoints/:name/labels`. */
  labels: 4 * MiB,
  /** `POST /api/v1/endpoints/bulk`: up to 10,000 endpoints. */
  bulkEndpoints: 16 * MiB,
  /** Every other route. */
  other: 1 * MiB,
} as const;

export const DataPlaneRoutes = {
  events: '/api/v1/endpoints/:name/events',
  batches: '/api/v1/endpoints/:name/batches',
  batch: '/api/v1/endpoints/:name/batches/:id',
  stats: '/api/v1/endpoints/:name/stats',
  serving: '/api/v1/endpoints/:name/serving',
  artifacts: '/api/v1/endpoints/:name/artifacts',
  artifact: '/api/v1/endpoints/:name/artifacts/:id',
  deadLetters: '/api/v1/dlq',
  deadLetter: '/api/v1/dlq/:seq',
  replay: '/api/v1/dlq/replay',
} as const;

/** A route's path with its `:params` filled in, URI-encoded. */
export function routePath(route: string, params: Record<string, string | number> = {}): string {
  return route.replace(/:([A-Za-z]+)/g, (_, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`routePath: no value for :${k} of ${route}`);
    return encodeURIComponent(String(v));
  });
}

/** What `POST /api/v1/endpoints/:name/batches` answers: the batch's id and what was accepted. */
export type BatchIngestResult = IngestResult & { batchId: string };

/** `GET /api/v1/endpoints/:name/batches/:id`: the batch and the endpoint id its results are stored under. */
export type BatchDetail = BatchRecord & { resultsEndpointId: string };

/** Body of `POST /api/v1/plugins/:name/rollback`: the version to make active (default: the one before). */
export interface RollbackBody {
  to?: string;
}

/** Body of `PATCH /api/v1/plugins/:name/config`: merge settings (`set`) or replace the config (`config`). */
export type ConfigurePluginBody = { set: Record<string, JsonValue> } | { config: Record<string, JsonValue> };

/** The query of `POST /api/v1/endpoints/:name/batches`: the batch's id (default: one made of the time). */
export interface BatchQuery {
  id?: string;
}

/** The query of `GET /api/v1/results` (as the route sees it: `limit` is a number once checked). */
export interface ResultsQuery {
  endpoint?: string;
  app?: string;
  limit?: number | '';
  since?: string;
  batch?: string;
}

/** The query of `GET /api/v1/dlq`. */
export interface DeadLetterQuery {
  endpoint?: string;
  reason?: string;
  /** @default 100 */
  limit?: number;
}

/** `GET /api/v1/dlq`: the letters held (of the endpoint, of the reason), counted, and the newest of them, payloads cut to 200 characters. */
export interface DeadLetterList {
  total: number;
  counts: Record<string, Record<string, number>>;
  letters: StoredDeadLetter[];
}

/** The body of `POST /api/v1/dlq/replay`: every letter of an endpoint (late ones only with `includeLate`), or the given sequences. */
export interface ReplayRequest {
  endpoint?: string;
  seqs?: number[];
  includeLate?: boolean;
}

/** What `POST /api/v1/dlq/replay` answers. */
export interface ReplayReply {
  replayed: Array<{ seq: number; endpoint: string }>;
  skipped: Array<{ seq: number; reason: string }>;
}

/** `GET /api/v1/endpoints/:name/artifacts`: which artifacts (`app`, windows starting in `[from, to)`, ms or ISO). */
export interface ArtifactQuery {
  app?: string;
  from?: number;
  to?: number;
}

/** What `GET /api/v1/endpoints/:name/artifacts` answers: the endpoint's artifacts, newest window first. */
export interface ArtifactList {
  artifacts: ArtifactInfo[];
}

// ---- endpoints: fields, filters, deletion, metrics, a reference from traffic (issue #14)

/** The paths of the endpoint routes added for issue #14 (besides `/api/v1/endpoints[/:name]`). */
export const EndpointRoutes = {
  metrics: '/api/v1/endpoints/:name/metrics',
  metricValues: '/api/v1/endpoints/:name/metrics/values',
  referenceFromTraffic: '/api/v1/endpoints/:name/reference/from-traffic',
  report: '/api/v1/endpoints/:name/report',
} as const;

/**
 * The query of `GET /api/v1/endpoints/:name/report`: one window (`window`), a range (`from`,
 * `to`: ISO, ms, or a duration back from now such as `24h`; default the last day), or a batch's
 * windows (`batch`); `format` `html` (default, a download) or `json` (the report's data, `v: 1`).
 */
export interface ReportRouteQuery {
  app?: string;
  from?: string;
  to?: string;
  window?: string;
  batch?: string;
  format?: string;
}

/** The query of `GET /api/v1/endpoints`: every filter given must hold. */
export interface EndpointListQuery {
  /** A glob on the name (`fraud-*`). */
  name?: string;
  /** A tag selector (`team=fraud,env in (prod,staging)`). */
  selector?: string;
  /** The drift status: `detected`, `potential_detection`, `no_detection`, `irrelevant`, or `none` (no result in the last 24 hours). */
  status?: DriftStatusName;
}

export const DRIFT_STATUS_NAMES = { irrelevant: -1, no_detection: 0, potential_detection: 1, detected: 2, none: null } as const;
export type DriftStatusName = keyof typeof DRIFT_STATUS_NAMES;

/** The body of `POST /api/v1/endpoints`. */
export interface CreateEndpointBody {
  name: string;
  featureNames?: string[];
  labelNames?: string[];
  monitoring?: boolean;
  modelName?: string;
  modelVersion?: string;
  tags?: Record<string, string>;
}

/** The body of `POST /api/v1/endpoints/bulk`: the endpoints to create (or a bare JSON array of them), at most {@link BULK_ENDPOINTS_MAX}. */
export interface BulkCreateEndpointsBody {
  endpoints: CreateEndpointBody[];
}

/** The most endpoints one `POST /api/v1/endpoints/bulk` creates (send more in several requests). */
export const BULK_ENDPOINTS_MAX = 10_000;

/** What became of one item of a bulk creation: `created`, `exists` (left as it was) or `failed` (with why). */
export interface BulkEndpointOutcome {
  /** The item's position in the request. */
  index: number;
  /** The item's name, when it has a string one. */
  name?: string;
  status: 'created' | 'exists' | 'failed';
  /** The endpoint's id (created or existing). */
  id?: string;
  error?: { code: string; message: string };
}

/** The reply of `POST /api/v1/endpoints/bulk` (HTTP 200 even when some items failed: each says why). */
export interface BulkCreateEndpointsReply {
  created: number;
  existing: number;
  failed: number;
  items: BulkEndpointOutcome[];
}

/** The body of `PATCH /api/v1/endpoints/:name`: at least one field; `null` clears the model name or version. */
export interface UpdateEndpointBody {
  monitoring?: boolean;
  modelName?: string | null;
  modelVersion?: string | null;
  /** Tags to add or replace. */
  tags?: Record<string, string>;
  /** Tag keys to remove. */
  removeTags?: string[];
}

/** What `DELETE /api/v1/endpoints/:name[?purge=true]` removed. */
export interface DeleteEndpointReply {
  endpoint: string;
  endpointId: string;
  /** The record and its reference rows are always removed. */
  record: true;
  reference: boolean;
  /** Only with `purge`: what was removed of the endpoint's stored data. */
  purged?: {
    /** Windows (its batches' too), latest values and serving intervals in the writer's store. */
    results: PurgedResults;
    /** Messages removed, by stream (`MW_EVENTS`, `MW_ROWS`, `MW_OUTPUTS`, `MW_DLQ`, `MW_LABELS`, `MW_SERVING`). */
    messages: Record<string, number>;
    /** The controller's progress keys and batch records removed. */
    controllerKeys: number;
    batches: number;
  };
  /** What stays: points already shipped to the TSDB, always; without `purge`, everything stored. */
  kept: string[];
}

/** `GET /api/v1/endpoints/:name/metrics`: the results and metrics the endpoint's windows hold. */
export interface MetricNamesReply {
  endpoint: string;
  metrics: MetricName[];
}

/** The query of `GET /api/v1/endpoints/:name/metrics/values`. */
export interface MetricValuesParams {
  /** Full names, comma-separated (`<app>.result.<name>`, `<app>.metric.<name>`); all when absent. */
  names?: string[];
  /** Window starts in `[from, to)`: ISO times or ms. */
  from?: string | number;
  to?: string | number;
  /** Points per page. @default 1000 */
  limit?: number;
  /** The `next` of the previous page. */
  after?: string;
}

/** `GET /api/v1/endpoints/:name/metrics/values`: one page of points, by app then window time; `next` when more follow. */
export interface MetricValuesReply {
  endpoint: string;
  points: MetricPoint[];
  next?: string;
}

/** The body of `POST /api/v1/endpoints/:name/reference/from-traffic`: a past range, or a trailing window (`last: "1h"`). */
export type ReferenceFromTrafficBody = { from: string | number; to: string | number } | { last: string };

/** What it answers: the endpoint, the range read and the rows taken. */
export type ReferenceFromTrafficReply = EndpointSummary & { referenceRows: number; from: number; to: number };

// ---- tokens and the audit log (admin)

/** The routes of API tokens and of the audit log. */
export const AuthRoutes = {
  tokens: '/api/v1/tokens',
  token: '/api/v1/tokens/:name',
  audit: '/api/v1/audit',
} as const;

/** The body of `POST /api/v1/tokens`. */
export interface CreateTokenBody {
  name: string;
  /** One or more of `ingest`, `read`, `write`, `admin`. */
  scopes: TokenScope[];
  /** For `ingest`: a glob of the endpoint names it may post to (`fraud-*`). */
  endpoints?: string;
}

/** A token as listed: never its text or its hash. */
export type TokenInfo = Omit<TokenRecord, 'hash' | 'v'>;

/** `POST /api/v1/tokens` answers the token's text, once. */
export type CreateTokenReply = TokenInfo & { token: string };

/** The query of `GET /api/v1/audit`. */
export interface AuditQuery {
  /** Entries from this time on: an ISO time, ms since the epoch, or a duration back from now (`1h`). */
  since?: string;
  /** At most this many entries (the newest, without `since`; the first from `since`, with it). @default 100, at most 10,000 */
  limit?: number;
}

/** `GET /api/v1/audit`: entries, oldest first. */
export interface AuditList {
  entries: AuditEntry[];
}

/** The alert notification routes (`alerts/notify/`): channels (admin), their tests, the delivery history. */
export const AlertNotifyRoutes = {
  channels: '/api/v1/alerts/channels',
  channel: '/api/v1/alerts/channels/:name',
  channelTest: '/api/v1/alerts/channels/:name/test',
  /** Admin: send a sample notification of a rule through each of its channels now: per channel, success or the status. */
  ruleTest: '/api/v1/alerts/rules/:name/test',
  history: '/api/v1/alerts/history',
  /** Admin: enqueue a sample notification through the outbox (for tests and for checking routing). */
  notificationTest: '/api/v1/alerts/notifications/test',
} as const;

/** The query of `GET /api/v1/alerts/history`. */
export interface AlertHistoryQuery {
  channel?: string;
  key?: string;
  limit?: number;
}

/** The body of `POST /api/v1/alerts/notifications/test`: all optional. */
export interface TestNotificationBody {
  /** The idempotency key (default `test-<uuid>`). */
  key?: string;
  severity?: 'low' | 'medium' | 'high' | 'critical';
  channels?: string[];
  endpoint?: string;
  labels?: Record<string, string>;
}

/** The answer of `POST /api/v1/alerts/rules/:name/test`. */
export interface RuleTestResult {
  rule: string;
  /** The sample notification's idempotency key (its attempts are in the history under it). */
  key: string;
  /** Per channel the rule's notification goes to: success, or the status code or error (never the receiver's body). */
  channels: Array<{ channel: string; ok: boolean; status?: number; error?: string }>;
}

// ---- alerts (rules, alerts, silences)

/** The alert routes (`modelwatch alert ...`). */
export const AlertRoutes = {
  rules: '/api/v1/alerts/rules',
  rule: '/api/v1/alerts/rules/:name',
  alerts: '/api/v1/alerts',
  alert: '/api/v1/alerts/:id',
  ack: '/api/v1/alerts/:id/ack',
  resolve: '/api/v1/alerts/:id/resolve',
  silences: '/api/v1/alerts/silences',
  silence: '/api/v1/alerts/silences/:id',
} as const;

export type { Alert, AlertSeverity } from '../alerts/contract.js';
export type { AlertRule, AlertRuleRecord } from '../alerts/rules.js';
export type { Silence } from '../alerts/store.js';

/** Query of `GET /api/v1/alerts`: `active=true` lists firing and acknowledged alerts only. */
export interface AlertListQuery {
  active?: boolean;
}

/** The body of `POST /api/v1/alerts/silences`: mute a rule, an endpoint (a name or a glob) or both, for a duration. */
export interface CreateSilenceBody {
  rule?: string;
  endpoint?: string;
  /** How long: `2h`, `30m`. */
  duration: string;
  comment?: string;
}
// ---- window profiles and results roll-ups (routes/profiles.ts)

export const ProfileRoutes = {
  profiles: '/api/v1/endpoints/:name/profiles',
  profile: '/api/v1/endpoints/:name/profiles/:windowStart',
  rollups: '/api/v1/endpoints/:name/rollups',
  window: '/api/v1/endpoints/:name/windows/:windowStart',
} as const;

/**
 * `GET /api/v1/endpoints/:name/windows/:windowStart`: one window of an endpoint, however old (a
 * key lookup in the writer): every app's stored output of it (the active versions'), by app
 * name, and its profile (null when the window had no rows or its profile expired).
 */
export interface WindowReply {
  endpoint: string;
  windowStart: number;
  windows: WindowRecord[];
  profile: WindowProfile | null;
}

/** `GET /api/v1/endpoints/:name/profiles`. */
export interface ProfilesReply {
  profiles: WindowProfile[];
}

/** `GET /api/v1/endpoints/:name/rollups`. */
export interface RollupsReply {
  rollups: ResultsRollup[];
}

/** The query of `GET /api/v1/endpoints/:name/profiles`: window starts in `[from, to)` (ISO or ms; roll-ups: hours or days overlapping it), oldest first. */
export interface ProfilesParams {
  from?: number | string;
  to?: number | string;
  /** @default 1000 (at most 10000) */
  limit?: number;
  /** @default 'window' */
  resolution?: ProfileResolution;
}

/** The query of `GET /api/v1/endpoints/:name/rollups`: hours or days overlapping `[from, to)`, oldest first. */
export interface RollupsParams {
  resolution: 'hour' | 'day';
  app?: string;
  from?: number | string;
  to?: number | string;
  limit?: number;
}
