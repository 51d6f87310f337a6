import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  Consumers,
  Streams,
  Subjects,
  type AppOutputMessage,
  type ResultsReply,
  type ResultsRequest,
  type ServingMinuteMessage,
  type ServingReply,
  type ServingRequest,
} from '@modelwatch/protocol';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { jsonCodec } from '../nats/codec.js';
import { InfluxWriter, type InfluxTarget } from '../store/influx.js';
import { KeyedQueue } from '../store/keyed-queue.js';
import { PluginStore } from '../store/plugins.js';
import type { ResultsDb } from '../store/results-db.js';
import { FailureStreaks } from '../store/streaks.js';

export interface WriterDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  db: ResultsDb;
  logger: Logger;
  influx?: InfluxTarget;
  /** Plugin records, for the last error and quarantine. */
  pluginsKv?: KV;
  /** Failure streaks per plugin version and endpoint (`mw_streaks`): without it, nothing is quarantined. */
  streaksKv?: KV;
  /** Quarantine a plugin version after this many failed windows in a row on one endpoint. @default 5 */
  quarantineAfter?: number;
  /** Windows stored, their latency and sandbox time, quarantines, the writer's and the TSDB's errors. */
  metrics?: HostMetrics;
}

/**
 * Consumes app outputs and stores each window once in LevelDB (history and latest values).
 * Time-series points go through an outbox in the same LevelDB batch and are shipped to
 * InfluxDB by a loop that retries until the TSDB takes them.
 */
export class Writer {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private querySub: Subscription | undefined;
  private servingSub: Subscription | undefined;
  private servingMessages: ConsumerMessages | undefined;
  private servingLoop: Promise<void> | undefined;
  servingStored = 0;
  private influx: InfluxWriter | undefined;
  private shipping: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private idle = false;
  private stopped = false;
  private readonly log: Logger;
  stored = 0;
  duplicates = 0;
  private readonly streaks: FailureStreaks | undefined;
  private readonly plugins: PluginStore | undefined;
  /** The last error of each plugin: a burst of failures is one update of its record. */
  private readonly lastErrors = new KeyedQueue<AppOutputMessage, void>((_app, outs) => this.updatePlugin(outs.at(-1)!));
  /** Outputs stored and being accounted, acknowledged once accounted. */
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly deps: WriterDeps) {
    this.log = deps.logger.child({ component: 'writer' });
    this.plugins = deps.pluginsKv ? new PluginStore(deps.pluginsKv) : undefined;
    this.streaks =
      deps.streaksKv && deps.pluginsKv
        ? new FailureStreaks(deps.streaksKv, deps.quarantineAfter ?? 5, {
            otherVersionWindow: async (out, start) => {
              // a shadow's windows are stored per version: no other version's window is in its way
              if (out.shadow) return undefined;
              const w = await deps.db.getWindow(out.endpointId, out.app, start);
              return w && w.version !== out.version ? w : undefined;
            },
            onLimit: (out, streak) => this.updatePlugin(out, streak),
          })
        : undefined;
  }

  async start(): Promise<void> {
    const { nc, js, db } = this.deps;
    if (this.deps.influx) {
      this.influx = new InfluxWriter(this.deps.influx);
      this.shipping = this.shipLoop();
    }
    this.querySub = nc.subscribe(Subjects.resultsQuery, {
      callback: (err, msg) => {
        if (err) return;
        void (async (): Promise<ResultsReply> => {
          try {
            const q = jsonCodec.decode<ResultsRequest>(msg.data);
            if ('metricNames' in q) return { metricNames: await db.metricNames(q.metricNames.endpointId) };
            if ('metricValues' in q) return await db.metricValues(q.metricValues);
            if ('purge' in q) return { purged: await db.purgeEndpoint(q.purge.endpointId) };
            if (q.latest) return { latest: await db.latestResults(q.endpointId) };
            return { windows: await db.query(q) };
          } catch (e) {
            return { error: (e as Error).message };
          }
        })().then((reply) => msg.respond(jsonCodec.encode(reply)));
      },
    });
    this.servingSub = nc.subscribe(Subjects.servingQuery, {
      callback: (err, msg) => {
        if (err) return;
        void (async (): Promise<ServingReply> => {
          try {
            const q = jsonCodec.decode<ServingRequest>(msg.data);
            if ('intervals' in q) return { intervals: await db.servingIntervals(q.intervals.endpointId, q.intervals.since, q.intervals.limit) };
            return { stats: await db.endpointStats(q.stats.endpointIds) };
          } catch (e) {
            return { error: (e as Error).message };
          }
        })().then((reply) => msg.respond(jsonCodec.encode(reply)));
      },
    });
    // serving metrics of closed intervals: stored once each, with their TSDB point in the outbox
    const servingConsumer = await js.consumers.get(Streams.serving, Consumers.writerServing);
    this.servingMessages = await servingConsumer.consume({ max_messages: 256 });
    this.servingLoop = (async () => {
      for await (const m of this.servingMessages!) {
        try {
          const minute = jsonCodec.decode<ServingMinuteMessage>(m.data);
          if ((await db.storeServing(minute, this.influx !== undefined)) === 'stored') this.servingStored++;
          m.ack();
          if (this.idle) this.wake?.();
        } catch (err) {
          this.log.error({ err, seq: m.seq }, 'could not store serving metrics; they will be redelivered');
          this.deps.metrics?.writerError('serving');
          m.nak(1000);
        }
      }
    })();
    const consumer = await js.consumers.get(Streams.outputs, Consumers.writer);
    this.messages = await consumer.consume({ max_messages: 256 });
    this.loop = (async () => {
      for await (const m of this.messages!) {
        let out: AppOutputMessage;
        let stored: boolean;
        try {
          out = jsonCodec.decode<AppOutputMessage>(m.data);
          stored = (await db.store(out, this.influx !== undefined)) === 'stored';
          if (stored) {
            this.stored++;
            // a batch's windows (`<endpoint id>-<batch id>`) are past ones: no latency
            this.deps.metrics?.windowStored(out, Date.now(), !out.endpointId.includes('-'));
          } else this.duplicates++;
        } catch (err) {
          this.log.error({ err, seq: m.seq }, 'could not store an output; it will be redelivered');
          this.deps.metrics?.writerError('store');
          m.nak(1000);
          continue;
        }
        // acknowledged once accounted (a duplicate too: the writer may have stopped after storing
        // the window and before accounting it); accounting waits for NATS, so outputs of other
        // keys go on meanwhile
        const done: Promise<void> = this.health(out, stored)
          .then(
            () => {
              m.ack();
              if (this.idle) this.wake?.();
            },
            (err: unknown) => {
              this.log.error({ err, seq: m.seq }, 'could not account an output; it will be redelivered');
              this.deps.metrics?.writerError('account');
              m.nak(1000);
            },
          )
          .finally(() => this.inflight.delete(done));
        this.inflight.add(done);
        if (this.inflight.size >= 256) await Promise.race(this.inflight);
      }
      await Promise.all(this.inflight);
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.querySub?.unsubscribe();
    this.servingSub?.unsubscribe();
    await this.messages?.close();
    await this.servingMessages?.close();
    await this.loop;
    await this.servingLoop;
    this.wake?.();
    await this.shipping;
    await this.influx?.close();
  }

  /**
   * A window's outcome for its plugin: the window is accounted in its version's failure streak
   * on its endpoint, in window order (`store/streaks.ts`), and the version is quarantined when
   * the streak reaches `quarantineAfter`; a failure is recorded as the plugin's last error.
   */
  private async health(out: AppOutputMessage, stored: boolean): Promise<void> {
    const work: Array<Promise<unknown>> = [];
    // a batch's windows (only those with rows, all dispatched at once) do not follow one another: no streak
    if (this.streaks && !out.endpointId.includes('-')) work.push(this.streaks.account(out));
    if (out.outcome === 'error' && stored && this.deps.pluginsKv) {
      work.push(
        this.lastErrors.push(out.shadow ? `${out.app}=shadow` : out.app, out).catch((err: unknown) => {
          this.log.warn({ err }, 'could not record a plugin failure');
          this.deps.metrics?.writerError('plugin-record');
        }),
      );
    }
    await Promise.all(work);
  }

  /**
   * Record the output's error as the plugin's last error and, given the streak that reached the
   * limit, quarantine the version if it is still the active one (a newer publish replaced it).
   */
  private async updatePlugin(out: AppOutputMessage, streak?: number): Promise<void> {
    if (!this.plugins) return;
    if (streak === undefined) {
      await this.plugins.recordOutcome(out);
      return;
    }
    const { quarantined } = await this.plugins.quarantine(out, streak);
    if (quarantined) {
      this.deps.metrics?.quarantined(out.app);
      this.log.warn(
        { plugin: out.app, version: out.version, endpoint: out.endpointName, failures: streak },
        out.shadow ? 'shadow version dropped' : 'plugin quarantined',
      );
    }
  }

  /** Wait `ms`, or less when the writer stops (or, while idle, when an output arrives). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Ship outbox points to the TSDB, oldest first; on failure wait and try again (1 s doubling to 30 s). */
  private async shipLoop(): Promise<void> {
    let backoff = 1000;
    while (!this.stopped) {
      const batch = await this.deps.db.pendingPoints(5000);
      if (batch.length === 0) {
        this.idle = true;
        await this.sleep(1000);
        this.idle = false;
        continue;
      }
      let written = false;
      try {
        await this.influx!.write(batch.map(([, p]) => p));
        written = true;
        this.deps.metrics?.tsdbWritten(batch.length);
        await this.deps.db.removePoints(batch.map(([k]) => k));
        backoff = 1000;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, pending: batch.length, retryInMs: backoff }, 'TSDB write failed; points stay in the outbox');
        if (written) this.deps.metrics?.writerError('outbox');
        else this.deps.metrics?.tsdbError();
        await this.sleep(backoff);
        backoff = Math.min(30_000, backoff * 2);
      }
    }
  }
}
