/**
 * Filing a batch of event messages: the pure, CPU-bound part of the stream processor (decode,
 * unpack, validate, rows to windows, row chunks encoded). What needs NATS (the endpoint's record,
 * a batch's record, inferred names, the settings) is found out before, by the processor, and
 * given with each message ({@link FilingMessage.pre}); what comes out is plain data
 * ({@link FiledBatch}), so a worker thread can do it (`filing-worker.ts`): the processor's event
 * loop then only reads, publishes and acknowledges.
 */
import { createHash } from 'node:crypto';
import { type BatchRecord, type DeadLetter, type DeadLetterCode, type EndpointRecord, type ServingEntry } from '@modelwatch/protocol';
import { batchSeriesId } from '../domain/keys.js';
import { filingWindow, type WindowLayout } from '../domain/windows.js';
import { InvalidEventError } from '../errors.js';
import { jsonCodec } from '../nats/codec.js';
import { RowsChunk } from '../nats/rows.js';
import { Subjects } from '@modelwatch/protocol';
import { payloadText } from './dlq.js';
import type { BatchServing, ParsedEvent } from './formats/index.js';
import { checkEvent, invalidJsonMessage, isRejection, unpackMessage } from './ingest.js';

const PART_BYTES = 256 * 1024;
const CHUNK_BYTES = 512 * 1024;

/** What the processor found out about a message before it is filed. */
export type FilingPre =
  /** refused before it is read (oversized, a bad or complete batch, an unknown endpoint of an end marker, names that cannot be inferred) */
  | { kind: 'dead'; code: DeadLetterCode; message: string }
  /** a batch's end marker */
  | { kind: 'end'; record: BatchRecord }
  /** events to file for the endpoint at this index of {@link FilingTask.endpoints} (none: no such endpoint) */
  | { kind: 'file'; endpoint?: number };

/** One event message of `MW_EVENTS`, as the processor gives it to be filed. */
export interface FilingMessage {
  seq: number;
  /** When JetStream stored it (ms). */
  arrival: number;
  /** The endpoint name of its subject. */
  name: string;
  source: string;
  batchId?: string;
  data: Uint8Array;
  pre: FilingPre;
}

export interface FilingOptions {
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  /** Serving metrics are counted per interval of this length (arrival time). */
  intervalMs: number;
}

/** A batch to file: its messages (in order), the endpoints they name, the window layout. */
export interface FilingTask {
  messages: FilingMessage[];
  endpoints: EndpointRecord[];
  layout: WindowLayout;
  options: FilingOptions;
}

/** A batch filed: plain data, the row chunks encoded (each owning its buffer). */
export interface FiledBatch {
  /** Row chunks in the order they were begun per subject, each with its message id ({@link rowChunkId}). */
  rows: Array<{ subject: string; n: number; data: Uint8Array; id: string }>;
  /** `refused`: the letter refuses an event or a message (not some late rows of an event filed otherwise). */
  letters: Array<{ letter: DeadLetter; msgID: string; refused: boolean }>;
  /** Events filed into windows. */
  accepted: number;
  entries: ServingEntry[];
  eps: Array<[string, string]>;
  batchEnds: BatchRecord[];
  /** Messages not filed (an unexpected error): positions in the task's messages, with the reason; JetStream redelivers them. */
  failed: Array<{ index: number; reason: string }>;
}

/** What one batch of messages produces: row chunks by subject, dead letters, serving entries. */
export class BatchOutput {
  readonly chunks = new Map<string, RowsChunk>();
  /**
   * Full chunks, encoded as soon as they are full: a chunk refers to the parsed events its rows
   * come from until it is encoded, and a batch of big messages kept hundreds of thousands of
   * them alive until its publish (long scavenges, an old space full of them).
   */
  readonly ready: FiledBatch['rows'] = [];
  readonly letters: FiledBatch['letters'] = [];
  accepted = 0;
  readonly entries: ServingEntry[] = [];
  readonly eps: Array<[string, string]> = [];
  private readonly epIndex = new Map<string, number>();
  readonly batchEnds: BatchRecord[] = [];
  readonly failed: FiledBatch['failed'] = [];

  chunk(subject: string, nx: number, ny: number): RowsChunk {
    let c = this.chunks.get(subject);
    if (c && (c.nx !== nx || c.ny !== ny || c.bytes >= CHUNK_BYTES)) {
      if (c.n > 0) this.ready.push({ subject, n: c.n, data: c.encode(), id: rowChunkId(subject, c.e) });
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

  /** The batch as plain data: the open chunks encoded after the full ones. */
  finish(): FiledBatch {
    const rows = [...this.ready];
    for (const [subject, c] of this.chunks) if (c.n > 0) rows.push({ subject, n: c.n, data: c.encode(), id: rowChunkId(subject, c.e) });
    return {
      rows,
      letters: this.letters,
      accepted: this.accepted,
      entries: this.entries,
      eps: this.eps,
      batchEnds: this.batchEnds,
      failed: this.failed,
    };
  }
}

/**
 * The message id of a row chunk: its subject and its parts (`[event seq, offset, count, ...]`),
 * which say which rows it holds. JetStream drops a chunk published again with the same id (its
 * duplicate window), so the id must name the content: a batch redelivered after a partial publish
 * or a stop before the acks, and batched otherwise (another processor, a message that failed the
 * first time), makes chunks of other parts, so of other ids, and its rows are all stored; the
 * same chunk again is dropped. The readers keep each row of an event once, however it was chunked (`decodeRowBatch`).
 */
export function rowChunkId(subject: string, parts: readonly number[]): string {
  return `r:${subject}:${digest(parts)}`;
}

/** The message id of a serving report: the event messages it counts (each counted once by its sequence). */
export function servingPartId(entries: readonly ServingEntry[]): string {
  return `sp:${digest(entries.map((e) => e[0]))}`;
}

function digest(numbers: readonly number[]): string {
  return createHash('sha256').update(numbers.join(',')).digest('base64url');
}

/** Files a whole batch (what a worker thread runs). */
export function fileBatch(task: FilingTask): FiledBatch {
  const out = new BatchOutput();
  task.messages.forEach((m, index) => fileOne(m, index, task, out));
  return out.finish();
}

/** Files message `index` of `task` into `out`; an unexpected error leaves it out (in `out.failed`). */
export function fileOne(m: FilingMessage, index: number, task: FilingTask, out: BatchOutput): void {
  try {
    fileMessage(m, task, out);
  } catch (err) {
    out.failed.push({ index, reason: (err as Error).message });
  }
}

/** Rows of one message in one window, in order. */
interface WindowRows {
  items: Array<{ p: ParsedEvent; from: number; to: number }>;
}

/**
 * Files one message into `out`: its letters, its serving entry and its rows, all at once at the
 * end (so a message that throws adds nothing).
 */
function fileMessage(m: FilingMessage, task: FilingTask, out: BatchOutput): void {
  const { layout, options } = task;
  const { arrival, name, source, batchId } = m;
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
  const interval = Math.floor(arrival / options.intervalMs) * options.intervalMs;
  // every message is reported to the serving aggregator (bad ones with no endpoint), so it knows it was seen
  const entry: ServingEntry = [m.seq, interval, -1, 0, 0, 0, 0, 0, null, null, 0, []];
  const windows = new Map<number, WindowRows>();
  /** `endpoint`: the rows are filed for it (none: the message is refused) */
  const commit = (endpoint?: EndpointRecord) => {
    if (endpoint) {
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
    }
    for (const l of letters) out.letters.push(l);
    out.accepted += accepted;
    if (!batchId) out.entries.push(entry);
  };

  const pre = m.pre;
  if (pre.kind === 'end') {
    out.batchEnds.push(pre.record);
    commit();
    return;
  }
  if (pre.kind === 'dead') {
    dead(pre.code, pre.message);
    commit();
    return;
  }
  let body: unknown;
  try {
    body = jsonCodec.decode(m.data);
  } catch (err) {
    dead('INVALID_JSON', invalidJsonMessage(m.data, err as Error));
    commit();
    return;
  }
  const ep = pre.endpoint !== undefined ? task.endpoints[pre.endpoint] : undefined;
  if (!ep) {
    dead('UNKNOWN_ENDPOINT', `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})`);
    commit();
    return;
  }
  // its events; an envelope (a request batch, the tracker's) counts the requests, sampled or not
  let units: Array<{ event: unknown; index?: number }>;
  let envelope: BatchServing | undefined;
  try {
    ({ units, envelope } = unpackMessage(body, arrival, options.maxFutureSkewMs));
  } catch (err) {
    if (!(err instanceof InvalidEventError)) throw err;
    dead('INVALID_EVENT', err.message);
    commit();
    return;
  }
  entry[2] = out.endpointIndex(ep.id, ep.name);
  const lateness = options.allowedLatenessMs;
  let w = { start: 0, end: -1 };
  // event times of the requests taken (a row filed, a row-less event), for the first and last
  // request: a refused event's or late row's time never moves them
  let tMin = Infinity;
  let tMax = -Infinity;
  for (const { event, index } of units) {
    const at = index !== undefined ? { index } : {};
    const p = checkEvent(event, ep, arrival, options.maxFutureSkewMs, 'arrival');
    if (isRejection(p)) {
      dead(p.code, p.message, at);
      continue;
    }
    entry[5] += p.n;
    entry[6] += (p.n * 100) / (envelope ? envelope.samplingPercentage : p.samplingPercentage);
    if (!envelope) {
      entry[3] += p.requests;
      entry[4] += p.errors;
      entry[10] += p.dropped;
      for (const l of p.latencies) pushLatency(entry[11], l);
    }
    if (p.n === 0) {
      if (p.tMin < tMin) tMin = p.tMin;
      if (p.tMax > tMax) tMax = p.tMax;
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
      if (t < tMin) tMin = t;
      if (t > tMax) tMax = t;
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
        const text = JSON.stringify(columnarSubset(p, late, ep));
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
    // a request batch whose events were all sampled out: its requests at their arrival
    if (tMin === Infinity && units.length === 0) tMin = tMax = arrival;
  }
  if (entry[3] > 0 && tMin !== Infinity) {
    entry[8] = tMin;
    entry[9] = tMax;
  }
  commit(ep);
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
