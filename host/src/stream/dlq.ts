import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { jsonCodec } from '../nats/codec.js';
import { Streams, Subjects } from '../nats/subjects.js';

/** Why an input was dead-lettered. */
export type DeadLetterCode = 'INVALID_JSON' | 'INVALID_EVENT' | 'UNKNOWN_ENDPOINT' | 'FUTURE_EVENT' | 'LATE_EVENT' | 'OVERSIZED' | 'INVALID_BATCH';

export const DEAD_LETTER_CODES: readonly DeadLetterCode[] = [
  'INVALID_JSON',
  'INVALID_EVENT',
  'UNKNOWN_ENDPOINT',
  'FUTURE_EVENT',
  'LATE_EVENT',
  'OVERSIZED',
  'INVALID_BATCH',
];

/** A dead letter, on `mw.dlq.<endpointName>.<code>` (`_unknown` when the name is not valid). */
export interface DeadLetter {
  endpoint: string;
  reason: { code: DeadLetterCode | string; message: string };
  /** Where it came from: `http`, `nats`, `tracker`. */
  source: string;
  receivedAt: number;
  /** The payload, as UTF-8 text when it is, else base64 (see `payloadScope`). */
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
  /**
   * `message`: the payload is the whole message as received (with `index`: only the event at
   * that position of it was bad); `event`: the payload is the bad event alone (what the HTTP
   * API rejects, and the late rows of a columnar batch). Replay sends only the bad event.
   * @default 'message'
   */
  payloadScope?: 'message' | 'event';
  /** Index of the event within an array payload (or the NDJSON line), when one event of several was bad. */
  index?: number;
  /** Size of the original payload; the stored one is cut at {@link MAX_LETTER_PAYLOAD} bytes (`truncated`). */
  payloadBytes?: number;
  truncated?: boolean;
  /** Sequence of the message in MW_EVENTS, for letters the stream processor wrote. */
  eventSeq?: number;
  /** Rows of the bad event, when known (late rows are counted this way). */
  rows?: number;
  /** The batch the event belonged to (`Mw-Batch`). */
  batch?: string;
}

/** A dead letter as listed: its sequence in MW_DLQ, when it was stored, and its subject. */
export interface StoredDeadLetter extends DeadLetter {
  seq: number;
  time: string;
  subject: string;
}

/** Largest payload kept in a dead letter. */
export const MAX_LETTER_PAYLOAD = 1024 * 1024;

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const NAME = /^[A-Za-z0-9_-]+$/;

export function payloadText(data: Uint8Array): Pick<DeadLetter, 'payload' | 'payloadEncoding' | 'payloadBytes' | 'truncated'> {
  const bytes = data.length;
  const cut = bytes > MAX_LETTER_PAYLOAD ? data.subarray(0, MAX_LETTER_PAYLOAD) : data;
  const extra = bytes > MAX_LETTER_PAYLOAD ? { truncated: true, payloadBytes: bytes } : {};
  try {
    return { payload: strictDecoder.decode(cut), payloadEncoding: 'utf8', ...extra };
  } catch {
    return { payload: Buffer.from(cut).toString('base64'), payloadEncoding: 'base64', ...extra };
  }
}

/** The subject of a letter: `mw.dlq.<endpoint>.<code>`. */
export function deadLetterSubject(letter: Pick<DeadLetter, 'endpoint' | 'reason'>): string {
  const name = NAME.test(letter.endpoint) ? letter.endpoint : '_unknown';
  const code = NAME.test(letter.reason.code) ? letter.reason.code : 'OTHER';
  return Subjects.dlq(name, code);
}

export async function publishDeadLetter(js: JetStreamClient, letter: DeadLetter, msgID?: string): Promise<void> {
  await js.publish(deadLetterSubject(letter), jsonCodec.encode(letter), msgID ? { msgID } : undefined);
}

/** Dead letters held now, per endpoint and reason (from the stream's subjects: exact and cheap). */
export async function deadLetterCounts(jsm: JetStreamManager, endpoint?: string): Promise<Record<string, Record<string, number>>> {
  const filter = endpoint ? `${Subjects.dlq(endpoint, '*')}` : Subjects.dlqAll;
  const info = await jsm.streams.info(Streams.dlq, { subjects_filter: filter });
  const out: Record<string, Record<string, number>> = {};
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const parts = subject.split('.');
    // mw.dlq.<name>.<code> (older letters: mw.dlq.<name>)
    const name = parts[2] ?? '_unknown';
    const code = parts[3] ?? 'OTHER';
    (out[name] ??= {})[code] = ((out[name] ?? {})[code] ?? 0) + n;
  }
  return out;
}
