/**
 * The ingest pipeline: a message body unpacked into its events (by the formats of `formats/`),
 * each event validated, what is bad dead-lettered, the good events chunked and published.
 *
 * Both ends of `MW_EVENTS` use it: the HTTP API publishes what it accepts through
 * {@link IngestService}, and the stream processor unpacks and validates each message it consumes
 * with {@link unpackMessage} and {@link checkEvent} before filing the rows by window.
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { HeaderNames, Streams, Subjects, type DeadLetter, type DeadLetterCode, type EndpointRecord } from '@modelwatch/protocol';
import { checkEndpointName } from '../domain/names.js';
import { InvalidEventError, ModelwatchError } from '../errors.js';
import type { HostMetrics } from '../metrics.js';
import type { WatchedKv } from '../store/watched-kv.js';
import { payloadText, publishDeadLetter } from './dlq.js';
import {
  inferNamesFrom,
  jsonText,
  messageFormatOf,
  parseEvent,
  type BatchServing,
  type InferredNames,
  type MessageFormat,
  type ParsedEvent,
} from './formats/index.js';
import { dict } from '../domain/dict.js';

/** Messages to NATS stay under this (the default max_payload of a NATS server is 1 MiB). */
const CHUNK_BYTES = 900 * 1024;
/** A single event larger than this is refused (dead-lettered as OVERSIZED). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;
/** Requests up to this size may share a message with others. */
const COALESCE_BYTES = 64 * 1024;

/** Why a payload is not JSON, in words (Python's json.dumps writes NaN and Infinity, which JSON does not have). */
export function invalidJsonMessage(data: Uint8Array, err: Error): string {
  const text = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, 1 << 20)).toString('utf8');
  if (/(^|[\s,[:])(-?Infinity|NaN)([\s,\]}]|$)/.test(text)) {
    return `not valid JSON: NaN and Infinity are not JSON numbers (Python's json.dumps writes them; send null for a missing value): ${err.message}`;
  }
  return `not valid JSON: ${err.message}`;
}

/** A decoded message body: its events, each with its position (none for a body of one event), and its envelope. */
export interface UnpackedMessage {
  units: Array<{ event: unknown; index?: number }>;
  /** The message format that held the events (undefined: the body is one event). */
  format?: MessageFormat;
  /** What the envelope says about serving (a request batch's request counts). */
  envelope?: BatchServing;
}

/**
 * Unpack a (JSON-decoded) message body into its events, validating its envelope (its times at
 * most `maxFutureSkewMs` after `arrivalMs`, as {@link checkEvent} bounds an event's).
 * @throws {InvalidEventError} when the envelope is not valid, or there is no event and no
 * envelope (an empty list): the whole message is refused
 */
export function unpackMessage(body: unknown, arrivalMs: number, maxFutureSkewMs?: number): UnpackedMessage {
  const format = messageFormatOf(body);
  if (!format) return { units: [{ event: body }] };
  const envelope = format.envelope?.(body, arrivalMs, maxFutureSkewMs);
  const units = format.unpack(body);
  // (an envelope without events counts requests whose rows were all sampled out: it says something)
  if (units.length === 0 && !envelope) throw new InvalidEventError(format.name === 'list' ? 'no events: an empty list' : 'values: no events (an empty list)');
  return { units, format, ...(envelope ? { envelope } : {}) };
}

/** An event refused, with the dead-letter reason. */
export interface EventRejection {
  code: Extract<DeadLetterCode, 'INVALID_EVENT' | 'FUTURE_EVENT'>;
  message: string;
}

/**
 * Validate one event against its endpoint: its format's rules, and a time at most
 * `maxFutureSkewMs` after `atMs` (the request's time over HTTP, the arrival in `MW_EVENTS` for the
 * stream processor, as `clock` says, which the message names).
 * Anything but an `InvalidEventError` is thrown.
 */
export function checkEvent(
  event: unknown,
  endpoint: EndpointRecord,
  atMs: number,
  maxFutureSkewMs: number,
  clock: 'request' | 'arrival',
): ParsedEvent | EventRejection {
  let p: ParsedEvent;
  try {
    p = parseEvent(event, endpoint, atMs);
  } catch (err) {
    if (!(err instanceof InvalidEventError)) throw err;
    return { code: 'INVALID_EVENT', message: err.message };
  }
  if (p.tMax > atMs + maxFutureSkewMs) {
    const when = new Date(p.tMax).toISOString();
    return {
      code: 'FUTURE_EVENT',
      message:
        clock === 'request'
          ? `when: ${when} is more than ${maxFutureSkewMs} ms in the future`
          : `when: ${when} is more than ${maxFutureSkewMs} ms after arrival (${new Date(atMs).toISOString()})`,
    };
  }
  return p;
}

/** Whether {@link checkEvent} refused the event. */
export function isRejection(r: ParsedEvent | EventRejection): r is EventRejection {
  return 'code' in r;
}

/**
 * A request's body: JSON with its bytes (so a clean body is forwarded as it came), parsed
 * already or not (`value`/`error` absent: {@link prepareIngest} parses it), or NDJSON bytes.
 */
export type IngestBody = { type: 'json'; raw: Uint8Array; value?: unknown; error?: Error } | { type: 'ndjson'; raw: Uint8Array };

/** What an ingest answers (the HTTP API's `IngestResult`), with the HTTP status it implies. */
export interface IngestOutcome {
  status: 202 | 400;
  accepted: number;
  rejected: Array<{ index: number; error: string }>;
  /** Wrong-type values of the accepted events, by column (see `ParsedEvent.wrongType`); only when there were some. */
  wrongType?: Record<string, number>;
}

/** What {@link prepareIngest} needs: the request's body and everything it is checked against. */
export interface IngestInput {
  name: string;
  endpoint: EndpointRecord;
  body: IngestBody | undefined;
  /** The request's time. */
  now: number;
  maxFutureSkewMs: number;
  maxFeatures?: number;
  batchId?: string;
  /** Whether the request has an idempotency key (it is then never coalesced with others). */
  keyed: boolean;
}

/** A request's events checked and encoded, ready to publish: plain data, so a worker thread can make it. */
export interface PreparedIngest extends IngestOutcome {
  letters: DeadLetter[];
  /** The messages to publish to `mw.events.<name>`. */
  payloads: Uint8Array[];
  /** The events as JSON texts joined by commas, when the request is small enough to share a message with others. */
  coalesce?: string;
  /** The SHA-256 (hex) of a keyed request's body, which its messages carry (`Mw-Body-Sha256`): a retry has the same. */
  bodyHash?: string;
}

/**
 * Check a request's events against their endpoint and encode what goes to NATS: the pure,
 * CPU-bound part of an ingest, which the HTTP API runs on a worker thread for a big body
 * (`api/body-workers.ts`). Bad events become dead letters; the good ones payloads under NATS'
 * limit (the body as it came when all of it is good and small).
 * @throws {ModelwatchError} INVALID_ARGUMENT (no body it can read)
 */
export function prepareIngest(input: IngestInput): PreparedIngest {
  const { name, endpoint, body, now } = input;
  const letters: DeadLetter[] = [];
  const dead = (code: DeadLetterCode, message: string, payload: Pick<DeadLetter, 'payload' | 'payloadEncoding'> & Partial<DeadLetter>, index?: number) =>
    letters.push({
      endpoint: name,
      reason: { code, message },
      source: 'http',
      receivedAt: now,
      payloadScope: 'event',
      ...(index !== undefined ? { index } : {}),
      ...(input.batchId ? { batch: input.batchId } : {}),
      ...payload,
    });
  const refused = (rejected: IngestOutcome['rejected']): PreparedIngest => ({ status: 400, accepted: 0, rejected, letters, payloads: [] });
  // the events of the request, each with its index (array position or NDJSON line)
  const units: Array<{ event: unknown; index: number }> = [];
  const rejected: IngestOutcome['rejected'] = [];
  let raw: Uint8Array | undefined;
  let value: unknown;
  let format: MessageFormat | undefined;
  if (body?.type === 'ndjson') {
    const text = Buffer.from(body.raw.buffer, body.raw.byteOffset, body.raw.byteLength).toString('utf8');
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        units.push({ event: JSON.parse(line), index: i });
      } catch (err) {
        const message = `line ${i + 1}: ${invalidJsonMessage(Buffer.from(line), err as Error)}`;
        rejected.push({ index: i, error: message });
        dead('INVALID_JSON', message, payloadText(Buffer.from(line)), i);
      }
    });
    if (units.length === 0 && rejected.length === 0) {
      const message = 'no events: the body has no line that is not blank';
      dead('INVALID_EVENT', message, { ...payloadText(body.raw), payloadScope: 'message' });
      return refused([{ index: 0, error: message }]);
    }
  } else {
    if (!body) throw new ModelwatchError('INVALID_ARGUMENT', 'send application/json or application/x-ndjson');
    let error = body.error;
    value = body.value;
    if (value === undefined && error === undefined && body.raw.length) {
      try {
        value = JSON.parse(Buffer.from(body.raw.buffer, body.raw.byteOffset, body.raw.byteLength).toString('utf8'));
      } catch (err) {
        error = err as Error;
      }
    }
    if (error || value === undefined) {
      const message = error ? invalidJsonMessage(body.raw, error) : 'not valid JSON: the body is empty';
      dead('INVALID_JSON', message, { ...payloadText(body.raw), payloadScope: 'message' });
      return refused([{ index: 0, error: message }]);
    }
    raw = body.raw;
    let message: UnpackedMessage;
    try {
      message = unpackMessage(value, now, input.maxFutureSkewMs);
    } catch (err) {
      if (!(err instanceof InvalidEventError)) throw err;
      dead('INVALID_EVENT', err.message, { ...payloadText(body.raw), payloadScope: 'message' });
      return refused([{ index: 0, error: err.message }]);
    }
    format = message.format;
    for (const u of message.units) units.push({ event: u.event, index: u.index ?? 0 });
  }
  let inferred: InferredNames;
  try {
    inferred = inferNamesFrom(units, endpoint, input.maxFeatures);
  } catch (err) {
    if (!(err instanceof InvalidEventError)) throw err;
    // no event can be read without names: the request is refused whole
    for (const { index } of units) rejected.push({ index, error: err.message });
    dead('INVALID_EVENT', err.message, { ...payloadText(body?.raw ?? new Uint8Array(0)), payloadScope: 'message' });
    return refused(rejected.sort((a, b) => a.index - b.index));
  }
  // (names inferred only when the endpoint has none of its own: most requests infer nothing)
  const checked = inferred.featureNames || inferred.labelNames ? { ...endpoint, ...inferred } : endpoint;
  const good: Array<{ event: unknown; index: number }> = [];
  const wrongOf = new Map<unknown, number[][]>();
  for (const unit of units) {
    const { event, index } = unit;
    const p = checkEvent(event, checked, now, input.maxFutureSkewMs, 'request');
    if (isRejection(p)) {
      rejected.push({ index, error: p.message });
      // (jsonText: an event refused for its nesting is too deep for JSON.stringify)
      dead(p.code, p.message, payloadText(Buffer.from(jsonText(event))), index);
      continue;
    }
    good.push(unit);
    if (p.wrongType) wrongOf.set(event, p.wrongType);
  }
  // the good events: the body as it came when all of it is good, else re-encoded, in chunks under NATS' limit
  let payloads: Uint8Array[] = [];
  let accepted = good.length;
  let texts: string[] | undefined;
  // (a message with an envelope, a request batch, goes even when sampling kept none of its
  // events: what it counts of its requests, and its drop reports, are the host's only record of them)
  if ((good.length || format?.envelope) && raw && good.length === units.length && rejected.length === 0 && raw.length <= CHUNK_BYTES) payloads.push(raw);
  else if (good.length) {
    texts = good.map((g) => JSON.stringify(g.event));
    const wrap = format?.rewrap?.bind(format, value);
    const chunks = chunkEvents(texts, wrap);
    payloads = chunks.payloads;
    for (const i of chunks.oversized) {
      const { event, index } = good[i]!;
      const message = `an event of ${texts[i]!.length} bytes, over the limit of ${MAX_EVENT_BYTES}: split it`;
      accepted--;
      wrongOf.delete(event);
      rejected.push({ index, error: message });
      dead('OVERSIZED', message, payloadText(Buffer.from(texts[i]!)), index);
    }
  }
  rejected.sort((a, b) => a.index - b.index);
  // small requests without an idempotency key share one message with the requests that
  // arrive at the same moment (one publish and one ack for all of them); an envelope stays its own
  const small = !input.keyed && !input.batchId && !format?.rewrap && payloads.length === 1 && payloads[0]!.length <= COALESCE_BYTES;
  const wrongType = wrongTypeByColumn(wrongOf.values(), [...checked.featureNames, ...checked.labelNames]);
  return {
    status: accepted === 0 && rejected.length > 0 ? 400 : 202,
    accepted,
    rejected,
    ...(wrongType ? { wrongType } : {}),
    letters,
    payloads,
    // (hashed only when something is published: a body refused whole needs none)
    ...(input.keyed && body && payloads.length ? { bodyHash: createHash('sha256').update(body.raw).digest('hex') } : {}),
    // a body of one event, all good, is its own text (no second encoding)
    ...(small
      ? {
          coalesce: texts
            ? texts.join(',')
            : !format && raw
              ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')
              : good.map((g) => JSON.stringify(g.event)).join(','),
        }
      : {}),
  };
}

export interface IngestServiceOptions {
  js: JetStreamClient;
  /** Reads the stored message of a keyed request's duplicate (a retry, or its key reused with another body). */
  jsm: JetStreamManager;
  endpoints: WatchedKv<EndpointRecord>;
  maxFutureSkewMs: number;
  /** The most feature names (and output names) an endpoint may have; names inferred from events are checked against it. @default 10,000 */
  maxFeatures?: number;
  /**
   * Runs {@link prepareIngest} for a body over `offloadAboveBytes` elsewhere (a worker thread, so
   * a big body does not hold the event loop). @default in this thread
   */
  offload?: (input: IngestInput) => Promise<PreparedIngest>;
  /** @default 256 KiB */
  offloadAboveBytes?: number;
  /** Dead letters written (the events it refuses). */
  metrics?: HostMetrics;
}

/**
 * Ingest over HTTP: validates a request's events against their endpoint (with the names it would
 * infer), dead-letters the bad ones, and publishes the good ones to `mw.events.<name>`: the body
 * as it came when all of it is good, else re-encoded in chunks under NATS' limit (an envelope
 * kept around each chunk, see `MessageFormat.rewrap`). It resolves once JetStream has stored
 * them, so an accepted event is stored.
 */
export class IngestService {
  private readonly coalescer: Coalescer;

  constructor(private readonly options: IngestServiceOptions) {
    this.coalescer = new Coalescer(options.js);
  }

  /**
   * Ingest a request's events for endpoint `name`; `key`: an idempotency key (a retry with it is
   * one event), `batchId`: events of a batch of historical events (see `endBatch`).
   * @throws {ModelwatchError} NOT_FOUND (no such endpoint; the body is dead-lettered), INVALID_ARGUMENT,
   * IDEMPOTENCY_KEY_REUSED (the key came with another body within the duplicate window: nothing is written)
   */
  async ingest(name: string, body: IngestBody | undefined, opts: { key?: string; batchId?: string } = {}): Promise<IngestOutcome> {
    const { js } = this.options;
    checkEndpointName(name);
    const now = Date.now();
    const endpoint = await this.options.endpoints.get(name);
    if (!endpoint) {
      await publishDeadLetter(js, {
        endpoint: name,
        reason: { code: 'UNKNOWN_ENDPOINT', message: `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})` },
        source: 'http',
        receivedAt: now,
        ...(opts.batchId ? { batch: opts.batchId } : {}),
        ...payloadText(body?.raw ?? new Uint8Array(0)),
        payloadScope: 'message',
      });
      this.options.metrics?.deadLettered('UNKNOWN_ENDPOINT', true);
      throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}' (create it with: modelwatch endpoint create --name ${name})`);
    }
    const input: IngestInput = {
      name,
      endpoint,
      body,
      now,
      maxFutureSkewMs: this.options.maxFutureSkewMs,
      ...(this.options.maxFeatures !== undefined ? { maxFeatures: this.options.maxFeatures } : {}),
      ...(opts.batchId ? { batchId: opts.batchId } : {}),
      keyed: Boolean(opts.key),
    };
    const big = (body?.raw.length ?? 0) > (this.options.offloadAboveBytes ?? 256 * 1024);
    const prepared = big && this.options.offload ? await this.options.offload(input) : prepareIngest(input);
    const { letters, payloads, coalesce, bodyHash, ...outcome } = prepared;
    if (letters.length === 0 && coalesce !== undefined) {
      // the common case, a small clean request: its share of a coalesced message, nothing else
      await this.coalescer.add(Subjects.events(name), coalesce);
      return outcome;
    }
    const deadLetters = () =>
      Promise.all(
        letters.map(async (l) => {
          await publishDeadLetter(js, l);
          this.options.metrics?.deadLettered(l.reason.code, true);
        }),
      );
    if (coalesce !== undefined) await Promise.all([deadLetters(), this.coalescer.add(Subjects.events(name), coalesce)]);
    else await this.publishEach(name, payloads, { ...opts, ...(bodyHash ? { bodyHash } : {}) }, deadLetters);
    return outcome;
  }

  /**
   * A request's own messages (an idempotency key's message id, a batch's header): not coalesced;
   * `alongside` (its dead letters) is written with them. With a key, the first message goes
   * first, under the key's id alone whatever the count: when JetStream has that id already (its
   * duplicate window), the request is a retry, answered as the first time, unless the message
   * stored under it came from another body: then nothing is written.
   * @throws {ModelwatchError} IDEMPOTENCY_KEY_REUSED
   */
  private async publishEach(
    name: string,
    payloads: readonly Uint8Array[],
    opts: { key?: string; batchId?: string; bodyHash?: string },
    alongside: () => Promise<unknown>,
  ): Promise<void> {
    const h = natsHeaders();
    h.set(HeaderNames.source, 'http');
    if (opts.batchId) h.set(HeaderNames.batch, opts.batchId);
    if (opts.key && opts.bodyHash) h.set(HeaderNames.bodyHash, opts.bodyHash);
    const publish = (i: number) =>
      this.options.js.publish(Subjects.events(name), payloads[i]!, {
        headers: h,
        ...(opts.key ? { msgID: i === 0 && !opts.batchId ? `${name}:${opts.key}` : `${name}:${opts.key}:${i}` } : {}),
      });
    let first = 0;
    if (opts.key && payloads.length) {
      const ack = await publish(0);
      if (ack.duplicate) await this.checkRetry(name, ack.seq, opts);
      first = 1;
    }
    await Promise.all([alongside(), ...payloads.slice(first).map((_, i) => publish(first + i))]);
  }

  /**
   * Whether the message JetStream kept under a keyed request's first id (at `seq`) came from the
   * same body. One without a hash (an older host's), or gone, cannot say: a retry.
   * @throws {ModelwatchError} IDEMPOTENCY_KEY_REUSED
   */
  private async checkRetry(name: string, seq: number, opts: { key?: string; batchId?: string; bodyHash?: string }): Promise<void> {
    const stored = await this.options.jsm.streams.getMessage(Streams.events, { seq });
    const hash = stored?.header?.get(HeaderNames.bodyHash);
    if (!hash || !opts.bodyHash || hash === opts.bodyHash) return;
    throw new ModelwatchError(
      'IDEMPOTENCY_KEY_REUSED',
      opts.batchId
        ? `batch '${opts.batchId}' of endpoint ${name} was sent within the last 2 minutes with another body: send other events as a new batch`
        : `Idempotency-Key '${opts.key}' was used within the last 2 minutes for a request with another body: a retry sends the same body, other events take a new key`,
    );
  }

  /** Mark batch `batchId` of endpoint `name` complete: the stream processor records it, and its windows are analysed. */
  async endBatch(name: string, batchId: string): Promise<void> {
    const h = natsHeaders();
    h.set(HeaderNames.batchEnd, batchId);
    h.set(HeaderNames.source, 'http');
    await this.options.js.publish(Subjects.events(name), new Uint8Array(0), { headers: h, msgID: `${name}:${batchId}:end` });
  }
}

/**
 * Events (JSON texts) as messages under `maxBytes`: JSON lists of them, or, with `rewrap`, the
 * envelope written around each part (always one message at least, the first carrying the
 * envelope's counts). An event over the limit of one event is left out: `oversized` lists their
 * positions.
 */
export function chunkEvents(
  texts: readonly string[],
  rewrap?: (events: readonly string[], first: boolean) => string,
  maxBytes = CHUNK_BYTES,
): { payloads: Uint8Array[]; oversized: number[] } {
  const payloads: Uint8Array[] = [];
  const oversized: number[] = [];
  let cur: string[] = [];
  let size = 2;
  const close = () => {
    if (rewrap) payloads.push(Buffer.from(rewrap(cur, payloads.length === 0)));
    else if (cur.length) payloads.push(Buffer.from(`[${cur.join(',')}]`));
    cur = [];
    size = 2;
  };
  texts.forEach((text, i) => {
    if (text.length > MAX_EVENT_BYTES) {
      oversized.push(i);
      return;
    }
    if (size + text.length + 1 > maxBytes && cur.length) close();
    cur.push(text);
    size += text.length + 1;
  });
  close();
  return { payloads, oversized };
}

/** The wrong-type values of some events (`ParsedEvent.wrongType`), added up by column name; undefined when none. */
function wrongTypeByColumn(events: Iterable<number[][]>, names: readonly string[]): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const rows of events) {
    rows.forEach((r, c) => {
      if (r.length === 0) return;
      out ??= dict<number>();
      const name = names[c]!;
      out[name] = (out[name] ?? 0) + r.length;
    });
  }
  return out;
}

/** Publishes of coalesced messages in flight per subject; the requests that come meanwhile wait together for the next. */
const COALESCE_IN_FLIGHT = 2;

type Waiter = { resolve: () => void; reject: (e: unknown) => void };
type Pending = { parts: string[]; bytes: number; waiters: Waiter[] };

/**
 * Gathers the events of concurrent small HTTP requests for one endpoint into one message (a JSON
 * array): a group commit. While fewer than {@link COALESCE_IN_FLIGHT} of the endpoint's messages
 * await their JetStream acknowledgement, a request's events go out when the event loop turns
 * (with the others of that turn); else they wait for one of those to be acknowledged, gathered
 * with every request that comes meanwhile (up to NATS' limit), so under load a message carries
 * as many requests as arrive in a round trip to JetStream, and when idle none waits. Every
 * request waits for its message's acknowledgement, so 202 still means stored.
 */
class Coalescer {
  private readonly pending = new Map<string, Pending>();
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly js: JetStreamClient) {}

  /** `part`: one or more events as JSON text, comma-separated. */
  add(subject: string, part: string): Promise<void> {
    let p = this.pending.get(subject);
    if (p && p.bytes + part.length + 1 > CHUNK_BYTES) {
      // full: it goes now, whatever is in flight
      this.pending.delete(subject);
      this.publish(subject, p);
      p = undefined;
    }
    if (!p) {
      const fresh: Pending = { parts: [], bytes: 2, waiters: [] };
      this.pending.set(subject, fresh);
      if ((this.inFlight.get(subject) ?? 0) < COALESCE_IN_FLIGHT) setImmediate(() => this.flush(subject, fresh));
      p = fresh;
    }
    p.parts.push(part);
    p.bytes += part.length + 1;
    const batch = p;
    return new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  /** Publish `p` if it is still the subject's pending message. */
  private flush(subject: string, p: Pending): void {
    if (this.pending.get(subject) !== p) return;
    this.pending.delete(subject);
    this.publish(subject, p);
  }

  private publish(subject: string, p: Pending): void {
    this.inFlight.set(subject, (this.inFlight.get(subject) ?? 0) + 1);
    const h = natsHeaders();
    h.set(HeaderNames.source, 'http');
    const settled = () => {
      const n = (this.inFlight.get(subject) ?? 1) - 1;
      if (n > 0) this.inFlight.set(subject, n);
      else this.inFlight.delete(subject);
      // what gathered meanwhile goes now
      const next = this.pending.get(subject);
      if (next) this.flush(subject, next);
    };
    this.js.publish(subject, Buffer.from(`[${p.parts.join(',')}]`), { headers: h }).then(
      () => {
        p.waiters.forEach((w) => w.resolve());
        settled();
      },
      (err: unknown) => {
        p.waiters.forEach((w) => w.reject(err));
        settled();
      },
    );
  }
}
