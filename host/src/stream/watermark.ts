import type { JetStreamManager } from '@nats-io/jetstream';
import { Consumers, Streams } from '@modelwatch/protocol';

/**
 * The arrival time (JetStream timestamp) before which every event has been processed by
 * the stream processor: `now` (the caller's clock) when it is idle, else the arrival time of
 * the first event it has not acknowledged, at most `now`.
 */
export async function processedWatermark(jsm: JetStreamManager, now: number): Promise<number> {
  const ci = await jsm.consumers.info(Streams.events, Consumers.stream);
  if (ci.num_pending === 0 && ci.num_ack_pending === 0) return now;
  try {
    const first = await jsm.streams.getMessage(Streams.events, { seq: ci.ack_floor.stream_seq + 1 });
    return first ? Math.min(now, first.time.getTime()) : now - 60_000;
  } catch {
    // the message is gone (retention, or deleted): be conservative
    return now - 60_000;
  }
}

/** The highest MW_EVENTS sequence such that it and every one before it is processed. */
export async function processedThrough(jsm: JetStreamManager): Promise<number> {
  const ci = await jsm.consumers.info(Streams.events, Consumers.stream);
  return ci.ack_floor.stream_seq;
}
