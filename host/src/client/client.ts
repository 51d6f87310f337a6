import { AlertRoutes, type Alert, type AlertRule, type AlertRuleRecord, type CreateSilenceBody, type Silence } from '../api/contract.js';
import type {
  BatchRecord,
  EndpointRecord,
  LatestResult,
  PluginLogLine,
  PluginRecord,
  ServingRecord,
  StoredDeadLetter,
  WindowProfile,
  WindowRecord,
} from '@modelwatch/protocol';
import { ModelwatchError, type ErrorCode } from '../errors.js';
import type { JsonValue } from '@modelwatch/sdk';
import type { AttemptResult, ChannelInfo, DeliveryAttempt } from '../alerts/notify/index.js';
import {
  AlertNotifyRoutes,
  type AlertHistoryQuery,
  type RuleTestResult,
  type TestNotificationBody,
  AuthRoutes,
  DataPlaneRoutes,
  EndpointRoutes,
  type AuditList,
  type AuditQuery,
  type CreateTokenBody,
  type CreateTokenReply,
  type TokenInfo,
  routePath,
  type ArtifactList,
  type ArtifactQuery,
  type CreateEndpointBody,
  type BulkCreateEndpointsBody,
  type BulkCreateEndpointsReply,
  type DeleteEndpointReply,
  type EndpointListQuery,
  type MetricNamesReply,
  type MetricValuesParams,
  type MetricValuesReply,
  type ReferenceFromTrafficBody,
  type ReferenceFromTrafficReply,
  type UpdateEndpointBody,
  type BatchDetail,
  type ConfigurePluginBody,
  type BatchIngestResult,
  type DeadLetterList,
  type DeadLetterQuery,
  type DefaultAppOutcome,
  type EndpointStats,
  type EndpointSummary,
  type EvaluatedWindow,
  type EvaluateLine,
  type IngestResult,
  type MonitoringStatus,
  type PublishPluginBody,
  type PublishPluginReply,
  type ReplayReply,
  type ReplayRequest,
  type SetMonitoringBody,
  type SetMonitoringReply,
  type ShadowComparison,
} from '../api/contract.js';
import {
  CreateTokenBodySchema,
  ConfigurePluginBodySchema,
  PublishPluginBodySchema,
  ReplayBodySchema,
  RollbackBodySchema,
  SetMonitoringBodySchema,
  validator,
  AlertRuleSchema,
  CreateSilenceBodySchema,
} from '../api/schemas.js';
import type { PluginBundle } from '../plugins/bundle.js';
import { ProfileRoutes, type ProfilesParams, type ProfilesReply, type RollupsParams, type RollupsReply } from '../api/contract.js';

/** The bodies the client checks before sending, with the schemas the routes declare (the same messages). */
const check = {
  setMonitoring: validator(SetMonitoringBodySchema),
  publishPlugin: validator(PublishPluginBodySchema),
  rollbackPlugin: validator(RollbackBodySchema),
  configurePlugin: validator(ConfigurePluginBodySchema),
  replayDeadLetters: validator(ReplayBodySchema),
  createToken: validator(CreateTokenBodySchema),
  alertRule: validator(AlertRuleSchema),
  createSilence: validator(CreateSilenceBodySchema),
};

export type { DefaultAppOutcome, EndpointSummary, MonitoringStatus, SetMonitoringBody, SetMonitoringReply };
/** What an ingest request answers. */
export type IngestReply = IngestResult;

export interface PublishBundleOptions {
  /** Replaces the manifest's config. */
  config?: Record<string, JsonValue>;
  /** Publish as a new development version (`1.0.0-dev.<suffix>`). */
  devSuffix?: string;
  /** Refuse the version when its dry run fails. */
  strict?: boolean;
  /** Publish as the plugin's shadow version, beside the active one. */
  shadow?: boolean;
}

/** Options of `sendEvents`. */
export interface SendEventsOptions {
  /**
   * Sent as the `Idempotency-Key` header (printable ASCII, not empty): the accepted events
   * of requests with one key are stored once, within the events stream's duplicate window (2 min).
   * Rejected events are dead-lettered on each try.
   */
  idempotencyKey?: string;
}

export interface ClientOptions {
  /**
   * Base URL of the host's HTTP API. An `https://` host with a private CA or a self-signed
   * certificate is trusted through Node's `NODE_EXTRA_CA_CERTS=ca.pem`. @default 'http://127.0.0.1:7077'
   */
  url?: string;
  /** @default 30000 */
  timeoutMs?: number;
  /** The API token, sent as `Authorization: Bearer <token>` (see `modelwatch token create`). */
  token?: string;
}

/** Told how much of a request body was sent: bytes so far, of the total. */
export type UploadProgress = (sentBytes: number, totalBytes: number) => void;

/** A request body sent in 256 KiB chunks, each counted as fetch takes it. */
function countedBody(text: string, onUpload: UploadProgress): ReadableStream<Uint8Array> {
  const bytes = Buffer.from(text, 'utf8');
  const CHUNK = 256 * 1024;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes.length) {
        controller.close();
        return;
      }
      const part = bytes.subarray(sent, sent + CHUNK);
      sent += part.length;
      controller.enqueue(part);
      onUpload(sent, bytes.length);
    },
  });
}

/** Why a request could not reach the host, in words (the socket's error code when there is one). */
function unreachable(url: string, err: unknown): ModelwatchError {
  const e = err as Error & { cause?: { code?: string } };
  const why = e.cause ? String(e.cause.code ?? e.message) : e.message;
  return new ModelwatchError('HTTP_ERROR', `cannot reach the modelwatch host at ${url} (${why}): is it running? Start one with: modelwatch host start`);
}

/**
 * The error of a reply that is not ok: its `{ error: { code, message } }`; for an ingest that
 * rejected every event (`ingest`: the 400 with its `{ accepted, rejected }`), INVALID_EVENT with
 * the counts and the first rejection; else `what`, the status and the start of its text.
 */
function failure(status: number, text: string, what: string, ingest?: IngestKind): ModelwatchError {
  let body: { error?: { code?: string; message?: string } } & Partial<IngestResult>;
  try {
    body = (JSON.parse(text) as typeof body | null) ?? {};
  } catch {
    body = {};
  }
  const e = body.error;
  if (!e && ingest && typeof body.accepted === 'number' && Array.isArray(body.rejected)) return refusedIngest(ingest, body.accepted, body.rejected);
  return new ModelwatchError((e?.code as ErrorCode) ?? 'HTTP_ERROR', e?.message ?? `${what}: HTTP ${status} ${text.slice(0, 200)}`);
}

/** What an ingest request sends: a batch of historical events, or live events. */
type IngestKind = 'batch' | 'events';

/** An ingest none of whose events was accepted: the counts and the first rejection as `events send` lists them (`#index: error`). */
function refusedIngest(kind: IngestKind, accepted: number, rejected: IngestResult['rejected']): ModelwatchError {
  const first = rejected[0];
  return new ModelwatchError(
    'INVALID_EVENT',
    `${kind} rejected: ${accepted} accepted, ${rejected.length} rejected${first ? `; first: #${first.index}: ${first.error}` : ''}`,
  );
}

/** The lines of an NDJSON body, each parsed, as they arrive (blank lines left out). */
async function* ndjsonLines<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as T;
    }
  }
}

/** How one request is sent, where it differs from the client's defaults. */
interface CallOptions {
  /** The body's content type. @default 'application/json' */
  contentType?: string;
  /** @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** Told the bytes of the body sent so far. */
  onUpload?: UploadProgress;
  /** Headers of this request, besides the token's and the content type. */
  headers?: Record<string, string>;
  /** An ingest route: a refusal of every event (400 with the ingest's answer) is read as such. */
  ingest?: IngestKind;
}

/**
 * A typed client of the host's HTTP API; the CLI is a thin shell over it.
 *
 * @example
 * ```ts
 * const client = new ModelwatchClient({ url: 'http://127.0.0.1:7077' });
 * await client.createEndpoint({ name: 'churn', featureNames: ['age', 'income'] });
 * await client.sendEvents('churn', [{ inputs: [[42, 55000]], outputs: [1] }]);
 * ```
 */
export class ModelwatchClient {
  readonly url: string;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;

  constructor(options: ClientOptions = {}) {
    this.url = (options.url ?? 'http://127.0.0.1:7077').replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.token = options.token;
  }

  /** The headers of every request: the token's, and `extra`. */
  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token === undefined ? extra : { ...extra, authorization: `Bearer ${this.token}` };
  }

  /** `fetch` a path of the host; HTTP_ERROR naming the host when it cannot be reached. */
  private async fetchHost(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, init);
    } catch (err) {
      throw unreachable(this.url, err);
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
    const { contentType = 'application/json', timeoutMs = this.timeoutMs, onUpload, headers: extraHeaders = {}, ingest } = options;
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const res = await this.fetchHost(path, {
      method,
      headers: this.headers(body === undefined ? extraHeaders : { ...extraHeaders, 'content-type': contentType }),
      ...(text !== undefined && onUpload ? { body: countedBody(text, onUpload), duplex: 'half' } : { body: text }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const reply = await res.text();
    if (!res.ok) throw failure(res.status, reply, `${method} ${path}`, ingest);
    let data: unknown;
    try {
      data = reply ? JSON.parse(reply) : undefined;
    } catch {
      data = undefined;
    }
    return data as T;
  }

  /**
   * GET a path of the API (`/api/v1/...`): its JSON, or `undefined` when the host answers 404 (no
   * such record, or no such route on an older host). Other failures throw as every call does.
   */
  async getJson<T>(path: string): Promise<T | undefined> {
    const res = await this.fetchHost(path, { headers: this.headers(), signal: AbortSignal.timeout(this.timeoutMs) });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await res.text();
    if (!res.ok) throw failure(res.status, text, `GET ${path}`);
    return JSON.parse(text) as T;
  }

  health() {
    return this.call<{ ok: boolean; version: string; node?: string }>('GET', '/api/v1/health');
  }

  /** Endpoints, by name; only those matching every filter given (name glob, tag selector, drift status). */
  listEndpoints(filter: EndpointListQuery = {}) {
    const qs = new URLSearchParams();
    if (filter.name) qs.set('name', filter.name);
    if (filter.selector !== undefined) qs.set('selector', filter.selector);
    if (filter.status) qs.set('status', filter.status);
    const q = qs.toString();
    return this.call<{ endpoints: EndpointSummary[] }>('GET', `/api/v1/endpoints${q ? `?${q}` : ''}`).then((r) => r.endpoints);
  }

  getEndpoint(name: string) {
    return this.call<EndpointRecord & { stats?: EndpointStats }>('GET', `/api/v1/endpoints/${encodeURIComponent(name)}`);
  }

  createEndpoint(spec: CreateEndpointBody) {
    return this.call<EndpointSummary>('POST', '/api/v1/endpoints', spec);
  }

  /**
   * Create many endpoints in one request (at most `BULK_ENDPOINTS_MAX`): every item's outcome, in
   * order; an item that is wrong fails alone (`status: 'failed'`, with its error), the others are created.
   */
  createEndpoints(specs: CreateEndpointBody[]) {
    return this.call<BulkCreateEndpointsReply>('POST', '/api/v1/endpoints/bulk', { endpoints: specs } satisfies BulkCreateEndpointsBody);
  }

  /** Replace an endpoint's reference data: CSV with a header, JSON Lines, or a JSON array of rows. */
  setReference(name: string, data: string, format: 'csv' | 'jsonl' | 'json', opts: { onUpload?: UploadProgress } = {}) {
    const type = format === 'csv' ? 'text/csv' : format === 'jsonl' ? 'application/x-ndjson' : 'application/json';
    return this.call<EndpointSummary & { referenceRows: number }>('PUT', `/api/v1/endpoints/${encodeURIComponent(name)}/reference`, data, {
      contentType: type,
      onUpload: opts.onUpload,
    });
  }

  setEndpointMonitoring(name: string, monitoring: boolean) {
    return this.call<EndpointSummary>('PATCH', `/api/v1/endpoints/${encodeURIComponent(name)}`, { monitoring });
  }

  /** Change an endpoint's model name, version, tags or monitoring. */
  updateEndpoint(name: string, change: UpdateEndpointBody) {
    return this.call<EndpointSummary>('PATCH', `/api/v1/endpoints/${encodeURIComponent(name)}`, change);
  }

  /** Delete an endpoint (its record and reference); with `purge`, everything stored of it too but its TSDB points. */
  deleteEndpoint(name: string, options: { purge?: boolean } = {}) {
    return this.call<DeleteEndpointReply>('DELETE', `/api/v1/endpoints/${encodeURIComponent(name)}${options.purge ? '?purge=true' : ''}`);
  }

  /** The results and metrics an endpoint has (MLRun's `get_model_endpoint_monitoring_metrics`). */
  metricNames(name: string) {
    return this.call<MetricNamesReply>('GET', routePath(EndpointRoutes.metrics, { name }));
  }

  /** One page of values of an endpoint's results and metrics; pass the reply's `next` as `after` for the next page. */
  metricValues(name: string, params: MetricValuesParams = {}) {
    const qs = new URLSearchParams();
    if (params.names?.length) qs.set('names', params.names.join(','));
    if (params.from !== undefined) qs.set('from', String(params.from));
    if (params.to !== undefined) qs.set('to', String(params.to));
    if (params.limit !== undefined) qs.set('limit', String(params.limit));
    if (params.after !== undefined) qs.set('after', params.after);
    const q = qs.toString();
    return this.call<MetricValuesReply>('GET', `${routePath(EndpointRoutes.metricValues, { name })}${q ? `?${q}` : ''}`);
  }

  /** Make the endpoint's own rows of a past range (`from`, `to`) or of a trailing window (`last`) its reference. */
  setReferenceFromTraffic(name: string, range: ReferenceFromTrafficBody) {
    return this.call<ReferenceFromTrafficReply>('POST', routePath(EndpointRoutes.referenceFromTraffic, { name }), range, { timeoutMs: 120_000 });
  }

  /**
   * Send inference events (native format). With `idempotencyKey`, a retry of the same request
   * (after a timeout, or to another API process) is stored once:
   *
   * ```ts
   * await client.sendEvents('churn', events, { idempotencyKey: 'batch-0042' });
   * ```
   */
  async sendEvents(name: string, events: unknown[] | unknown, options: SendEventsOptions = {}): Promise<IngestReply> {
    const key = options.idempotencyKey;
    // a key the host would ignore (empty) or fetch could not send: said here, not as "cannot reach the host"
    if (key !== undefined && !/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(key))
      throw new ModelwatchError(
        'INVALID_ARGUMENT',
        `idempotencyKey must be printable ASCII, not empty, without spaces around it; got ${JSON.stringify(key.slice(0, 40))}`,
      );
    const headers: Record<string, string> = key === undefined ? {} : { 'idempotency-key': key };
    return this.call<IngestReply>('POST', routePath(DataPlaneRoutes.events, { name }), events, { headers, ingest: 'events' });
  }

  /** Send NDJSON text (one event a line). */
  sendNdjson(name: string, text: string) {
    return this.call<IngestReply>('POST', routePath(DataPlaneRoutes.events, { name }), text, { contentType: 'application/x-ndjson', ingest: 'events' });
  }

  /** Send ground truth for earlier predictions: `{ requestId, labels: { output: value } }` or `{ requestId, label }`. */
  sendLabels(name: string, labels: unknown[] | unknown) {
    return this.call<IngestReply>('POST', `/api/v1/endpoints/${encodeURIComponent(name)}/labels`, labels);
  }

  listPlugins() {
    return this.call<{ plugins: PluginRecord[] }>('GET', '/api/v1/plugins').then((r) => r.plugins);
  }

  /** Publish a bundle: checked, dry-run on the endpoints it applies to (`dryRun` in the answer), then registered. */
  async publishPlugin(body: PublishPluginBody) {
    check.publishPlugin(body);
    // the host bounds the check and the dry run (about a minute at most)
    return this.call<PublishPluginReply>('POST', '/api/v1/plugins', body, { timeoutMs: Math.max(this.timeoutMs, 5 * 60_000) });
  }

  /**
   * Publish a bundle made by `bundlePlugin` (what `modelwatch plugin publish` sends): the host
   * checks it, dry-runs it on the endpoints it applies to, and registers it.
   */
  publishBundle(bundle: PluginBundle, opts: PublishBundleOptions = {}) {
    const { config, devSuffix, strict, shadow } = opts;
    const manifest = devSuffix ? { ...bundle.manifest, version: `${bundle.manifest.version.replace(/-dev\.\d+$/, '')}-dev.${devSuffix}` } : bundle.manifest;
    return this.publishPlugin({
      manifest,
      code: bundle.code,
      map: bundle.map,
      ...(config ? { config } : {}),
      ...(strict ? { strict } : {}),
      ...(shadow ? { shadow } : {}),
    });
  }

  getPlugin(name: string) {
    return this.call<PluginRecord>('GET', `/api/v1/plugins/${encodeURIComponent(name)}`);
  }

  enablePlugin(name: string) {
    return this.call<PluginRecord>('POST', `/api/v1/plugins/${encodeURIComponent(name)}/enable`, {});
  }

  disablePlugin(name: string) {
    return this.call<PluginRecord>('POST', `/api/v1/plugins/${encodeURIComponent(name)}/disable`, {});
  }

  /** Make an earlier version active: the one before the active one, or `to`. */
  /** Make the shadow version the active one, from the next window; the shadow stops. */
  promotePlugin(name: string) {
    return this.call<PluginRecord>('POST', `/api/v1/plugins/${encodeURIComponent(name)}/promote`, {});
  }

  /** Stop the shadow version (its stored windows stay). */
  dropShadow(name: string) {
    return this.call<PluginRecord>('DELETE', `/api/v1/plugins/${encodeURIComponent(name)}/shadow`);
  }

  /** How the shadow's results differ from the active version's over the windows both ran. */
  compareShadow(name: string) {
    return this.call<ShadowComparison>('GET', `/api/v1/plugins/${encodeURIComponent(name)}/compare`);
  }

  async rollbackPlugin(name: string, to?: string) {
    const body = to === undefined ? {} : { to };
    check.rollbackPlugin(body);
    return this.call<PluginRecord>('POST', `/api/v1/plugins/${encodeURIComponent(name)}/rollback`, body);
  }

  /** Merge settings into the active version's config (`set`), or replace it (`config`); checked against its configSchema. */
  async configurePlugin(name: string, change: ConfigurePluginBody) {
    check.configurePlugin(change);
    return this.call<PluginRecord>('PATCH', `/api/v1/plugins/${encodeURIComponent(name)}/config`, change);
  }

  /** Re-run an app over past windows from the retained rows; stores outcomes only with `write` (never twice). */
  /** Re-run an app over past windows; `onProgress` is told of each window evaluated (the host streams progress lines). */
  async evaluatePlugin(
    name: string,
    spec: { endpoint: string; from: string | number; to: string | number; write?: boolean; version?: string },
    opts: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<EvaluatedWindow[]> {
    const path = `/api/v1/plugins/${encodeURIComponent(name)}/evaluate`;
    if (!opts.onProgress) return (await this.call<{ windows: EvaluatedWindow[] }>('POST', path, spec)).windows;
    const res = await this.fetchHost(path, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json', accept: 'application/x-ndjson' }),
      body: JSON.stringify(spec),
    });
    if (!res.ok || !res.body) throw failure(res.status, await res.text(), `POST ${path}`);
    for await (const line of ndjsonLines<EvaluateLine>(res.body)) {
      if ('progress' in line) opts.onProgress(line.progress.done, line.progress.total);
      else if ('windows' in line) return line.windows;
      else throw new ModelwatchError(line.error.code as ErrorCode, line.error.message);
    }
    throw new ModelwatchError('HTTP_ERROR', `${path}: the answer ended before the windows`);
  }

  /** A plugin's newest log lines; with `follow`, then every new one until `signal` aborts. */
  async *pluginLogs(name: string, opts: { limit?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<PluginLogLine> {
    const qs = new URLSearchParams({ limit: String(opts.limit ?? 100), follow: opts.follow ? '1' : '0' });
    const path = `/api/v1/plugins/${encodeURIComponent(name)}/logs?${qs}`;
    let res: Response;
    try {
      res = await this.fetchHost(path, { headers: this.headers(), ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err;
    }
    if (!res.ok || !res.body) throw failure(res.status, await res.text(), `GET ${path}`);
    try {
      yield* ndjsonLines<PluginLogLine>(res.body);
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    }
  }

  removePlugin(name: string) {
    return this.call<{ removed: string }>('DELETE', `/api/v1/plugins/${encodeURIComponent(name)}`);
  }

  monitoring() {
    return this.call<MonitoringStatus>('GET', '/api/v1/monitoring');
  }

  /** Turn monitoring on or off, change the base period; with `enabled: true`, `defaultApp` deploys a built-in app unless it was ever published on this host. */
  async setMonitoring(change: SetMonitoringBody) {
    check.setMonitoring(change);
    return this.call<SetMonitoringReply>('PUT', '/api/v1/monitoring', change);
  }

  /** Analysed windows, newest first. */
  results(q: { endpoint?: string; app?: string; limit?: number; batch?: string } = {}) {
    const qs = new URLSearchParams();
    if (q.endpoint) qs.set('endpoint', q.endpoint);
    if (q.batch) qs.set('batch', q.batch);
    if (q.app) qs.set('app', q.app);
    if (q.limit !== undefined) qs.set('limit', String(q.limit));
    return this.call<{ windows: WindowRecord[] }>('GET', `/api/v1/results?${qs}`).then((r) => r.windows);
  }

  latest(endpoint?: string) {
    const qs = endpoint ? `?endpoint=${encodeURIComponent(endpoint)}` : '';
    return this.call<{ latest: LatestResult[] }>('GET', `/api/v1/results/latest${qs}`).then((r) => r.latest);
  }

  /** Serving statistics of an endpoint: requests, errors, latency, estimated predictions, late rows, dead letters, drift status. */
  endpointStats(name: string) {
    return this.call<EndpointStats>('GET', routePath(DataPlaneRoutes.stats, { name }));
  }

  /** Serving metrics of an endpoint per closed interval (a minute), newest first. */
  servingIntervals(name: string, q: { since?: number; limit?: number } = {}) {
    const qs = new URLSearchParams();
    if (q.since !== undefined) qs.set('since', String(q.since));
    if (q.limit !== undefined) qs.set('limit', String(q.limit));
    return this.call<{ intervals: ServingRecord[] }>('GET', `${routePath(DataPlaneRoutes.serving, { name })}?${qs}`).then((r) => r.intervals);
  }

  /** Send a batch of historical events (JSON: an array, one event, or a columnar batch; or NDJSON text), analysed in its own windows. */
  sendBatch(name: string, events: unknown, opts: { id?: string; ndjson?: boolean; onUpload?: UploadProgress } = {}) {
    const qs = opts.id ? `?id=${encodeURIComponent(opts.id)}` : '';
    return this.call<BatchIngestResult>('POST', `${routePath(DataPlaneRoutes.batches, { name })}${qs}`, opts.ndjson ? String(events) : events, {
      contentType: opts.ndjson ? 'application/x-ndjson' : 'application/json',
      onUpload: opts.onUpload,
      ingest: 'batch',
    });
  }

  listBatches(name: string) {
    return this.call<{ batches: BatchRecord[] }>('GET', routePath(DataPlaneRoutes.batches, { name })).then((r) => r.batches);
  }

  getBatch(name: string, id: string) {
    return this.call<BatchDetail>('GET', routePath(DataPlaneRoutes.batch, { name, id }));
  }

  /** Dead letters, newest first, with the counts per endpoint and reason. */
  deadLetters(q: DeadLetterQuery = {}) {
    const qs = new URLSearchParams();
    if (q.endpoint) qs.set('endpoint', q.endpoint);
    if (q.reason) qs.set('reason', q.reason);
    if (q.limit !== undefined) qs.set('limit', String(q.limit));
    return this.call<DeadLetterList>('GET', `${DataPlaneRoutes.deadLetters}?${qs}`);
  }

  deadLetter(seq: number) {
    return this.call<StoredDeadLetter>('GET', routePath(DataPlaneRoutes.deadLetter, { seq }));
  }

  /** The artifacts apps attached to an endpoint's windows (`ctx.logArtifact`), newest window first. */
  listArtifacts(name: string, q: ArtifactQuery = {}) {
    const qs = new URLSearchParams();
    if (q.app) qs.set('app', q.app);
    if (q.from !== undefined) qs.set('from', String(q.from));
    if (q.to !== undefined) qs.set('to', String(q.to));
    return this.call<ArtifactList>('GET', `${routePath(DataPlaneRoutes.artifacts, { name })}?${qs}`).then((r) => r.artifacts);
  }

  /** One artifact's bytes, content type and download file name. */
  async getArtifact(name: string, id: string): Promise<{ body: Uint8Array; contentType: string; fileName: string }> {
    const path = routePath(DataPlaneRoutes.artifact, { name, id });
    const res = await this.fetchHost(path, { headers: this.headers(), signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw failure(res.status, await res.text(), `GET ${path}`);
    const fileName = /filename="([^"]*)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? id;
    return { body: new Uint8Array(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? 'application/octet-stream', fileName };
  }

  /** Publish dead letters' events again (all of an endpoint, or the given sequences) and remove them from the DLQ. */
  async replayDeadLetters(q: ReplayRequest = {}) {
    check.replayDeadLetters(q);
    return this.call<ReplayReply>('POST', DataPlaneRoutes.replay, q);
  }

  /** A new API token with these scopes (admin): its text is in the answer, once, and stored nowhere. */
  async createToken(spec: CreateTokenBody) {
    check.createToken(spec);
    return this.call<CreateTokenReply>('POST', AuthRoutes.tokens, spec);
  }

  /** The API tokens (admin): names, scopes, endpoints, when and by whom made; never their text or hash. */
  listTokens() {
    return this.call<{ tokens: TokenInfo[] }>('GET', AuthRoutes.tokens).then((r) => r.tokens);
  }

  /** Revoke a token (admin): refused from then on. */
  revokeToken(name: string) {
    return this.call<{ revoked: string }>('DELETE', routePath(AuthRoutes.token, { name }));
  }

  /** The audit log of state changes (admin), oldest first: the newest `limit`, or the first `limit` from `since`. */
  audit(q: AuditQuery = {}) {
    const qs = new URLSearchParams();
    if (q.since !== undefined) qs.set('since', q.since);
    if (q.limit !== undefined) qs.set('limit', String(q.limit));
    return this.call<AuditList>('GET', `${AuthRoutes.audit}?${qs}`).then((r) => r.entries);
  }

  /** The alert channels (secrets redacted: `***`, or the `${ENV_VAR}` reference given). */
  listAlertChannels() {
    return this.call<{ channels: ChannelInfo[] }>('GET', AlertNotifyRoutes.channels).then((r) => r.channels);
  }

  getAlertChannel(name: string) {
    return this.call<ChannelInfo>('GET', routePath(AlertNotifyRoutes.channel, { name }));
  }

  /** Create an alert channel (admin); `replace`: create or replace it. */
  createAlertChannel(spec: Record<string, unknown> & { name: string; type: string }, opts: { replace?: boolean } = {}) {
    return opts.replace
      ? this.call<ChannelInfo>('PUT', routePath(AlertNotifyRoutes.channel, { name: spec.name }), spec)
      : this.call<ChannelInfo>('POST', AlertNotifyRoutes.channels, spec);
  }

  deleteAlertChannel(name: string) {
    return this.call<{ deleted: string }>('DELETE', routePath(AlertNotifyRoutes.channel, { name }));
  }

  /** Send a sample notification to a channel now (admin): success, or the status code or error; never the receiver's body. */
  testAlertChannel(name: string) {
    return this.call<AttemptResult>('POST', routePath(AlertNotifyRoutes.channelTest, { name }), {});
  }

  /** Send a sample notification of a rule through each of its channels now (admin): per channel, success or the status. */
  testAlertRule(name: string) {
    return this.call<RuleTestResult>('POST', routePath(AlertNotifyRoutes.ruleTest, { name }), {});
  }

  /** Delivery attempts (admin), oldest first: the newest `limit`, of one channel or one key. */
  alertHistory(q: AlertHistoryQuery = {}) {
    const qs = new URLSearchParams();
    if (q.channel !== undefined) qs.set('channel', q.channel);
    if (q.key !== undefined) qs.set('key', q.key);
    if (q.limit !== undefined) qs.set('limit', String(q.limit));
    return this.call<{ attempts: DeliveryAttempt[] }>('GET', `${AlertNotifyRoutes.history}?${qs}`).then((r) => r.attempts);
  }

  /** Enqueue a sample notification through the outbox (admin): its key. */
  sendTestNotification(body: TestNotificationBody = {}) {
    return this.call<{ key: string }>('POST', AlertNotifyRoutes.notificationTest, body);
  }

  // ---- alerts

  /** The alert rules: those of the host's `--alerts` file (`source: 'file'`, read-only) and those made through the API. */
  listAlertRules() {
    return this.call<{ rules: AlertRuleRecord[] }>('GET', AlertRoutes.rules).then((r) => r.rules);
  }

  getAlertRule(name: string) {
    return this.call<AlertRuleRecord>('GET', routePath(AlertRoutes.rule, { name }));
  }

  /** Create or replace an alert rule (admin); a rule of the file is refused (CONFLICT). */
  async putAlertRule(rule: AlertRule) {
    check.alertRule(rule);
    return this.call<AlertRuleRecord>('POST', AlertRoutes.rules, rule);
  }

  deleteAlertRule(name: string) {
    return this.call<{ deleted: string }>('DELETE', routePath(AlertRoutes.rule, { name }));
  }

  /** Alerts, newest first: every one kept (the history), or with `active` the firing and acknowledged ones. */
  listAlerts(q: { active?: boolean } = {}) {
    return this.call<{ alerts: Alert[] }>('GET', `${AlertRoutes.alerts}${q.active ? '?active=true' : ''}`).then((r) => r.alerts);
  }

  getAlert(id: string) {
    return this.call<Alert>('GET', routePath(AlertRoutes.alert, { id }));
  }

  /** Acknowledge a firing alert (it stays active until resolved). */
  ackAlert(id: string) {
    return this.call<Alert>('POST', routePath(AlertRoutes.ack, { id }), {});
  }

  /** Resolve an alert by hand (the only way for a rule with `reset: manual`). */
  resolveAlert(id: string) {
    return this.call<Alert>('POST', routePath(AlertRoutes.resolve, { id }), {});
  }

  listSilences() {
    return this.call<{ silences: Silence[] }>('GET', AlertRoutes.silences).then((r) => r.silences);
  }

  /** Mute a rule, an endpoint (a name or a glob) or both for a duration: no alert opens for them meanwhile. */
  async createSilence(spec: CreateSilenceBody) {
    check.createSilence(spec);
    return this.call<Silence>('POST', AlertRoutes.silences, spec);
  }

  deleteSilence(id: string) {
    return this.call<{ deleted: string }>('DELETE', routePath(AlertRoutes.silence, { id }));
  }
  // ---- window profiles, roll-ups and ranges of results (export)

  /** The profiles of an endpoint's windows (or their hourly or daily roll-ups) starting in `[from, to)`, oldest first. */
  profiles(name: string, q: ProfilesParams = {}) {
    return this.call<ProfilesReply>('GET', `${routePath(ProfileRoutes.profiles, { name })}${queryOf(q)}`).then((r) => r.profiles);
  }

  /** The profile of one window of an endpoint; `NOT_FOUND` when it has none. */
  profile(name: string, windowStart: number | string) {
    return this.call<WindowProfile>('GET', routePath(ProfileRoutes.profile, { name, windowStart: String(windowStart) }));
  }

  /** The hourly or daily roll-ups of an endpoint's results (worst status, mean/min/max of the values), oldest first. */
  rollups(name: string, q: RollupsParams) {
    return this.call<RollupsReply>('GET', `${routePath(ProfileRoutes.rollups, { name })}${queryOf(q)}`).then((r) => r.rollups);
  }

  /** An endpoint's windows (one app's, or every app's) starting in `[from, to)` (ms), oldest first. */
  async resultsInRange(endpoint: string, q: { app?: string; from: number; to: number }): Promise<WindowRecord[]> {
    const qs = new URLSearchParams({ endpoint, since: String(q.from), limit: '10000' });
    if (q.app) qs.set('app', q.app);
    const { windows } = await this.call<{ windows: WindowRecord[] }>('GET', `/api/v1/results?${qs}`);
    return windows.filter((w) => w.windowStart < q.to).sort((a, b) => a.windowStart - b.windowStart || a.app.localeCompare(b.app));
  }
}

/** `?k=v&...` of the defined values, or '' when none is. */
function queryOf(q: object): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `?${s}` : '';
}
