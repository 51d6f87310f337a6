import { hostname } from 'node:os';
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { normalizeAppOutput } from '@modelwatch/sdk';
import { errorData, ModelwatchError } from '../errors.js';
import type { Logger } from '../logger.js';
import { jsonCodec } from '../nats/codec.js';
import { windowKey, type AppOutputMessage, type TaskMessage } from '../nats/messages.js';
import { Consumers, Streams, Subjects } from '../nats/subjects.js';
import { openBuckets, type Buckets } from '../nats/topology.js';
import type { EndpointRecord } from '../store/endpoints.js';
import { bundleName, DEFAULT_LIMITS, type PluginLimits, type PluginRecord } from '../store/plugins.js';
import { WatchedKv } from '../store/watched-kv.js';
import type { ReferenceTable } from '../api/reference.js';
import { PluginSandbox, type SampleData, type SandboxInput } from './sandbox.js';
import { buildWindowData, readLabels, readWindowRows, referenceSample, withGroundTruth, type WindowData } from './window-data.js';

export interface AppRunnerOptions {
  nc: NatsConnection;
  logger: Logger;
  /** Windows worked on at once. @default 2 */
  concurrency?: number;
  /** Shown in outputs and logs. @default `<hostname>:<pid>` */
  name?: string;
}

/** What `mw.svc.runner.smoke` takes: a bundle to check before it is registered. */
export interface SmokeRequest {
  name: string;
  version: string;
  code: string;
  limits?: Partial<PluginLimits>;
}
export type SmokeReply = { ok: true } | { ok: false; error: { code: string; message: string } };

const MAX_SANDBOXES = 64;
const MAX_CACHED_WINDOWS = 8;

/**
 * Takes tasks from the work queue and runs each app's doTracking for its window in a
 * sandbox. Needs nothing but NATS: any number can run, on any machine.
 */
export class AppRunner {
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private buckets!: Buckets;
  private endpoints!: WatchedKv<EndpointRecord>;
  private plugins!: WatchedKv<PluginRecord>;
  private messages: ConsumerMessages | undefined;
  private smokeSub: Subscription | undefined;
  private loop: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly sandboxes = new Map<string, PluginSandbox>();
  private readonly windows = new Map<string, Promise<WindowData>>();
  private readonly references = new Map<string, Promise<SampleData | undefined>>();
  private readonly log: Logger;
  private readonly name: string;

  constructor(private readonly opts: AppRunnerOptions) {
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
    this.log = opts.logger.child({ component: 'runner', runner: this.name });
  }

  async start(): Promise<void> {
    const { nc } = this.opts;
    this.js = jetstream(nc);
    this.jsm = await jetstreamManager(nc);
    this.buckets = await openBuckets(nc);
    this.endpoints = new WatchedKv(this.buckets.endpoints);
    this.plugins = new WatchedKv(this.buckets.plugins);
    await Promise.all([this.endpoints.start(), this.plugins.start()]);
    this.smokeSub = nc.subscribe(Subjects.runnerSmoke, {
      queue: 'runners',
      callback: (err, msg) => {
        if (err) return;
        let reply: SmokeReply;
        try {
          const req = jsonCodec.decode<SmokeRequest>(msg.data);
          const sb = new PluginSandbox({ name: req.name, version: req.version, code: req.code, limits: { ...DEFAULT_LIMITS, ...req.limits } });
          void sb
            .check()
            .then(
              (): SmokeReply => ({ ok: true }),
              (e: unknown): SmokeReply => ({ ok: false, error: errorData(e, 'PLUGIN_LOAD_FAILED') }),
            )
            .then((r) => msg.respond(jsonCodec.encode(r)))
            .finally(() => sb.dispose());
          return;
        } catch (e) {
          reply = { ok: false, error: errorData(e, 'PLUGIN_LOAD_FAILED') };
        }
        msg.respond(jsonCodec.encode(reply));
      },
    });
    const consumer = await this.js.consumers.get(Streams.tasks, Consumers.runners);
    const limit = this.opts.concurrency ?? 2;
    this.messages = await consumer.consume({ max_messages: limit });
    this.loop = (async () => {
      for await (const m of this.messages!) {
        const p = this.handle(m).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
        if (this.inflight.size >= limit) await Promise.race(this.inflight);
      }
    })();
    this.log.info({ concurrency: limit }, 'runner started');
  }

  async stop(): Promise<void> {
    this.smokeSub?.unsubscribe();
    await this.messages?.close();
    await this.loop;
    await Promise.allSettled([...this.inflight]);
    this.endpoints?.stop();
    this.plugins?.stop();
    for (const sb of this.sandboxes.values()) sb.dispose();
    this.sandboxes.clear();
  }

  private async handle(m: JsMsg): Promise<void> {
    let task: TaskMessage;
    try {
      task = jsonCodec.decode<TaskMessage>(m.data);
    } catch {
      this.log.error({ seq: m.seq }, 'task is not valid JSON; dropped');
      m.term();
      return;
    }
    const keepAlive = setInterval(() => m.working(), 15_000);
    try {
      const output = await this.analyse(task);
      await this.js.publish(Subjects.outputs(task.endpointId), jsonCodec.encode(output), {
        msgID: windowKey(task.endpointId, task.app, task.windowStart),
      });
      m.ack();
    } catch (err) {
      // NATS trouble: the task comes back to this or another runner.
      this.log.warn({ err, task }, 'task failed for lack of NATS, will be redelivered');
      m.nak(2000);
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Analyse one window. Never throws for anything the app or its data did: that is an outcome. */
  private async analyse(task: TaskMessage): Promise<AppOutputMessage> {
    const base: AppOutputMessage = {
      v: 1,
      endpointId: task.endpointId,
      endpointName: task.endpointName,
      app: task.app,
      version: task.version,
      windowStart: task.windowStart,
      windowEnd: task.windowEnd,
      outcome: 'ok',
      rows: 0,
      results: [],
      metrics: [],
      durationMs: 0,
      completedAt: 0,
      runner: this.name,
    };
    const fail = (err: unknown): AppOutputMessage => {
      const data = errorData(err, 'APP_ERROR');
      const where = `${task.app}@${task.version} on endpoint ${task.endpointName}, window ${new Date(task.windowStart).toISOString()}`;
      this.log.warn({ app: task.app, version: task.version, endpoint: task.endpointName, windowStart: task.windowStart, error: data }, 'app failed');
      return { ...base, outcome: 'error', error: { code: data.code, message: `${where}: ${data.message}` }, completedAt: Date.now() };
    };
    const endpoint = await this.endpoints.get(task.endpointName);
    if (!endpoint) return fail(new ModelwatchError('NOT_FOUND', `endpoint '${task.endpointName}' no longer exists`));
    const plugin = await this.plugins.get(task.app);
    const version = plugin?.versions.find((v) => v.version === task.version);
    if (!plugin || !version) return fail(new ModelwatchError('NOT_FOUND', `plugin ${task.app}@${task.version} is not registered`));
    const data = await this.windowData(endpoint, task.windowStart);
    base.rows = data.length;
    if (data.length === 0 && !version.runOnEmptyWindows) return { ...base, outcome: 'empty', completedAt: Date.now() };
    let sandbox: PluginSandbox;
    try {
      sandbox = await this.sandbox(plugin.name, version.version, version.limits);
    } catch (err) {
      return fail(err);
    }
    // NATS trouble while gathering the input throws, and the task is redelivered
    const input: SandboxInput = {
        applicationName: plugin.name,
        endpoint: { id: endpoint.id, name: endpoint.name, featureNames: endpoint.featureNames, labelNames: endpoint.labelNames },
        windowStart: task.windowStart,
        windowEnd: task.windowEnd,
        sample: data,
        sampleStats: data.sampleStats,
        featureStats: endpoint.featureStats,
      config: version.config,
    };
    if (version.referenceRows) {
      const reference = await this.referenceData(endpoint);
      if (reference) input.reference = reference;
    }
    if (version.groundTruthDelayMs !== undefined) {
      const labels = await readLabels(this.js, endpoint, task.windowStart - 60_000);
      const joined = withGroundTruth(data, endpoint.labelNames, labels);
      input.sample = joined.sample;
      input.groundTruth = joined.groundTruth;
    }
    const started = performance.now();
    try {
      const json = await sandbox.run(input, {
        onLog: (line) =>
          this.log[line.level](
            { plugin: plugin.name, version: version.version, endpoint: endpoint.name, windowStart: task.windowStart, pluginFields: line.fields || undefined },
            line.message,
          ),
      });
      const durationMs = performance.now() - started;
      let normalized;
      try {
        normalized = normalizeAppOutput(JSON.parse(json), { maxExtraDataBytes: version.limits.extraDataBytes });
      } catch (err) {
        throw new ModelwatchError('APP_INVALID_OUTPUT', `returned an invalid output: ${(err as Error).message}`);
      }
      return { ...base, ...normalized, durationMs, completedAt: Date.now() };
    } catch (err) {
      return { ...fail(err), durationMs: performance.now() - started };
    }
  }

  private async referenceData(endpoint: EndpointRecord): Promise<SampleData | undefined> {
    if (!endpoint.referenceRevision) return undefined;
    const key = `${endpoint.id}.${endpoint.referenceRevision}`;
    let p = this.references.get(key);
    if (!p) {
      p = this.buckets.references.getBlob(`${endpoint.id}.json`).then((blob) => {
        if (!blob) return undefined;
        const table = JSON.parse(new TextDecoder().decode(blob)) as ReferenceTable;
        return referenceSample(table, endpoint);
      });
      this.references.set(key, p);
      p.catch(() => this.references.delete(key));
      while (this.references.size > 4) this.references.delete(this.references.keys().next().value!);
    }
    return await p;
  }

  private async windowData(endpoint: EndpointRecord, windowStart: number): Promise<WindowData> {
    const key = `${endpoint.id}.${windowStart}.${endpoint.updatedAt}`;
    let p = this.windows.get(key);
    if (!p) {
      p = readWindowRows(this.js, this.jsm, endpoint.id, windowStart).then((batches) => buildWindowData(batches, endpoint));
      this.windows.set(key, p);
      p.catch(() => this.windows.delete(key));
      while (this.windows.size > MAX_CACHED_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
    }
    return await p;
  }

  private async sandbox(name: string, version: string, limits: PluginLimits): Promise<PluginSandbox> {
    const key = `${name}@${version}`;
    let sb = this.sandboxes.get(key);
    if (sb) {
      this.sandboxes.delete(key);
      this.sandboxes.set(key, sb);
      return sb;
    }
    const code = await this.buckets.bundles.getBlob(bundleName(name, version));
    if (!code) throw new ModelwatchError('NOT_FOUND', `the bundle of ${key} is missing from the bundle store`);
    sb = new PluginSandbox({
      name,
      version,
      code: new TextDecoder().decode(code),
      limits,
    });
    sb.load();
    this.sandboxes.set(key, sb);
    while (this.sandboxes.size > MAX_SANDBOXES) {
      const [oldKey, old] = this.sandboxes.entries().next().value!;
      old.dispose();
      this.sandboxes.delete(oldKey);
    }
    return sb;
  }
}
