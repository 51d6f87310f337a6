import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { watchMaxDeliveries } from './nats/max-deliveries.js';
import { InvalidOptionsError } from './errors.js';
import { VERSION } from './version.js';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { Buckets, Subjects, type BatchRecord, type EndpointRecord, type MonitoringSettings, type PluginRecord } from '@modelwatch/protocol';
import { createNotifier, type AlertNotifier } from './alerts/notify/index.js';
import type { Notifier } from './alerts/contract.js';
import { logNotifier, startAlertEvaluator } from './alerts/evaluator.js';
import { loadAlertsFile } from './alerts/rules.js';
import type { SystemProbes } from './alerts/system.js';
import { AlertRuleStore, AlertStore, openAlertBuckets, SilenceStore } from './alerts/store.js';
import { controllerProbe, runnersProbe, writerProbe } from './api/health.js';
import { createApiServer } from './api/server.js';
import { ModelwatchClient } from './client/client.js';
import { resolveHostOptions, type HostOptions, type NatsSecurity, type ResolvedHostOptions } from './config/options.js';
import { Controller } from './controller/controller.js';
import { bindingKeyObject, outputBinding, outputMsgId } from './domain/binding.js';
import { outputKey } from './domain/keys.js';
import { createLogger, type Logger } from './logger.js';
import { settledWithin, within } from './clock.js';
import { createHostMetrics, type HostMetrics } from './metrics.js';
import { jsonCodec } from './nats/codec.js';
import { accountsConfig, ensureCredentials, natsConnectOptions, outputBindingKey } from './nats/auth.js';
import { durableConsumerLag } from './nats/lag.js';
import { startNatsServer, type NatsServerHandle } from './nats/server.js';
import { Lease } from './nats/lease.js';
import {
  defaultReplicas,
  ensurePluginSlots,
  ensureTopology,
  ensureWriterConsumer,
  openBuckets,
  pluginsWithSlots,
  SLOT_KINDS,
  writerConsumerName,
} from './nats/topology.js';
import { watchPlugin } from './plugins/bundle.js';
import { failedOutput } from './runner/runner.js';
import { crashError, recordBystanders, RunnerSupervisor } from './runner/supervisor.js';
import { SettingsStore } from './store/settings.js';
import { TokenCache, TokenStore } from './store/tokens.js';
import { WatchedKv } from './store/watched-kv.js';
import { StreamProcessor } from './stream/processor.js';
import { ServingAggregator } from './stream/serving.js';
import { deadLetterCounts } from './stream/dlq.js';
import { openResultsDb } from './writer/recovery.js';
import { Writer } from './writer/writer.js';

export type HostState = 'INITIALIZED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED';

/** A running modelwatch host: stream processor, controller, writer, HTTP API and supervised app runners. */
export interface Host {
  readonly state: HostState;
  readonly options: ResolvedHostOptions;
  /** NATS URL the host uses (its own server's when it started one). */
  readonly natsUrl: string;
  /**
   * How the host connects to NATS: for its own server, the host role's credentials file
   * (`<dataDir>/nats/host.nk`); for an external one, the `--nats-creds` and `--nats-tls-*` files.
   */
  readonly natsSecurity: NatsSecurity;
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:7077`. */
  readonly apiUrl: string;
  readonly logger: Logger;
  /** The operator metrics of this host (`GET /metrics`). */
  readonly metrics: HostMetrics;
  /**
   * The alert notifier (`alerts/notify/`), once started: `enqueue` stores a notification for
   * delivery. It routes and delivers in the process that runs the controller.
   */
  readonly notifier: AlertNotifier | undefined;
  /** PIDs of the runner processes the host supervises. */
  runnerPids(): number[];
  /** PID of the nats-server the host started (none when given `natsUrl`). */
  natsServerPid(): number | undefined;
  start(): Promise<void>;
  /** Drain consumers, flush the writer, stop runners, close NATS (and the owned nats-server). */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Each folder that has a plugin.json, or its subfolders that do. */
async function pluginDirs(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    if (existsSync(join(d, 'plugin.json'))) out.push(d);
    else
      for (const e of await readdir(d, { withFileTypes: true })) if (e.isDirectory() && existsSync(join(d, e.name, 'plugin.json'))) out.push(join(d, e.name));
  }
  return out;
}

export { VERSION };

/**
 * Create a host. Nothing runs until `start()`.
 *
 * @example
 * ```ts
 * const host = createHost({ dataDir: '/tmp/mw', basePeriod: '5s' });
 * await host.start();
 * // ...
 * await host.stop();
 * ```
 */
export function createHost(options: HostOptions = {}, logger?: Logger, logStream?: NodeJS.WritableStream): Host {
  return new HostImpl(resolveHostOptions(options), logger, logStream);
}

class HostImpl implements Host {
  state: HostState = 'INITIALIZED';
  readonly logger: Logger;
  readonly metrics: HostMetrics = createHostMetrics();
  private natsServer: NatsServerHandle | undefined;
  private nc: NatsConnection | undefined;
  /** What `stop` undoes, in the order of start (see `teardown`). */
  private stopSteps: StopStep[] = [];
  private api: FastifyInstance | undefined;
  private supervisor: RunnerSupervisor | undefined;
  notifier: AlertNotifier | undefined;
  natsUrl = '';
  natsSecurity: NatsSecurity = {};
  apiUrl = '';

  constructor(
    readonly options: ResolvedHostOptions,
    logger?: Logger,
    private readonly logStream?: NodeJS.WritableStream,
  ) {
    this.logger = logger ?? createLogger(options.logLevel, logStream);
  }

  runnerPids(): number[] {
    return this.supervisor?.pids() ?? [];
  }

  natsServerPid(): number | undefined {
    return this.natsServer?.pid;
  }

  async start(): Promise<void> {
    if (this.state !== 'INITIALIZED') throw new Error(`host cannot start from state ${this.state}`);
    this.state = 'STARTING';
    try {
      await this.startComponents();
      this.state = 'RUNNING';
      this.logger.info({ nats: this.natsUrl, api: this.apiUrl, dataDir: this.options.dataDir }, 'host running');
    } catch (err) {
      this.state = 'FAILED';
      await this.teardown();
      throw err;
    }
  }

  private async startComponents(): Promise<void> {
    const o = this.options;
    const c = o.components;
    await mkdir(o.dataDir, { recursive: true });
    // a malformed rule file refuses the start before anything runs (the line and the reason)
    const alertsFile = o.alertsFile !== undefined ? await loadAlertsFile(o.alertsFile) : { rules: [], channels: [] };
    // runners connect as the runner role of the owned server, or with the external cluster's files
    let runnerSecurity: NatsSecurity;
    if (o.natsUrl) {
      this.natsUrl = o.natsUrl;
      this.natsSecurity = o.natsSecurity;
      runnerSecurity = o.natsSecurity;
    } else {
      // the owned server lets no one in without credentials: one nkey user per role, each with its permissions
      const identities = await ensureCredentials(o.dataDir);
      this.natsServer = await startNatsServer({ dataDir: join(o.dataDir, 'nats'), accounts: accountsConfig(identities) });
      this.natsUrl = this.natsServer.url;
      this.natsSecurity = { credsFile: identities.host.file };
      runnerSecurity = { credsFile: identities.runner.file };
      // the last step, and one that must not be cut short: a nats-server left behind outlives the host
      this.onStop('nats-server', (ms) => this.natsServer?.stop(ms - NATS_SERVER_REAP_MS), { boundMs: NATS_SERVER_STOP_MS, floorMs: NATS_SERVER_STOP_MS });
    }
    const nc = await connect({
      servers: this.natsUrl.split(','),
      name: 'modelwatch-host',
      maxReconnectAttempts: -1,
      // no stack captured per request (two Errors made for every publish and request, a few
      // µs each: see ARCHITECTURE.md "Ingest"); a failed request still says what failed
      noAsyncTraces: true,
      ...(await natsConnectOptions(this.natsSecurity, 'host')),
    });
    this.nc = nc;
    this.onStop('NATS connection', async (msLeft) => {
      // drain waits on the server (a flush, each subscription's unsubscribe): while NATS is away it
      // would wait for the reconnect, so it gets part of the time left, then the connection is closed
      if (await settledWithin(nc.drain(), Math.max(STOP_LATE_STEP_MS, msLeft - STOP_LATE_STEP_MS))) return;
      this.logger.warn({ step: 'NATS connection' }, 'shutdown: the NATS connection did not drain in time; closing it');
      await nc.close().catch(() => undefined);
    });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const metrics = this.metrics;
    metrics.observeConsumers(() => durableConsumerLag(jsm));
    // replicas of the streams and buckets: as given, else 3 on a cluster and 1 on a single server
    const replicas = o.replicas ?? defaultReplicas(nc);
    await ensureTopology(nc, jsm, { retentionMs: o.retentionMs, replicas });
    // this process among the others of the deployment: the leases' holder. Without --node-id the
    // process is the only one of its roles (no election: see Lease's `alone`)
    const nodeId = o.nodeId ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}`;
    // a message a consumer gave up on without its own letter (its last delivery lost) is dead-lettered from the server's advisory
    const maxDeliveries = watchMaxDeliveries({ nc, js, jsm, logger: this.logger, metrics });
    this.onStop('max-deliveries watch', () => maxDeliveries.stop());
    const buckets = await openBuckets(nc);
    const bindingKey = bindingKeyObject(await outputBindingKey(nc));
    await this.initSettings(buckets.settings);
    const endpoints = new WatchedKv<EndpointRecord>(buckets.endpoints);
    const plugins = new WatchedKv<PluginRecord>(buckets.plugins);
    const settings = new WatchedKv<MonitoringSettings>(buckets.settings);
    await Promise.all([endpoints.start(), plugins.start(), settings.start()]);
    this.onStop('KV watches', () => {
      endpoints.stop();
      plugins.stop();
      settings.stop();
    });

    // alerting: the rules of --alerts FILE and those of KV
    const alertBuckets = await openAlertBuckets(nc);
    const alertRules = new AlertRuleStore(alertBuckets.rules, alertsFile.rules);

    if (c.has('controller') || c.has('api')) {
      // deliveries run with the controller (one process of a deployment); the API's process keeps the channels
      const notifier = createNotifier({
        nc,
        js,
        jsm,
        channelsKv: await new Kvm(nc).open(Buckets.alertChannels),
        sentKv: await new Kvm(nc).open(Buckets.alertSent),
        logger: this.logger,
        options: { publicUrl: o.publicUrl, allowedHosts: o.alertAllowedHosts, delivery: o.alertDelivery },
        deliver: c.has('controller'),
        fileChannels: alertsFile.channels,
      });
      await notifier.start();
      this.notifier = notifier;
      this.onStop('alert notifier', () => notifier.stop());
    }
    // what the evaluator tells: the notifier, or the one given (tests), or the log
    const notifier: Notifier = o.alertNotifier ?? this.notifier ?? logNotifier(this.logger);

    let writer: Writer | undefined;
    // with a node id the writer has a consumer of its own, and so a complete view (ARCHITECTURE.md "Scale-out")
    const writerConsumer = writerConsumerName(o.nodeId);
    if (c.has('writer')) {
      if (o.nodeId !== undefined) await ensureWriterConsumer(jsm, writerConsumer);
      // a store LevelDB cannot open is rebuilt from MW_OUTPUTS, or the host refuses to start (writer/recovery.ts)
      const db = await openResultsDb(join(o.dataDir, 'results'), {
        js,
        logger: this.logger,
        withOutbox: o.influx !== undefined,
        bindingKey,
        consumer: writerConsumer,
      });
      this.onStop('results store', () => db.close());
      writer = new Writer({
        nc,
        js,
        db,
        logger: this.logger,
        pluginsKv: buckets.plugins,
        streaksKv: buckets.streaks,
        quarantineAfter: o.quarantineAfter,
        bindingKey,
        metrics,
        consumer: writerConsumer,
        ...(o.influx ? { influx: o.influx } : {}),
        retention: { windowMs: o.resultsRetentionMs, hourMs: o.hourlyRetentionMs, dayMs: o.dailyRetentionMs, checkEveryMs: o.retentionCheckIntervalMs },
      });
      await writer.start();
      const w = writer;
      this.onStop('writer', () => w.stop());
    }
    if (c.has('runners') && o.runners > 0) {
      this.supervisor = new RunnerSupervisor({
        count: o.runners,
        natsUrl: this.natsUrl,
        natsSecurity: runnerSecurity,
        concurrency: o.runnerConcurrency,
        appConcurrency: o.runnerAppConcurrency,
        memoryMb: o.runnerMemoryMb,
        windowAttempts: o.windowAttempts,
        logLevel: o.logLevel,
        logger: this.logger,
        metrics,
        ...(this.logStream ? { logStream: this.logStream } : {}),
        onCrash: async (c) => {
          const w = c.window ? { ...c.window, app: c.app, version: c.version } : undefined;
          const key = w ? outputKey(w) : undefined;
          // the windows the crash took down with it: their delivery was not an attempt of theirs
          // (counted alongside, never before the poison mark: the crashed window's redelivery looks for it)
          const counted = recordBystanders(buckets.deferrals, c, key, this.logger);
          try {
            // the check or the dry run at publish crashed: its window was synthetic, nothing is
            // stored or marked; the API publishing that bundle hears of it at once
            if (c.atPublish) return nc.publish(Subjects.runnerCrashed, jsonCodec.encode(c));
            if (!c.window || !w || !key) return;
            // record the window as failed and mark it so no runner runs it again
            await buckets.poison.put(key, JSON.stringify(c));
            const binding = outputBinding(bindingKey, w);
            const output = { ...failedOutput(w, crashError(c, c.window), { runner: 'supervisor', attempts: 1 }), binding };
            await js.publish(Subjects.outputs(c.window.endpointId), jsonCodec.encode(output), { msgID: outputMsgId(w, binding) });
          } finally {
            await counted;
          }
        },
      });
      const supervisor = this.supervisor;
      metrics.observeRunners(() => supervisor.pids().length);
      await this.supervisor.start();
      // the runners get a grace within the time left, then SIGKILL: none outlives the host
      this.onStop('runners', (msLeft) => this.supervisor?.stop(Math.max(STOP_LATE_STEP_MS, Math.min(RUNNER_GRACE_MS, msLeft - STOP_LATE_STEP_MS))), {
        boundMs: RUNNER_GRACE_MS + 2000,
      });
    }
    if (c.has('stream')) {
      // serving metrics per interval of arrival time (a minute by default)
      const servingIntervalMs = o.servingIntervalMs;
      // one aggregator among the stream processors (each interval is published once, with every
      // count): the holder of the lease `serving-aggregator`; a new holder gets the reports the
      // last one held back once their ack wait passes, and rebuilds the open intervals from them
      let aggregator: ServingAggregator | undefined;
      const servingLease = new Lease({
        kv: await new Kvm(nc).open(Buckets.leases),
        key: 'serving-aggregator',
        holder: nodeId,
        // without --node-id this process is the only one (the single-machine default): no election
        alone: o.nodeId === undefined,
        logger: this.logger,
        onAcquired: async () => {
          aggregator = new ServingAggregator({ nc, js, jsm, logger: this.logger, intervalMs: servingIntervalMs, clock: o.clock });
          await aggregator.start();
        },
        onLost: async () => {
          const was = aggregator;
          aggregator = undefined;
          await was?.stop();
        },
      });
      await servingLease.start();
      this.onStop('serving-aggregator lease', () => servingLease.stop());
      const sp = new StreamProcessor({
        js,
        endpointsKv: buckets.endpoints,
        batchesKv: buckets.batches,
        endpoints,
        settings,
        logger: this.logger,
        allowedLatenessMs: o.allowedLatenessMs,
        maxFutureSkewMs: o.maxFutureSkewMs,
        servingIntervalMs,
        maxFeatures: o.maxFeatures,
        metrics,
        batchLingerMs: STREAM_BATCH_LINGER_MS,
      });
      await sp.start();
      this.onStop('stream processor', () => sp.stop());
    }
    let lease: Lease | undefined;
    if (c.has('controller')) {
      // each plugin's slots across every runner (MW_SLOTS), made and kept at the cap by every
      // process of the role: ensuring them is idempotent
      const slotsMade = new Set<string>();
      const slotsOf = async (name: string): Promise<void> => {
        if (slotsMade.has(name)) return;
        slotsMade.add(name);
        try {
          for (const kind of SLOT_KINDS) await ensurePluginSlots(js, jsm, name, kind, o.pluginWindowsInFlight);
        } catch (err) {
          slotsMade.delete(name);
          this.logger.warn({ err, plugin: name }, "could not make the plugin's slots; its windows run under the runners' own caps");
        }
      };
      // one listing finds the plugins whose slots are made already: only the others are made
      const names = plugins.all().map((p) => p.name);
      for (const name of await pluginsWithSlots(jsm, names, o.pluginWindowsInFlight).catch(() => new Set<string>())) slotsMade.add(name);
      await Promise.all(names.map((name) => slotsOf(name)));
      const stopSlots = plugins.onChange((name, rec) => {
        if (rec) void slotsOf(name);
      });
      this.onStop('plugin slots watch', () => void stopSlots());
      const batchRecords = new WatchedKv<BatchRecord>(buckets.batches);
      await batchRecords.start();
      this.onStop('batch records watch', () => batchRecords.stop());
      // one controller is active among every process running the role: the holder of the lease
      // `controller`; each time this process takes it, a new controller reads the progress from
      // mw_controller and goes on from there
      let controller: Controller | undefined;
      // the one alert evaluator runs with the active controller: started when this process takes
      // the lease, stopped when it loses it; its consumer is durable, so the next holder goes on
      let evaluator: ReturnType<typeof startAlertEvaluator> | undefined;
      lease = new Lease({
        kv: await new Kvm(nc).open(Buckets.leases),
        key: 'controller',
        holder: nodeId,
        alone: o.nodeId === undefined,
        logger: this.logger,
        onAcquired: () => {
          controller = new Controller({
            js,
            jsm,
            endpoints,
            plugins,
            settings,
            progressKv: buckets.controller,
            logger: this.logger,
            allowedLatenessMs: o.allowedLatenessMs,
            retentionMs: o.retentionMs,
            batches: batchRecords,
            batchesKv: buckets.batches,
            clock: o.clock,
            bindingKey,
            metrics,
            isActive: () => lease?.held ?? false,
          });
          controller.start();
          evaluator = startAlertEvaluator({
            js,
            buckets: alertBuckets,
            rules: alertRules,
            notifier,
            endpoints,
            plugins,
            logger: this.logger,
            bindingKey,
            clock: o.clock,
            systemProbes: systemProbes({
              nc,
              jsm,
              metrics,
              writer: c.has('writer') ? writerProbe(jsm, undefined, undefined, writerConsumer) : undefined,
              tsdb: c.has('writer') && o.influx !== undefined,
            }),
            checkIntervalMs: o.alertCheckIntervalMs,
          });
          const starting = evaluator;
          starting.start().catch((err: unknown) => this.logger.error({ err }, 'the alert evaluator did not start'));
          this.logger.info({ node: nodeId }, 'controller active');
        },
        onLost: async () => {
          const was = controller;
          const wasEvaluating = evaluator;
          controller = undefined;
          evaluator = undefined;
          await Promise.all([was?.stop(), wasEvaluating?.stop()]);
        },
      });
      await lease.start();
      const l = lease;
      this.onStop('controller lease', () => l.stop());
    }
    if (c.has('api')) {
      // a writer of its own answers once caught up with MW_OUTPUTS: this API answers as every other does
      if (writer) await writer.caughtUp;
      const supervisor = this.supervisor;
      const tokenStore = new TokenStore(buckets.tokens);
      const tokens = new TokenCache(buckets.tokens);
      await this.bootstrapAdminToken(tokenStore);
      await tokens.start();
      this.onStop('token cache', () => tokens.stop());
      this.api = await createApiServer({
        auth: { tokens, store: tokenStore, insecureLocal: o.insecureLocal },
        probes: [
          ...(supervisor ? [['runners', runnersProbe(nc, () => supervisor.runners())] as const] : []),
          ...(c.has('writer') ? [['writer', writerProbe(jsm, undefined, () => writer?.refused ?? 0, writerConsumer)] as const] : []),
          ...(lease ? [['controller', controllerProbe(() => lease.held)] as const] : []),
        ],
        nc,
        js,
        jsm,
        buckets,
        endpoints,
        logger: this.logger,
        ...(o.nodeId !== undefined && { nodeId: o.nodeId }),
        allowedLatenessMs: o.allowedLatenessMs,
        maxFutureSkewMs: o.maxFutureSkewMs,
        retentionMs: o.retentionMs,
        maxFeatures: o.maxFeatures,
        ceilings: { maxTimeoutMs: o.maxTimeoutMs, maxMemoryMb: o.maxMemoryMb },
        version: VERSION,
        metrics,
        web: { ...o.web, listenHost: o.httpHost },
        bindingKey,
        ...(this.notifier && { notifier: this.notifier }),
        alerts: { rules: alertRules, alerts: new AlertStore(alertBuckets.alerts), silences: new SilenceStore(alertBuckets.silences), notifier },
      });
      // with reusePort, other processes of this machine may listen on the same port: the kernel spreads the connections
      const address = await this.api.listen({ port: o.httpPort, host: o.httpHost, ...(o.reusePort && { reusePort: true }) }).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
        const where = `--http-port: ${o.httpHost}:${o.httpPort} is in use by another process`;
        throw new InvalidOptionsError(
          o.reusePort
            ? `${where} that does not share it (started without --reuse-port, or by another user): stop it, or give another port`
            : `${where}: stop it, give another port, or start every API process of this machine on it with --reuse-port`,
          { cause: err },
        );
      });
      // on `::` (every address) Fastify names `[::]`: the host's own requests name an allowed host
      this.apiUrl = address.replace(/\[::1?\]/, '127.0.0.1');
      this.onStop('HTTP API', () => this.api?.close());
      const devToken = o.devPlugins.length ? tokens.internal('host-dev-plugins', ['admin']) : undefined;
      for (const dir of await pluginDirs(o.devPlugins)) this.onStop(`dev plugin watch ${dir}`, await this.watchDevPlugin(dir, devToken));
    }
  }

  /** Rebuild a plugin folder on every save and publish each build as a development version. */
  private async watchDevPlugin(dir: string, token: string | undefined): Promise<() => Promise<void>> {
    const client = new ModelwatchClient({ url: this.apiUrl, ...(token !== undefined && { token }) });
    const log = this.logger.child({ component: 'dev-plugins', dir });
    let n = 0;
    return await watchPlugin(dir, async (e) => {
      if (!e.ok) return log.error(e.error.message);
      try {
        const rec = await client.publishBundle(e.bundle, { devSuffix: `${Date.now()}${n++}` });
        log.info({ plugin: rec.name, version: rec.activeVersion }, 'development version published');
        for (const w of rec.dryRun.warnings) log.warn({ plugin: rec.name, version: rec.activeVersion }, w);
      } catch (err) {
        log.error((err as Error).message);
      }
    });
  }

  /**
   * The admin token: the one given (`adminToken`), or on first start (no admin token yet) a new one
   * written to `<dataDir>/admin.token`, mode 0600. The log names the file, never the token.
   */
  private async bootstrapAdminToken(store: TokenStore): Promise<void> {
    const o = this.options;
    if (o.insecureLocal) {
      this.logger.warn({ api: `${o.httpHost}:${o.httpPort}` }, '--insecure-local: the HTTP API answers every request without authentication (loopback only)');
      return;
    }
    if (o.adminToken !== undefined) return await store.provision(o.adminToken);
    const b = await store.bootstrap(o.dataDir);
    if (b.action === 'written')
      this.logger.info({ path: b.path }, `first start: an admin token was written to ${b.path} (mode 0600); the CLI reads it from there`);
  }

  /** First start: monitoring on with the given period. Later starts: an explicit --base-period changes it. */
  private async initSettings(kv: KV): Promise<void> {
    const o = this.options;
    const settings = new SettingsStore(kv, o);
    const s = await settings.init(o.basePeriodMs);
    const latest = s.periods[s.periods.length - 1]!;
    if (o.basePeriodExplicit && latest.periodMs !== o.basePeriodMs) await settings.change({ basePeriodMs: o.basePeriodMs });
  }

  async stop(): Promise<void> {
    if (this.state === 'STOPPED' || this.state === 'STOPPING') return;
    this.state = 'STOPPING';
    await this.teardown();
    this.state = 'STOPPED';
    this.logger.info('host stopped');
  }

  /** Something `stop` undoes: its name (the log names a step that did not finish in time), and its bound. */
  private onStop(
    step: string,
    fn: StopStep['fn'],
    { boundMs = STOP_STEP_MS, floorMs = STOP_LATE_STEP_MS }: Partial<Pick<StopStep, 'boundMs' | 'floorMs'>> = {},
  ): void {
    this.stopSteps.push({ step, fn, boundMs, floorMs });
  }

  /**
   * Undo the start in reverse order: API, controller, stream, runners, writer, watches, NATS,
   * nats-server. Each step is bounded: many wait on NATS (a lease's delete, a consumer's last pull,
   * acknowledgements, the drain), and while NATS is away or reconnecting they would wait for it.
   * A step gets its own bound ({@link STOP_STEP_MS}) within what is left of {@link STOP_BUDGET_MS},
   * and {@link STOP_LATE_STEP_MS} once that is spent (or its `floorMs`: the owned nats-server's
   * step always has the time to terminate it, then kill it); one that does not finish in time is
   * logged by name and left behind, so a stop takes at most about STOP_BUDGET_MS plus a short
   * while per step.
   */
  private async teardown(): Promise<void> {
    const deadline = Date.now() + STOP_BUDGET_MS;
    for (const { step, fn, boundMs, floorMs } of this.stopSteps.reverse()) {
      const msLeft = deadline - Date.now();
      const bound = Math.max(floorMs, Math.min(boundMs, msLeft));
      const began = Date.now();
      try {
        const done = await within(
          Promise.resolve(fn(bound)).then(() => true),
          bound,
        );
        if (done !== true) this.logger.warn({ step, boundMs: bound }, `shutdown: ${step} did not stop within ${bound} ms; going on without it`);
        else if (Date.now() - began >= 1000) this.logger.info({ step, ms: Date.now() - began }, `shutdown: ${step} took ${Date.now() - began} ms`);
      } catch (err) {
        this.logger.warn({ err, step }, `error during shutdown: ${step}`);
      }
    }
    this.stopSteps = [];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** A step of the shutdown: `fn` gets the time it may take (ms). */
interface StopStep {
  step: string;
  fn: (msLeft: number) => Promise<unknown> | unknown;
  /** The most it gets while the budget lasts. */
  boundMs: number;
  /** The least it gets, the budget spent or not. */
  floorMs: number;
}

/** The time a whole stop may take before each remaining step gets only {@link STOP_LATE_STEP_MS}. */
const STOP_BUDGET_MS = 12_000;
/** The time one step of the stop may take. */
const STOP_STEP_MS = 4000;
/** The time a step gets once the budget is spent (or at least). */
const STOP_LATE_STEP_MS = 250;
/** The time the owned nats-server's step always gets: SIGTERM, SIGKILL {@link NATS_SERVER_REAP_MS} before its end. */
const NATS_SERVER_STOP_MS = 5000;
/** The time a killed nats-server is given to be reaped. */
const NATS_SERVER_REAP_MS = 1000;
/** How long the runners get after SIGTERM before SIGKILL, at most. */
const RUNNER_GRACE_MS = 5000;

/**
 * How long the stream processor's batch that is not full waits for more messages (its
 * `batchLingerMs`). Each batch costs a settings read, a rows publish per window and the acks,
 * each a round trip; events that trickle in (HTTP single events, coalesced by the API into
 * messages of a few) made a batch of one message each. 10 ms gathers them: the processor's CPU
 * an event over HTTP from 60 to 23-31 µs, 0.22x the row messages (`bench/ab.mjs --base 2cdf6e5
 * -- bench/ingest.mjs --quick --rounds 3`), for at most 10 ms more before an event is filed (no
 * window closes on it meanwhile: the watermark waits for every event to be acknowledged).
 */
const STREAM_BATCH_LINGER_MS = 10;

/** How long a writer error counts as the writer failing (the `writer_failing` alert rule). */
const WRITER_ERROR_SPAN_MS = 60_000;

/**
 * What the system alert rules read: the dead letters held in `MW_DLQ` and the runners answering
 * the roll call (the whole deployment's), the writer and TSDB of this process (its metrics and its
 * writer consumer's lag).
 */
function systemProbes(d: {
  nc: NatsConnection;
  jsm: Awaited<ReturnType<typeof jetstreamManager>>;
  metrics: HostMetrics;
  writer: ReturnType<typeof writerProbe> | undefined;
  tsdb: boolean;
}): SystemProbes {
  return {
    deadLetters: async () => {
      const out: Record<string, number> = {};
      for (const [endpoint, byCode] of Object.entries(await deadLetterCounts(d.jsm))) out[endpoint] = Object.values(byCode).reduce((a, b) => a + b, 0);
      return out;
    },
    runners: async () => {
      let n = 0;
      try {
        // every runner answers; the count ends when none has answered for 300 ms (at most 2 s)
        for await (const m of await d.nc.requestMany(Subjects.runnerRollCall, undefined, { strategy: 'stall', stall: 300, maxWait: 2000 })) {
          if (m.headers?.code === 503) continue;
          n++;
        }
      } catch (err) {
        // no responders: no runner at all
        if (!/no responders|503/i.test(String((err as Error).message ?? err))) throw err;
      }
      return n;
    },
    writer: async () => {
      const h = d.metrics.writerHealth();
      if (h.writerErrorAt > Date.now() - WRITER_ERROR_SPAN_MS)
        return { failing: true, reason: `${h.writerOperation} failed ${Math.round((Date.now() - h.writerErrorAt) / 1000)} s ago` };
      if (!d.writer) return { failing: false };
      const r = await d.writer();
      return r.ok ? { failing: false } : { failing: true, reason: r.message };
    },
    tsdb: () => (d.tsdb ? (d.metrics.writerHealth().tsdbFailing ? { failing: true, reason: 'its last write failed' } : { failing: false }) : undefined),
  };
}
