import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { JsonValue } from '@modelwatch/sdk';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  Streams,
  Subjects,
  type BundleRequest,
  type CheckReply,
  type CrashReport,
  type DryRunReply,
  type DryRunRequest,
  type EvaluateReply,
  type ResultsRequest,
  type TaskMessage,
} from '@modelwatch/protocol';
import { outputBinding, outputMsgId, type BindingKey } from '../domain/binding.js';
import { checkEndpointName, endpointId } from '../domain/names.js';
import { parseTime } from '../domain/time.js';
import { rowKeysOf, windowAt } from '../domain/windows.js';
import { ModelwatchError } from '../errors.js';
import type { Logger } from '../logger.js';
import { jsonCodec } from '../nats/codec.js';
import { isNoResponders, isTimeout } from '../nats/errors.js';
import type { Buckets } from '../nats/topology.js';
import { builtinApp } from '../plugins/builtin.js';
import { bundlePlugin } from '../plugins/bundle.js';
import { mergeConfig, validateConfig } from '../plugins/config.js';
import { groundTruthDelayMs, resolveManifest, type ResolvedManifest } from '../plugins/manifest.js';
import { dryRunDeadlineMs, dryRunWarning, MAX_DRY_RUN_ENDPOINTS } from '../runner/dry-run.js';
import { EndpointStore } from '../store/endpoints.js';
import { appliesTo, bundleName, describeEndpoints, PluginStore, publishedOnce, type PublishedVersion } from '../store/plugins.js';
import { readSettings } from '../store/settings.js';
import { forgetStreaks } from '../store/streaks.js';
import { compareShadow } from './compare.js';
import { BodyLimits } from './contract.js';
import { askWriter } from './routes/endpoints.js';
import type {
  ConfigurePluginBody,
  DefaultAppOutcome,
  DryRunReport,
  EvaluatedWindow,
  EvaluateLine,
  PublishPluginBody,
  PublishPluginReply,
  RollbackBody,
  ShadowComparison,
} from './contract.js';
import { ConfigurePluginBodySchema, PublishPluginBodySchema, RollbackBodySchema } from './schemas.js';

export interface PluginRoutesDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  logger: Logger;
  /** The key of the output binding: the outputs `plugin evaluate --write` publishes are bound with it, else the writer refuses them. */
  bindingKey?: BindingKey;
  /** The host's ceilings on a plugin's limits (`--max-timeout-ms`, `--max-memory-mb`): a manifest above one is refused at publish. */
  ceilings: LimitCeilings;
}

/** The host's ceilings on plugin.json `limits`: the operative ones (plugin.schema.json's maxima are wider). */
export interface LimitCeilings {
  maxTimeoutMs: number;
  maxMemoryMb: number;
}

/** Refuses a manifest whose limits are above the host's ceilings, naming the ceiling. */
export function checkCeilings(manifest: Pick<ResolvedManifest, 'name' | 'version' | 'limits'>, ceilings: LimitCeilings): void {
  const { timeoutMs, memoryMb } = manifest.limits;
  const at = `${manifest.name}@${manifest.version}`;
  if (timeoutMs > ceilings.maxTimeoutMs) {
    throw new ModelwatchError(
      'PLUGIN_INVALID_MANIFEST',
      `${at}: limits.timeoutMs is ${timeoutMs}, over this host's ceiling of ${ceilings.maxTimeoutMs} ms (--max-timeout-ms)`,
    );
  }
  if (memoryMb > ceilings.maxMemoryMb) {
    throw new ModelwatchError(
      'PLUGIN_INVALID_MANIFEST',
      `${at}: limits.memoryMb is ${memoryMb}, over this host's ceiling of ${ceilings.maxMemoryMb} MiB (--max-memory-mb)`,
    );
  }
}

/** What the monitoring routes use of the plugin lifecycle. */
export interface PluginService {
  /** Deploy the built-in app `name` unless a version of it was ever published on this host. */
  deployDefaultApp(name: string): Promise<DefaultAppOutcome>;
}

/** What a runner answered about a bundle at publish, or that this bundle crashed it, or that no runner answered. */
type RunnerAnswer<T> = { answer: T } | { crashed: CrashReport } | { lost: string };

const MAX_EVALUATE_WINDOWS = 10_000;

/** Routes of the plugin lifecycle: publish, list, enable/disable, rollback, configure, logs, evaluate, remove. */
export function registerPluginRoutes(app: FastifyInstance, deps: PluginRoutesDeps): PluginService {
  const { nc, js, buckets } = deps;
  const log = deps.logger.child({ component: 'api' });

  const plugins = new PluginStore(buckets.plugins);
  const endpoints = new EndpointStore(buckets.endpoints);

  app.get('/api/v1/plugins', async () => ({ plugins: await plugins.list() }));

  app.get<{ Params: { name: string } }>('/api/v1/plugins/:name', async (req) => plugins.require(req.params.name));

  /**
   * Ask a runner about a bundle being published. A runner may be restarting: wait a little for
   * one. A request lost with a runner that died of something else is asked once more; a crash
   * report of this very bundle (the supervisor's, `mw.runner.crashed`) ends the wait at once.
   */
  const askRunner = async <T>(subject: string, bundle: BundleRequest, request: object, timeout: number): Promise<RunnerAnswer<T>> => {
    let onCrash: (c: CrashReport) => void = () => undefined;
    const crashed = new Promise<CrashReport>((resolve) => (onCrash = resolve));
    const sub = nc.subscribe(Subjects.runnerCrashed, {
      callback: (err, m) => {
        if (err) return;
        try {
          const c = jsonCodec.decode<CrashReport>(m.data);
          if (c.app === bundle.name && c.version === bundle.version) onCrash(c);
        } catch {
          /* not a crash report */
        }
      },
    });
    try {
      const giveUpAt = Date.now() + 30_000;
      for (let lost = 0; ;) {
        const reply = nc.request(subject, jsonCodec.encode(request), { timeout });
        reply.catch(() => undefined); // raced below
        try {
          return await Promise.race([reply.then((m) => ({ answer: jsonCodec.decode<T>(m.data) })), crashed.then((report) => ({ crashed: report }))]);
        } catch (err) {
          if (isNoResponders(err) && Date.now() < giveUpAt) await new Promise((r) => setTimeout(r, 500));
          else if (isTimeout(err) && ++lost < 2) continue;
          else return { lost: isTimeout(err) ? `no app runner answered within ${Math.round(timeout / 1000)} s, asked twice` : (err as Error).message };
        }
      }
    } finally {
      sub.unsubscribe();
    }
  };

  /**
   * Run the app once on a small synthetic window of each endpoint it applies to (the first
   * MAX_DRY_RUN_ENDPOINTS by name), in a runner. Failures are warnings, never thrown.
   */
  const dryRun = async (bundle: BundleRequest, manifest: ResolvedManifest, config: Record<string, JsonValue>): Promise<DryRunReport> => {
    // the names and tags are enough here: the runner reads the records
    const records = await endpoints.list();
    const all = records.map((e) => e.name);
    const targets = records.filter((e) => appliesTo(manifest.endpoints, e)).map((e) => e.name);
    if (all.length === 0) return { note: 'no dry run: no endpoint exists yet', endpoints: [], warnings: [] };
    if (targets.length === 0) {
      return {
        note: `no dry run: ${manifest.name} applies to none of the ${all.length} endpoints (its endpoints: ${describeEndpoints(manifest.endpoints!)})`,
        endpoints: [],
        warnings: [],
      };
    }
    const settings = await readSettings(buckets.settings);
    const periods = settings?.periods ?? [{ fromMs: 0, periodMs: 600_000 }];
    const last = windowAt(windowAt(Date.now(), periods).start - 1, periods);
    const request: DryRunRequest = {
      ...bundle,
      config,
      referenceRows: manifest.referenceRows,
      groundTruth: manifest.groundTruth !== undefined,
      endpoints: targets.slice(0, MAX_DRY_RUN_ENDPOINTS),
      windowStart: last.start,
      windowEnd: last.end,
    };
    const note =
      targets.length > MAX_DRY_RUN_ENDPOINTS
        ? `dry run on the first ${MAX_DRY_RUN_ENDPOINTS} of the ${targets.length} endpoints it applies to, by name`
        : undefined;
    // room beyond the sandbox's own limits for a runner busy with windows and reading references
    const timeoutMs = dryRunDeadlineMs(manifest.limits, request.endpoints.length) + 10_000;
    const asked = await askRunner<DryRunReply>(Subjects.runnerDryRun, bundle, request, timeoutMs);
    const failed = (why: string) => ({ ...(note ? { note } : {}), endpoints: [], warnings: [why] });
    if ('crashed' in asked) {
      const on = asked.crashed.window ? `endpoint '${asked.crashed.window.endpointName}'` : request.endpoints.map((n) => `'${n}'`).join(', ');
      return failed(`dry run on ${on} failed: it crashed its runner (${asked.crashed.message}), which was restarted`);
    }
    if ('lost' in asked) return failed(`dry run on ${request.endpoints.map((n) => `'${n}'`).join(', ')} failed: ${asked.lost}`);
    if (!asked.answer.ok) return failed(`dry run failed: ${asked.answer.error.message}`);
    return {
      ...(note ? { note } : {}),
      endpoints: asked.answer.endpoints,
      warnings: asked.answer.endpoints.filter((r) => r.outcome === 'error').map((r) => dryRunWarning(r)),
    };
  };

  /** Check, dry-run and store a bundle: `POST /api/v1/plugins`, and a default app at `monitoring enable`. */
  const publish = async (body: PublishPluginBody): Promise<{ record: PublishPluginReply; created: boolean }> => {
    const manifest = resolveManifest(body.manifest);
    checkCeilings(manifest, deps.ceilings);
    const config = body.config ?? manifest.config;
    validateConfig(config, manifest.configSchema, manifest.name);
    const digest = createHash('sha256').update(body.code).digest('hex');
    const cur = await plugins.get(manifest.name);
    if (body.shadow) {
      // refused before the check: a shadow runs beside an active version, never as one
      if (!cur) throw new ModelwatchError('NOT_FOUND', `no plugin named '${manifest.name}': publish it without --shadow first`);
      if (cur.activeVersion === manifest.version) {
        throw new ModelwatchError('CONFLICT', `${manifest.name}@${manifest.version} is the active version: a shadow must be another version`);
      }
    }
    const same = cur?.versions.find((v) => v.version === manifest.version);
    if (same && same.digest !== digest) {
      throw new ModelwatchError('CONFLICT', `${manifest.name}@${manifest.version} is already published with different code: bump the version in plugin.json`);
    }
    const bundle: BundleRequest = {
      name: manifest.name,
      version: manifest.version,
      code: body.code,
      limits: manifest.limits,
      ...(manifest.isolation ? { isolation: manifest.isolation } : {}),
      ...(body.map ? { map: body.map } : {}),
    };
    if (!same) {
      const asked = await askRunner<CheckReply>(Subjects.runnerCheck, bundle, bundle, manifest.limits.timeoutMs + 15_000);
      if ('crashed' in asked) throw new ModelwatchError('PLUGIN_LOAD_FAILED', `refused: loading it crashed its runner (${asked.crashed.message})`);
      if ('lost' in asked) throw new ModelwatchError('PLUGIN_LOAD_FAILED', `no app runner answered to check the plugin (${asked.lost}); is a runner running?`);
      if (!asked.answer.ok) throw new ModelwatchError('PLUGIN_LOAD_FAILED', `refused: ${asked.answer.error.message}`);
    }
    const report = await dryRun(bundle, manifest, config);
    for (const w of report.warnings) log.warn({ plugin: manifest.name, version: manifest.version }, w);
    if (body.strict && report.warnings.length > 0) {
      throw new ModelwatchError('PLUGIN_DRY_RUN_FAILED', `refused (strict): ${report.warnings.join('; ')}`);
    }
    if (!same) {
      await buckets.bundles.putBlob({ name: bundleName(manifest.name, manifest.version) }, new TextEncoder().encode(body.code));
      if (body.map) await buckets.bundles.putBlob({ name: `${bundleName(manifest.name, manifest.version)}.map` }, new TextEncoder().encode(body.map));
    }
    const gt = groundTruthDelayMs(manifest);
    const version: PublishedVersion = {
      version: manifest.version,
      description: manifest.description,
      digest,
      limits: manifest.limits,
      config,
      runOnEmptyWindows: manifest.runOnEmptyWindows,
      referenceRows: manifest.referenceRows,
      ...(gt !== undefined ? { groundTruthDelayMs: gt } : {}),
      ...(manifest.configSchema ? { configSchema: manifest.configSchema } : {}),
      ...(manifest.isolation ? { isolation: manifest.isolation } : {}),
      ...(manifest.endpoints ? { endpoints: manifest.endpoints } : {}),
    };
    const record = body.shadow ? await plugins.publishShadow(manifest.name, version, Date.now()) : await plugins.publish(manifest.name, version);
    log.info({ plugin: manifest.name, version: manifest.version, shadow: body.shadow === true, dryRunWarnings: report.warnings.length }, 'plugin published');
    return { record: { ...record, dryRun: report }, created: !same };
  };

  app.post<{ Body: PublishPluginBody }>('/api/v1/plugins', { schema: { body: PublishPluginBodySchema }, bodyLimit: BodyLimits.plugin }, async (req, reply) => {
    const { record, created } = await publish(req.body);
    return reply.status(created ? 201 : 200).send(record);
  });

  /**
   * Deploy a built-in app as the default app of `monitoring enable`, bundled from the plugins
   * folder this host ships with, unless a version of it was ever published on this host: a
   * published one is left as it is (disabled too), and a removed one stays removed (its key in
   * `mw_plugins` keeps the delete marker, see `publishedOnce`).
   */
  const deployDefaultApp = async (name: string): Promise<DefaultAppOutcome> => {
    const app = await builtinApp(name);
    const once = await publishedOnce(buckets.plugins, name);
    if (once === 'removed') return { app: name, action: 'skipped', reason: 'removed' };
    if (once) {
      if (once.status === 'disabled') return { app: name, action: 'skipped', reason: 'disabled', version: once.activeVersion };
      return { app: name, action: 'already published', version: once.activeVersion, status: once.status };
    }
    const bundle = await bundlePlugin(app.dir);
    const { record } = await publish({ manifest: bundle.manifest, code: bundle.code, map: bundle.map });
    return { app: name, action: 'deployed', version: record.activeVersion, dryRun: record.dryRun };
  };

  app.post<{ Params: { name: string } }>('/api/v1/plugins/:name/enable', async (req) => plugins.enable(req.params.name));
  app.post<{ Params: { name: string } }>('/api/v1/plugins/:name/disable', async (req) => plugins.disable(req.params.name));
  app.post<{ Params: { name: string }; Body: RollbackBody | undefined }>(
    '/api/v1/plugins/:name/rollback',
    { schema: { body: RollbackBodySchema } },
    async (req) => plugins.rollback(req.params.name, req.body?.to),
  );
  app.patch<{ Params: { name: string }; Body: ConfigurePluginBody }>(
    '/api/v1/plugins/:name/config',
    { schema: { body: ConfigurePluginBodySchema } },
    async (req) => {
      const change = req.body;
      return plugins.configure(req.params.name, (v, p) => {
        const next = 'config' in change ? change.config : mergeConfig(v.config, change.set);
        validateConfig(next, v.configSchema, p.name);
        return next;
      });
    },
  );
  // ---- shadow versions: promote, drop, compare with the active version
  app.post<{ Params: { name: string } }>('/api/v1/plugins/:name/promote', async (req) => {
    const p = await plugins.promote(req.params.name);
    log.info({ plugin: p.name, version: p.activeVersion }, 'shadow version promoted');
    return p;
  });
  // a dropped shadow is kept as `droppedShadow`, so `plugin compare` still shows how it did
  app.delete<{ Params: { name: string } }>('/api/v1/plugins/:name/shadow', async (req) => plugins.dropShadow(req.params.name, undefined, 'dropped by a user'));
  app.get<{ Params: { name: string } }>('/api/v1/plugins/:name/compare', async (req): Promise<ShadowComparison> => {
    const p = await plugins.require(req.params.name);
    const version = p.shadow?.version ?? p.droppedShadow?.version;
    if (!version) throw new ModelwatchError('CONFLICT', `${p.name} has no shadow version: publish one with plugin publish DIR --shadow`);
    const windows = async (shadow: boolean) => {
      const r = await askWriter(nc, { app: p.name, shadow, limit: 1_000_000 } satisfies ResultsRequest);
      if (!('windows' in r)) throw new ModelwatchError('INTERNAL', 'results query failed: unexpected reply');
      return r.windows;
    };
    const shadow = (await windows(true)).filter((w) => w.version === version);
    const since = Math.min(...shadow.map((w) => w.windowStart));
    const active = shadow.length === 0 ? [] : (await windows(false)).filter((w) => w.windowStart >= since);
    return compareShadow(p.name, version, active, shadow);
  });

  app.delete<{ Params: { name: string } }>('/api/v1/plugins/:name', async (req) => {
    // a delete (never a purge): the key keeps its delete marker, the record that this name was
    // published once, so `monitoring enable` does not deploy again a default app the user removed
    const p = await plugins.remove(req.params.name);
    for (const v of p.versions) {
      await buckets.bundles.delete(bundleName(p.name, v.version)).catch(() => undefined);
      await buckets.bundles.delete(`${bundleName(p.name, v.version)}.map`).catch(() => undefined);
    }
    // a plugin published later under this name and version starts with no failures
    await forgetStreaks(buckets.streaks, p.name);
    return { removed: p.name };
  });

  // ---- logs: the newest lines, or (follow) those and then new ones as NDJSON until the client leaves
  app.get<{ Params: { name: string }; Querystring: { limit?: string; follow?: string } }>('/api/v1/plugins/:name/logs', async (req, reply) => {
    await plugins.require(req.params.name);
    const limit = Math.min(10_000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    const follow = req.query.follow === '1' || req.query.follow === 'true';
    const subject = Subjects.logs(req.params.name);
    const info = await deps.jsm.streams.info(Streams.logs, { subjects_filter: subject });
    const count = info.state.subjects?.[subject] ?? 0;
    const lastSeq = info.state.last_seq;
    let startSeq = lastSeq + 1;
    if (count > 0) {
      // walk back `limit` messages of this subject: start from the seq of the first of the last
      // `limit` (their headers only: at most 10,000 a subject, the stream's max_msgs_per_subject)
      const walk = await js.consumers.get(Streams.logs, { filter_subjects: subject, headers_only: true });
      const skip = Math.max(0, count - limit);
      let i = 0;
      try {
        for await (const m of await walk.fetch({ max_messages: count, expires: 5000 })) {
          if (i++ === skip) {
            startSeq = m.seq;
            break;
          }
        }
      } finally {
        // (an ephemeral consumer left alone lasts 5 minutes: one a request would add up)
        void walk.delete().catch(() => undefined);
      }
    }
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const consumer = await js.consumers.get(Streams.logs, {
      filter_subjects: subject,
      ...(startSeq <= lastSeq ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : { deliver_policy: DeliverPolicy.New }),
    });
    const messages = await consumer.consume();
    let sent = 0;
    req.raw.on('close', () => void messages.close());
    if (!follow && count === 0) {
      await messages.close();
      void consumer.delete().catch(() => undefined);
      reply.raw.end();
      return reply;
    }
    // backpressure: while the client has not read what is queued for it, the consumer is not read
    // either (nor asks JetStream for more); a client that reads nothing is closed when idle (web-guard)
    const res = reply.raw;
    const drained = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done).off('close', done);
          resolve();
        };
        res.on('drain', done).on('close', done);
      });
    for await (const m of messages) {
      if (res.destroyed) break;
      if (!res.write(`${new TextDecoder().decode(m.data)}\n`) && !res.destroyed) await drained();
      sent++;
      if (!follow && (sent >= Math.min(limit, count) || m.info.pending === 0)) break;
    }
    await messages.close();
    void consumer.delete().catch(() => undefined);
    reply.raw.end();
    return reply;
  });

  // ---- evaluate: re-run an app over past windows from the retained rows (MLRun's evaluate)
  // checked by hand, not by a schema: an unknown plugin is a 404 before anything of the body,
  // `from`/`to` are times in two notations, `from` before `to`, and the version must apply
  app.post<{ Params: { name: string }; Body: { endpoint?: unknown; from?: unknown; to?: unknown; write?: unknown; version?: unknown } }>(
    '/api/v1/plugins/:name/evaluate',
    async (req, reply) => {
      const p = await plugins.require(req.params.name);
      const b = req.body ?? {};
      const epName = checkEndpointName(b.endpoint);
      const endpoint = await endpoints.get(epName);
      if (!endpoint) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${epName}'`);
      const from = parseTime(b.from, 'from');
      const to = parseTime(b.to, 'to');
      if (!(from < to))
        throw new ModelwatchError('INVALID_ARGUMENT', `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
      const version = typeof b.version === 'string' ? b.version : p.activeVersion;
      const v = p.versions.find((x) => x.version === version);
      if (!v) throw new ModelwatchError('NOT_FOUND', `${p.name} has no version ${version}`);
      if (!appliesTo(v.endpoints, endpoint)) {
        throw new ModelwatchError(
          'INVALID_ARGUMENT',
          `${p.name}@${version} does not apply to endpoint '${epName}' (its endpoints: ${describeEndpoints(v.endpoints!)})`,
        );
      }
      const layout = (await readSettings(buckets.settings)) ?? { periods: [{ fromMs: 0, periodMs: 600_000 }] };
      const { periods } = layout;
      const tasks: TaskMessage[] = [];
      for (let w = windowAt(from, periods); w.start < to; w = windowAt(w.end, periods)) {
        if (w.end > Date.now()) break;
        const rowKeys = rowKeysOf(w, layout);
        tasks.push({
          v: 1,
          endpointId: endpoint.id,
          endpointName: endpoint.name,
          app: p.name,
          version,
          windowStart: w.start,
          windowEnd: w.end,
          dispatchedAt: Date.now(),
          ...(rowKeys.length > 1 || rowKeys[0] !== w.start ? { rowKeys } : {}),
        });
        if (tasks.length > MAX_EVALUATE_WINDOWS)
          throw new ModelwatchError('INVALID_ARGUMENT', `more than ${MAX_EVALUATE_WINDOWS} windows between from and to: narrow the range`);
      }
      const write = b.write === true;
      const stored = new Set<number>();
      if (write) {
        const r = await askWriter(nc, { endpointId: endpointId(epName), app: p.name, since: from, limit: 1_000_000 });
        if ('windows' in r) for (const w of r.windows) stored.add(w.windowStart);
      }
      const evaluate = async (t: TaskMessage): Promise<EvaluatedWindow> => {
        const m = await nc.request(Subjects.runnerEvaluate, jsonCodec.encode(t), { timeout: 120_000 });
        const r = jsonCodec.decode<EvaluateReply>(m.data);
        if (!r.ok) throw new ModelwatchError('INTERNAL', `evaluating window ${new Date(t.windowStart).toISOString()} failed: ${r.error.message}`);
        let s: EvaluatedWindow['stored'] = 'not written';
        if (write) {
          if (stored.has(t.windowStart)) s = 'already stored';
          else {
            // bound as a dispatched task's output is: the host role holds the key
            const binding = deps.bindingKey ? outputBinding(deps.bindingKey, t) : undefined;
            await js.publish(Subjects.outputs(t.endpointId), jsonCodec.encode(binding ? { ...r.output, binding } : r.output), {
              msgID: outputMsgId(t, binding),
            });
            s = 'written';
          }
        }
        const { profile: _profile, ...output } = r.output;
        if (output.rows > 0) return { output, stored: s };
        // no rows: they expired from the stream (or there were none); the window's profile says which
        // best effort: without a writer answering, the window is shown as it is
        const kept = await askWriter(nc, { profiles: { endpointId: t.endpointId, from: t.windowStart, to: t.windowStart + 1, limit: 1 } }).catch(
          () => undefined,
        );
        const profile = kept && 'profiles' in kept ? kept.profiles[0] : undefined;
        return { output, stored: s, ...(profile && { profile }) };
      };
      // asked for NDJSON: a progress line per window, then the windows (or the error that stopped it)
      if (String(req.headers.accept ?? '').includes('application/x-ndjson')) {
        const stream = new PassThrough();
        const line = (l: EvaluateLine) => stream.write(`${JSON.stringify(l)}\n`);
        void (async () => {
          const out: EvaluatedWindow[] = [];
          try {
            line({ progress: { done: 0, total: tasks.length } });
            for (const t of tasks) {
              out.push(await evaluate(t));
              line({ progress: { done: out.length, total: tasks.length } });
            }
            line({ windows: out });
          } catch (err) {
            const e = err instanceof ModelwatchError ? err : new ModelwatchError('INTERNAL', (err as Error).message);
            line({ error: { code: e.code, message: e.message } });
          } finally {
            stream.end();
          }
        })();
        return reply.type('application/x-ndjson').send(stream);
      }
      const out: EvaluatedWindow[] = [];
      for (const t of tasks) out.push(await evaluate(t));
      return { windows: out };
    },
  );

  return { deployDefaultApp };
}
