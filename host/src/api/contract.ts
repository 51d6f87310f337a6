/**
 * The HTTP API's contract: request bodies and replies of its routes, shared by the routes and
 * the typed client (`client/`). The records and messages they carry are the wire's
 * (`@modelwatch/protocol`).
 */
import type { JsonValue } from '@modelwatch/sdk';
import type {
  AppOutputMessage,
  BatchRecord,
  DryRunResult,
  EndpointRecord,
  EndpointStatsRecord,
  PeriodSegment,
  PluginRecord,
  ServingCounts,
  StoredDeadLetter,
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
export const DataPlaneRoutes = {
  events: '/api/v1/endpoints/:name/events',
  batches: '/api/v1/endpoints/:name/batches',
  batch: '/api/v1/endpoints/:name/batches/:id',
  stats: '/api/v1/endpoints/:name/stats',
  serving: '/api/v1/endpoints/:name/serving',
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
