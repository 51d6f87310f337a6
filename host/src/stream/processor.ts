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
  type DeadLetter,
  type DeadLetterCode,
  type EndpointRecord,
  type MonitoringSettings,
  type ServingEntry,
  type ServingPartMessage,
} from '@modelwatch/protocol';
import { batchSeriesId } from '../domain/keys.js';
import { filingWindow, type WindowLayout } from '../domain/windows.js';
import { InvalidEventError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { jsonCodec } from '../nats/codec.js';
import { RowsChunk } from '../nats/rows.js';
import { MaxDeliver } from '../nats/topology.js';
import { BatchStore } from '../store/batches.js';
import { EndpointStore } from '../store/endpoints.js';
import type { WatchedKv } from '../store/watched-kv.js';
import { deadLetterSubject, payloadText, publishDeadLetter } from './dlq.js';
import { inferNamesFrom, type BatchServing, type ParsedEvent } from './formats/index.js';
import { checkEvent, invalidJsonMessage, isRejection, unpackMessage } from './ingest.js';

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
  /** Batches in flight at once. @default 4 */
  concurrency?: number;
  /** The most feature names (and output names) an endpoint may have: names inferred from events are checked against it. @default 10,000 */
  maxFeatures?: number;
  /** Events filed, rows, dead letters. */
  metrics?: HostMetrics;
}

const PART_BYTES = 256 * 1024;
/**
 * The processor works in slices of about this many ms, then lets the event loop run (HTTP,
 * NATS replies, timers): a 60 MB body's half million events take seconds to file, and held the
 * API's `/healthz` that long when they ran in one go (`bench/big-body.mjs`).
 */
const SLICE_MS = 10;
const CHUNK_BYTES = 512 * 1024;
/** The layout before the host stored any settings: windows of ten minutes. */
const DEFAULT_LAYOUT: WindowLayout = { periods: [{ fromMs: 0, periodMs: 600_000 }] };

/** When JetStream stored a message, in ms. */
function arrivalOf(m: JsMsg): number {
  return Math.floor(m.info.timestampNanos / 1e6);
}

/** What one batch of messages produces: row chunks by subject, dead letters, serving entries. */
class BatchOutput {
  readonly chunks = new Map<string, RowsChunk>();
  /**
   * Full chunks, encoded as soon as they are full: a chunk refers to the parsed events its rows
   * come from until it is encoded, and a batch of big messages kept hundreds of thousands of
   * them alive until its publish (long scavenges, an old space full of them).
   */
  readonly ready: Array<{ subject: string; n: number; data: Uint8Array }> = [];
  /** `refused`: the letter refuses an event or a message (not some late rows of an event filed otherwise). */
  readonly letters: Array<{ letter: DeadLetter; msgID: string; refused: boolean }> = [];
  /** Events filed into windows. */
  accepted = 0;
  readonly entries: ServingEntry[] = [];
  readonly eps: Array<[string, string]> = [];
  private readonly epIndex = new Map<string, number>();
  readonly batchEnds: BatchRecord[] = [];

  chunk(subject: string, nx: number, ny: number): RowsChunk {
    let c = this.chunks.get(subject);
    if (c && (c.nx !== nx || c.ny !== ny || c.bytes >= CHUNK_BYTES)) {
      if (c.n > 0) this.ready.push({ subject, n: c.n, data: c.encode() });
      c = undefined;
    }
    if (!c) {
      c = new RowsChunk(nx, ny);
      this.chunks.set(subject, c);
    }
    return c;
  }

  endpointIndex(id: string, name: string): number {
    let i = this.epIndex.get(id);
    if (i === undefined) {
      i = this.eps.length;
      this.eps.push([id, name]);
      this.epIndex.set(id, i);
    }
    return i;
  }

  /** Every chunk with rows, in the order they were begun per subject: the full ones, then the open ones (encoded by `encode`). */
  *all(encode: (c: RowsChunk) => Uint8Array): Generator<{ subject: string; n: number; data: Uint8Array }> {
    yield* this.ready;
    for (const [subject, c] of this.chunks) if (c.n > 0) yield { subject, n: c.n, data: encode(c) };
  }
}

/** Rows of one message in one window, in order. */
interface WindowRows {
  items: Array<{ p: ParsedEvent; from: number; to: number }>;
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
    this.messages = await consumer.consume({ max_messages: Math.max(1024, batchSize * limit) });
    this.loop = (async () => {
      let pending: JsMsg[] = [];
      let pendingBytes = 0;
      let scheduled = false;
      const flush = () => {
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
        else if (!scheduled) {
          // take what is buffered now as one batch: it is flushed once the iterator waits for the network
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            flush();
          });
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
  }

  private async handleBatch(msgs: JsMsg[]): Promise<void> {
    const out = new BatchOutput();
    const failed = new Set<JsMsg>();
    // a slow batch (NATS trouble, retries) keeps its events from being redelivered meanwhile
    const keepAlive = setInterval(() => {
      for (const m of msgs) m.working();
    }, 5000);
    try {
      await this.handleBatchNow(msgs, out, failed);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async handleBatchNow(msgs: JsMsg[], out: BatchOutput, failed: Set<JsMsg>): Promise<void> {
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
    for (const m of msgs) {
      try {
        if (this.sliceOver()) await this.pause();
        await this.process(m, out, layout);
      } catch (err) {
        // infrastructure trouble (NATS down, timeouts): let JetStream redeliver this one
        this.log.warn({ err, seq: m.seq }, 'event not processed, will be redelivered');
        failed.add(m);
        reasons.set(m, (err as Error).message);
      }
    }
    try {
      await this.publish(out, msgs);
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

  private async publish(out: BatchOutput, msgs: JsMsg[]): Promise<void> {
    const { js } = this.deps;
    const lo = msgs[0]!.seq;
    const hi = msgs[msgs.length - 1]!.seq;
    const pubs: Array<Promise<unknown>> = [];
    let rows = 0;
    const counter = new Map<string, number>();
    for (const { subject, n, data } of out.all((c) => c.encode())) {
      const i = counter.get(subject) ?? 0;
      counter.set(subject, i + 1);
      rows += n;
      const pub = js.publish(subject, data, { msgID: `r:${lo}-${hi}:${subject}:${i}` });
      // handled by the Promise.all below, after the pauses: not an unhandled rejection meanwhile
      pub.catch(() => undefined);
      pubs.push(pub);
      if (this.sliceOver()) await this.pause();
    }
    for (const { letter, msgID } of out.letters) pubs.push(js.publish(deadLetterSubject(letter), jsonCodec.encode(letter), { msgID }));
    if (out.entries.length) {
      const part: ServingPartMessage = { v: 1, intervalMs: this.intervalMs, eps: out.eps, ev: out.entries };
      pubs.push(js.publish(Subjects.servingPart, jsonCodec.encode(part), { msgID: `sp:${lo}-${hi}:${out.entries.length}` }));
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

  private async process(m: JsMsg, out: BatchOutput, layout: WindowLayout): Promise<void> {
    const arrival = arrivalOf(m);
    const name = m.subject.slice(Subjects.events('').length);
    const source = m.headers?.get(HeaderNames.source) || 'nats';
    const batchId = m.headers?.get(HeaderNames.batch) || undefined;
    const letters: BatchOutput['letters'] = [];
    let accepted = 0;
    const dead = (code: DeadLetterCode, message: string, extra: Partial<DeadLetter> = {}, refused = true) => {
      letters.push({
        refused,
        letter: {
          endpoint: name,
          reason: { code, message },
          source,
          receivedAt: arrival,
          ...payloadText(m.data),
          payloadScope: 'message',
          eventSeq: m.seq,
          ...(batchId ? { batch: batchId } : {}),
          ...extra,
        },
        msgID: `d:${m.seq}:${extra.index ?? -1}:${code}`,
      });
    };
    const interval = Math.floor(arrival / this.intervalMs) * this.intervalMs;
    // every message is reported to the serving aggregator (bad ones with no endpoint), so it knows it was seen
    const entry: ServingEntry = [m.seq, interval, -1, 0, 0, 0, 0, 0, arrival, arrival, 0, []];
    const commit = () => {
      for (const l of letters) out.letters.push(l);
      out.accepted += accepted;
      if (!batchId) out.entries.push(entry);
    };

    const endMarker = m.headers?.get(HeaderNames.batchEnd);
    if (endMarker) {
      const ep = await this.deps.endpoints.get(name);
      if (!ep) dead('UNKNOWN_ENDPOINT', `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})`);
      else if (!BATCH_ID.test(endMarker)) dead('INVALID_BATCH', `batch id '${endMarker.slice(0, 80)}' is not valid: use 1-64 letters, digits, '_' or '-'`);
      else out.batchEnds.push({ endpoint: name, endpointId: ep.id, batchId: endMarker, endSeq: m.seq, status: 'ingested', createdAt: arrival });
      commit();
      return;
    }
    const maxBytes = this.deps.maxEventBytes ?? 8 * 1024 * 1024;
    if (m.data.length > maxBytes) {
      dead('OVERSIZED', `a message of ${m.data.length} bytes, over the limit of ${maxBytes}: send smaller batches`);
      commit();
      return;
    }
    if (batchId !== undefined && !BATCH_ID.test(batchId)) {
      dead('INVALID_BATCH', `batch id '${batchId.slice(0, 80)}' is not valid: use 1-64 letters, digits, '_' or '-'`);
      commit();
      return;
    }
    if (batchId !== undefined && this.deps.batchesKv) {
      // a batch is complete at its end marker: what comes after it would add rows to windows
      // that are (or are about to be) analysed, so it is refused
      const e = await this.deps.batchesKv.get(`${name}.${batchId}`);
      const rec = e?.operation === 'PUT' ? e.json<BatchRecord>() : undefined;
      if (rec && m.seq > rec.endSeq) {
        dead(
          'INVALID_BATCH',
          `batch '${batchId}' of endpoint ${name} is complete (its end marker came at ${new Date(rec.createdAt).toISOString()}): send new data as a new batch`,
        );
        commit();
        return;
      }
    }
    let body: unknown;
    try {
      body = jsonCodec.decode(m.data);
    } catch (err) {
      dead('INVALID_JSON', invalidJsonMessage(m.data, err as Error));
      commit();
      return;
    }
    let endpoint = await this.deps.endpoints.get(name);
    if (!endpoint) {
      dead('UNKNOWN_ENDPOINT', `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})`);
      commit();
      return;
    }
    // its events; an envelope (a request batch, the tracker's) counts the requests, sampled or not
    let units: Array<{ event: unknown; index?: number }>;
    let envelope: BatchServing | undefined;
    try {
      ({ units, envelope } = unpackMessage(body, arrival));
    } catch (err) {
      if (!(err instanceof InvalidEventError)) throw err;
      dead('INVALID_EVENT', err.message);
      commit();
      return;
    }
    if (units.length > 0 && (endpoint.featureNames.length === 0 || endpoint.labelNames.length === 0)) {
      try {
        endpoint = await this.inferNames(endpoint, units);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        dead('INVALID_EVENT', err.message);
        commit();
        return;
      }
    }
    entry[2] = out.endpointIndex(endpoint.id, endpoint.name);
    const windows = new Map<number, WindowRows>();
    const lateness = this.deps.allowedLatenessMs;
    let w = { start: 0, end: -1 };
    let tMin = Infinity;
    let tMax = -Infinity;
    for (const { event, index } of units) {
      if (this.sliceOver()) await this.pause();
      const at = index !== undefined ? { index } : {};
      const p = checkEvent(event, endpoint, arrival, this.deps.maxFutureSkewMs, 'arrival');
      if (isRejection(p)) {
        dead(p.code, p.message, at);
        continue;
      }
      entry[5] += p.n;
      entry[6] += (p.n * 100) / (envelope ? envelope.samplingPercentage : p.samplingPercentage);
      if (p.tMin < tMin) tMin = p.tMin;
      if (p.tMax > tMax) tMax = p.tMax;
      if (!envelope) {
        entry[3] += p.requests;
        entry[4] += p.errors;
        entry[10] += p.dropped;
        for (const l of p.latencies) pushLatency(entry[11], l);
      }
      if (p.n === 0) {
        accepted++;
        continue;
      }
      // rows to windows; rows of a live event whose window has closed are late
      let late: number[] | null = null;
      let lastStart = NaN;
      let item: WindowRows['items'][number] | null = null;
      for (let i = 0; i < p.n; i++) {
        const t = p.ts[i]!;
        if (t < w.start || t >= w.end) w = filingWindow(t, arrival, layout);
        if (!batchId && arrival > w.end + lateness) {
          (late ??= []).push(i);
          item = null;
          lastStart = NaN;
          continue;
        }
        if (w.start !== lastStart || !item) {
          let wr = windows.get(w.start);
          if (!wr) windows.set(w.start, (wr = { items: [] }));
          // contiguous runs stay ranges; a run that resumes after a gap becomes a new item
          item = { p, from: i, to: i + 1 };
          wr.items.push(item);
          lastStart = w.start;
        } else item.to = i + 1;
      }
      if (!late || late.length < p.n) accepted++;
      if (late) {
        entry[7] += late.length;
        const lw = filingWindow(p.ts[late[0]!]!, arrival, layout);
        const message = `arrived ${arrival - lw.end} ms after its window [${new Date(lw.start).toISOString()}, ${new Date(lw.end).toISOString()}) ended; allowed lateness is ${lateness} ms`;
        if (late.length === p.n) dead('LATE_EVENT', message, { ...at, rows: p.n });
        else {
          // only some rows of a columnar batch are late: the letter holds just those rows
          const text = JSON.stringify(columnarSubset(p, late, endpoint));
          dead(
            'LATE_EVENT',
            `${late.length} of ${p.n} rows late: ${message}`,
            {
              ...at,
              rows: late.length,
              payload: text,
              payloadEncoding: 'utf8',
              payloadScope: 'event',
              payloadBytes: Buffer.byteLength(text),
            },
            false,
          );
        }
      }
    }
    if (envelope) {
      entry[3] += envelope.requests;
      entry[4] += envelope.errors;
      entry[10] += envelope.dropped;
      for (const l of envelope.latencies) pushLatency(entry[11], l);
      if (envelope.tMin !== null && envelope.tMin < tMin) tMin = envelope.tMin;
      if (envelope.tMax !== null && envelope.tMax > tMax) tMax = envelope.tMax;
      if (tMin === Infinity) tMin = tMax = arrival;
    }
    if (entry[3] > 0) {
      entry[8] = tMin;
      entry[9] = tMax;
    }
    // the message's rows, window by window, in parts of a size that depends on the message alone
    const rowsId = batchId ? batchSeriesId(endpoint.id, batchId) : endpoint.id;
    const nx = endpoint.featureNames.length;
    const ny = endpoint.labelNames.length;
    for (const [start, wr] of windows) {
      const subject = Subjects.rows(rowsId, start);
      let chunk = out.chunk(subject, nx, ny);
      let offset = 0;
      let partBytes = 0;
      chunk.beginPart(m.seq, 0);
      for (const it of wr.items) {
        if (this.sliceOver()) await this.pause();
        for (let i = it.from; i < it.to;) {
          if (partBytes >= PART_BYTES) {
            chunk = out.chunk(subject, nx, ny);
            chunk.beginPart(m.seq, offset);
            partBytes = 0;
          }
          const [k, bytes] = chunk.addRange(it.p, i, it.to, PART_BYTES - partBytes);
          partBytes += bytes;
          offset += k;
          i += k;
        }
      }
    }
    commit();
  }

  private async inferNames(endpoint: EndpointRecord, units: ReadonlyArray<{ event: unknown }>): Promise<EndpointRecord> {
    const names = inferNamesFrom(units, endpoint, this.deps.maxFeatures);
    if (!names.featureNames && !names.labelNames) return endpoint;
    const updated = await this.endpointStore.adoptNames(endpoint.name, names);
    if (updated && updated !== endpoint) this.log.info({ endpoint: endpoint.name, ...names }, 'inferred feature and output names');
    return updated ?? endpoint;
  }
}

/** Latencies as run-length pairs `[value, count, ...]` (micro-batches often give one latency to many rows). */
function pushLatency(runs: number[], v: number): void {
  const n = runs.length;
  if (n > 0 && runs[n - 2] === v) runs[n - 1]! += 1;
  else runs.push(v, 1);
}

/** Some rows of a parsed event as a columnar batch (for the late rows of a columnar batch). */
function columnarSubset(p: ParsedEvent, rows: number[], endpoint: EndpointRecord): Record<string, unknown> {
  const pick = <T>(col: readonly T[]) => rows.map((i) => col[i]!);
  return {
    format: 'columnar',
    when: pick(p.ts),
    inputs: Object.fromEntries(endpoint.featureNames.map((n, c) => [n, pick(p.x[c]!)])),
    outputs: Object.fromEntries(endpoint.labelNames.map((n, c) => [n, pick(p.y[c]!)])),
    ...(p.rid ? { requestIds: pick(p.rid) } : {}),
    ...(p.lat ? { latencyMicros: pick(p.lat) } : {}),
    ...(p.samplingPercentage !== 100 ? { samplingPercentage: p.samplingPercentage } : {}),
  };
}
