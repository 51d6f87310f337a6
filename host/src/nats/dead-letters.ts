/**
 * Writing dead letters to `MW_DLQ`: the events the stream processor and the API refuse, and the
 * messages of the streams between components (outputs, tasks, serving reports) that their
 * consumer cannot decode or gives up on after its max deliveries (`DEAD_LETTER_STAGES`).
 * A consumer publishes the letter, then terminates the message: it is never delivered again and
 * never blocks the ones behind it.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { Subjects, type DEAD_LETTER_STAGES, type DeadLetter, type DeadLetterCode } from '@modelwatch/protocol';
import { jsonCodec } from './codec.js';

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

/** A stage's letter endpoint (`_outputs`...). */
export type DeadLetterStage = (typeof DEAD_LETTER_STAGES)[keyof typeof DEAD_LETTER_STAGES];

/**
 * Dead-letter a consumer's message and terminate it, once: the letter's message id is the
 * stream and sequence, so a letter published again (the consumer stopped before the `term`)
 * is a duplicate JetStream drops. Throws when the letter cannot be published: the message is
 * then left to its redelivery.
 */
export async function deadLetterMessage(
  js: JetStreamClient,
  m: JsMsg,
  where: { stage: DeadLetterStage; stream: string; consumer: string },
  code: DeadLetterCode,
  message: string,
): Promise<void> {
  const letter: DeadLetter = {
    endpoint: where.stage,
    reason: { code, message },
    source: where.consumer,
    receivedAt: Math.floor(m.info.timestampNanos / 1e6),
    ...payloadText(m.data),
    payloadScope: 'message',
    origin: { stream: where.stream, consumer: where.consumer, subject: m.subject, seq: m.seq, deliveries: m.info.deliveryCount },
  };
  await publishDeadLetter(js, letter, `dl:${where.stream}:${m.seq}`);
  // without a reason: nats-server 2.9 ignores a +TERM that carries one, and redelivers
  m.term();
}
