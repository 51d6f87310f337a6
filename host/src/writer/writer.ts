import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  Consumers,
  DEAD_LETTER_STAGES,
  Streams,
  Subjects,
  type AppOutputMessage,
  type DeadLetterCode,
  type ErrorReply,
  type RetentionExpiredMessage,
  type ResultsReply,
  type ResultsRequest,
  type ServingMinuteMessage,
  type ServingReply,
  type ServingRequest,
  type WindowStoredMessage,
  PROTOCOL_VERSION,
} from '@modelwatch/protocol';
import type { BindingKey } from '../domain/binding.js';
import { isModelwatchError, isStorageFull, storageFullError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { jsonCodec } from '../nats/codec.js';
import { deadLetterMessage } from '../nats/dead-letters.js';
import { MaxDeliver, retryDelayMs, WRITER_PROGRESS_MS } from '../nats/topology.js';
import { InfluxWriter, type InfluxTarget } from '../store/influx.js';
import { KeyedQueue } from '../store/keyed-queue.js';
import { PluginStore } from '../store/plugins.js';
import type { ResultsDb, RetentionMs } from '../store/results-db.js';
import { FailureStreaks } from '../store/streaks.js';
import { decodePurge, decodeServingMinute, isPurgeSubject, storableOutput } from './messages.js';
import { pageOf, profilesPage } from './pages.js';
import { recoverResults } from './recovery.js';

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
  /**
   * The key of the output binding (KV `mw_secrets`): an output is stored only when its binding
   * verifies (`domain/binding.ts`); others are refused and counted (`refused`). Without it every
   * output is stored.
   */
  bindingKey?: BindingKey;
  /** Windows stored, their latency and sandbox time, quarantines, the writer's and the TSDB's errors. */
  metrics?: HostMetrics;
  /** How long windows, profiles and their roll-ups are kept; without it nothing expires. */
  retention?: RetentionMs & {
    /** How often expiry runs. */
    checkEveryMs: number;
  };
  /** The time retention is measured against. @default Date.now */
  now?: () => number;
  /**
   * The writer's durable consumer on MW_OUTPUTS (it must exist: `ensureWriterConsumer`). The shared
   * `writer` (the default) splits the outputs among the writers that share it; a writer's own
   * (`writer-<node id>`) gives it every output, so its store is a complete view. With its own
   * consumer the writer answers queries in the queue group `writers`, and only once caught up with
   * the outputs the stream held at its start (`caughtUp`). @default 'writer'
   */
  consumer?: string;
  /** At most this many outputs stored in one LevelDB batch (those received while the last batch was stored). @default 1024 */
  batchSize?: number;
  /** A message received and not settled for this long, neither queued nor being handled, is no longer kept from redelivery. @default {@link WRITER_HOLD_MAX_MS} */
  holdMaxMs?: number;
}

/** How long the writer keeps a received message it has not settled, and no longer queues or handles (lost track of), from redelivery (5 min). */
export const WRITER_HOLD_MAX_MS = 300_000;

type OutputStage = Parameters<typeof deadLetterMessage>[2];

/**
 * Consumes app outputs and stores each window once in LevelDB (history and latest values).
 * Time-series points go through an outbox in the same LevelDB batch and are shipped to
 * InfluxDB by a loop that retries until the TSDB takes them.
 */
export class Writer {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private querySub: Subscription | undefined;
  /** Its own query subject's (`resultsQueryOf(queryId)`): the later pages of a query it answered first. */
  private queryOwnSub: Subscription | undefined;
  private readonly queryId = randomUUID().replaceAll('-', '');
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
  /** Messages dead-lettered since start (not decodable, not valid, or failed at every delivery). */
  deadLetters = 0;
  /** Outputs whose store failed, by stream sequence, until stored (see `reclaim`). */
  private readonly retrying = new Set<number>();
  private reclaiming = false;
  private reclaimTimer: NodeJS.Timeout | undefined;
  /**
   * Outputs and purges received and not yet settled (acknowledged, `nak`ed or terminated), with when
   * each was received: kept from redelivery by a progress signal every {@link WRITER_PROGRESS_MS}, so
   * the consumer's ack wait can be short and a crashed writer's outputs come back soon
   * (`WRITER_ACK_WAIT_MS`). Removed where settled (`release`); one held longer than
   * {@link WRITER_HOLD_MAX_MS} and neither queued nor being handled is no longer signalled, so the
   * server redelivers it.
   */
  private readonly held = new Map<JsMsg, number>();
  private progressTimer: NodeJS.Timeout | undefined;
  /** Outputs refused because their binding did not verify: forged, or for a task no controller dispatched. */
  refused = 0;
  private readonly streaks: FailureStreaks | undefined;
  private readonly plugins: PluginStore | undefined;
  /** The last error of each plugin: a burst of failures is one update of its record. */
  private readonly lastErrors = new KeyedQueue<AppOutputMessage, void>((_app, outs) => this.updatePlugin(outs.at(-1)!));
  /** Outputs and purges received, in stream order, waiting for their batch. */
  private readonly queue: JsMsg[] = [];
  /** The queue being stored (undefined when it is empty and nothing is under way). */
  private draining: Promise<void> | undefined;
  private readonly batchSize: number;
  /** Outputs stored and being accounted, acknowledged once accounted, and dead letters being published. */
  private readonly inflight = new Set<Promise<void>>();
  /** The messages of `inflight`'s work: settled by it, neither `nak`ed by a failing batch nor released by the hold cap. */
  private readonly handling = new Set<JsMsg>();
  /** The messages the drain took from the queue and has not handed on or settled yet. */
  private taken: JsMsg[] = [];
  private readonly storedListeners = new Set<(notice: WindowStoredMessage) => void>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiring: Promise<void> | undefined;
  private readonly consumerName: string;
  private readonly ownConsumer: boolean;
  private caughtUpResolve: (() => void) | undefined;
  /** Settles once the writer has stored every output MW_OUTPUTS held at its start, and answers queries. */
  readonly caughtUp: Promise<void>;

  constructor(private readonly deps: WriterDeps) {
    this.log = deps.logger.child({ component: 'writer' });
    this.consumerName = deps.consumer ?? Consumers.writer;
    this.batchSize = Math.max(1, deps.batchSize ?? 1024);
    this.ownConsumer = this.consumerName !== Consumers.writer;
    this.caughtUp = new Promise<void>((r) => (this.caughtUpResolve = r));
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
    // replies bigger than NATS' max payload cannot be sent: windows are paged under it, anything else is refused
    const budget = Math.max(64 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - 64 * 1024);
    // one writer of its own answers at once (as it always did); writers each with their own consumer answer once caught up
    if (!this.ownConsumer) this.subscribeQueries(budget);
    // the store checked against what the writer acknowledged, and rebuilt from MW_OUTPUTS where it lacks windows
    await recoverResults({
      js,
      db,
      logger: this.log,
      withOutbox: this.influx !== undefined,
      consumer: this.consumerName,
      batchSize: this.batchSize,
      ...(this.deps.bindingKey ? { bindingKey: this.deps.bindingKey } : {}),
    });
    // serving metrics of closed intervals: stored once each, with their TSDB point in the outbox
    const servingConsumer = await js.consumers.get(Streams.serving, Consumers.writerServing);
    this.servingMessages = await servingConsumer.consume({ max_messages: 256 });
    const servingStage = { stage: DEAD_LETTER_STAGES.serving, stream: Streams.serving, consumer: Consumers.writerServing } as const;
    this.servingLoop = (async () => {
      for await (const m of this.servingMessages!) {
        let minute: ServingMinuteMessage;
        try {
          minute = decodeServingMinute(m.data, m.subject);
        } catch (err) {
          await this.deadLetter(m, servingStage, 'INVALID_SERVING', (err as Error).message);
          continue;
        }
        try {
          if ((await db.storeServing(minute, this.influx !== undefined)) === 'stored') this.servingStored++;
          m.ack();
          if (this.idle) this.wake?.();
        } catch (err) {
          this.deps.metrics?.writerError('serving');
          await this.failed(m, servingStage, MaxDeliver[Consumers.writerServing], 'serving metrics', err);
        }
      }
    })();
    const consumer = await js.consumers.get(Streams.outputs, this.consumerName);
    this.messages = await consumer.consume({ max_messages: Math.max(256, this.batchSize) });
    if (this.ownConsumer)
      void this.awaitCatchUp(budget).catch((err: unknown) => {
        this.log.error({ err }, 'could not follow the catch-up with MW_OUTPUTS; answering queries now');
        this.subscribeQueries(budget);
      });
    this.reclaimTimer = setInterval(() => void this.reclaim(), 5000);
    this.progressTimer = setInterval(() => this.signalProgress(), WRITER_PROGRESS_MS);
    const retention = this.deps.retention;
    if (retention) {
      this.expiryTimer = setInterval(() => {
        this.expiring ??= this.expire(retention).finally(() => (this.expiring = undefined));
      }, retention.checkEveryMs);
      this.expiring = this.expire(retention).finally(() => (this.expiring = undefined));
    }
    const outputStage = { stage: DEAD_LETTER_STAGES.outputs, stream: Streams.outputs, consumer: this.consumerName } as const;
    this.loop = (async () => {
      for await (const m of this.messages!) {
        this.held.set(m, Date.now());
        this.queue.push(m);
        this.kick(outputStage);
        // the consumer's buffer fills meanwhile: the next batch
        if (this.queue.length >= 2 * this.batchSize) await this.draining;
      }
      await this.draining;
      await Promise.all(this.inflight);
    })();
  }

  /** Store what the queue holds, unless that is under way (then the messages join its next batch). */
  private kick(stage: OutputStage): void {
    if (this.draining) return;
    this.draining = this.drain(stage);
  }

  /**
   * Store the queued messages in stream order: the outputs up to the next purge (at most
   * `batchSize`) in one batch, then the purge, and so on; the messages that arrive while a batch
   * is stored form the next one.
   */
  private async drain(stage: OutputStage): Promise<void> {
    // the messages received already (the rest of the consumer's pull) join the first batch
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      if (this.queue.length === 0) {
        this.draining = undefined;
        return;
      }
      // the messages taken from the queue and not yet handled
      this.taken = [];
      try {
        if (isPurgeSubject(this.queue[0]!.subject)) {
          this.taken = [this.queue.shift()!];
          await this.applyPurge(this.taken[0]!, stage);
          continue;
        }
        let n = 1;
        while (n < this.queue.length && n < this.batchSize && !isPurgeSubject(this.queue[n]!.subject)) n++;
        this.taken = this.queue.splice(0, n);
        await this.storeBatch(this.taken, stage);
        this.taken = [];
        while (this.inflight.size >= Math.max(256, 2 * this.batchSize)) await Promise.race(this.inflight);
      } catch (err) {
        // not expected (each message's failure is handled): those not settled are redelivered (a
        // stored one is then a duplicate), except those handed on (being accounted or
        // dead-lettered), which their handling settles
        this.log.error({ err, outputs: this.taken.length }, 'could not handle a batch of outputs; they will be redelivered');
        for (const m of this.taken) if (!settled(m) && !this.handling.has(m)) this.nak(m);
      } finally {
        this.taken = [];
      }
    }
  }

  /**
   * Store outputs: those whose binding verifies in one LevelDB batch (idempotent by window: a
   * window stored already, by an earlier delivery or twice in the batch, is a duplicate), then
   * each one's failure streak accounted and its stored notice sent, and acknowledged once
   * accounted. A crash before the acknowledgements redelivers them, and the store drops them as
   * duplicates. When the batch cannot be stored, each output is stored alone, so only those that
   * fail are redelivered.
   */
  private async storeBatch(msgs: JsMsg[], stage: OutputStage): Promise<void> {
    const { db } = this.deps;
    const withOutbox = this.influx !== undefined;
    const items: Array<{ m: JsMsg; out: AppOutputMessage }> = [];
    for (const m of msgs) {
      let checked: ReturnType<typeof storableOutput>;
      try {
        checked = storableOutput(m.data, m.subject, this.deps.bindingKey);
      } catch (err) {
        // not an output: dead-lettered with the reason, once, and never in the way of the
        // outputs behind it (letters are published while the next messages are handled)
        this.track(m, this.deadLetter(m, stage, 'INVALID_OUTPUT', (err as Error).message));
        continue;
      }
      const { out, refused } = checked;
      if (refused) {
        this.refused++;
        this.log.warn(
          { endpoint: out.endpointName, app: out.app, version: out.version, windowStart: out.windowStart, seq: m.seq, refused: this.refused },
          'output refused: its binding does not verify (not the output of a dispatched task)',
        );
        this.ack(m);
        continue;
      }
      items.push({ m, out });
    }
    if (items.length === 0) return;
    let outcomes: Array<'stored' | 'duplicate' | undefined>;
    try {
      outcomes = await db.storeMany(
        items.map(({ m, out }) => ({ out, seq: m.seq })),
        withOutbox,
      );
    } catch (err) {
      if (items.length > 1) this.log.warn({ err, outputs: items.length }, 'could not store a batch of outputs; storing them one by one');
      outcomes = [];
      for (const { m, out } of items) {
        try {
          if (items.length === 1) throw err;
          outcomes.push(await db.store(out, withOutbox, m.seq));
        } catch (e) {
          outcomes.push(undefined);
          this.deps.metrics?.writerError('store');
          if ((await this.failed(m, stage, MaxDeliver[Consumers.writer], 'an output', e)) === 'retry') this.retrying.add(m.seq);
          else this.retrying.delete(m.seq);
        }
      }
    }
    items.forEach(({ m, out }, i) => {
      const outcome = outcomes[i];
      if (outcome !== undefined) this.accountOutput(m, out, outcome === 'stored');
    });
  }

  /** A stored output (or a duplicate) counted, noticed, its streak accounted, then acknowledged. */
  private accountOutput(m: JsMsg, out: AppOutputMessage, stored: boolean): void {
    this.retrying.delete(m.seq);
    if (stored) {
      this.stored++;
      // a batch's windows (`<endpoint id>-<batch id>`) are past ones: no latency
      this.deps.metrics?.windowStored(out, Date.now(), !out.endpointId.includes('-'));
      this.notifyStored(out);
    } else this.duplicates++;
    // acknowledged once accounted (a duplicate too: the writer may have stopped after storing
    // the window and before accounting it); accounting waits for NATS, so outputs of other
    // keys go on meanwhile
    this.track(
      m,
      this.health(out, stored).then(
        () => {
          this.ack(m);
          if (this.idle) this.wake?.();
        },
        (err: unknown) => {
          this.log.error({ err, seq: m.seq }, 'could not account an output; it will be redelivered');
          this.deps.metrics?.writerError('account');
          this.nak(m);
        },
      ),
    );
  }

  /**
   * An endpoint's purge read among the outputs (`mw.purges.<endpoint id>`): every writer removes
   * what it holds of the endpoint when its consumer reaches it, after the outputs before it and
   * before those after it; the writer that purged when asked does nothing more unless it stored
   * anything of the endpoint since. Idempotent: applied again (a redelivery, a rebuild) it removes nothing more.
   */
  private async applyPurge(m: JsMsg, stage: OutputStage): Promise<void> {
    let endpointId: string;
    try {
      endpointId = decodePurge(m.data, m.subject).endpointId;
    } catch (err) {
      this.track(m, this.deadLetter(m, stage, 'INVALID_OUTPUT', (err as Error).message));
      return;
    }
    try {
      const purged = await this.deps.db.purgeInOrder(endpointId);
      if (purged) this.log.info({ endpointId, ...purged }, 'endpoint purged');
      this.ack(m);
    } catch (err) {
      this.deps.metrics?.writerError('store');
      await this.failed(m, stage, MaxDeliver[Consumers.writer], 'a purge', err);
    }
  }

  /** Remove what is past its retention; when anything was, say so on `mw.retention.expired`. */
  private async expire(retention: RetentionMs): Promise<void> {
    const now = (this.deps.now ?? Date.now)();
    try {
      const done = await this.deps.db.expire(now, retention);
      if (done.windows + done.profiles + done.rollups === 0) return;
      this.log.info(done, 'expired past their retention');
      const notice: RetentionExpiredMessage = {
        v: PROTOCOL_VERSION,
        at: now,
        before: { window: now - retention.windowMs, hour: now - retention.hourMs, day: now - retention.dayMs },
        ...done,
      };
      this.deps.nc.publish(Subjects.retentionExpired, jsonCodec.encode(notice));
    } catch (err) {
      this.deps.metrics?.writerError('store');
      this.log.warn({ err }, 'could not expire windows and profiles past their retention; trying again later');
    }
  }

  /** Answer results and serving queries from this writer's store. */
  private subscribeQueries(budget: number): void {
    const { nc, db } = this.deps;
    // writers each with a complete view: one of them answers each query
    const queue = this.ownConsumer ? { queue: 'writers' } : {};
    const answerResults = (err: Error | null, msg: Msg): void => {
      if (err) return;
      this.answer(msg, budget, async (): Promise<ResultsReply> => {
        const q = jsonCodec.decode<ResultsRequest>(msg.data);
        if ('metricNames' in q) return { metricNames: await db.metricNames(q.metricNames.endpointId) };
        if ('metricValues' in q) return await db.metricValues(q.metricValues);
        if ('series' in q) return { series: await db.seriesOf(q.series) };
        if ('purge' in q) {
          // the purge's message in MW_OUTPUTS follows: every writer applies it in order, this one
          // only if it stored anything of the endpoint meanwhile
          return { purged: await db.purgeEndpoint(q.purge.endpointId, { ahead: true }) };
        }
        if ('profiles' in q) return profilesPage(await db.profilesOf(q.profiles), budget);
        if ('rollups' in q) return { rollups: await db.rollupsOf(q.rollups) };
        if ('window' in q) {
          const { endpointId, windowStart } = q.window;
          const [windows, profile] = await Promise.all([db.windowsAt(endpointId, windowStart), db.profileOf(endpointId, windowStart)]);
          return { window: { windows, profile: profile ?? null } };
        }
        if (q.latest) return { latest: await db.latestResults(q.endpointId) };
        const page = pageOf(await db.query(q), budget);
        // the later pages from this writer alone: offsets into another writer's store skip or repeat windows
        return page.next === undefined ? page : { ...page, writer: this.queryId };
      });
    };
    this.querySub = nc.subscribe(Subjects.resultsQuery, { ...queue, callback: answerResults });
    this.queryOwnSub = nc.subscribe(Subjects.resultsQueryOf(this.queryId), { callback: answerResults });
    this.servingSub = nc.subscribe(Subjects.servingQuery, {
      ...queue,
      callback: (err, msg) => {
        if (err) return;
        this.answer(msg, budget, async (): Promise<ServingReply> => {
          const q = jsonCodec.decode<ServingRequest>(msg.data);
          if ('intervals' in q) return { intervals: await db.servingIntervals(q.intervals.endpointId, q.intervals.since, q.intervals.limit) };
          return { stats: await db.endpointStats(q.stats.endpointIds) };
        });
      },
    });
    this.caughtUpResolve?.();
  }

  /** With its own consumer: answer queries once every output the stream held at start is stored. */
  private async awaitCatchUp(budget: number): Promise<void> {
    const { js } = this.deps;
    const target = (await (await js.streams.get(Streams.outputs)).info()).state.last_seq;
    const consumer = await js.consumers.get(Streams.outputs, this.consumerName);
    for (;;) {
      if (this.stopped) return;
      const ci = await consumer.info();
      if (ci.ack_floor.stream_seq >= target || (ci.num_pending === 0 && ci.num_ack_pending === 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.log.info({ consumer: this.consumerName, outputs: target }, 'writer caught up with MW_OUTPUTS: answering queries');
    this.subscribeQueries(budget);
  }

  /** Tell live views (`mw.stored.<endpoint id>`) and in-process listeners that a window was stored. */
  private notifyStored(output: AppOutputMessage): void {
    const { profile: _profile, ...plain } = output;
    const notice: WindowStoredMessage = { v: PROTOCOL_VERSION, storedAt: Date.now(), output: plain };
    try {
      this.deps.nc.publish(Subjects.stored(output.endpointId), jsonCodec.encode(notice));
    } catch (err) {
      this.log.warn({ err }, 'could not publish a stored-window notice');
    }
    for (const listener of this.storedListeners) {
      try {
        listener(notice);
      } catch (err) {
        this.log.warn({ err }, 'a stored-window listener failed');
      }
    }
  }

  /** Call `listener` after each window this writer stores (not for duplicates). Returns the unsubscribe. */
  onStored(listener: (notice: WindowStoredMessage) => void): () => void {
    this.storedListeners.add(listener);
    return () => this.storedListeners.delete(listener);
  }

  /** Keep a message's pending work (accounting, its dead letter) in `inflight`, and the message in `handling`, until it is done. */
  private track(m: JsMsg, work: Promise<void>): void {
    this.handling.add(m);
    const done: Promise<void> = work.finally(() => {
      this.inflight.delete(done);
      this.handling.delete(m);
    });
    this.inflight.add(done);
  }

  /** Dead-letter a message and terminate it; when the letter cannot be published, the message waits for its redelivery. */
  private async deadLetter(m: JsMsg, where: Parameters<typeof deadLetterMessage>[2], code: DeadLetterCode, reason: string): Promise<void> {
    this.deadLetters++;
    this.deps.metrics?.deadLettered(code, false);
    this.log.info({ seq: m.seq, subject: m.subject, code, reason }, 'message dead-lettered');
    try {
      // terminated once its letter is published
      await deadLetterMessage(this.deps.js, m, where, code, reason);
      this.held.delete(m);
    } catch (err) {
      this.log.error({ err, seq: m.seq }, 'could not dead-letter a message; it will be redelivered');
      this.nak(m);
    }
  }

  /** A message that could not be stored: redelivered after a growing delay, dead-lettered at its last delivery. */
  private async failed(
    m: JsMsg,
    where: Parameters<typeof deadLetterMessage>[2],
    maxDeliver: number,
    what: string,
    err: unknown,
  ): Promise<'retry' | 'dead-lettered'> {
    const full = isStorageFull(err);
    const reason = full ? storageFullError(`storing ${what}`, err).message : `storing ${what} failed: ${(err as Error).message}`;
    if (m.info.deliveryCount >= maxDeliver) {
      await this.deadLetter(m, where, 'MAX_DELIVERIES', `${reason} (at each of ${m.info.deliveryCount} deliveries)`);
      return 'dead-lettered';
    }
    this.log.error({ err, seq: m.seq, deliveries: m.info.deliveryCount, diskFull: full }, `${reason}; it will be redelivered`);
    this.nak(m);
    return 'retry';
  }

  /** Acknowledge a message, and hold it no more. */
  private ack(m: JsMsg): void {
    m.ack();
    this.held.delete(m);
  }

  /** Have a message redelivered after a delay growing with its deliveries, and hold it no more. */
  private nak(m: JsMsg): void {
    m.nak(retryDelayMs(m.info.deliveryCount));
    this.held.delete(m);
  }

  /**
   * Keep the held messages from redelivery (`working`); those settled meanwhile are dropped (a
   * safety net: each is released where settled), and one held longer than
   * {@link WRITER_HOLD_MAX_MS} that is neither queued nor being handled (lost track of) is no longer
   * signalled, so the server redelivers it after its ack wait. Queued and handled ones stay held
   * however long the store takes: their redelivered copies would pile up unheld behind them.
   */
  private signalProgress(): void {
    const now = Date.now();
    const maxMs = this.deps.holdMaxMs ?? WRITER_HOLD_MAX_MS;
    let busy: Set<JsMsg> | undefined;
    for (const [m, since] of this.held) {
      if (settled(m)) this.held.delete(m);
      else if (now - since > maxMs && !(busy ??= new Set([...this.queue, ...this.taken, ...this.handling])).has(m)) {
        this.held.delete(m);
        this.log.warn({ seq: m.seq, subject: m.subject, heldMs: now - since }, 'an output held too long is left to its redelivery');
      } else m.working();
    }
  }

  /**
   * Store the outputs waiting for a redelivery that the server no longer holds for this
   * consumer: nats-server 2.9 drops a consumer's pending messages when their stream is purged with
   * a subject filter (an endpoint's purge), as if they were acknowledged. Those below the
   * consumer's acknowledged floor are read from MW_OUTPUTS by sequence and stored.
   */
  private async reclaim(): Promise<void> {
    if (this.retrying.size === 0 || this.reclaiming) return;
    this.reclaiming = true;
    try {
      const { js, db } = this.deps;
      const floor = (await (await js.consumers.get(Streams.outputs, this.consumerName)).info()).ack_floor.stream_seq;
      const stream = await js.streams.get(Streams.outputs);
      for (const seq of [...this.retrying].sort((a, b) => a - b)) {
        if (seq > floor) continue;
        const sm = await stream.getMessage({ seq });
        if (!sm) {
          // purged itself
          this.retrying.delete(seq);
          continue;
        }
        try {
          const { out, refused } = storableOutput(sm.data, sm.subject, this.deps.bindingKey);
          if (refused) {
            this.refused++;
            this.retrying.delete(seq);
            continue;
          }
          const stored = (await db.store(out, this.influx !== undefined, seq)) === 'stored';
          if (stored) {
            this.stored++;
            this.notifyStored(out);
          }
          await this.health(out, stored);
          this.retrying.delete(seq);
          this.log.warn({ seq }, 'an output the server dropped before the writer stored it was stored from MW_OUTPUTS');
        } catch (err) {
          if ((err as Error).name === 'InvalidMessageError') this.retrying.delete(seq);
          else this.log.warn({ err, seq }, 'could not store an output the server dropped; trying again later');
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'could not check the outputs waiting for a redelivery');
    } finally {
      this.reclaiming = false;
    }
  }

  /** Answer a request: its reply, or its error as `{ error, code }`; a reply over NATS' max payload is refused, never thrown. */
  private answer(msg: Msg, budget: number, work: () => Promise<ResultsReply | ServingReply>): void {
    void work()
      .catch((e: unknown): ErrorReply => {
        if (isStorageFull(e)) return { error: storageFullError('the request', e).message, code: 'STORAGE_FULL' };
        return { error: (e as Error).message, ...(isModelwatchError(e) ? { code: e.code } : {}) };
      })
      .then((reply) => {
        let data = jsonCodec.encode(reply);
        if (data.length > budget) {
          data = jsonCodec.encode({
            error: `the reply is ${data.length} bytes, over what a NATS message may carry (${budget}): ask for less (a smaller limit, or a narrower range)`,
            code: 'REPLY_TOO_LARGE',
          } satisfies ErrorReply);
        }
        msg.respond(data);
      })
      .catch((err: unknown) => this.log.warn({ err }, 'could not answer a query'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.reclaimTimer);
    clearInterval(this.progressTimer);
    clearInterval(this.expiryTimer);
    await this.expiring;
    this.querySub?.unsubscribe();
    this.queryOwnSub?.unsubscribe();
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

/**
 * Whether a message was acknowledged, `nak`ed or terminated: nats.js's message (`JsMsgImpl`, whose
 * `didAck` its typings declare) records it; `JsMsg` does not expose it. A `working()` on a settled
 * message is ignored, so reading it only keeps the writer's held set small.
 */
function settled(m: JsMsg): boolean {
  return (m as Partial<{ didAck: boolean }>).didAck === true;
}
