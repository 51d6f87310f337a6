// The baseline of the ingest benches: a plain JetStream publish-and-consume loop on one thread
// (the same client, payloads and publisher as modelwatch's measurements; each message
// JSON-decoded and acknowledged by the consumer), against which their events/s are a ratio.
import { AckPolicy, jetstream } from '@nats-io/jetstream';

/** Messages published at once, unacknowledged, by {@link publishAll}. */
export const INFLIGHT = 256;

/** Publish every payload with at most `most` (INFLIGHT by default) unacknowledged publishes. */
export async function publishAll(js, subject, payloads, most = INFLIGHT) {
  const inflight = new Set();
  for (const p of payloads) {
    const pr = js.publish(subject, p).finally(() => inflight.delete(pr));
    inflight.add(pr);
    if (inflight.size >= most) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

/**
 * Raw JetStream on a stream `name` of its own (deleted after): publish every payload, consume,
 * JSON.parse, ack. Resolves `{ secs, cpuMs }`: the wall time and this thread's CPU time.
 */
export async function rawLoop(nc, jsm, name, payloads) {
  const js = jetstream(nc);
  await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`] });
  await jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit, max_ack_pending: 4096 });
  const c = await js.consumers.get(name, 'c');
  const t0 = performance.now();
  const c0 = process.threadCpuUsage();
  let got = 0;
  const consumed = (async () => {
    const it = await c.consume({ max_messages: 1024 });
    for await (const m of it) {
      JSON.parse(new TextDecoder().decode(m.data));
      m.ack();
      if (++got >= payloads.length) break;
    }
  })();
  await publishAll(js, `${name.toLowerCase()}.x`, payloads);
  await consumed;
  const secs = (performance.now() - t0) / 1000;
  const used = process.threadCpuUsage(c0);
  await jsm.streams.delete(name);
  return { secs, cpuMs: (used.user + used.system) / 1000 };
}

/** `n` single events of `features` (values from `rnd`, 0 to 100), each its own JSON message, as a model server posts one prediction. */
export function singleEventPayloads(n, features, rnd) {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(
      JSON.stringify({
        when: now,
        inputs: [features.map(() => +rnd().toFixed(3))],
        outputs: [+(rnd() / 100).toFixed(4)],
        requestId: `r${i}`,
        latencyMicros: 800,
      }),
    ),
  );
}
