/**
 * The notifier: takes alert notifications (`enqueue`, stored in MW_ALERTS before anything is
 * sent), routes each to its channels (one delivery message per channel, message id
 * `<key>|<channel>`), and delivers each channel's messages from its own durable consumer, so a
 * receiver that is down delays no other. Failed attempts are retried with exponential backoff and
 * jitter (a delayed `nak`) up to the attempt limit; a storm on one channel is grouped into digests.
 * Every attempt is recorded in MW_ALERT_ATTEMPTS. A delivery sent (or given up) is marked in KV
 * `mw_alert_sent` before it is acked: a copy NATS hands out again is settled, not sent again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets, Consumers, Streams, Subjects } from '@modelwatch/protocol';
import type { ResolvedAlertDeliveryOptions } from '../../config/options.js';
import { ModelwatchError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { jsonCodec } from '../../nats/codec.js';
import { isNotFound, isWrongLastSequence } from '../../nats/errors.js';
import { ALERT_SEVERITIES, type AlertNotification, type AlertSeverity, type Notifier } from '../contract.js';
import { channelUrls, DEFAULT_KINDS, hasEnvRef, redactChannel, routeMatches, validateChannel, type ChannelInfo, type ChannelSpec } from './channels.js';
import { destinationRefusal } from './destinations.js';
import { digestKey, type Outgoing } from './messages.js';
import { attemptDelivery, type AttemptResult } from './send.js';

/** One delivery attempt as recorded (`modelwatch alert history`, `GET /api/v1/alerts/history`). */
export interface DeliveryAttempt {
  /** When the attempt ended (ms since the epoch). */
  at: number;
  channel: string;
  /** The idempotency key sent: the notification's, or a digest's `digest-...`. */
  key: string;
  /** A digest's notifications' keys. */
  keys?: string[];
  kind?: string;
  alertId?: string;
  /** 1 for the first attempt. */
  attempt: number;
  ok: boolean;
  status?: number;
  error?: string;
  /** The attempt was the last: the delivery is given up. */
  gaveUp?: boolean;
  /** How many notifications the message carried (a digest: more than 1). */
  notifications: number;
  /** A channel test (`alert channel test`), not a delivery of the outbox. */
  test?: boolean;
}

export interface HistoryQuery {
  channel?: string;
  key?: string;
  /** The newest this many. @default 100 */
  limit?: number;
}

export interface NotifierOptions {
  publicUrl: string | undefined;
  allowedHosts: readonly string[] | undefined;
  delivery: ResolvedAlertDeliveryOptions;
}

export interface NotifierDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** KV `mw_alert_channels`. */
  channelsKv: KV;
  /** KV `mw_alert_sent`: the deliveries settled, so that a copy of one is not sent again. */
  sentKv: KV;
  logger: Logger;
  options: NotifierOptions;
  /** Channels declared in the `--alerts FILE` (read-only through the API). */
  fileChannels?: readonly ChannelSpec[];
  env?: NodeJS.ProcessEnv;
  /** Route and deliver (the process that runs the controller); false: channels and `enqueue` only. @default true */
  deliver?: boolean;
}

/** The notifier as the host, the API and the evaluator see it. */
export interface AlertNotifier extends Notifier {
  start(): Promise<void>;
  stop(): Promise<void>;
  listChannels(): ChannelInfo[];
  getChannel(name: string): ChannelInfo;
  /** Create or replace (`replace`) a channel made through the API (admin); refused for a file's channel. */
  putChannel(input: unknown, opts?: { replace?: boolean }): Promise<ChannelInfo>;
  deleteChannel(name: string): Promise<void>;
  /** Send a sample notification to the channel now (not through the outbox) and record the attempt. */
  testChannel(name: string): Promise<AttemptResult>;
  /**
   * Send a notification now (not through the outbox) to every channel it goes to (those it names,
   * those whose route takes it), recording each attempt: per channel, success or the status or
   * error, never the receiver's body. Names of unknown channels come back as failed.
   */
  testNotification(n: AlertNotification): Promise<ChannelTestResult[]>;
  history(q?: HistoryQuery): Promise<DeliveryAttempt[]>;
}

/** One channel's answer to a test: success, or the status code or error (never the receiver's body). */
export interface ChannelTestResult extends AttemptResult {
  channel: string;
}

interface Delivery {
  channel: string;
  notification: AlertNotification;
}

/** How a delivery was settled, as marked in KV `mw_alert_sent`. */
export interface SentMark {
  key: string;
  outcome: 'sent' | 'given-up';
  at: number;
  /**
   * The generation of the channel it was settled for (see {@link StoredChannel}). A mark of
   * another generation is not the channel's: one written late by another process's attempt to a
   * channel deleted since, after the delete's purge of the marks, must not settle a delivery to the
   * channel made again under the name. (Absent in marks of versions before it: taken as any.)
   */
  gen?: string;
}

/**
 * A channel as KV `mw_alert_channels` stores it: its spec and `generation`, made when the channel
 * is created and kept when it is replaced (so a replaced channel keeps its marks, and one deleted
 * and made again does not). File channels and channels stored before it have the generation ''.
 */
type StoredChannel = ChannelSpec & { generation?: string };

/** The spec and generation of a stored channel. */
function fromStored(json: StoredChannel): { spec: ChannelSpec; generation: string } {
  const { generation, ...spec } = json;
  return { spec: spec as ChannelSpec, generation: generation ?? '' };
}

/** The key of a delivery's mark in `mw_alert_sent`: `<channel>.<first 40 hex of the SHA-256 of the notification's key>`. */
export const sentMarkKey = (channel: string, key: string) => `${channel}.${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;

/** What one attempt sends: one notification, or several as a digest. */
const outgoing = (items: AlertNotification[]): Outgoing =>
  items.length === 1 ? { key: items[0]!.key, notifications: items } : { key: digestKey(items.map((i) => i.key)), notifications: items };

const UNROUTED = '_unrouted';
const ns = (ms: number) => Math.round(ms * 1e6);
export const deliveryConsumer = (channel: string) => `alert-deliver-${channel}`;

/** A sample notification for tests of channels and rules (`alert channel test`, `alert rule test`, `POST /api/v1/alerts/notifications/test`). */
export function sampleNotification(
  o: { key?: string; severity?: AlertSeverity; channels?: string[]; endpoint?: string; labels?: Record<string, string>; rule?: string } = {},
): AlertNotification {
  const now = Date.now();
  const start = now - (now % 60_000) - 60_000;
  const endpoint = o.endpoint ?? 'sample-endpoint';
  return {
    key: o.key ?? `test-${randomUUID()}`,
    kind: 'firing',
    channels: o.channels ?? [],
    at: now,
    alert: {
      id: `test|${endpoint}|sample-app|sample_result`,
      rule: o.rule ?? 'sample-rule',
      severity: o.severity ?? 'high',
      state: 'firing',
      endpoint,
      app: 'sample-app',
      result: 'sample_result',
      summary: `a test notification from modelwatch${o.rule !== undefined ? ` for the rule ${o.rule}` : ''}: sample_result on ${endpoint} (0.71 >= 0.5)`,
      value: 0.71,
      threshold: 0.5,
      status: 2,
      windows: [start],
      windowStart: start,
      windowEnd: start + 60_000,
      labels: o.labels ?? {},
      startsAt: now,
    },
  };
}

/** Create the notifier; `start()` loads the channels and starts routing and delivering. */
export function createNotifier(deps: NotifierDeps): AlertNotifier {
  return new NotifierImpl(deps);
}

class ChannelWorker {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private windowStart = 0;
  private windowCount = 0;
  private buffer: JsMsg[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  /** Stream sequences of the messages this worker holds: in a digest's buffer or in an attempt. */
  private readonly held = new Set<number>();
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly n: NotifierImpl,
  ) {}

  async start(): Promise<void> {
    const d = this.n.deps;
    const o = d.options.delivery;
    const cfg = {
      durable_name: deliveryConsumer(this.name),
      filter_subject: Subjects.alertDeliver(this.name),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      // a message waits at most a group interval in a digest's buffer, then one attempt's timeout
      ack_wait: ns(Math.max(o.groupIntervalMs, o.timeoutMs) + o.timeoutMs + 5000),
      max_ack_pending: 10_000,
      // crashed attempts count as deliveries too: room above the attempts we make
      max_deliver: o.maxAttempts * 2 + 5,
    };
    try {
      await d.jsm.consumers.info(Streams.alerts, cfg.durable_name);
      const { durable_name, deliver_policy: _d, ...mutable } = cfg;
      await d.jsm.consumers.update(Streams.alerts, durable_name, mutable);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await d.jsm.consumers.add(Streams.alerts, cfg);
    }
    const consumer = await d.js.consumers.get(Streams.alerts, cfg.durable_name);
    this.messages = await consumer.consume({ max_messages: 1000 });
    const messages = this.messages;
    // stopped while it started: no pull request is left open for a client about to go
    if (this.stopped) {
      await messages.close();
      return;
    }
    this.loop = (async () => {
      for await (const m of messages) {
        if (this.stopped) break;
        await this.take(m).catch((err: unknown) => this.n.log.error({ err, channel: this.name }, 'alert delivery failed'));
      }
    })();
  }

  private async take(m: JsMsg): Promise<void> {
    // The same message can come twice: back after its ack wait while an attempt still holds it, or
    // handed out again as new by nats-server before 2.10.14 after a redelivery to a client that
    // died (nats-server#5305; Debian's is 2.9). A copy of a message held here is left to the one
    // held (the server settles by stream sequence); a copy of one settled before is found by its
    // mark when its attempt would start (`attempt`). No mark is read here: a storm is buffered at once.
    if (this.held.has(m.seq)) {
      this.n.log.debug({ channel: this.name, seq: m.seq, deliveries: m.info.deliveryCount }, 'a copy of a delivery held here: left to the one held');
      return;
    }
    this.held.add(m.seq);
    const o = this.n.deps.options.delivery;
    const now = Date.now();
    if (now - this.windowStart >= o.groupIntervalMs) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount++;
    if (this.windowCount <= o.groupThreshold && this.buffer.length === 0) return this.track(this.deliver([m]));
    // a storm: held until the interval ends, then sent as one digest
    this.buffer.push(m);
    this.flushTimer ??= setTimeout(() => this.flush(), Math.max(0, this.windowStart + o.groupIntervalMs - now));
  }

  private flush(): void {
    this.flushTimer = undefined;
    const msgs = this.buffer;
    this.buffer = [];
    if (msgs.length) this.track(this.deliver(msgs)).catch((err: unknown) => this.n.log.error({ err, channel: this.name }, 'alert delivery failed'));
  }

  private async track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    try {
      await p;
    } finally {
      this.inFlight.delete(p);
    }
  }

  private async deliver(msgs: JsMsg[]): Promise<void> {
    try {
      await this.attempt(msgs);
    } finally {
      this.release(msgs); // when the attempt threw: its messages come back after the ack wait
    }
  }

  /** Settled (or given back): a copy that comes now is a delivery of its own. */
  private release(msgs: readonly JsMsg[]): void {
    for (const m of msgs) this.held.delete(m.seq);
  }

  private async attempt(taken: JsMsg[]): Promise<void> {
    const n = this.n;
    const o = n.deps.options.delivery;
    const spec = n.channelSpec(this.name);
    // the generation the attempt is for: the channel may be deleted and made again meanwhile
    const gen = n.generationOf(this.name);
    const notifications = taken.map((m) => m.json<Delivery>().notification);
    if (!spec) {
      for (const m of taken) m.term(); // without a reason (as below)
      this.release(taken);
      const attempt = Math.max(...taken.map((m) => m.info.deliveryCount));
      await n.record({ channel: this.name, out: outgoing(notifications), attempt, result: { ok: false, error: 'the channel was deleted' }, gaveUp: true });
      return;
    }
    // a delivery settled before (by this process or one before it) is settled the same way again, not sent
    const marks = await Promise.all(notifications.map((i) => n.sentMark(this.name, i.key, gen)));
    const msgs: JsMsg[] = [];
    const items: AlertNotification[] = [];
    taken.forEach((m, i) => {
      const mark = marks[i];
      if (!mark) {
        msgs.push(m);
        items.push(notifications[i]!);
        return;
      }
      if (mark.outcome === 'sent') m.ack();
      else m.term(); // without a reason (as below)
      this.release([m]);
      n.log.info(
        { channel: this.name, key: mark.key, seq: m.seq, deliveries: m.info.deliveryCount, outcome: mark.outcome },
        'a delivery settled before came again: not sent again',
      );
    });
    if (!msgs.length) return;
    const attempt = Math.max(...msgs.map((m) => m.info.deliveryCount));
    const out = outgoing(items);
    for (const m of msgs) m.working();
    const result = await attemptDelivery(spec, out, {
      nc: n.deps.nc,
      publicUrl: n.deps.options.publicUrl,
      allowedHosts: n.deps.options.allowedHosts,
      timeoutMs: o.timeoutMs,
      attempt,
      ...(n.deps.env && { env: n.deps.env }),
    });
    const gaveUp = !result.ok && attempt >= o.maxAttempts;
    // marked before the ack: a copy handed out after it finds the mark
    if (result.ok || gaveUp) await n.markSent(this.name, items, result.ok ? 'sent' : 'given-up', gen);
    // settled before the attempt is recorded: a record that waits on a busy server must not keep a
    // delivered message past its ack wait (it came back and was delivered a second time)
    if (result.ok) for (const m of msgs) m.ack();
    // without a reason: nats-server 2.9 ignores a +TERM that carries one, and redelivers
    else if (gaveUp) for (const m of msgs) m.term();
    else {
      const delay = backoffMs(attempt, o.backoffMs, o.backoffMaxMs);
      for (const m of msgs) m.nak(delay);
    }
    // in the same tick: a redelivery of a digest's message may come while the record waits
    this.release(msgs);
    await n.record({ channel: this.name, out, attempt, result, gaveUp });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.buffer = []; // not acked: delivered again after the ack wait
    this.held.clear();
    await this.messages?.close();
    await this.loop?.catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }
}

/** The delay before attempt `attempt + 1`: `base x 2^(attempt-1)`, at most `max`, with full jitter over its upper half. */
export function backoffMs(attempt: number, base: number, max: number): number {
  const d = Math.min(max, base * 2 ** Math.min(30, attempt - 1));
  return Math.round(d / 2 + Math.random() * (d / 2));
}

class NotifierImpl implements AlertNotifier {
  readonly log: Logger;
  private apiChannels = new Map<string, ChannelSpec>();
  /** The generation of each API channel (see {@link StoredChannel}). */
  private readonly generations = new Map<string, string>();
  private readonly fileChannels = new Map<string, ChannelSpec>();
  private readonly workers = new Map<string, ChannelWorker>();
  private readonly workerOps = new Map<string, Promise<void>>();
  private router: ConsumerMessages | undefined;
  private routerLoop: Promise<void> | undefined;
  private watchStop: (() => void) | undefined;
  private running = false;

  constructor(readonly deps: NotifierDeps) {
    this.log = deps.logger.child({ component: 'notifier' });
    for (const c of deps.fileChannels ?? []) this.fileChannels.set(c.name, validateChannel(c));
  }

  /**
   * The mark of a delivery of `key` to generation `gen` of `channel` settled before, if any (none
   * when KV cannot be read: then it is sent).
   */
  async sentMark(channel: string, key: string, gen: string): Promise<SentMark | undefined> {
    try {
      const e = await this.deps.sentKv.get(sentMarkKey(channel, key));
      if (!e || e.operation !== 'PUT') return undefined;
      const mark = e.json<SentMark>();
      return mark.key === key && (mark.gen === undefined || mark.gen === gen) ? mark : undefined;
    } catch (err) {
      this.log.warn({ err, channel, key }, 'reading the mark of a settled delivery failed: delivering');
      return undefined;
    }
  }

  /** Mark the deliveries of `items` to `channel` settled (a failure is logged: the ack still follows). */
  async markSent(channel: string, items: readonly AlertNotification[], outcome: SentMark['outcome'], gen: string): Promise<void> {
    const at = Date.now();
    await Promise.all(
      items.map((i) =>
        this.deps.sentKv
          .put(sentMarkKey(channel, i.key), JSON.stringify({ key: i.key, outcome, at, gen } satisfies SentMark))
          .catch((err: unknown) => this.log.warn({ err, channel, key: i.key }, 'marking a settled delivery failed')),
      ),
    );
  }

  channelSpec(name: string): ChannelSpec | undefined {
    return this.fileChannels.get(name) ?? this.apiChannels.get(name);
  }

  /** The channel's generation ('' for a file channel). */
  generationOf(name: string): string {
    return this.fileChannels.has(name) ? '' : (this.generations.get(name) ?? '');
  }

  private keepChannel(name: string, json: StoredChannel): void {
    const { spec, generation } = fromStored(json);
    this.apiChannels.set(name, spec);
    this.generations.set(name, generation);
  }

  private forgetChannel(name: string): void {
    this.apiChannels.delete(name);
    this.generations.delete(name);
  }

  async start(): Promise<void> {
    const kv = this.deps.channelsKv;
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      if (e && e.operation === 'PUT') this.keepChannel(k, e.json<StoredChannel>());
    }
    this.running = this.deps.deliver ?? true;
    for (const name of new Set([...this.fileChannels.keys(), ...this.apiChannels.keys()])) await this.ensureWorker(name);
    // channels changed by another process (or this one): kept in step
    const watch = await kv.watch({ include: 'updates' as never });
    this.watchStop = () => watch.stop();
    void (async () => {
      for await (const e of watch) {
        try {
          if (e.operation === 'PUT') {
            this.keepChannel(e.key, e.json<StoredChannel>());
            await this.ensureWorker(e.key);
          } else await this.channelDeleted(e.key);
        } catch (err) {
          this.log.error({ err, channel: e.key }, 'keeping a channel in step failed');
        }
      }
    })().catch((err: unknown) => this.log.error({ err }, 'the watch of the alert channels ended'));
    if (!this.running) return;
    const consumer = await this.deps.js.consumers.get(Streams.alerts, Consumers.alertRouter);
    this.router = await consumer.consume({ max_messages: 1000 });
    const router = this.router;
    this.routerLoop = (async () => {
      for await (const m of router) {
        try {
          await this.route(m);
        } catch (err) {
          this.log.error({ err }, 'routing an alert notification failed');
          m.nak(1000);
        }
      }
    })();
    this.log.info({ channels: this.apiChannels.size + this.fileChannels.size }, 'notifier running');
  }

  async stop(): Promise<void> {
    this.running = false;
    this.watchStop?.();
    await this.router?.close();
    await this.routerLoop?.catch(() => undefined);
    // a worker still starting is stopped once it has started (or failed to)
    await Promise.allSettled([...this.workerOps.values()]);
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
    this.workers.clear();
  }

  /**
   * A channel's delete, heard on the watch (made through this process's API or another's). When
   * the channel exists again by now (its PUT follows), the process that deleted it dropped its
   * consumer: this process's worker restarts on the consumer its start makes again, and nothing
   * of the channel made again is dropped. Otherwise the channel's worker, consumer, deliveries
   * and marks go.
   */
  private channelDeleted(name: string): Promise<void> {
    return this.inOrder(name, async () => {
      // (unreadable: taken as deleted, so that nothing is sent to a channel that may be gone)
      const current = await this.deps.channelsKv.get(name).catch(() => null);
      if (current?.operation === 'PUT') {
        // the channel made again, with its generation: the restarted worker's attempts must not
        // take a mark of the deleted one (this process's watch may not have heard the PUT yet)
        this.keepChannel(name, current.json<StoredChannel>());
        await this.stopWorkerNow(name);
        await this.startWorkerNow(name);
        return;
      }
      this.forgetChannel(name);
      if (!this.fileChannels.has(name)) await this.dropWorkerNow(name);
    });
  }

  /** One channel's worker changes in the order they were asked for: a delete and a re-create never interleave. */
  private inOrder(name: string, op: () => Promise<void>): Promise<void> {
    const next = (this.workerOps.get(name) ?? Promise.resolve()).catch(() => undefined).then(op);
    this.workerOps.set(name, next);
    void next
      .finally(() => {
        if (this.workerOps.get(name) === next) this.workerOps.delete(name);
      })
      .catch(() => undefined);
    return next;
  }

  private ensureWorker(name: string): Promise<void> {
    // a worker with a change queued may be about to go: the check waits its turn
    if (!this.running || (this.workers.has(name) && !this.workerOps.has(name))) return Promise.resolve();
    return this.inOrder(name, () => this.startWorkerNow(name));
  }

  /** Start the channel's worker unless it has one (or the notifier does not deliver): in the channel's order. */
  private async startWorkerNow(name: string): Promise<void> {
    if (!this.running || this.workers.has(name)) return;
    const w = new ChannelWorker(name, this);
    this.workers.set(name, w);
    await w.start();
  }

  /** Stop the channel's worker, if any, leaving its consumer: in the channel's order. */
  private async stopWorkerNow(name: string): Promise<void> {
    const w = this.workers.get(name);
    this.workers.delete(name);
    await w?.stop();
  }

  private dropWorker(name: string): Promise<void> {
    return this.inOrder(name, () => this.dropWorkerNow(name));
  }

  private async dropWorkerNow(name: string): Promise<void> {
    await this.stopWorkerNow(name);
    await this.deps.jsm.consumers.delete(Streams.alerts, deliveryConsumer(name)).catch(() => undefined);
    // a channel made again under this name starts empty
    await this.deps.jsm.streams.purge(Streams.alerts, { filter: Subjects.alertDeliver(name) }).catch(() => undefined);
    await this.deps.jsm.streams.purge(`KV_${Buckets.alertSent}`, { filter: `$KV.${Buckets.alertSent}.${name}.>` }).catch(() => undefined);
  }

  /** The channels a notification goes to: those it names, and those whose route takes it; each only for the kinds it wants. */
  targets(n: AlertNotification): { targets: string[]; unknown: string[] } {
    const names = new Set<string>();
    const unknown: string[] = [];
    for (const c of n.channels) (this.channelSpec(c) ? names : unknown.includes(c) ? new Set() : (unknown.push(c), new Set())).add(c);
    for (const c of [...this.fileChannels.values(), ...this.apiChannels.values()]) {
      if (c.route && routeMatches(c.route, n.alert.severity, n.alert.labels)) names.add(c.name);
    }
    const targets = [...names].filter((c) => (this.channelSpec(c)!.kinds ?? DEFAULT_KINDS).includes(n.kind));
    return { targets, unknown };
  }

  private async route(m: JsMsg): Promise<void> {
    const n = m.json<AlertNotification>();
    const { targets, unknown } = this.targets(n);
    for (const t of targets) {
      await this.deps.js.publish(Subjects.alertDeliver(t), jsonCodec.encode({ channel: t, notification: n } satisfies Delivery), { msgID: `${n.key}|${t}` });
      // a worker for a channel made by another process that this one has not seen start yet
      await this.ensureWorker(t);
    }
    const out: Outgoing = { key: n.key, notifications: [n] };
    for (const c of unknown) await this.record({ channel: UNROUTED, out, attempt: 0, result: { ok: false, error: `no channel named '${c}'` }, gaveUp: true });
    if (!targets.length && !unknown.length)
      await this.record({ channel: UNROUTED, out, attempt: 0, result: { ok: false, error: 'no channel takes this notification' }, gaveUp: true });
    m.ack();
  }

  async record(r: { channel: string; out: Outgoing; attempt: number; result: AttemptResult; gaveUp: boolean; test?: boolean }): Promise<void> {
    const one = r.out.notifications.length === 1 ? r.out.notifications[0] : undefined;
    const entry: DeliveryAttempt = {
      at: Date.now(),
      channel: r.channel,
      key: r.out.key,
      ...(one ? { kind: one.kind, alertId: one.alert.id } : { keys: r.out.notifications.map((n) => n.key) }),
      attempt: r.attempt,
      ok: r.result.ok,
      ...(r.result.status !== undefined && { status: r.result.status }),
      ...(r.result.error !== undefined && { error: r.result.error }),
      ...(r.gaveUp && { gaveUp: true }),
      notifications: r.out.notifications.length,
      ...(r.test && { test: true }),
    };
    try {
      await this.deps.js.publish(Subjects.alertAttempts(r.channel), jsonCodec.encode(entry));
    } catch (err) {
      this.log.warn({ err, channel: r.channel }, 'recording a delivery attempt failed');
    }
    const level = entry.ok ? 'debug' : 'warn';
    this.log[level]({ channel: r.channel, key: entry.key, attempt: entry.attempt, status: entry.status, error: entry.error }, 'alert delivery attempt');
  }

  async enqueue(n: AlertNotification): Promise<void> {
    if (!n || typeof n.key !== 'string' || !n.key || !n.alert || typeof n.alert.id !== 'string') {
      throw new ModelwatchError('INVALID_ARGUMENT', 'a notification needs a key and an alert with an id');
    }
    if (!ALERT_SEVERITIES.includes(n.alert.severity))
      throw new ModelwatchError('INVALID_ARGUMENT', `notification ${n.key}: unknown severity '${n.alert.severity}'`);
    await this.deps.js.publish(Subjects.alertNotify, jsonCodec.encode(n), { msgID: n.key });
  }

  listChannels(): ChannelInfo[] {
    const all: ChannelInfo[] = [
      ...[...this.fileChannels.values()].map((c) => ({ ...redactChannel(c), source: 'file' as const })),
      ...[...this.apiChannels.values()].filter((c) => !this.fileChannels.has(c.name)).map((c) => ({ ...redactChannel(c), source: 'api' as const })),
    ];
    return all.sort((a, b) => a.name.localeCompare(b.name));
  }

  getChannel(name: string): ChannelInfo {
    const c = this.channelSpec(name);
    if (!c) throw new ModelwatchError('NOT_FOUND', `no alert channel named '${name}'`);
    return { ...redactChannel(c), source: this.fileChannels.has(name) ? 'file' : 'api' };
  }

  async putChannel(input: unknown, opts: { replace?: boolean } = {}): Promise<ChannelInfo> {
    const c = validateChannel(input);
    if (this.fileChannels.has(c.name)) throw new ModelwatchError('CONFLICT', `alert channel '${c.name}' is declared in the alerts file: change it there`);
    for (const [field, url] of channelUrls(c)) {
      if (hasEnvRef(url)) continue;
      const refusal = await destinationRefusal(new URL(url).hostname, this.deps.options.allowedHosts, false);
      if (refusal) throw new ModelwatchError('INVALID_ARGUMENT', `channel '${c.name}': ${field}: ${refusal}`);
    }
    if (c.type === 'email' && !hasEnvRef(c.smtp.host)) {
      const refusal = await destinationRefusal(c.smtp.host, this.deps.options.allowedHosts, false);
      if (refusal) throw new ModelwatchError('INVALID_ARGUMENT', `channel '${c.name}': smtp.host: ${refusal}`);
    }
    const kv = this.deps.channelsKv;
    // a channel replaced keeps its generation (and so its marks); one created gets a new one
    const prev = opts.replace ? await kv.get(c.name) : null;
    const generation = prev?.operation === 'PUT' ? fromStored(prev.json<StoredChannel>()).generation : randomUUID();
    const stored = JSON.stringify({ ...c, generation } satisfies StoredChannel);
    try {
      // compare-and-set: a delete (or another replace) in between is not undone with the old generation
      if (prev?.operation === 'PUT') await kv.update(c.name, stored, prev.revision);
      else await kv.create(c.name, stored);
    } catch (err) {
      // (NATS failing is not a conflict: it is answered as what it is)
      if (!isWrongLastSequence(err)) throw err;
      throw new ModelwatchError(
        'CONFLICT',
        opts.replace
          ? `alert channel '${c.name}' changed while it was being replaced: try again`
          : `alert channel '${c.name}' exists: delete it first, or replace it (PUT)`,
      );
    }
    this.keepChannel(c.name, { ...c, generation });
    await this.ensureWorker(c.name);
    return { ...redactChannel(c), source: 'api' };
  }

  async deleteChannel(name: string): Promise<void> {
    if (this.fileChannels.has(name)) throw new ModelwatchError('CONFLICT', `alert channel '${name}' is declared in the alerts file: remove it there`);
    if (!this.apiChannels.has(name)) {
      const e = await this.deps.channelsKv.get(name);
      if (!e || e.operation !== 'PUT') throw new ModelwatchError('NOT_FOUND', `no alert channel named '${name}'`);
    }
    await this.deps.channelsKv.delete(name);
    this.forgetChannel(name);
    await this.dropWorker(name);
  }

  async testChannel(name: string): Promise<AttemptResult> {
    const spec = this.channelSpec(name);
    if (!spec) throw new ModelwatchError('NOT_FOUND', `no alert channel named '${name}'`);
    return this.attemptNow(spec, sampleNotification({ channels: [name] }));
  }

  async testNotification(n: AlertNotification): Promise<ChannelTestResult[]> {
    const { targets, unknown } = this.targets(n);
    const sent = await Promise.all(targets.map(async (c) => ({ channel: c, ...(await this.attemptNow(this.channelSpec(c)!, n)) })));
    return [...sent, ...unknown.map((c) => ({ channel: c, ok: false, error: `no alert channel named '${c}'` }))];
  }

  /** One attempt now, outside the outbox, recorded as a test. */
  private async attemptNow(spec: ChannelSpec, n: AlertNotification): Promise<AttemptResult> {
    const out: Outgoing = { key: n.key, notifications: [n] };
    const result = await attemptDelivery(spec, out, {
      nc: this.deps.nc,
      publicUrl: this.deps.options.publicUrl,
      allowedHosts: this.deps.options.allowedHosts,
      timeoutMs: this.deps.options.delivery.timeoutMs,
      attempt: 1,
      ...(this.deps.env && { env: this.deps.env }),
    });
    await this.record({ channel: spec.name, out, attempt: 1, result, gaveUp: false, test: true });
    return result;
  }

  async history(q: HistoryQuery = {}): Promise<DeliveryAttempt[]> {
    const limit = q.limit ?? 100;
    const { js, jsm } = this.deps;
    const info = await jsm.streams.info(Streams.alertAttempts);
    if (info.state.messages === 0) return [];
    // the newest entries, scanning back at most 100,000 (the stream's bound)
    const span = q.channel === undefined && q.key === undefined ? limit : 100_000;
    const consumer = await js.consumers.get(Streams.alertAttempts, {
      ...(q.channel !== undefined && { filter_subjects: Subjects.alertAttempts(q.channel) }),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(info.state.first_seq, info.state.last_seq - span + 1),
    });
    const out: DeliveryAttempt[] = [];
    let pending = (await consumer.info()).num_pending;
    while (pending > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(1000, pending), expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const e = m.json<DeliveryAttempt>();
        if (q.key === undefined || e.key === q.key || e.keys?.includes(q.key)) out.push(e);
        if (got >= Math.min(1000, pending)) break;
      }
      if (got === 0) break;
      pending -= got;
    }
    return out.slice(-limit);
  }
}
