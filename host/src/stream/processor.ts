import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  BATCH_ID,
  Consumers,
  HeaderNames,
  SETTINGS_KEY,
  Streams,
  Subjects,
  type BatchRecord,
  type DeadLetterCode,
  type EndpointRecord,
  type MonitoringSettings,
  type ServingPartMessage,
} from '@modelwatch/protocol';
import type { WindowLayout } from '../domain/windows.js';
import { InvalidEventError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { jsonCodec } from '../nats/codec.js';
import { MaxDeliver } from '../nats/topology.js';
import { BatchStore } from '../store/batches.js';
import { EndpointStore } from '../store/endpoints.js';
import type { WatchedKv } from '../store/watched-kv.js';
import { deadLetterSubject, payloadText, publishDeadLetter } from './dlq.js';
import { BatchOutput, fileOne, servingPartId, type FiledBatch, type FilingMessage, type FilingPre, type FilingTask } from './filing.js';
import { FilingWorkers } from './filing-workers.js';
import { inferNamesFrom } from './formats/index.js';
import { unpackMessage } from './ingest.js';

export interface StreamProcessorDeps {
  js: JetStreamClient;
  endpointsKv: KV;
  batchesKv?: KV;
  endpoints: WatchedKv<EndpointRecord>;
  settings: WatchedKv<MonitoringSettings>;
  logger: Logger;
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  /** Serving metrics are counted per interval of this length (arrival time). @default 60 s */
  servingIntervalMs?: number;
  /** A message larger than this is dead-lettered as OVERSIZED. @default 8 MiB */
  maxEventBytes?: number;
  /** Messages handled as one batch (one publish per window for all of them). @default 256 */
  batchSize?: number;
  /** ... or fewer, when they add up to this many bytes (big micro-batches pipeline better in smaller batches). @default 4 MiB */
  batchBytes?: number;
  /**
   * A batch not yet full waits at most this long for more messages, then goes as it is.
   * @default 0: it goes once the messages buffered now are taken (the event loop's next turn)
   */
  batchLingerMs?: number;
  /** Batches in flight at once. @default 4 */
  concurrency?: number;
  /** The most feature names (and output names) an endpoint may have: names inferred from events are checked against it. @default 10,000 */
  maxFeatures?: number;
  /**
   * A batch of messages of more bytes than this is filed on a worker thread (`filing-workers.ts`),
   * a smaller one on the event loop, in slices. @default 256 KiB (Infinity: never on a worker)
   */
  offloadAboveBytes?: number;
  /** Events filed, rows, dead letters. */
  metrics?: HostMetrics;
}

/**
 * The processor works in slices of about this many ms, then lets the event loop run (HTTP,
 * NATS replies, timers): a 60 MB body's half million events take seconds to file, and held the
 * API's `/healthz` that long when they ran in one go (`bench/big-body.mjs`).
 */
const SLICE_MS = 10;
/** The layout before the host stored any settings: windows of ten minutes. */
const DEFAULT_LAYOUT: WindowLayout = { periods: [{ fromMs: 0, periodMs: 600_000 }] };

/** When JetStream stored a message, in ms. */
function arrivalOf(m: JsMsg): number {
  return Math.floor(m.info.timestampNanos / 1e6);
}

/**
 * Consumes inference events, validates them against their endpoint, assigns each row to its
 * window by event time, and stores the rows by window. Messages are handled in batches: the
 * rows of all messages of a batch that fall in one window are published together (compact
 * binary, see `rows.ts`), with the dead letters and the batch's serving report, and only
 * then are the messages acknowledged. Every part of a row message names the event it came
 * from, so a redelivered event never counts twice however it was batched. Bad input goes to
 * the dead-letter stream with its reason; nothing here throws out of the loop.
 */
export class StreamProcessor {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly log: Logger;
  private readonly intervalMs: number;
  /** Messages handled and rows stored since start. */
  handled = 0;
  rowsStored = 0;

  private readonly endpointStore: EndpointStore;
  private readonly batchStore: BatchStore | undefined;
  /** When the current slice of work began (see {@link SLICE_MS}). */
  private sliceStart = performance.now();
  private turn: Promise<void> | undefined;
  /** Where big batches are filed (see {@link StreamProcessorDeps.offloadAboveBytes}). */
  private workers: FilingWorkers | undefined;

  constructor(private readonly deps: StreamProcessorDeps) {
    this.log = deps.logger.child({ component: 'stream' });
    this.endpointStore = new EndpointStore(deps.endpointsKv);
    this.batchStore = deps.batchesKv ? new BatchStore(deps.batchesKv) : undefined;
    this.intervalMs = deps.servingIntervalMs ?? 60_000;
  }

  async start(): Promise<void> {
    const consumer = await this.deps.js.consumers.get(Streams.events, Consumers.stream);
    const batchSize = this.deps.batchSize ?? 256;
    const batchBytes = this.deps.batchBytes ?? 4 * 1024 * 1024;
    const limit = this.deps.concurrency ?? 4;
    if ((this.deps.offloadAboveBytes ?? 0) !== Infinity) this.workers ??= new FilingWorkers();
    this.messages = await consumer.consume({ max_messages: Math.max(1024, batchSize * limit) });
    this.loop = (async () => {
      let pending: JsMsg[] = [];
      let pendingBytes = 0;
      const linger = this.deps.batchLingerMs ?? 0;
      // the flush of a batch not yet full, to come: at the loop's next turn, or after the linger
      let wake: { cancel(): void } | undefined;
      const flush = () => {
        wake?.cancel();
        wake = undefined;
        if (pending.length === 0) return;
        const batch = pending;
        pending = [];
        pendingBytes = 0;
        const p = this.handleBatch(batch).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      };
      for await (const m of this.messages!) {
        pending.push(m);
        pendingBytes += m.data.length;
        if (pending.length >= batchSize || pendingBytes >= batchBytes) flush();
        else if (!wake) {
          // take what is buffered now as one batch: it is flushed once the iterator waits for the network
          if (linger > 0) {
            const t = setTimeout(flush, linger);
            wake = { cancel: () => clearTimeout(t) };
          } else {
            const t = setImmediate(flush);
            wake = { cancel: () => clearImmediate(t) };
          }
        }
        while (this.inflight.size >= limit) await Promise.race(this.inflight);
      }
      flush();
    })();
  }

  /** Whether the current slice has lasted {@link SLICE_MS} (one clock for the batches in flight): then `await this.pause()`. */
  private sliceOver(): boolean {
    return performance.now() - this.sliceStart >= SLICE_MS;
  }

  /**
   * Lets the event loop run, then begins a new slice. The batches in flight that pause in one
   * slice wait for the same turn of the loop, so a turn runs one slice, not one per batch.
   */
  private pause(): Promise<void> {
    this.turn ??= nextTurn().then(() => {
      this.turn = undefined;
      this.sliceStart = performance.now();
    });
    return this.turn;
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop;
    await Promise.allSettled([...this.inflight]);
    await this.workers?.close();
    this.workers = undefined;
  }

  private async handleBatch(msgs: JsMsg[]): Promise<void> {
    const failed = new Set<JsMsg>();
    // a slow batch (NATS trouble, retries) keeps its events from being redelivered meanwhile
    const keepAlive = setInterval(() => {
      for (const m of msgs) m.working();
    }, 5000);
    try {
      await this.handleBatchNow(msgs, failed);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async handleBatchNow(msgs: JsMsg[], failed: Set<JsMsg>): Promise<void> {
    // Rows are filed by the layout in force when their event arrived (see filingWindow), so this
    // must know every period change stored before the newest arrival of the batch: a read of the
    // settings sent after that arrival. Without one, the batch waits for redelivery.
    let layout: WindowLayout;
    try {
      const newest = Math.max(...msgs.map((m) => arrivalOf(m)));
      layout = (await this.deps.settings.fresh(SETTINGS_KEY, newest)) ?? DEFAULT_LAYOUT;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, messages: msgs.length }, 'could not read the monitoring settings; the events will be redelivered');
      await Promise.all(msgs.map((m) => this.retry(m, `reading the monitoring settings failed: ${(err as Error).message}`)));
      return;
    }
    const reasons = new Map<JsMsg, string>();
    const notFiled = (m: JsMsg, reason: string, err: unknown) => {
      // infrastructure trouble (NATS down, timeouts): let JetStream redeliver this one
      this.log.warn({ err, seq: m.seq }, 'event not processed, will be redelivered');
      failed.add(m);
      reasons.set(m, reason);
    };
    // what needs NATS first (records, inferred names), message by message; then the filing, pure
    const task: FilingTask = {
      messages: [],
      endpoints: [],
      layout,
      options: { allowedLatenessMs: this.deps.allowedLatenessMs, maxFutureSkewMs: this.deps.maxFutureSkewMs, intervalMs: this.intervalMs },
    };
    const of: JsMsg[] = [];
    const endpointIndex = new Map<EndpointRecord, number>();
    let bytes = 0;
    for (const m of msgs) {
      try {
        if (this.sliceOver()) await this.pause();
        task.messages.push(await this.prepare(m, task, endpointIndex));
        of.push(m);
        bytes += m.data.length;
      } catch (err) {
        notFiled(m, (err as Error).message, err);
      }
    }
    let filed: FiledBatch;
    try {
      filed = this.workers && bytes > (this.deps.offloadAboveBytes ?? 256 * 1024) ? await this.workers.file(task) : await this.fileHere(task);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, messages: msgs.length }, 'could not file a batch of events; they will be redelivered');
      await Promise.all(msgs.map((m) => this.retry(m, `filing failed: ${(err as Error).message}`)));
      return;
    }
    for (const { index, reason } of filed.failed) notFiled(of[index]!, reason, reason);
    try {
      await this.publish(filed);
      for (const m of msgs) {
        if (failed.has(m)) await this.retry(m, `processing failed: ${reasons.get(m)}`);
        else m.ack();
      }
      this.handled += msgs.length - failed.size;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, messages: msgs.length }, 'could not store a batch of events; they will be redelivered');
      await Promise.all(msgs.map((m) => this.retry(m, `storing its rows failed: ${(err as Error).message}`)));
    }
  }

  /** A (small) batch filed on the event loop, in slices. */
  private async fileHere(task: FilingTask): Promise<FiledBatch> {
    const out = new BatchOutput();
    for (let i = 0; i < task.messages.length; i++) {
      if (this.sliceOver()) await this.pause();
      fileOne(task.messages[i]!, i, task, out);
    }
    return out.finish();
  }

  /**
   * An event message that failed: redelivered in a second, or at its consumer's last delivery
   * dead-lettered (`MAX_DELIVERIES`, replayable like any event letter) and terminated, so the
   * consumer never drops it silently.
   */
  private async retry(m: JsMsg, reason: string): Promise<void> {
    if (m.info.deliveryCount < MaxDeliver[Consumers.stream]) {
      m.nak(1000);
      return;
    }
    const batchId = m.headers?.get(HeaderNames.batch) || undefined;
    try {
      await publishDeadLetter(
        this.deps.js,
        {
          endpoint: m.subject.slice(Subjects.events('').length),
          reason: { code: 'MAX_DELIVERIES', message: `${reason} (at each of ${m.info.deliveryCount} deliveries)` },
          source: m.headers?.get(HeaderNames.source) || 'nats',
          receivedAt: arrivalOf(m),
          ...payloadText(m.data),
          payloadScope: 'message',
          eventSeq: m.seq,
          ...(batchId ? { batch: batchId } : {}),
        },
        `d:${m.seq}:max`,
      );
      m.term();
    } catch (err) {
      this.log.error({ err, seq: m.seq }, 'could not dead-letter an event at its last delivery');
      m.nak(1000);
    }
  }

  private async publish(out: FiledBatch): Promise<void> {
    const { js } = this.deps;
    const pubs: Array<Promise<unknown>> = [];
    let rows = 0;
    for (const { subject, n, data, id } of out.rows) {
      rows += n;
      const pub = js.publish(subject, data, { msgID: id });
      // handled by the Promise.all below, after the pauses: not an unhandled rejection meanwhile
      pub.catch(() => undefined);
      pubs.push(pub);
      if (this.sliceOver()) await this.pause();
    }
    for (const { letter, msgID } of out.letters) pubs.push(js.publish(deadLetterSubject(letter), jsonCodec.encode(letter), { msgID }));
    if (out.entries.length) {
      const part: ServingPartMessage = { v: 1, intervalMs: this.intervalMs, eps: out.eps, ev: out.entries };
      pubs.push(js.publish(Subjects.servingPart, jsonCodec.encode(part), { msgID: servingPartId(out.entries) }));
    }
    await Promise.all(pubs);
    if (out.batchEnds.length && this.batchStore) {
      const batches = this.batchStore;
      await Promise.all(out.batchEnds.map((b) => batches.recordEnd(b)));
    }
    this.rowsStored += rows;
    this.deps.metrics?.eventsFiled(out.accepted, rows);
    for (const l of out.letters) this.deps.metrics?.deadLettered(l.letter.reason.code, l.refused);
  }

  /**
   * What filing message `m` needs from NATS: its endpoint's record (its names inferred from its
   * events when it has none yet), its batch's record; or why it is refused before it is read.
   * Anything thrown is infrastructure trouble (the message is redelivered).
   */
  private async prepare(m: JsMsg, task: FilingTask, endpointIndex: Map<EndpointRecord, number>): Promise<FilingMessage> {
    const arrival = arrivalOf(m);
    const name = m.subject.slice(Subjects.events('').length);
    const batchId = m.headers?.get(HeaderNames.batch) || undefined;
    const msg = (pre: FilingPre): FilingMessage => ({
      seq: m.seq,
      arrival,
      name,
      source: m.headers?.get(HeaderNames.source) || 'nats',
      ...(batchId !== undefined ? { batchId } : {}),
      data: m.data,
      pre,
    });
    const dead = (code: DeadLetterCode, message: string) => msg({ kind: 'dead', code, message });
    const endMarker = m.headers?.get(HeaderNames.batchEnd);
    if (endMarker) {
      const ep = await this.deps.endpoints.get(name);
      if (!ep) return dead('UNKNOWN_ENDPOINT', `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})`);
      if (!BATCH_ID.test(endMarker)) return dead('INVALID_BATCH', `batch id '${endMarker.slice(0, 80)}' is not valid: use 1-64 letters, digits, '_' or '-'`);
      return msg({ kind: 'end', record: { endpoint: name, endpointId: ep.id, batchId: endMarker, endSeq: m.seq, status: 'ingested', createdAt: arrival } });
    }
    const maxBytes = this.deps.maxEventBytes ?? 8 * 1024 * 1024;
    if (m.data.length > maxBytes) return dead('OVERSIZED', `a message of ${m.data.length} bytes, over the limit of ${maxBytes}: send smaller batches`);
    if (batchId !== undefined && !BATCH_ID.test(batchId))
      return dead('INVALID_BATCH', `batch id '${batchId.slice(0, 80)}' is not valid: use 1-64 letters, digits, '_' or '-'`);
    if (batchId !== undefined && this.deps.batchesKv) {
      // a batch is complete at its end marker: what comes after it would add rows to windows
      // that are (or are about to be) analysed, so it is refused
      const e = await this.deps.batchesKv.get(`${name}.${batchId}`);
      const rec = e?.operation === 'PUT' ? e.json<BatchRecord>() : undefined;
      if (rec && m.seq > rec.endSeq) {
        return dead(
          'INVALID_BATCH',
          `batch '${batchId}' of endpoint ${name} is complete (its end marker came at ${new Date(rec.createdAt).toISOString()}): send new data as a new batch`,
        );
      }
    }
    let endpoint = await this.deps.endpoints.get(name);
    if (endpoint && (endpoint.featureNames.length === 0 || endpoint.labelNames.length === 0)) {
      const named = await this.withNames(endpoint, m.data, arrival);
      if ('kind' in named) return msg(named);
      endpoint = named;
    }
    if (!endpoint) return msg({ kind: 'file' });
    let i = endpointIndex.get(endpoint);
    if (i === undefined) {
      i = task.endpoints.push(endpoint) - 1;
      endpointIndex.set(endpoint, i);
    }
    return msg({ kind: 'file', endpoint: i });
  }

  /**
   * The endpoint with the names its message's events show, when it has none yet (rare: an
   * endpoint's first events), or the letter refusing the message. A message that cannot be read
   * is left to the filing, which refuses it.
   */
  private async withNames(endpoint: EndpointRecord, data: Uint8Array, arrival: number): Promise<EndpointRecord | FilingPre> {
    let body: unknown;
    try {
      body = jsonCodec.decode(data);
    } catch {
      return endpoint;
    }
    let units: Array<{ event: unknown }>;
    try {
      ({ units } = unpackMessage(body, arrival));
    } catch (err) {
      if (!(err instanceof InvalidEventError)) throw err;
      return endpoint;
    }
    if (units.length === 0) return endpoint;
    try {
      return await this.inferNames(endpoint, units);
    } catch (err) {
      if (!(err instanceof InvalidEventError)) throw err;
      return { kind: 'dead', code: 'INVALID_EVENT', message: err.message };
    }
  }

  private async inferNames(endpoint: EndpointRecord, units: ReadonlyArray<{ event: unknown }>): Promise<EndpointRecord> {
    const names = inferNamesFrom(units, endpoint, this.deps.maxFeatures);
    if (!names.featureNames && !names.labelNames) return endpoint;
    const updated = await this.endpointStore.adoptNames(endpoint.name, names);
    if (updated && updated !== endpoint) this.log.info({ endpoint: endpoint.name, ...names }, 'inferred feature and output names');
    return updated ?? endpoint;
  }
}
