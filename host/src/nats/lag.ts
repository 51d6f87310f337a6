import type { JetStreamManager } from '@nats-io/jetstream';
import { Streams } from '@modelwatch/protocol';
import { isNotFound } from './errors.js';
import { streamRole } from './topology.js';

/** What one durable consumer has yet to finish. */
export interface ConsumerLag {
  stream: string;
  consumer: string;
  /** Messages not yet delivered (`num_pending`). */
  pending: number;
  /** Delivered and not yet acknowledged (`num_ack_pending`). */
  ackPending: number;
}

/**
 * The backlog of every durable consumer of modelwatch's work streams, from JetStream's consumer
 * info. Ephemeral and ordered consumers (a runner reading a window's rows, the API reading dead
 * letters) are left out: their names are random, and their work is one read. So are the
 * consumers of token streams ({@link streamRole}): their tokens go round for good.
 */
export async function durableConsumerLag(jsm: JetStreamManager, streams: readonly string[] = Object.values(Streams)): Promise<ConsumerLag[]> {
  const perStream = await Promise.all(
    streams
      .filter((stream) => streamRole(stream) === 'work')
      .map(async (stream) => {
        const out: ConsumerLag[] = [];
        try {
          for await (const ci of jsm.consumers.list(stream)) {
            if (!ci.config.durable_name) continue;
            out.push({ stream, consumer: ci.name, pending: ci.num_pending, ackPending: ci.num_ack_pending });
          }
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        return out;
      }),
  );
  return perStream.flat();
}
