/**
 * The dead-letter stream `MW_DLQ`: writing letters, and the operations on them (counts, list,
 * show, replay) that the HTTP API's routes call.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { DEAD_LETTER_STAGES, HeaderNames, Streams, Subjects, type DeadLetter, type StoredDeadLetter } from '@modelwatch/protocol';
import { dict } from '../domain/dict.js';
import { eventsOf, jsonText } from './formats/index.js';

import { payloadText } from '../nats/dead-letters.js';

export { MAX_LETTER_PAYLOAD, deadLetterSubject, payloadText, publishDeadLetter } from '../nats/dead-letters.js';

/** Dead letters held now, per endpoint and reason (from the stream's subjects: exact and cheap). */
export async function deadLetterCounts(jsm: JetStreamManager, endpoint?: string): Promise<Record<string, Record<string, number>>> {
  const filter = endpoint ? `${Subjects.dlq(endpoint, '*')}` : Subjects.dlqAll;
  const info = await jsm.streams.info(Streams.dlq, { subjects_filter: filter });
  // subject tokens are anyone's (a client may publish on mw.dlq.__proto__.limit): objects without a prototype
  const out = dict<Record<string, number>>();
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const parts = subject.split('.');
    // mw.dlq.<name>.<code> (older letters: mw.dlq.<name>)
    const name = parts[2] ?? '_unknown';
    const code = parts[3] ?? 'OTHER';
    const byCode = (out[name] ??= dict<number>());
    byCode[code] = (byCode[code] ?? 0) + n;
  }
  return out;
}

/** What `list` answers: the counts held (of the endpoint, of the reason), and the newest letters, their payloads cut to 200 characters. */
export interface DeadLetterReport {
  total: number;
  counts: Record<string, Record<string, number>>;
  letters: StoredDeadLetter[];
}

/** The letters held of an endpoint and reason (or of all), counted, and the newest `limit` of them. */
export async function deadLetterReport(
  js: JetStreamClient,
  jsm: JetStreamManager,
  q: { endpoint?: string; reason?: string; limit: number },
): Promise<DeadLetterReport> {
  const counts = await deadLetterCounts(jsm);
  const letters = await listDeadLetters(js, jsm, q);
  let scoped = counts;
  if (q.endpoint) {
    scoped = dict<Record<string, number>>();
    scoped[q.endpoint] = counts[q.endpoint] ?? dict<number>();
  }
  const total = Object.values(scoped).reduce(
    (n, byCode) => n + Object.entries(byCode).reduce((m, [code, c]) => m + (!q.reason || code === q.reason ? c : 0), 0),
    0,
  );
  return { total, counts: scoped, letters: letters.map(preview) };
}

function preview(l: StoredDeadLetter): StoredDeadLetter {
  const { payload, ...rest } = l;
  return { ...rest, payload: payload.length > 200 ? `${payload.slice(0, 200)}...` : payload };
}

/**
 * A message of MW_DLQ as a letter. Anyone who may publish on `mw.dlq.>` can put anything there:
 * what is not a letter is shown as one whose payload is the message, never a failed listing.
 */
function letterOf(data: Uint8Array, subject: string, seq: number, time: string): StoredDeadLetter {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    v = undefined;
  }
  const l = v as Partial<DeadLetter> | undefined;
  if (l && typeof l === 'object' && typeof l.endpoint === 'string' && typeof l.payload === 'string' && typeof l.reason?.message === 'string') {
    return { ...(l as DeadLetter), seq, time, subject };
  }
  return {
    endpoint: subject.split('.')[2] ?? '_unknown',
    reason: { code: 'OTHER', message: 'not a dead letter of modelwatch (published on the dead-letter stream by something else)' },
    source: 'unknown',
    receivedAt: Date.parse(time),
    ...payloadText(data),
    seq,
    time,
    subject,
  };
}

/** The letter stored at `seq`, or undefined. */
export async function getDeadLetter(jsm: JetStreamManager, seq: number): Promise<StoredDeadLetter | undefined> {
  try {
    const m = await jsm.streams.getMessage(Streams.dlq, { seq });
    if (!m) return undefined;
    return letterOf(m.data, m.subject, m.seq, m.time.toISOString());
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
        got.push(letterOf(m.data, m.subject, m.seq, new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString()));
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
  if (Object.values(DEAD_LETTER_STAGES).includes(l.endpoint as never)) {
    return `a letter of ${l.origin?.stream ?? l.endpoint} (${l.source}) is not an event: it is kept to be read, never replayed`;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(l.endpoint)) return `the endpoint name '${l.endpoint}' is not valid`;
  if (l.truncated) return `the payload was ${l.payloadBytes} bytes and only the first part was kept`;
  const data = l.payloadEncoding === 'base64' ? Buffer.from(l.payload, 'base64') : Buffer.from(l.payload, 'utf8');
  if ((l.payloadScope ?? (l.source === 'http' ? 'event' : 'message')) === 'event' || l.index === undefined) return data;
  try {
    const unit = eventsOf(JSON.parse(data.toString('utf8')))[l.index];
    if (!unit) return `the payload has no event at index ${l.index}`;
    return Buffer.from(jsonText(unit.event));
  } catch {
    return 'the payload is not JSON';
  }
}
