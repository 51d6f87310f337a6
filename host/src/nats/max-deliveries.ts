/**
 * The last line under the consumers' own dead-lettering: JetStream's advisory that a consumer
 * gave up on a message (`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`).
 *
 * Each consumer dead-letters a message it still fails on at its last delivery. When that
 * last delivery is lost instead (its process died, or lost NATS, before the letter), the server
 * drops the message from the consumer silently, and only this advisory tells. The watcher reads
 * the message from its stream and dead-letters it with the message id the consumer would have
 * used, so a letter the consumer did publish and this one are stored once.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { DEAD_LETTER_STAGES, HeaderNames, Streams, Subjects, type DeadLetter } from '@modelwatch/protocol';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { payloadText, publishDeadLetter } from './dead-letters.js';

export const MAX_DELIVERIES_ADVISORY = '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES';

/** What the advisory carries (nats-server's `JSConsumerDeliveryExceededAdvisory`). */
interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

const STAGES: Record<string, string> = {
  [Streams.outputs]: DEAD_LETTER_STAGES.outputs,
  [Streams.tasks]: DEAD_LETTER_STAGES.tasks,
  [Streams.serving]: DEAD_LETTER_STAGES.serving,
};

export interface MaxDeliveriesWatch {
  /** Letters written from advisories since start (a duplicate of a consumer's own letter included). */
  readonly letters: number;
  stop(): void;
}

/** Watch the advisories of the consumers of modelwatch's streams and dead-letter what they gave up on. */
export function watchMaxDeliveries(deps: {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  metrics?: HostMetrics;
}): MaxDeliveriesWatch {
  const log = deps.logger.child({ component: 'max-deliveries' });
  let letters = 0;
  const handle = async (a: MaxDeliveriesAdvisory): Promise<void> => {
    const known = a.stream === Streams.events || a.stream in STAGES;
    if (!known || !Number.isSafeInteger(a.stream_seq)) return;
    const sm = await deps.jsm.streams.getMessage(a.stream, { seq: a.stream_seq }).catch(() => null);
    if (!sm) return; // acknowledged meanwhile (a work queue removes it), or expired
    const reason = {
      code: 'MAX_DELIVERIES',
      message: `consumer ${a.consumer} of ${a.stream} gave up on it after ${a.deliveries} deliveries, none of which ended (its process died or lost NATS at the last)`,
    };
    let letter: DeadLetter;
    let msgID: string;
    if (a.stream === Streams.events) {
      // as the stream processor writes it at a last delivery: replayable, under the endpoint
      const batch = sm.header?.get(HeaderNames.batch) || undefined;
      letter = {
        endpoint: sm.subject.slice(Subjects.events('').length),
        reason,
        source: sm.header?.get(HeaderNames.source) || 'nats',
        receivedAt: sm.time.getTime(),
        ...payloadText(sm.data),
        payloadScope: 'message',
        eventSeq: sm.seq,
        ...(batch ? { batch } : {}),
      };
      msgID = `d:${sm.seq}:max`;
    } else {
      letter = {
        endpoint: STAGES[a.stream]!,
        reason,
        source: a.consumer,
        receivedAt: sm.time.getTime(),
        ...payloadText(sm.data),
        payloadScope: 'message',
        origin: { stream: a.stream, consumer: a.consumer, subject: sm.subject, seq: sm.seq, deliveries: a.deliveries },
      };
      msgID = `dl:${a.stream}:${sm.seq}`;
    }
    await publishDeadLetter(deps.js, letter, msgID);
    letters++;
    deps.metrics?.deadLettered('MAX_DELIVERIES', false);
    log.warn(
      { stream: a.stream, consumer: a.consumer, seq: sm.seq, deliveries: a.deliveries },
      'a message a consumer gave up on was dead-lettered from its advisory',
    );
  };
  const sub: Subscription = deps.nc.subscribe(`${MAX_DELIVERIES_ADVISORY}.>`, {
    callback: (err, msg) => {
      if (err) return;
      let a: MaxDeliveriesAdvisory;
      try {
        a = msg.json<MaxDeliveriesAdvisory>();
      } catch {
        return;
      }
      handle(a).catch((e: unknown) =>
        log.error({ err: e, stream: a.stream, seq: a.stream_seq }, 'could not dead-letter a message from its max-deliveries advisory'),
      );
    },
  });
  return {
    get letters() {
      return letters;
    },
    stop: () => sub.unsubscribe(),
  };
}
