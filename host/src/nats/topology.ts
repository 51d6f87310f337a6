import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { ARTIFACT_STORE, Buckets, BUNDLE_STORE, Consumers, REFERENCE_STORE, Streams, Subjects } from '@modelwatch/protocol';
import { isNotFound } from './errors.js';

// Object stores hash what they put and get (SHA-256): node:crypto's, not the pure-JS default that
// held the event loop for most of a second on a 41 MB reference (process-wide, before any use).
setSha256Backend('native');

export interface TopologyOptions {
  retentionMs: number;
  /** How long a runner may go silent on a task before it is redelivered (runners signal progress every second). @default 3 s */
  taskAckWaitMs?: number;
  /**
   * Replicas of every stream, KV bucket and object store (JetStream's `num_replicas`): set at
   * creation and on every later start (JetStream moves a stream from one replica count to another).
   * @default 1
   */
  replicas?: number;
}

/** The replicas to ask for when none are given: 3 on a nats-server cluster, else 1. */
export function defaultReplicas(nc: NatsConnection): number {
  return nc.info?.cluster ? 3 : 1;
}

const ns = (ms: number) => Math.round(ms * 1e6);

/** The audit log (`MW_AUDIT`) is kept at least this long, whatever the retention. */
export const AUDIT_MIN_AGE_MS = 90 * 86_400_000;
/**
 * The most deliveries of a message each durable consumer makes. Every consumer is bounded: a
 * message its consumer fails on at every delivery stops being delivered. Each consumer
 * dead-letters a message it cannot decode at once (`nats/dead-letters.ts`: letter, then `term`),
 * and one it still fails on at its last delivery (`MAX_DELIVERIES`), so nothing is dropped
 * without a letter and nothing blocks the messages behind it. Storage failures (a full disk) are
 * retried with a growing delay ({@link retryDelayMs}) for about an hour before that.
 */
export const MaxDeliver = {
  /** Events: a failure is NATS trouble; its last delivery is dead-lettered as a replayable event. */
  [Consumers.stream]: 50,
  /**
   * Tasks: a runner records `WINDOW_FAILED` without running the app once the deliveries that
   * were attempts reach window attempts + CRASH_TOLERANCE (at most 23), and from delivery 99 on
   * whatever they were (deliveries handed back unrun and those lost with a runner another window
   * crashed are not attempts: `nats/unrun.ts`), so the cap is not reached without an outcome.
   */
  [Consumers.runners]: 100,
  [Consumers.serving]: 20,
  [Consumers.writerServing]: 100,
  [Consumers.writer]: 100,
  /** The alert router: a notification it cannot route is NATS trouble (it only republishes). */
  [Consumers.alertRouter]: 50,
  [Consumers.alerts]: 100,
} as const satisfies Record<(typeof Consumers)[keyof typeof Consumers], number>;

/** The delay before redelivering a message that failed at delivery `n` (1 s doubling, at most 60 s). */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.min(6, Math.max(0, deliveryCount - 1)));
}

/**
 * What a stream's messages are to its durable consumers: `work` is done once and acknowledged, so a
 * consumer's backlog is lag; `tokens` are taken and handed back for good (a plugin's slots), so a
 * consumer's backlog is capacity not in use, never lag.
 */
export type StreamRole = 'work' | 'tokens';

const TOKEN_STREAMS: ReadonlySet<string> = new Set([Streams.slots]);

/** The role of one of modelwatch's streams (`work` unless it holds tokens). */
export function streamRole(stream: string): StreamRole {
  return TOKEN_STREAMS.has(stream) ? 'tokens' : 'work';
}

/** Create (or update) every stream, consumer and bucket modelwatch uses. Safe to call from every process. */
export async function ensureTopology(nc: NatsConnection, jsm: JetStreamManager, opts: TopologyOptions): Promise<void> {
  const retention = ns(opts.retentionMs);
  const replicas = opts.replicas ?? 1;
  const streams: Array<Partial<StreamConfig> & { name: string }> = [
    { name: Streams.events, subjects: [Subjects.eventsAll], max_age: retention, duplicate_window: ns(120_000) },
    // direct gets: a runner reads a window's rows of one part by one (raw bytes, no base64 in JSON)
    { name: Streams.rows, subjects: [Subjects.rowsAll], max_age: retention, duplicate_window: ns(600_000), allow_direct: true },
    {
      name: Streams.tasks,
      subjects: [Subjects.tasksAll],
      retention: RetentionPolicy.Workqueue,
      max_age: retention,
      duplicate_window: ns(600_000),
    },
    // kept as long as the results (LevelDB keeps windows until their endpoint is purged, which
    // purges the endpoint's outputs too): the writer rebuilds its store from it (writer/recovery.ts)
    // an endpoint's purge is a message among the outputs, so every writer applies it in order
    { name: Streams.outputs, subjects: [Subjects.outputsAll, Subjects.purgesAll], max_age: 0, duplicate_window: ns(600_000) },
    // each plugin's slot tokens across all runners: a few messages per plugin, kept for good
    { name: Streams.slots, subjects: [Subjects.slotsAll], max_age: 0, duplicate_window: ns(120_000) },
    { name: Streams.dlq, subjects: [Subjects.dlqAll], max_age: retention, duplicate_window: ns(600_000) },
    { name: Streams.serving, subjects: [Subjects.servingAll], max_age: retention, duplicate_window: ns(600_000) },
    { name: Streams.labels, subjects: [Subjects.labelsAll], max_age: retention, duplicate_window: ns(120_000) },
    { name: Streams.logs, subjects: [Subjects.logsAll], max_age: ns(86_400_000), max_msgs_per_subject: 10_000, discard: DiscardPolicy.Old },
    // who changed what: kept for the retention, and at least 90 days
    { name: Streams.audit, subjects: [Subjects.auditAll], max_age: Math.max(retention, ns(AUDIT_MIN_AGE_MS)), discard: DiscardPolicy.Old },
    // the notifier's outbox: a notification's key is its message id, deduplicated for an hour
    { name: Streams.alerts, subjects: [Subjects.alertsAll], max_age: retention, duplicate_window: ns(Math.min(3_600_000, opts.retentionMs)) },
    // every delivery attempt, for `alert history`: the newest 100,000 within the retention
    {
      name: Streams.alertAttempts,
      subjects: [Subjects.alertAttemptsAll],
      max_age: retention,
      max_msgs: 100_000,
      discard: DiscardPolicy.Old,
    },
  ];
  for (const cfg of streams) {
    const full = { storage: StorageType.File, num_replicas: replicas, ...cfg };
    try {
      await jsm.streams.info(cfg.name);
      await jsm.streams.update(cfg.name, full);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.streams.add(full);
    }
  }
  await ensureConsumer(jsm, Streams.events, {
    durable_name: Consumers.stream,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // a batch in the stream processor signals progress every 5 s: after a crash, its events come back within 15 s
    ack_wait: ns(15_000),
    max_ack_pending: 8192,
    max_deliver: MaxDeliver[Consumers.stream],
  });
  await ensureConsumer(jsm, Streams.tasks, {
    durable_name: Consumers.runners,
    ack_policy: AckPolicy.Explicit,
    // a runner signals progress every second: the windows a crashed runner held come back within 3 s
    ack_wait: ns(opts.taskAckWaitMs ?? 3_000),
    // a runner records a window as WINDOW_FAILED, without running its app, once its attempts
    // reach the window attempts plus CRASH_TOLERANCE, and at the delivery before the cap whatever
    // its deliveries were (see MaxDeliver); a later delivery does the same
    max_deliver: MaxDeliver[Consumers.runners],
    max_ack_pending: 1024,
  });
  await ensureConsumer(jsm, Streams.serving, {
    durable_name: Consumers.serving,
    filter_subject: Subjects.servingPart,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // held until the intervals they count are closed (a minute and a bit), kept alive with
    // "working" every 5 s: after a crash they come back within 15 s
    ack_wait: ns(15_000),
    max_ack_pending: 100_000,
    max_deliver: MaxDeliver[Consumers.serving],
  });
  await ensureConsumer(jsm, Streams.serving, {
    durable_name: Consumers.writerServing,
    filter_subject: Subjects.servingMinuteAll,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ns(30_000),
    max_ack_pending: 1024,
    max_deliver: MaxDeliver[Consumers.writerServing],
  });
  await ensureWriterConsumer(jsm, Consumers.writer);
  await ensureConsumer(jsm, Streams.alerts, {
    durable_name: Consumers.alertRouter,
    filter_subject: Subjects.alertNotify,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ns(15_000),
    max_ack_pending: 10_000,
    max_deliver: MaxDeliver[Consumers.alertRouter],
  });
  // the alert evaluator's consumer is its own to make and remove (alerts/evaluator.ts): it exists
  // only while a rule evaluates outputs
  const kvm = new Kvm(nc);
  // poison marks and streaks of windows older than the retention are of no use, nor marks of
  // deliveries whose messages MW_ALERTS no longer holds: they expire
  const expiring = new Set<string>([Buckets.poison, Buckets.streaks, Buckets.deferrals, Buckets.alertSent]);
  for (const b of Object.values(Buckets)) await kvm.create(b, { history: 1, replicas, ...(expiring.has(b) ? { ttl: opts.retentionMs } : {}) });
  const objm = new Objm(nc);
  await objm.create(BUNDLE_STORE, { replicas });
  await objm.create(REFERENCE_STORE, { replicas });
  // an app's artifacts are kept as long as the windows' events
  await objm.create(ARTIFACT_STORE, { ttl: retention, replicas });
  // buckets and object stores made before follow --replicas, and those that expire a changed
  // --retention (a bucket's TTL is its stream's max age: kvm.create leaves an existing one as it is)
  const expiringStreams = new Set([...[...expiring].map((b) => `KV_${b}`), `OBJ_${ARTIFACT_STORE}`]);
  for (const name of [...Object.values(Buckets).map((b) => `KV_${b}`), `OBJ_${BUNDLE_STORE}`, `OBJ_${REFERENCE_STORE}`, `OBJ_${ARTIFACT_STORE}`]) {
    const info = await jsm.streams.info(name);
    const maxAge = expiringStreams.has(name) ? retention : info.config.max_age;
    if (info.config.num_replicas !== replicas || info.config.max_age !== maxAge) {
      // (JetStream refuses a duplicate window longer than the max age)
      const dupes = maxAge > 0 && info.config.duplicate_window > maxAge ? { duplicate_window: maxAge } : {};
      await jsm.streams.update(name, { ...info.config, num_replicas: replicas, max_age: maxAge, ...dupes });
    }
  }
}

/** The names of every JetStream stream modelwatch uses: its streams, and those behind its KV buckets and object stores. */
export function topologyStreams(): string[] {
  return [...Object.values(Streams), ...Object.values(Buckets).map((b) => `KV_${b}`), `OBJ_${BUNDLE_STORE}`, `OBJ_${REFERENCE_STORE}`, `OBJ_${ARTIFACT_STORE}`];
}

/**
 * The writer consumer named `name` on MW_OUTPUTS: the shared `writer` (one writer), or a writer's
 * own `writer-<node id>` (each writer keeps a complete view: `writerConsumerName`). A writer's own
 * consumer made now starts at the first output the stream holds: a new node catches up from it.
 */
export async function ensureWriterConsumer(jsm: JetStreamManager, name: string): Promise<void> {
  await ensureConsumer(jsm, Streams.outputs, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // the writer signals progress on the outputs it holds every 2 s: a crashed writer's come back
    // within 10 s (at 30 s, a fault schedule of crashes a few seconds apart chained 30 s waits)
    ack_wait: ns(WRITER_ACK_WAIT_MS),
    max_ack_pending: 1024,
    max_deliver: MaxDeliver[Consumers.writer],
    // a node's own consumer that nobody reads for a week is removed (a node gone for good); the
    // node, if it comes back, gets a new one and stores the whole stream again (idempotently)
    ...(name === Consumers.writer ? {} : { inactive_threshold: ns(WRITER_CONSUMER_INACTIVE_MS) }),
  });
}

/** The kinds of a plugin's slots: its active version's, and a shadow version's (a share of its own). */
export type SlotKind = 'active' | 'shadow';
export const SLOT_KINDS: readonly SlotKind[] = ['active', 'shadow'];

/** The consumer of a plugin's slot tokens: `slots-<app>-<active|shadow>`. */
export function slotConsumerName(app: string, kind: SlotKind): string {
  return `slots-${app}-${kind}`;
}

/** How long a writer may go silent on an output it holds before the output comes back (to it or another writer). */
export const WRITER_ACK_WAIT_MS = 10_000;
/**
 * How long the server keeps an ordered consumer made to read once (a window's rows in parts, its
 * labels, the audit log) after its last pull: nats.js makes them to last 5 minutes idle, which
 * at hundreds of windows a second is that many thousand consumers on the server. (Passed in ms:
 * nats.js's `inactive_threshold` of an ordered consumer. Should nats.js remake the consumer in
 * the middle of a read, after a gap in its sequence, the new one has nats.js's 5 minutes: rare.)
 */
export const READ_ONCE_CONSUMER_IDLE_MS = 30_000;
/** How often a writer signals progress on the outputs it holds (well within {@link WRITER_ACK_WAIT_MS}, for a busy event loop). */
export const WRITER_PROGRESS_MS = 2_000;

/** How long a runner may go silent on a slot before it comes back (runners signal progress every second, as on tasks). */
export const SLOT_ACK_WAIT_MS = 3_000;

function slotConsumerConfig(app: string, kind: SlotKind, cap: number) {
  return {
    durable_name: slotConsumerName(app, kind),
    filter_subject: Subjects.slots(app, kind),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ns(SLOT_ACK_WAIT_MS),
    max_ack_pending: cap,
    // a token is handed back after every window, for good
    max_deliver: -1,
  };
}

/**
 * A plugin's slots across every runner: `cap` token messages on `mw.slots.<app>.<kind>` and a
 * durable consumer with `max_ack_pending` = `cap`. A runner takes a token for each window it runs
 * and hands it back (`nak`) when the window ends; a dead runner's token comes back after the ack
 * wait. So the consumer's `num_ack_pending` is the plugin's windows in flight, never above `cap`.
 * Idempotent: tokens are topped up to `cap` (message ids deduplicate two processes at once), and a
 * new `cap` updates the consumer.
 */
export async function ensurePluginSlots(js: JetStreamClient, jsm: JetStreamManager, app: string, kind: SlotKind, cap: number): Promise<void> {
  const subject = Subjects.slots(app, kind);
  await ensureConsumer(jsm, Streams.slots, slotConsumerConfig(app, kind, cap));
  const info = await jsm.streams.info(Streams.slots, { subjects_filter: subject });
  const have = info.state.subjects?.[subject] ?? 0;
  for (let i = have; i < cap; i++) await js.publish(subject, new Uint8Array(0), { msgID: `${subject}.${i}` });
}

/**
 * Which of `apps` have their slots made at `cap` already, both kinds (each consumer as
 * {@link ensurePluginSlots} makes it, `cap` tokens on each subject), from one listing of
 * MW_SLOTS' consumers and one stream info: a process starting with many plugins makes only the
 * others', so its start does not cost a round of requests per plugin.
 */
export async function pluginsWithSlots(jsm: JetStreamManager, apps: Iterable<string>, cap: number): Promise<Set<string>> {
  const consumers = new Map<string, Record<string, unknown>>();
  try {
    for await (const ci of jsm.consumers.list(Streams.slots)) consumers.set(ci.name, ci.config as unknown as Record<string, unknown>);
  } catch (err) {
    if (isNotFound(err)) return new Set();
    throw err;
  }
  const tokens = (await jsm.streams.info(Streams.slots, { subjects_filter: Subjects.slotsAll })).state.subjects ?? {};
  const made = (app: string, kind: SlotKind) => {
    const { durable_name, ...want } = slotConsumerConfig(app, kind, cap);
    const have = consumers.get(durable_name);
    return have !== undefined && Object.entries(want).every(([k, v]) => have[k] === v) && (tokens[want.filter_subject] ?? 0) >= cap;
  };
  return new Set([...apps].filter((app) => SLOT_KINDS.every((kind) => made(app, kind))));
}

/** How long a writer's own consumer (`writer-<node id>`) is kept while no writer reads it. */
export const WRITER_CONSUMER_INACTIVE_MS = 7 * 86_400_000;

/** The writer consumer of a node: its own `writer-<node id>`, or the shared `writer` without a node id. */
export function writerConsumerName(nodeId: string | undefined): string {
  return nodeId === undefined ? Consumers.writer : `${Consumers.writer}-${nodeId}`;
}

/** How long the alert evaluator may hold an output unacked before it comes back (it signals progress on those it holds). */
export const ALERT_ACK_WAIT_MS = 30_000;

/**
 * The alert evaluator's consumer of MW_OUTPUTS, from `since` (the evaluator makes it when a rule
 * evaluates outputs: a host that had no alerting does not alert on its history); an output is
 * acked once the alert states it changes are stored (alerts/evaluator.ts).
 */
function alertConsumerConfig(since: Date): Parameters<JetStreamManager['consumers']['add']>[1] {
  return {
    durable_name: Consumers.alerts,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
    ack_wait: ns(ALERT_ACK_WAIT_MS),
    max_ack_pending: 1024,
    max_deliver: MaxDeliver[Consumers.alerts],
  };
}

/**
 * The alert evaluator's consumer, made (again) to start at the outputs stored since `since` (what
 * one held before is dropped): the evaluator reads outputs only while a rule evaluates them, and a
 * rule made after a time without any evaluates the outputs from about its making on.
 */
export async function restartAlertConsumer(jsm: JetStreamManager, since: Date): Promise<void> {
  await dropAlertConsumer(jsm);
  await createAlertConsumer(jsm, since);
}

/** Make the alert evaluator's consumer, to start at the outputs stored since `since`, where there is none. */
export async function createAlertConsumer(jsm: JetStreamManager, since: Date): Promise<void> {
  await jsm.consumers.add(Streams.outputs, alertConsumerConfig(since));
}

/** Remove the alert evaluator's consumer (none: nothing to do): while no rule evaluates outputs, none are held for it. */
export async function dropAlertConsumer(jsm: JetStreamManager): Promise<void> {
  try {
    await jsm.consumers.delete(Streams.outputs, Consumers.alerts);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Parameters<JetStreamManager['consumers']['add']>[1]) {
  try {
    await jsm.consumers.info(stream, cfg.durable_name!);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, cfg);
    return;
  }
  const { durable_name, deliver_policy: _d, ...mutable } = cfg;
  await jsm.consumers.update(stream, durable_name!, mutable);
}

/** Handles every component opens once. */
export interface Buckets {
  endpoints: KV;
  plugins: KV;
  settings: KV;
  controller: KV;
  batches: KV;
  poison: KV;
  deferrals: KV;
  streaks: KV;
  tokens: KV;
  bundles: ObjectStore;
  references: ObjectStore;
  artifacts: ObjectStore;
}

export async function openBuckets(nc: NatsConnection): Promise<Buckets> {
  const kvm = new Kvm(nc);
  const objm = new Objm(nc);
  const [endpoints, plugins, settings, controller, batches, poison, deferrals, streaks, tokens, bundles, references, artifacts] = await Promise.all([
    kvm.open(Buckets.endpoints),
    kvm.open(Buckets.plugins),
    kvm.open(Buckets.settings),
    kvm.open(Buckets.controller),
    kvm.open(Buckets.batches),
    kvm.open(Buckets.poison),
    kvm.open(Buckets.deferrals),
    kvm.open(Buckets.streaks),
    kvm.open(Buckets.tokens),
    objm.open(BUNDLE_STORE),
    objm.open(REFERENCE_STORE),
    objm.open(ARTIFACT_STORE),
  ]);
  return { endpoints, plugins, settings, controller, batches, poison, deferrals, streaks, tokens, bundles, references, artifacts };
}
