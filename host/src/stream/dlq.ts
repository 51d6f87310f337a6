import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Streams, Subjects, type DeadLetter } from '@modelwatch/protocol';
import { jsonCodec } from '../nats/codec.js';

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
