import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Consumers, Streams, Subjects, type WindowRecord } from '@modelwatch/protocol';
import { jsonCodec } from '../../host/src/nats/codec.js';
import { untilWallClock, waitFor } from './tmp.js';

/**
 * Waits that end on the event itself. Outputs are stored out of order (runner concurrency,
 * retries, a crashed runner's windows coming back after its ack wait), so "the last window is
 * stored" says nothing of the windows before it.
 */

/**
 * Poll until the windows `fetch` returns (of one endpoint and app) run back to back from one that
 * starts at or before `from` to one that starts at or after `through`: every window between, not
 * only the last. A gap is a window not stored yet.
 */
export async function waitForWindows(
  what: string,
  fetch: () => Promise<WindowRecord[]>,
  from: number,
  through: number,
  timeoutMs = 30_000,
): Promise<WindowRecord[]> {
  return await waitFor(
    what,
    async () => {
      const ws = [...(await fetch())].sort((a, b) => a.windowStart - b.windowStart);
      if (ws.length === 0 || ws[0]!.windowStart > from || ws.at(-1)!.windowStart < through) return undefined;
      for (let i = 1; i < ws.length; i++) if (ws[i]!.windowStart > ws[i - 1]!.windowEnd) return undefined;
      return ws;
    },
    timeoutMs,
  );
}

/**
 * True once no task is waiting or running and no output is waiting to be stored: every window
 * dispatched before the check has been analysed and stored (a runner publishes a window's output
 * before it acknowledges the task, the writer stores it before it acknowledges the output). The
 * positive marker before a check that something did NOT happen.
 */
export async function drained(natsUrl: string): Promise<true | undefined> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const tasks = await jsm.consumers.info(Streams.tasks, Consumers.runners);
    if (tasks.num_pending > 0 || tasks.num_ack_pending > 0) return undefined;
    const outputs = await jsm.consumers.info(Streams.outputs, Consumers.writer);
    return outputs.num_pending === 0 && outputs.num_ack_pending === 0 ? true : undefined;
  } finally {
    await nc.close();
  }
}

/** Wait until every window dispatched so far has been analysed and stored (see {@link drained}). */
export async function waitUntilDrained(natsUrl: string, timeoutMs = 60_000): Promise<void> {
  await waitFor('every dispatched window analysed and stored', () => drained(natsUrl), timeoutMs, 200);
}

/** A steady stream of events (see {@link trickle}). */
export interface Trickle {
  /** Events JetStream has accepted so far, per endpoint. */
  readonly sent: ReadonlyMap<string, number>;
  /**
   * Resolves once JetStream has accepted an event sent at or after `t` (wall clock): events keep
   * arriving through `t`, whether the host is up or down meanwhile.
   */
  through(t: number, timeoutMs?: number): Promise<void>;
  /** Stop sending; the events accepted, per endpoint. */
  stop(): Promise<Map<string, number>>;
}

/**
 * Events published straight to NATS (the host may be down meanwhile), one row each (`[n]`, n the
 * endpoint's count so far), one per endpoint every `everyMs` of the wall clock: the rate of the
 * traffic, not a wait for anything.
 */
export function trickle(natsUrl: string, endpoints: string[], everyMs: number): Trickle {
  const sent = new Map(endpoints.map((e) => [e, 0]));
  let lastSentAt = -Infinity;
  let stop = false;
  const done = (async () => {
    const nc = await connect({ servers: natsUrl });
    const js = jetstream(nc);
    for (let next = Date.now(); !stop; next += everyMs) {
      await untilWallClock(next);
      const at = Date.now();
      for (const e of endpoints) {
        await js.publish(Subjects.events(e), jsonCodec.encode({ inputs: [[sent.get(e)!]], outputs: [0] }));
        sent.set(e, sent.get(e)! + 1);
      }
      lastSentAt = at;
      // a slow publish skips the ticks it missed instead of sending a burst
      next = Math.max(next, Date.now() - everyMs);
    }
    await nc.close();
  })();
  return {
    sent,
    async through(t, timeoutMs = 30_000) {
      await waitFor(`events sent through ${new Date(t).toISOString()}`, () => (lastSentAt >= t ? true : undefined), timeoutMs, 20);
    },
    async stop() {
      stop = true;
      await done;
      return sent;
    },
  };
}
