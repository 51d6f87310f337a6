// Ingest throughput, end to end: events accepted (JetStream publish ack, or HTTP 202) ->
// rows stored by window in MW_ROWS (the stream processor has acknowledged every event), over
// NATS and over HTTP, single events and columnar micro-batches; against a plain JetStream
// publish-and-consume loop (same client, same payloads, same publisher, JSON-decoded and
// acknowledged by the consumer) in the same run.
//
//   node --no-node-snapshot bench/ingest.mjs [--quick]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createHost } from '../host/dist/host.js';
import { ModelwatchClient } from '../host/dist/cli/client.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { createLogger } from '../host/dist/logger.js';

const quick = process.argv.includes('--quick');
const FEATURES = ['f0', 'f1', 'f2', 'f3'];
const BATCH_ROWS = 1000;
const SINGLE_MSGS = quick ? 5_000 : 20_000;
const BATCH_MSGS = quick ? 300 : 1_000;
const INFLIGHT = 256;

let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 100;

function singlePayloads(n) {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(JSON.stringify({ when: now, inputs: [FEATURES.map(() => +rnd().toFixed(3))], outputs: [+(rnd() / 100).toFixed(4)], requestId: `r${i}`, latencyMicros: 800 })),
  );
}

function batchPayloads(n) {
  const now = Date.now();
  return Array.from({ length: n }, () =>
    Buffer.from(
      JSON.stringify({
        format: 'columnar',
        when: now,
        inputs: Object.fromEntries(FEATURES.map((f) => [f, Array.from({ length: BATCH_ROWS }, () => +rnd().toFixed(3))])),
        outputs: { p0: Array.from({ length: BATCH_ROWS }, () => +(rnd() / 100).toFixed(4)) },
        latencyMicros: 800,
      }),
    ),
  );
}

/** Publish every payload with at most INFLIGHT unacknowledged publishes. */
async function publishAll(js, subject, payloads) {
  const inflight = new Set();
  for (const p of payloads) {
    const pr = js.publish(subject, p).finally(() => inflight.delete(pr));
    inflight.add(pr);
    if (inflight.size >= INFLIGHT) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

/** Raw JetStream: publish, consume, JSON.parse, ack. Returns seconds. */
async function rawLoop(nc, jsm, name, payloads) {
  const js = jetstream(nc);
  await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`] });
  await jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit, max_ack_pending: 4096 });
  const c = await js.consumers.get(name, 'c');
  const t0 = performance.now();
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
  const dt = (performance.now() - t0) / 1000;
  await jsm.streams.delete(name);
  return dt;
}

/** Until the stream processor has acknowledged everything. */
async function processed(jsm) {
  for (;;) {
    const ci = await jsm.consumers.info('MW_EVENTS', 'stream-processor');
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function mwNats(nc, jsm, client, name, payloads) {
  await client.createEndpoint({ name, featureNames: FEATURES, labelNames: ['p0'] });
  const js = jetstream(nc);
  await processed(jsm);
  const t0 = performance.now();
  await publishAll(js, `mw.events.${name}`, payloads);
  await processed(jsm);
  return (performance.now() - t0) / 1000;
}

async function mwHttp(jsm, client, name, payloads, concurrency) {
  await client.createEndpoint({ name, featureNames: FEATURES, labelNames: ['p0'] });
  await processed(jsm);
  const url = `${client.url}/api/v1/endpoints/${name}/events`;
  const t0 = performance.now();
  let i = 0;
  let rejected = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < payloads.length) {
        const body = payloads[i++];
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const r = await res.json();
        if (res.status !== 202 || r.rejected.length) rejected++;
      }
    }),
  );
  await processed(jsm);
  if (rejected) throw new Error(`${rejected} HTTP requests had rejected events`);
  return (performance.now() - t0) / 1000;
}

async function rowsIn(jsm, name) {
  const info = await jsm.streams.info('MW_ROWS');
  return info.state.messages;
}

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-ingest-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
const host = createHost(
  { natsUrl: nats.url, dataDir: join(dir, 'host'), httpPort: 0, runners: 0, basePeriod: '10s', allowedLateness: '60s', components: ['stream', 'api'], logLevel: 'error' },
  createLogger('error'),
);
await host.start();
const client = new ModelwatchClient({ url: host.apiUrl });

const single = singlePayloads(SINGLE_MSGS);
const batches = batchPayloads(BATCH_MSGS);
const mb = (ps) => (ps.reduce((n, p) => n + p.length, 0) / 1e6).toFixed(1);
console.log(`payloads: ${SINGLE_MSGS} single events (${mb(single)} MB), ${BATCH_MSGS} columnar micro-batches of ${BATCH_ROWS} rows x ${FEATURES.length} features + 1 output (${mb(batches)} MB)`);
console.log(`machine: ${(await import('node:os')).cpus().length} cores, node ${process.version}\n`);

const results = [];
const report = (what, rows, secs, base) => {
  const rps = rows / secs;
  results.push({ what, rps });
  console.log(`${what.padEnd(44)} ${String(Math.round(rps)).padStart(9)} rows/s  ${secs.toFixed(2).padStart(6)} s${base ? `  ratio to raw JetStream ${(rps / base).toFixed(2)}` : ''}`);
  return rps;
};

// warm up (JIT, file store)
await rawLoop(nc, jsm, 'WARM', batches.slice(0, 50));
await mwNats(nc, jsm, client, 'warm', batches.slice(0, 50));

const rawSingle = report('raw JetStream loop, single events', SINGLE_MSGS, await rawLoop(nc, jsm, 'RAW1', single));
report('modelwatch over NATS, single events', SINGLE_MSGS, await mwNats(nc, jsm, client, 'nats-single', single), rawSingle);
report('modelwatch over HTTP, single events (16 conns)', SINGLE_MSGS / 4, await mwHttp(jsm, client, 'http-single', single.slice(0, SINGLE_MSGS / 4), 16), rawSingle);
const rawBatch = report('raw JetStream loop, micro-batches', BATCH_MSGS * BATCH_ROWS, await rawLoop(nc, jsm, 'RAWB', batches));
report('modelwatch over NATS, micro-batches', BATCH_MSGS * BATCH_ROWS, await mwNats(nc, jsm, client, 'nats-batch', batches), rawBatch);
report('modelwatch over HTTP, micro-batches (4 conns)', BATCH_MSGS * BATCH_ROWS, await mwHttp(jsm, client, 'http-batch', batches, 4), rawBatch);

console.log(`\nrow messages in MW_ROWS: ${await rowsIn(jsm)} (rows are stored in binary chunks per window)`);
await host.stop();
await nc.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
