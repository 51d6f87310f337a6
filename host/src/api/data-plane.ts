import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  BATCH_ID,
  HeaderNames,
  Streams,
  Subjects,
  type BatchRecord,
  type DeadLetter,
  type DeadLetterCode,
  type EndpointRecord,
  type EndpointStatsRecord,
  type RequestBatch,
  type ServingLiveReply,
  type ServingRecord,
  type ServingReply,
  type ServingRequest,
  type StoredDeadLetter,
} from '@modelwatch/protocol';
import { addCounts, emptyCounts } from '../domain/counts.js';
import { batchSeriesId } from '../domain/keys.js';
import { checkEndpointName, endpointId } from '../domain/names.js';
import { ModelwatchError, InvalidEventError } from '../errors.js';
import type { Logger } from '../logger.js';
import { jsonCodec } from '../nats/codec.js';
import type { Buckets } from '../nats/topology.js';
import type { WatchedKv } from '../store/watched-kv.js';
import { deadLetterCounts, payloadText, publishDeadLetter } from '../stream/dlq.js';
import { eventsOf, inferNamesFrom, isRequestBatch, parseEvent, parseRequestBatch } from '../stream/events.js';
import { invalidJsonMessage } from '../stream/processor.js';
import type { EndpointStats, IngestResult } from './contract.js';

export interface DataPlaneDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  endpoints: WatchedKv<EndpointRecord>;
  logger: Logger;
  maxFutureSkewMs: number;
}

/** The wrong-type values of some events (`ParsedEvent.wrongType`), added up by column name; undefined when none. */
function wrongTypeByColumn(events: Iterable<number[][]>, names: readonly string[]): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const rows of events) {
    rows.forEach((r, c) => {
      if (r.length === 0) return;
      out ??= {};
      const name = names[c]!;
      out[name] = (out[name] ?? 0) + r.length;
    });
  }
  return out;
}

/** Messages to NATS stay under this (the default max_payload of a NATS server is 1 MiB). */
const CHUNK_BYTES = 900 * 1024;
/** A single event larger than this is refused (dead-lettered as OVERSIZED). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;
const DAY = 86_400_000;

/** A JSON body kept with its bytes (so a clean body is forwarded as it came). */
interface RawJson {
  raw: Buffer;
  value?: unknown;
  error?: Error;
}

/**
 * The data-plane routes: event ingest (events and batches), dead letters, serving statistics.
 * Registered in their own context: their JSON bodies keep their raw bytes.
 */
export async function registerDataPlaneRoutes(app: FastifyInstance, deps: DataPlaneDeps): Promise<void> {
  const { js, jsm, buckets } = deps;
  const coalescer = new Coalescer(js);
  await app.register(async (ctx) => {
    ctx.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
      const raw = body as Buffer;
      try {
        done(null, { raw, value: raw.length ? JSON.parse(raw.toString('utf8')) : undefined } satisfies RawJson);
      } catch (err) {
        done(null, { raw, error: err as Error } satisfies RawJson);
      }
    });

    const ingest = async (
      name: string,
      body: unknown,
      contentType: string,
      opts: { key?: string; batchId?: string },
    ): Promise<{ status: number; result: IngestResult }> => {
      checkEndpointName(name);
      const now = Date.now();
      const letters: Array<{ letter: DeadLetter }> = [];
      const dead = (code: DeadLetterCode, message: string, payload: Pick<DeadLetter, 'payload' | 'payloadEncoding'> & Partial<DeadLetter>, index?: number) =>
        letters.push({
          letter: {
            endpoint: name,
            reason: { code, message },
            source: 'http',
            receivedAt: now,
            payloadScope: 'event',
            ...(index !== undefined ? { index } : {}),
            ...(opts.batchId ? { batch: opts.batchId } : {}),
            ...payload,
          },
        });
      const flush = () => Promise.all(letters.map((l) => publishDeadLetter(js, l.letter)));
      const endpoint = await deps.endpoints.get(name);
      const type = contentType.split(';')[0]!.trim();
      const ndjson = type === 'application/x-ndjson' || type === 'application/jsonl';
      if (!endpoint) {
        const raw = ndjson ? Buffer.from(String(body)) : ((body as RawJson | undefined)?.raw ?? Buffer.alloc(0));
        dead('UNKNOWN_ENDPOINT', `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})`, {
          ...payloadText(raw),
          payloadScope: 'message',
        });
        await flush();
        throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}' (create it with: modelwatch endpoint create --name ${name})`);
      }
      // the events of the request, each with its index (array position or NDJSON line)
      const units: Array<{ event: unknown; index: number }> = [];
      const rejected: IngestResult['rejected'] = [];
      let raw: Buffer | undefined;
      let envelope: RequestBatch | undefined;
      if (ndjson) {
        String(body ?? '')
          .split('\n')
          .forEach((line, i) => {
            if (!line.trim()) return;
            try {
              units.push({ event: JSON.parse(line), index: i });
            } catch (err) {
              const message = `line ${i + 1}: ${invalidJsonMessage(Buffer.from(line), err as Error)}`;
              rejected.push({ index: i, error: message });
              dead('INVALID_JSON', message, payloadText(Buffer.from(line)), i);
            }
          });
      } else {
        const b = body as RawJson | undefined;
        if (!b || typeof b !== 'object' || !('raw' in b)) throw new ModelwatchError('INVALID_ARGUMENT', 'send application/json or application/x-ndjson');
        if (b.error || b.value === undefined) {
          const message = b.error ? invalidJsonMessage(b.raw, b.error) : 'not valid JSON: the body is empty';
          dead('INVALID_JSON', message, { ...payloadText(b.raw), payloadScope: 'message' });
          await flush();
          return { status: 400, result: { accepted: 0, rejected: [{ index: 0, error: message }] } };
        }
        raw = b.raw;
        if (isRequestBatch(b.value)) {
          try {
            parseRequestBatch(b.value as unknown as Record<string, unknown>, now);
            envelope = b.value;
          } catch (err) {
            if (!(err instanceof InvalidEventError)) throw err;
            dead('INVALID_EVENT', err.message, { ...payloadText(b.raw), payloadScope: 'message' });
            await flush();
            return { status: 400, result: { accepted: 0, rejected: [{ index: 0, error: err.message }] } };
          }
        }
        for (const u of eventsOf(b.value)) units.push({ event: u.event, index: u.index ?? 0 });
      }
      const checked = { ...endpoint, ...inferNamesFrom(units, endpoint) };
      const good: unknown[] = [];
      const wrongOf = new Map<unknown, number[][]>();
      for (const { event, index } of units) {
        try {
          const p = parseEvent(event, checked, now);
          if (p.tMax > now + deps.maxFutureSkewMs) {
            const message = `when: ${new Date(p.tMax).toISOString()} is more than ${deps.maxFutureSkewMs} ms in the future`;
            rejected.push({ index, error: message });
            dead('FUTURE_EVENT', message, payloadText(Buffer.from(JSON.stringify(event))), index);
            continue;
          }
          good.push(event);
          if (p.wrongType) wrongOf.set(event, p.wrongType);
        } catch (err) {
          if (!(err instanceof InvalidEventError)) throw err;
          rejected.push({ index, error: err.message });
          dead('INVALID_EVENT', err.message, payloadText(Buffer.from(JSON.stringify(event) ?? 'undefined')), index);
        }
      }
      rejected.sort((a, b) => a.index - b.index);
      // forward the good events: the body as it came when all of it is good, else re-encoded, in chunks under NATS' limit
      const payloads: Uint8Array[] = [];
      let accepted = good.length;
      // (a request batch goes even when sampling kept none of its events: its request counts and
      // drop reports are the host's only record of those requests)
      if ((good.length || envelope) && raw && good.length === units.length && rejected.length === 0 && raw.length <= CHUNK_BYTES) payloads.push(raw);
      else if (good.length) {
        let cur: string[] = [];
        let size = 2;
        const close = () => {
          if (envelope) {
            // a request batch stays one: its request counts go with the first chunk
            const { events: _e, requests, ...rest } = envelope;
            const head = payloads.length === 0 ? { ...rest, requests } : { ...rest, requests: { count: 0 } };
            payloads.push(Buffer.from(`${JSON.stringify(head).slice(0, -1)},"events":[${cur.join(',')}]}`));
          } else if (cur.length) payloads.push(Buffer.from(`[${cur.join(',')}]`));
          cur = [];
          size = 2;
        };
        good.forEach((ev, i) => {
          const text = JSON.stringify(ev);
          if (text.length > MAX_EVENT_BYTES) {
            const index = units.find((u) => u.event === ev)?.index ?? i;
            const message = `an event of ${text.length} bytes, over the limit of ${MAX_EVENT_BYTES}: split it`;
            accepted--;
            wrongOf.delete(ev);
            rejected.push({ index, error: message });
            dead('OVERSIZED', message, payloadText(Buffer.from(text)), index);
            return;
          }
          if (size + text.length + 1 > CHUNK_BYTES && cur.length) close();
          cur.push(text);
          size += text.length + 1;
        });
        close();
      }
      const h = natsHeaders();
      h.set(HeaderNames.source, 'http');
      if (opts.batchId) h.set(HeaderNames.batch, opts.batchId);
      // small requests without an idempotency key share one message with the requests that
      // arrive at the same moment (one publish and one ack for all of them)
      const small = !opts.key && !opts.batchId && !envelope && payloads.length === 1 && payloads[0]!.length <= COALESCE_BYTES;
      await Promise.all([
        flush(),
        small
          ? coalescer.add(Subjects.events(name), good.map((e) => JSON.stringify(e)).join(','))
          : Promise.all(
              payloads.map((data, i) =>
                js.publish(Subjects.events(name), data, {
                  headers: h,
                  ...(opts.key ? { msgID: payloads.length === 1 && !opts.batchId ? `${name}:${opts.key}` : `${name}:${opts.key}:${i}` } : {}),
                }),
              ),
            ),
      ]);
      rejected.sort((a, b) => a.index - b.index);
      const wrongType = wrongTypeByColumn(wrongOf.values(), [...checked.featureNames, ...checked.labelNames]);
      return { status: accepted === 0 && rejected.length > 0 ? 400 : 202, result: { accepted, rejected, ...(wrongType ? { wrongType } : {}) } };
    };

    // ---- live events
    ctx.post<{ Params: { name: string }; Body: unknown }>('/api/v1/endpoints/:name/events', async (req, reply) => {
      const key = req.headers['idempotency-key'];
      const { status, result } = await ingest(req.params.name, req.body, String(req.headers['content-type'] ?? ''), {
        ...(typeof key === 'string' && key ? { key } : {}),
      });
      return reply.status(status).send(result);
    });

    // ---- batches of historical events, analysed in their own windows once complete
    ctx.post<{ Params: { name: string }; Querystring: { id?: string }; Body: unknown }>('/api/v1/endpoints/:name/batches', async (req, reply) => {
      const name = checkEndpointName(req.params.name);
      const batchId =
        req.query.id ??
        `${new Date()
          .toISOString()
          .replace(/[-:.TZ]/g, '')
          .slice(0, 14)}-${randomBytes(3).toString('hex')}`;
      if (!BATCH_ID.test(batchId)) throw new ModelwatchError('INVALID_ARGUMENT', `batch id '${batchId}' is not valid: use 1-64 letters, digits, '_' or '-'`);
      const existing = await buckets.batches.get(`${name}.${batchId}`);
      if (existing?.operation === 'PUT') {
        throw new ModelwatchError(
          'CONFLICT',
          `batch '${batchId}' of endpoint ${name} exists already (${existing.json<BatchRecord>().status}): send new data as a new batch`,
        );
      }
      const { status, result } = await ingest(name, req.body, String(req.headers['content-type'] ?? ''), { batchId, key: batchId });
      if (result.accepted > 0) {
        const h = natsHeaders();
        h.set(HeaderNames.batchEnd, batchId);
        h.set(HeaderNames.source, 'http');
        await js.publish(Subjects.events(name), new Uint8Array(0), { headers: h, msgID: `${name}:${batchId}:end` });
      }
      return reply.status(status).send({ batchId, ...result });
    });
  });

  app.get<{ Params: { name: string } }>('/api/v1/endpoints/:name/batches', async (req) => {
    const name = checkEndpointName(req.params.name);
    const out: BatchRecord[] = [];
    for await (const k of await buckets.batches.keys(`${name}.>`)) {
      const e = await buckets.batches.get(k);
      if (e?.operation === 'PUT') out.push(e.json<BatchRecord>());
    }
    out.sort((a, b) => a.createdAt - b.createdAt);
    return { batches: out };
  });

  app.get<{ Params: { name: string; id: string } }>('/api/v1/endpoints/:name/batches/:id', async (req) => {
    const name = checkEndpointName(req.params.name);
    const e = await buckets.batches.get(`${name}.${req.params.id}`);
    if (!e || e.operation !== 'PUT')
      throw new ModelwatchError('NOT_FOUND', `no batch '${req.params.id}' of endpoint ${name} (it appears once its events are ingested)`);
    return { ...e.json<BatchRecord>(), resultsEndpointId: batchSeriesId(endpointId(name), req.params.id) };
  });

  // ---- serving statistics
  app.get<{ Params: { name: string } }>('/api/v1/endpoints/:name/stats', async (req) => {
    const name = checkEndpointName(req.params.name);
    const ep = await deps.endpoints.get(name);
    if (!ep) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
    return (await endpointStats(deps, [ep])).get(name)!;
  });

  app.get<{ Params: { name: string }; Querystring: { since?: string; limit?: string } }>('/api/v1/endpoints/:name/serving', async (req) => {
    const name = checkEndpointName(req.params.name);
    const q: ServingRequest = {
      intervals: {
        endpointId: endpointId(name),
        ...(req.query.since ? { since: Date.parse(req.query.since) || Number(req.query.since) } : {}),
        ...(req.query.limit ? { limit: Number(req.query.limit) } : {}),
      },
    };
    const reply = await askServing(deps.nc, q);
    if (!('intervals' in reply)) throw new ModelwatchError('NOT_FOUND', 'the writer did not answer with intervals');
    return { intervals: reply.intervals satisfies ServingRecord[] };
  });

  // ---- dead letters
  app.get<{ Querystring: { endpoint?: string; reason?: string; limit?: string } }>('/api/v1/dlq', async (req) => {
    const endpoint = req.query.endpoint ? checkEndpointName(req.query.endpoint) : undefined;
    const limit = req.query.limit ? Number(req.query.limit) : 100;
    if (!Number.isInteger(limit) || limit <= 0)
      throw new ModelwatchError('INVALID_ARGUMENT', `limit: expected a positive whole number, got '${req.query.limit}'`);
    const counts = await deadLetterCounts(jsm);
    const letters = await listDeadLetters(js, jsm, { ...(endpoint ? { endpoint } : {}), ...(req.query.reason ? { reason: req.query.reason } : {}), limit });
    const scoped = endpoint ? { [endpoint]: counts[endpoint] ?? {} } : counts;
    const total = Object.values(scoped).reduce(
      (n, byCode) => n + Object.entries(byCode).reduce((m, [code, c]) => m + (!req.query.reason || code === req.query.reason ? c : 0), 0),
      0,
    );
    return { total, counts: scoped, letters: letters.map(preview) };
  });

  app.get<{ Params: { seq: string } }>('/api/v1/dlq/:seq', async (req) => {
    const seq = Number(req.params.seq);
    if (!Number.isInteger(seq) || seq <= 0) throw new ModelwatchError('INVALID_ARGUMENT', `'${req.params.seq}' is not a dead-letter sequence`);
    const letter = await getDeadLetter(jsm, seq);
    if (!letter) throw new ModelwatchError('NOT_FOUND', `no dead letter ${seq} (replayed, expired, or never there)`);
    return letter;
  });

  app.post<{ Body: { endpoint?: unknown; seqs?: unknown; includeLate?: unknown } }>('/api/v1/dlq/replay', async (req) => {
    const body = req.body ?? {};
    const endpoint = body.endpoint === undefined ? undefined : checkEndpointName(body.endpoint);
    let seqs: number[] | undefined;
    if (body.seqs !== undefined) {
      if (!Array.isArray(body.seqs) || !body.seqs.every((s) => Number.isInteger(s) && (s as number) > 0)) {
        throw new ModelwatchError('INVALID_ARGUMENT', 'seqs: expected a list of dead-letter sequences');
      }
      seqs = body.seqs as number[];
    }
    return await replayDeadLetters(js, jsm, { ...(endpoint ? { endpoint } : {}), ...(seqs ? { seqs } : {}), includeLate: body.includeLate === true });
  });
}

/** Requests up to this size may share a message with others. */
const COALESCE_BYTES = 64 * 1024;

/**
 * Gathers the events of concurrent small HTTP requests for one endpoint into one message
 * (a JSON array), published when the event loop turns (or when it reaches the size limit);
 * every request waits for that message's JetStream acknowledgement, so 202 still means stored.
 */
class Coalescer {
  private readonly pending = new Map<string, { parts: string[]; bytes: number; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> }>();

  constructor(private readonly js: JetStreamClient) {}

  /** `part`: one or more events as JSON text, comma-separated. */
  add(subject: string, part: string): Promise<void> {
    let p = this.pending.get(subject);
    if (p && p.bytes + part.length + 1 > CHUNK_BYTES) {
      this.flush(subject, p);
      p = undefined;
    }
    if (!p) {
      const fresh = { parts: [] as string[], bytes: 2, waiters: [] as Array<{ resolve: () => void; reject: (e: unknown) => void }> };
      this.pending.set(subject, fresh);
      setImmediate(() => this.flush(subject, fresh));
      p = fresh;
    }
    p.parts.push(part);
    p.bytes += part.length + 1;
    const batch = p;
    return new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  private flush(subject: string, p: { parts: string[]; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> }): void {
    if (this.pending.get(subject) !== p) return;
    this.pending.delete(subject);
    const h = natsHeaders();
    h.set(HeaderNames.source, 'http');
    this.js.publish(subject, Buffer.from(`[${p.parts.join(',')}]`), { headers: h }).then(
      () => p.waiters.forEach((w) => w.resolve()),
      (err: unknown) => p.waiters.forEach((w) => w.reject(err)),
    );
  }
}

function preview(l: StoredDeadLetter) {
  const { payload, ...rest } = l;
  return { ...rest, payload: payload.length > 200 ? `${payload.slice(0, 200)}...` : payload };
}

async function askServing(nc: NatsConnection, q: ServingRequest, timeout = 5000): Promise<ServingReply> {
  let reply: ServingReply;
  try {
    const m = await nc.request(Subjects.servingQuery, jsonCodec.encode(q), { timeout });
    reply = jsonCodec.decode<ServingReply>(m.data);
  } catch (err) {
    throw new ModelwatchError('NOT_FOUND', `the writer did not answer (${(err as Error).message}); is it running?`);
  }
  if ('error' in reply) throw new Error(reply.error);
  return reply;
}

/**
 * Serving statistics of endpoints, by name: totals of the closed intervals (from the writer)
 * plus the intervals still open (from the serving aggregator), the drift status, dead letters.
 * What cannot be reached is left out rather than failing the call.
 */
export async function endpointStats(deps: Pick<DataPlaneDeps, 'nc' | 'jsm'>, eps: EndpointRecord[]): Promise<Map<string, EndpointStats>> {
  const ids = eps.map((e) => e.id);
  const [stored, live, dlq] = await Promise.all([
    askServing(deps.nc, { stats: { endpointIds: ids } }, 3000)
      .then((r) => ('stats' in r ? r.stats : []))
      .catch(() => [] as EndpointStatsRecord[]),
    deps.nc
      .request(Subjects.servingLive, new Uint8Array(0), { timeout: 1500 })
      .then((m) => jsonCodec.decode<ServingLiveReply>(m.data).open)
      .catch(() => ({}) as ServingLiveReply['open']),
    deadLetterCounts(deps.jsm).catch(() => ({}) as Record<string, Record<string, number>>),
  ]);
  const byId = new Map(stored.map((s) => [s.endpointId, s]));
  const now = Date.now();
  const out = new Map<string, EndpointStats>();
  for (const ep of eps) {
    const s = byId.get(ep.id);
    const counts = emptyCounts();
    if (s) addCounts(counts, s);
    const open = live[ep.id];
    if (open) addCounts(counts, open);
    let drift: number | null = null;
    for (const [status, at] of Object.entries(s?.statusSeen ?? {})) {
      if (at >= now - DAY && (drift === null || Number(status) > drift)) drift = Number(status);
    }
    const byReason = dlq[ep.name] ?? {};
    out.set(ep.name, {
      ...counts,
      latencyAvg: counts.latencyCount ? Math.round((counts.latencySum / counts.latencyCount) * 1000) / 1000 : null,
      driftStatus: drift,
      deadLetters: { total: Object.values(byReason).reduce((a, b) => a + b, 0), byReason },
      lastInterval: s?.lastInterval ?? null,
    });
  }
  return out;
}

/** The letter stored at `seq`, or undefined. */
export async function getDeadLetter(jsm: JetStreamManager, seq: number): Promise<StoredDeadLetter | undefined> {
  try {
    const m = await jsm.streams.getMessage(Streams.dlq, { seq });
    if (!m) return undefined;
    return { ...m.json<DeadLetter>(), seq: m.seq, time: m.time.toISOString(), subject: m.subject };
  } catch {
    return undefined;
  }
}

/** Dead letters, newest first (scanning back from the end of the stream in growing steps). */
export async function listDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  q: { endpoint?: string; reason?: string; limit: number; oldestFirst?: boolean },
): Promise<StoredDeadLetter[]> {
  const filter = Subjects.dlq(q.endpoint ?? '*', q.reason ?? '*');
  const info = await jsm.streams.info(Streams.dlq);
  const { first_seq: first, last_seq: last, messages } = info.state;
  if (messages === 0) return [];
  const read = async (from: number, to: number, max: number): Promise<StoredDeadLetter[]> => {
    const got: StoredDeadLetter[] = [];
    const c = await js.consumers.get(Streams.dlq, { filter_subjects: filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    const ci = await c.info(true);
    if (ci.num_pending === 0) return got;
    const it = await c.consume({ max_messages: 512 });
    try {
      for await (const m of it) {
        if (m.seq > to) break;
        got.push({ ...m.json<DeadLetter>(), seq: m.seq, time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(), subject: m.subject });
        if (got.length >= max || m.seq >= to || m.info.pending === 0) break;
      }
    } finally {
      await Promise.resolve(it.close()).catch(() => undefined);
    }
    return got;
  };
  if (q.oldestFirst) return await read(first, last, q.limit);
  let out: StoredDeadLetter[] = [];
  let to = last;
  let span = Math.max(64, q.limit * 4);
  while (out.length < q.limit && to >= first) {
    const from = Math.max(first, to - span + 1);
    const chunk = await read(from, to, Number.MAX_SAFE_INTEGER);
    out = [...chunk, ...out];
    to = from - 1;
    span *= 4;
  }
  return out.slice(-q.limit).reverse();
}

/**
 * Publish dead letters' events again to `mw.events.<endpoint>` (say, after fixing the endpoint's
 * features), then delete them from the DLQ so a replay is never repeated. A letter for one event
 * of a batch replays that event alone. Late letters are skipped unless named or `includeLate`.
 */
export async function replayDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  q: { endpoint?: string; seqs?: number[]; includeLate?: boolean },
): Promise<{ replayed: Array<{ seq: number; endpoint: string }>; skipped: Array<{ seq: number; reason: string }> }> {
  const letters: StoredDeadLetter[] = [];
  const skipped: Array<{ seq: number; reason: string }> = [];
  if (q.seqs) {
    for (const seq of q.seqs) {
      const l = await getDeadLetter(jsm, seq);
      if (!l) skipped.push({ seq, reason: 'no such dead letter (replayed already, or expired)' });
      else if (q.endpoint && l.endpoint !== q.endpoint) skipped.push({ seq, reason: `belongs to endpoint ${l.endpoint}` });
      else letters.push(l);
    }
  } else {
    for (const l of await listDeadLetters(js, jsm, { ...(q.endpoint ? { endpoint: q.endpoint } : {}), limit: Number.MAX_SAFE_INTEGER, oldestFirst: true })) {
      if (l.reason.code === 'LATE_EVENT' && !q.includeLate) continue;
      letters.push(l);
    }
  }
  const replayed: Array<{ seq: number; endpoint: string }> = [];
  for (const l of letters) {
    const data = replayPayload(l);
    if (typeof data === 'string') {
      skipped.push({ seq: l.seq, reason: data });
      continue;
    }
    const h = natsHeaders();
    h.set(HeaderNames.source, 'replay');
    h.set(HeaderNames.replayOf, String(l.seq));
    if (l.batch) h.set(HeaderNames.batch, l.batch);
    await js.publish(Subjects.events(l.endpoint), data, { headers: h, msgID: `replay:${l.seq}` });
    await jsm.streams.deleteMessage(Streams.dlq, l.seq, false);
    replayed.push({ seq: l.seq, endpoint: l.endpoint });
  }
  return { replayed, skipped };
}

/** The bytes to publish again for a letter, or why it cannot be replayed. */
function replayPayload(l: StoredDeadLetter): Uint8Array | string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(l.endpoint)) return `the endpoint name '${l.endpoint}' is not valid`;
  if (l.truncated) return `the payload was ${l.payloadBytes} bytes and only the first part was kept`;
  const data = l.payloadEncoding === 'base64' ? Buffer.from(l.payload, 'base64') : Buffer.from(l.payload, 'utf8');
  if ((l.payloadScope ?? (l.source === 'http' ? 'event' : 'message')) === 'event' || l.index === undefined) return data;
  try {
    const unit = eventsOf(JSON.parse(data.toString('utf8')))[l.index];
    if (!unit) return `the payload has no event at index ${l.index}`;
    return Buffer.from(JSON.stringify(unit.event));
  } catch {
    return 'the payload is not JSON';
  }
}
