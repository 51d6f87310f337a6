import type { JetStreamClient } from '@nats-io/jetstream';
import { jsonCodec } from '../nats/codec.js';
import { Subjects } from '../nats/subjects.js';

/** A dead letter, on `mw.dlq.<endpointName>` (`_unknown` when the name is not valid). */
export interface DeadLetter {
  endpoint: string;
  reason: { code: string; message: string };
  /** Where it came from: `http`, `nats`. */
  source: string;
  receivedAt: number;
  /** The original payload, as UTF-8 text when it is, else base64. */
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
  /** Index of the event within an array payload, when one event of several was bad. */
  index?: number;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function payloadText(data: Uint8Array): Pick<DeadLetter, 'payload' | 'payloadEncoding'> {
  try {
    return { payload: strictDecoder.decode(data), payloadEncoding: 'utf8' };
  } catch {
    return { payload: Buffer.from(data).toString('base64'), payloadEncoding: 'base64' };
  }
}

export async function publishDeadLetter(js: JetStreamClient, letter: DeadLetter, msgID?: string): Promise<void> {
  const subjectName = /^[A-Za-z0-9_-]+$/.test(letter.endpoint) ? letter.endpoint : '_unknown';
  await js.publish(Subjects.dlq(subjectName), jsonCodec.encode(letter), msgID ? { msgID } : undefined);
}
