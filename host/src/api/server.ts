import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Subjects, type EndpointRecord, type MonitoringSettings, type ResultsRequest } from '@modelwatch/protocol';
import { formatDuration, parseDuration } from '../config/duration.js';
import { checkBasePeriod } from '../config/options.js';
import { compileGlob } from '../domain/glob.js';
import { batchSeriesId } from '../domain/keys.js';
import { normalizeLabel, type NormalizedLabel } from '../domain/labels.js';
import { checkEndpointName, endpointId } from '../domain/names.js';
import { checkTags, matchesSelector, parseSelector } from '../domain/selector.js';
import { parseTime } from '../domain/time.js';
import { prepareReference, tableOf, type PreparedReference } from '../domain/reference.js';
import { periodsAround } from '../domain/windows.js';
import type { BindingKey } from '../domain/binding.js';
import type { AlertNotifier } from '../alerts/notify/index.js';
import { ModelwatchError, isModelwatchError, isStorageFull, storageFullError, type ErrorCode, InvalidEventError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { jsonCodec } from '../nats/codec.js';
import type { Buckets } from '../nats/topology.js';
import { EndpointStore } from '../store/endpoints.js';
import { SettingsStore } from '../store/settings.js';
import type { WatchedKv } from '../store/watched-kv.js';
import { IngestService } from '../stream/ingest.js';
import { parseJsonBody, utf8Only } from './body-text.js';
import { BodyWorkers } from './body-workers.js';
import {
  BodyLimits,
  DRIFT_STATUS_NAMES,
  type CreateEndpointBody,
  type DefaultAppOutcome,
  type DriftStatusName,
  type EndpointListQuery,
  type MonitoringStatus,
  type ResultsQuery,
  type SetMonitoringBody,
  type SetMonitoringReply,
  type UpdateEndpointBody,
} from './contract.js';
import { registerAuth, uiSessions, type AuthOptions } from './auth.js';
import { natsProbe, registerProbeRoutes, streamsProbe, type ReadinessProbe } from './health.js';
import { LatestQuerySchema, ResultsQuerySchema, SetMonitoringBodySchema, validator } from './schemas.js';
import { registerPluginRoutes, type LimitCeilings } from './plugins.js';
import { alertNotifyRoutes } from './routes/alerts-notify.js';
import { alertRoutes, type AlertRoutesDeps } from './routes/alerts.js';
import { artifactRoutes } from './routes/artifacts.js';
import { deadLetterRoutes } from './routes/dlq.js';
import { eventRoutes, requireBatch } from './routes/events.js';
import { bulkEndpointRoutes } from './routes/endpoints-bulk.js';
import { modelField, newEndpointOf } from './endpoint-spec.js';
import { metricsRoutes } from './routes/metrics.js';
import { askWriter as sharedAskWriter, endpointRoutes } from './routes/endpoints.js';
import { profileRoutes } from './routes/profiles.js';
import { referenceRoutes } from './routes/reference.js';
import { reportRoutes } from './routes/report.js';
import { endpointStats, servingRoutes } from './routes/serving.js';
import { uiRoutes } from './ui.js';
import { defaultWebGuard, guardConnections, webGuard, webServerOptions, type WebGuardOptions } from './web-guard.js';

/** What `GET /api/v1/health` names this process without a node id: drawn at its start, telling nothing of the machine. */
const PROCESS_ID = randomBytes(8).toString('hex');

export interface ApiDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  endpoints: WatchedKv<EndpointRecord>;
  logger: Logger;
  /**
   * This process among the others of a deployment (`--node-id`): `GET /api/v1/health` names it, so a
   * client sees which process answered; without it, an opaque id drawn at the process's start
   * (never its host name, which a read token's holder has no business knowing).
   */
  nodeId?: string;
  maxFutureSkewMs: number;
  allowedLatenessMs: number;
  retentionMs: number;
  /** The most feature (and output) names an endpoint may have. @default 10,000 */
  maxFeatures?: number;
  /** The host's ceilings on plugin limits, checked at publish. */
  ceilings: LimitCeilings;
  version: string;
  /** Tokens and scopes (`api/auth.ts`), or none with `insecureLocal`. */
  auth: AuthOptions;
  /** The key of the output binding (KV `mw_secrets`): `plugin evaluate --write` binds the outputs it publishes with it, as the controller binds tasks. */
  bindingKey?: BindingKey;
  /** What `/readyz` checks besides NATS and the streams: the other roles this process runs. */
  probes?: ReadonlyArray<readonly [string, ReadinessProbe]>;
  /** The operator metrics: served at `GET /metrics`, and moved by the ingest over HTTP. */
  metrics?: HostMetrics;
  /** Allowed hosts, CORS, rate limits, HTTPS, connection limits. @default defaultWebGuard() (loopback, CORS off, HTTP, the default connection limits) */
  web?: WebGuardOptions;
  /** The alert notifier: its channel, history and test routes (`api/routes/alerts-notify.ts`). */
  notifier?: AlertNotifier;
  /** Alert rules, alerts and silences (`/api/v1/alerts`); without them those routes are absent. */
  alerts?: AlertRoutesDeps;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_EVENT: 400,
  INVALID_REFERENCE: 400,
  PLUGIN_INVALID_MANIFEST: 400,
  PLUGIN_LOAD_FAILED: 400,
  PLUGIN_DRY_RUN_FAILED: 400,
  PLUGIN_BUILD_FAILED: 400,
  NOT_FOUND: 404,
  UNKNOWN_BUILTIN: 404,
  CONFLICT: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  BODY_TOO_LARGE: 413,
  REPLY_TOO_LARGE: 400,
  STORAGE_FULL: 503,
};

/** Summary of an endpoint for listings (no reference statistics). */
function endpointSummary(e: EndpointRecord) {
  const { featureStats, ...rest } = e;
  return { ...rest, hasReference: Object.keys(featureStats).length > 0 };
}

/** The HTTP API (JSON). Every route is under /api/v1; errors are `{ error: { code, message } }`. */
export async function createApiServer(deps: ApiDeps): Promise<FastifyInstance> {
  const { js, nc, buckets } = deps;
  const log = deps.logger.child({ component: 'api' });
  const web = deps.web ?? defaultWebGuard();
  // each route's body limit is in BodyLimits; a big body is parsed on a worker thread (BodyWorkers)
  // maxParamLength: a route's parameter may be as long as an endpoint name (128; Fastify's default is 100, a 414 for longer names)
  const app = Fastify({
    logger: false,
    bodyLimit: BodyLimits.other,
    routerOptions: { maxParamLength: 256 },
    ...(await webServerOptions(web)),
  }) as unknown as FastifyInstance;
  // idle and slow connections closed, and a cap on open ones: sockets never take the file handles NATS, LevelDB and the runners need
  guardConnections(app.server, web.connections, { logger: log, ...(deps.metrics && { metrics: deps.metrics }) });
  const workers = new BodyWorkers();
  app.addHook('onClose', () => workers.close());
  // first the web guard (a foreign Host or Origin is refused before anything else), then the
  // tokens: every route added after them has its scope checked
  await app.register(webGuard, web);
  registerAuth(app, deps);
  // every body is read as UTF-8: one declaring another charset is refused (415), not read as garbage
  app.addContentTypeParser(
    ['text/csv', 'application/x-ndjson', 'application/jsonl', 'text/plain'],
    { parseAs: 'string' },
    utf8Only((_req, body, done) => done(null, body)),
  );
  // JSON bodies: a key `__proto__` (or `constructor.prototype`) is refused naming it (Fastify's
  // parser said only "Body is not valid JSON"); the routes with parsers of their own (events,
  // reference) replace this one
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    utf8Only((_req, body, done) => {
      try {
        done(null, parseJsonBody(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    }),
  );
  // the routes' schemas (api/schemas.ts) are checked by our Ajv instances: a failure is the
  // host's INVALID_ARGUMENT error, with the message the client would give for the same body
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const check = validator(schema, httpPart === 'body' ? 'body' : 'text', 'now');
    return (data: unknown) => {
      try {
        check(data);
        return true;
      } catch (error) {
        return { error: error as Error };
      }
    };
  });
  app.setErrorHandler((err: unknown, req, reply) => {
    if (isModelwatchError(err)) {
      return reply.status(STATUS[err.code] ?? 500).send({ error: { code: err.code, message: err.message } });
    }
    if (isStorageFull(err)) {
      const full = storageFullError('the write', err);
      log.error({ err }, 'disk full');
      return reply
        .status(503)
        .header('retry-after', '30')
        .send({ error: { code: full.code, message: full.message } });
    }
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = req.routeOptions.bodyLimit ?? BodyLimits.other;
      const message = `the request body is over the limit of ${limit / 1024 / 1024} MiB of ${req.method} ${req.routeOptions.url ?? req.url}: send it in smaller parts`;
      return reply.status(413).send({ error: { code: 'BODY_TOO_LARGE', message } });
    }
    if (e.statusCode && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: { code: e.code ?? 'HTTP_ERROR', message: e.message } });
    }
    log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'INTERNAL', message: e.message ?? String(err) } });
  });

  // a route that does not exist answers in the API's error shape too
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}` } }),
  );

  // a change made here is in this process's watched copy before it is answered (read your writes)
  const endpoints = new EndpointStore(buckets.endpoints, buckets.references, (name) => deps.endpoints.fresh(name, Date.now()));
  const settings = new SettingsStore(buckets.settings, deps);
  const getEndpoint = async (name: string): Promise<EndpointRecord> => endpoints.require(checkEndpointName(name));

  const node = deps.nodeId ?? PROCESS_ID;
  app.get('/api/v1/health', async () => ({ ok: true, version: deps.version, node }));
  registerProbeRoutes(app, {
    version: deps.version,
    probes: [['nats', natsProbe(nc)], ['streams', streamsProbe(deps.jsm)], ...(deps.probes ?? [])],
  });

  // ---- endpoints
  app.get<{ Querystring: { [K in keyof EndpointListQuery]?: string } }>('/api/v1/endpoints', async (req) => {
    const { name, selector, status } = req.query;
    const sel = selector === undefined ? undefined : parseSelector(selector);
    if (status !== undefined && !Object.hasOwn(DRIFT_STATUS_NAMES, status)) {
      throw new ModelwatchError('INVALID_ARGUMENT', `status: expected one of ${Object.keys(DRIFT_STATUS_NAMES).join(', ')}, got '${status}'`);
    }
    const glob = name ? compileGlob(name, 'name') : undefined;
    const picked = (await endpoints.list()).filter((e) => (!glob || glob.matches(e.name)) && (!sel || matchesSelector(sel, e.tags)));
    const out = picked.map(endpointSummary);
    const stats = await endpointStats(deps, out as unknown as EndpointRecord[]);
    const want = status === undefined ? undefined : DRIFT_STATUS_NAMES[status as DriftStatusName];
    return {
      endpoints: out.map((e) => ({ ...e, stats: stats.get(e.name) })).filter((e) => status === undefined || (e.stats?.driftStatus ?? null) === want),
    };
  });

  app.get<{ Params: { name: string } }>('/api/v1/endpoints/:name', async (req) => {
    const ep = await getEndpoint(req.params.name);
    return { ...ep, stats: (await endpointStats(deps, [ep])).get(ep.name) };
  });

  app.post<{ Body: { [K in keyof CreateEndpointBody | 'reference']?: unknown } }>('/api/v1/endpoints', async (req, reply) => {
    const body = req.body ?? {};
    const spec = newEndpointOf(body, deps.maxFeatures);
    const name = spec.name;
    // the reference is checked before anything is created: a bad one changes nothing
    let reference: PreparedReference | undefined;
    if (body.reference !== undefined) {
      if (!Array.isArray(body.reference)) throw new ModelwatchError('INVALID_REFERENCE', 'reference: expected an array of row objects');
      const names = (await endpoints.get(name)) ?? spec;
      reference = prepareReference(tableOf(body.reference as Array<Record<string, unknown>>), names, deps.maxFeatures);
    }
    const { record, created } = await endpoints.create(spec);
    const out = reference ? await endpoints.setReference(name, reference, deps.maxFeatures) : record;
    return reply.status(created ? 201 : 200).send(endpointSummary(out));
  });

  await app.register(bulkEndpointRoutes, { endpoints, ...(deps.maxFeatures !== undefined && { maxFeatures: deps.maxFeatures }) });
  await app.register(referenceRoutes, {
    endpoints,
    workers,
    summary: endpointSummary,
    ...(deps.maxFeatures !== undefined && { maxFeatures: deps.maxFeatures }),
  });

  app.patch<{ Params: { name: string }; Body: { [K in keyof UpdateEndpointBody]?: unknown } | undefined }>('/api/v1/endpoints/:name', async (req) => {
    const name = checkEndpointName(req.params.name);
    const b = req.body ?? {};
    if (Object.keys(b).length === 0)
      throw new ModelwatchError('INVALID_ARGUMENT', 'nothing to change: give monitoring, modelName, modelVersion, tags or removeTags');
    if (b.monitoring !== undefined && typeof b.monitoring !== 'boolean') throw new ModelwatchError('INVALID_ARGUMENT', 'monitoring: expected true or false');
    if (b.removeTags !== undefined && (!Array.isArray(b.removeTags) || b.removeTags.some((k) => typeof k !== 'string'))) {
      throw new ModelwatchError('INVALID_ARGUMENT', 'removeTags: expected a list of tag keys');
    }
    const change = {
      ...(b.modelName !== undefined && { modelName: b.modelName === null ? null : modelField(b.modelName, 'modelName') }),
      ...(b.modelVersion !== undefined && { modelVersion: b.modelVersion === null ? null : modelField(b.modelVersion, 'modelVersion') }),
      ...(b.tags !== undefined && { setTags: checkTags(b.tags) }),
      ...(b.removeTags !== undefined && { removeTags: b.removeTags as string[] }),
    };
    let rec = await endpoints.require(name);
    if (Object.keys(change).length) rec = await endpoints.update(name, change);
    if (typeof b.monitoring === 'boolean') rec = await endpoints.setMonitoring(name, b.monitoring);
    return endpointSummary(rec);
  });
  await app.register(endpointRoutes, {
    nc,
    js,
    jsm: deps.jsm,
    buckets,
    retentionMs: deps.retentionMs,
    allowedLatenessMs: deps.allowedLatenessMs,
    maxFutureSkewMs: deps.maxFutureSkewMs,
    summary: endpointSummary,
    endpoints,
  });

  // ---- events, batches, dead letters, serving statistics (api/routes/)
  const ingest = new IngestService({
    js,
    jsm: deps.jsm,
    endpoints: deps.endpoints,
    maxFutureSkewMs: deps.maxFutureSkewMs,
    offload: workers.ingest,
    ...(deps.maxFeatures !== undefined && { maxFeatures: deps.maxFeatures }),
    ...(deps.metrics && { metrics: deps.metrics }),
  });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics });
  await app.register(eventRoutes, { ingest, buckets });
  await app.register(deadLetterRoutes, { js, jsm: deps.jsm });
  await app.register(servingRoutes, { nc, jsm: deps.jsm, endpoints: deps.endpoints });
  await app.register(artifactRoutes, { artifacts: buckets.artifacts });
  await app.register(reportRoutes);
  if (deps.notifier) await app.register(alertNotifyRoutes, { notifier: deps.notifier, ...(deps.alerts && { rules: deps.alerts.rules }) });
  if (deps.alerts) alertRoutes(app, deps.alerts);
  await app.register(profileRoutes, { nc, endpoints: deps.endpoints });
  // the web dashboard (/ui), its sign-in, live feed and downsampled series (api/ui.ts)
  await app.register(uiRoutes, {
    nc,
    jsm: deps.jsm,
    plugins: buckets.plugins,
    endpoints: deps.endpoints,
    summary: endpointSummary,
    insecureLocal: deps.auth.insecureLocal,
    sessions: uiSessions(app),
    https: web.tls !== undefined,
  });

  app.post<{ Params: { name: string }; Body: unknown }>('/api/v1/endpoints/:name/labels', { bodyLimit: BodyLimits.labels }, async (req, reply) => {
    const endpoint = await getEndpoint(req.params.name);
    const items = parseBody(req.body, String(req.headers['content-type'] ?? ''));
    const good: NormalizedLabel[] = [];
    const rejected = [...items.errors];
    items.values.forEach((v, index) => {
      try {
        good.push(normalizeLabel(v, endpoint));
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        rejected.push({ index, error: err.message });
      }
    });
    if (good.length) await js.publish(Subjects.labels(endpoint.name), jsonCodec.encode(good));
    return reply.status(good.length === 0 && rejected.length > 0 ? 400 : 202).send({ accepted: good.length, rejected });
  });

  const plugins = registerPluginRoutes(app, {
    nc,
    js,
    jsm: deps.jsm,
    buckets,
    logger: deps.logger,
    ceilings: deps.ceilings,
    ...(deps.bindingKey ? { bindingKey: deps.bindingKey } : {}),
  });

  // ---- monitoring
  /** The settings as seen at `atMs`: a change's reply is seen at the time of the change, so a period
   * change that takes effect a few ms later (the next boundary) is reported pending, never already in force. */
  const monitoringView = (s: MonitoringSettings, atMs = Date.now()): MonitoringStatus => {
    const { current, pending } = periodsAround(atMs, s);
    return {
      enabled: s.enabled,
      basePeriod: formatDuration(current.periodMs),
      basePeriodMs: current.periodMs,
      effectiveFrom: new Date(current.fromMs).toISOString(),
      pending: pending
        ? { basePeriod: formatDuration(pending.periodMs), basePeriodMs: pending.periodMs, effectiveFrom: new Date(pending.fromMs).toISOString() }
        : null,
      allowedLatenessMs: deps.allowedLatenessMs,
      periods: s.periods,
    };
  };
  app.get('/api/v1/monitoring', async () => {
    const s = await settings.read();
    if (!s) throw new ModelwatchError('NOT_FOUND', 'monitoring settings are missing; is the host running?');
    return monitoringView(s);
  });
  app.put<{ Body: SetMonitoringBody | undefined }>(
    '/api/v1/monitoring',
    { schema: { body: SetMonitoringBodySchema } },
    async (req): Promise<SetMonitoringReply> => {
      const { enabled, basePeriod, defaultApp } = req.body ?? {};
      // across fields, which the schema does not say: a default app is deployed only when turning monitoring on
      if (defaultApp !== undefined && enabled !== true) {
        throw new ModelwatchError('INVALID_ARGUMENT', 'defaultApp: expected the name of a built-in app, or "none", with enabled: true');
      }
      let periodMs: number | undefined;
      // the duration's syntax and bounds are parseDuration's and checkBasePeriod's (their messages), not the schema's
      if (basePeriod !== undefined) {
        periodMs = checkBasePeriod(parseDuration(basePeriod, 'basePeriod', 'INVALID_ARGUMENT'), 'basePeriod', 'INVALID_ARGUMENT');
      }
      // the default app first: when it cannot be deployed (a runner refuses it), nothing changed
      const outcome: DefaultAppOutcome | undefined =
        defaultApp === undefined ? undefined : defaultApp === 'none' ? { app: null, action: 'none' } : await plugins.deployDefaultApp(defaultApp);
      const s = await settings.change({ enabled, basePeriodMs: periodMs });
      return { ...monitoringView(s, s.updatedAt), ...(outcome ? { defaultApp: outcome } : {}) };
    },
  );

  // ---- results
  app.get<{ Querystring: ResultsQuery }>('/api/v1/results', { schema: { querystring: ResultsQuerySchema } }, async (req) => {
    const q: ResultsRequest = {};
    if (req.query.endpoint) q.endpointId = endpointId(req.query.endpoint);
    // the windows of a batch of historical events are stored under `<endpoint id>-<batch id>`
    if (req.query.batch && q.endpointId) q.endpointId = batchSeriesId(q.endpointId, req.query.batch);
    if (req.query.app) q.app = req.query.app;
    if (req.query.limit) q.limit = req.query.limit;
    if (req.query.since) q.since = parseTime(req.query.since, 'since');
    const reply = await askWriter(q);
    // nothing stored: an endpoint (or a batch of it) that does not exist is a 404 as on every other
    // route, not an empty list; the windows a deleted endpoint left stay readable
    if (req.query.endpoint && 'windows' in reply && reply.windows.length === 0) {
      await endpoints.require(req.query.endpoint);
      if (req.query.batch) await requireBatch(buckets.batches, req.query.endpoint, req.query.batch);
    }
    return reply;
  });
  app.get<{ Querystring: { endpoint?: string } }>('/api/v1/results/latest', { schema: { querystring: LatestQuerySchema } }, async (req) => {
    const q: ResultsRequest = { latest: true };
    if (req.query.endpoint) q.endpointId = endpointId(req.query.endpoint);
    return await askWriter(q);
  });

  const askWriter = async (q: ResultsRequest) => await sharedAskWriter(nc, q);

  return app;
}

/** A JSON body (one item or an array) or NDJSON text (one item a line). */
function parseBody(body: unknown, contentType: string): { values: unknown[]; errors: Array<{ index: number; error: string }> } {
  const type = contentType.split(';')[0]!.trim();
  if (type !== 'application/x-ndjson' && type !== 'application/jsonl') return { values: Array.isArray(body) ? body : [body], errors: [] };
  const values: unknown[] = [];
  const errors: Array<{ index: number; error: string }> = [];
  String(body)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        values.push(JSON.parse(line));
      } catch (err) {
        errors.push({ index: i, error: `line ${i + 1} is not valid JSON: ${(err as Error).message}` });
      }
    });
  return { values, errors };
}
