/* global fetch */
// Big request bodies and the event loop (issue #10, finding 9): the latency of `GET /healthz`
// while the host ingests a 60 MB NDJSON body of events, and while it takes a 41 MB reference
// CSV, against the same host idle, in the same run. Big bodies are parsed and checked on a
// worker thread (host/src/api/body-workers.ts), and the stream processor files big batches of
// their events on one too (host/src/stream/filing-workers.ts): the target is under 50 ms at p99.
// Per phase it also prints this thread's CPU time and the share of time its event loop was busy
// (what is left on the loop, less moved by the machine's load than latencies), and at the end
// the process' peak resident memory. Phases: `idle`,
// `events` (the POST, until its 202), `filing` (after it, until the stream processor has acked
// every event, when it runs in this process), `reference` (the PUT). The API runs without tokens
// (`insecureLocal`): authentication is bench/ingest.mjs's.
//
//   node --no-node-snapshot bench/big-body.mjs [--events-mb 60] [--csv-mb 41] [--rounds 1] [--components api]
//
// One host in this process (by default the stream processor, controller, writer and API; no
// runners, as they run in their own processes; `--components api` for the API alone, with the
// stream processor elsewhere), on its own nats-server. The probe runs on a worker thread, one
// `/healthz` at a time every 5 ms, so its own timing is not held by this thread's uploads.
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHost } from '../host/dist/host.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { createLogger } from '../host/dist/logger.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parseFlags } from './lib/flags.mjs';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/big-body.mjs [--events-mb 60] [--csv-mb 41] [--rounds 1] [--components api]', {
  'events-mb': { type: 'number', default: 60, describe: 'MB of the NDJSON body of events (POST)' },
  'csv-mb': { type: 'number', default: 41, describe: 'MB of the reference CSV (PUT)' },
  rounds: { type: 'number', default: 1, describe: 'rounds of the phases (idle, events, filing, reference)' },
  components: {
    type: 'string',
    default: 'stream,controller,writer,api',
    describe: "the host's components in this process, comma-separated (api: the API alone, the stream processor elsewhere)",
  },
});
const EVENTS_MB = flags.eventsMb;
const CSV_MB = flags.csvMb;
const ROUNDS = flags.rounds;
const COMPONENTS = flags.components;
const FEATURES = Array.from({ length: 8 }, (_, i) => `f${i}`);

let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 100;

/** NDJSON of native events, one a line, about `mb` MB. */
function ndjson(mb) {
  const lines = [];
  let bytes = 0;
  const now = Date.now();
  for (let i = 0; bytes < mb * 1e6; i++) {
    const line = JSON.stringify({ when: now - (i % 60_000), inputs: [FEATURES.map(() => +rnd().toFixed(3))], outputs: [+(rnd() / 100).toFixed(4)] });
    lines.push(line);
    bytes += line.length + 1;
  }
  return { body: Buffer.from(lines.join('\n') + '\n'), events: lines.length };
}

/** A reference CSV of the features and the output, about `mb` MB. */
function csv(mb) {
  const lines = [[...FEATURES, 'p0'].join(',')];
  let bytes = 0;
  while (bytes < mb * 1e6) {
    const line = [...FEATURES.map(() => rnd().toFixed(4)), (rnd() / 100).toFixed(5)].join(',');
    lines.push(line);
    bytes += line.length + 1;
  }
  return { body: Buffer.from(lines.join('\n') + '\n'), rows: lines.length - 1 };
}

// The uploads come from a worker thread that makes the bodies too, as a model server would be
// another process: this thread (the host's) holds neither the bodies nor the client's work.
const uploaderCode = `
const { parentPort, workerData } = require('node:worker_threads');
const FEATURES = ${JSON.stringify(FEATURES)};
let seed = 7;
const rnd = ${rnd.toString()};
${ndjson.toString()}
${csv.toString()}
const events = ndjson(workerData.eventsMb);
const reference = csv(workerData.csvMb);
const bodies = { events: events.body, reference: reference.body };
parentPort.postMessage({ ready: { eventsBytes: events.body.length, events: events.events, referenceBytes: reference.body.length, rows: reference.rows } });
parentPort.on('message', async ({ path, method, type, body }) => {
  const res = await fetch(workerData.url + path, { method, headers: { 'content-type': type }, body: bodies[body] });
  const text = await res.text();
  parentPort.postMessage({ done: res.status + ' ' + text.slice(0, 120) });
});
`;

const probeCode = `
const { parentPort, workerData } = require('node:worker_threads');
let phase = null;
let samples = [];
parentPort.on('message', (m) => {
  if (m.phase !== undefined) { const done = samples; samples = []; phase = m.phase; parentPort.postMessage({ phase: m.ended, samples: done }); }
});
(async () => {
  for (;;) {
    const t0 = performance.now();
    const res = await fetch(workerData.url + '/healthz');
    await res.arrayBuffer();
    if (phase !== null) samples.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
})();
`;

function quantiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-big-body-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
const host = createHost(
  {
    natsUrl: nats.url,
    dataDir: join(dir, 'host'),
    httpPort: 0,
    runners: 0,
    basePeriod: '1m',
    allowedLateness: '10m',
    components: COMPONENTS.split(','),
    logLevel: 'error',
    // no tokens: this measures bodies, not authentication (bench/ingest.mjs measures that)
    insecureLocal: true,
  },
  createLogger('error'),
);
await host.start();
const url = host.apiUrl;
await fetch(`${url}/api/v1/endpoints`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'big', featureNames: FEATURES, labelNames: ['p0'] }),
});

const uploader = new Worker(uploaderCode, { eval: true, workerData: { url, eventsMb: EVENTS_MB, csvMb: CSV_MB } });
const made = await new Promise((resolve, reject) => {
  uploader.once('message', (m) => resolve(m.ready));
  uploader.once('error', reject);
});
console.log(
  `events: ${(made.eventsBytes / 1e6).toFixed(1)} MB NDJSON, ${made.events} events; reference: ${(made.referenceBytes / 1e6).toFixed(1)} MB CSV, ${made.rows} rows`,
);

const probe = new Worker(probeCode, { eval: true, workerData: { url } });
const results = new Map();
probe.on('message', (m) => {
  if (m.phase) results.set(m.phase, [...(results.get(m.phase) ?? []), ...m.samples]);
});
let current = null;
// per phase, the CPU time of this thread (the event loop: what is not on a worker) and the
// share of its time the loop was busy: figures the machine's load moves less than latencies
const loopUse = new Map();
const phase = async (name, fn) => {
  probe.postMessage({ phase: name, ended: current });
  current = name;
  const t0 = performance.now();
  const cpu0 = process.threadCpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const out = await fn();
  const cpu = process.threadCpuUsage(cpu0);
  if (name) loopUse.set(name, { cpuMs: (cpu.user + cpu.system) / 1000, elu: performance.eventLoopUtilization(elu0).utilization });
  return { ms: performance.now() - t0, out };
};
const idle = () => new Promise((r) => setTimeout(r, 3000));
// the events phase lasts until the stream processor has filed every event (when it runs here)
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
const processed = async () => {
  if (!COMPONENTS.split(',').includes('stream')) return;
  for (;;) {
    const ci = await jsm.consumers.info('MW_EVENTS', 'stream-processor');
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
};
/** `body` (`events` or `reference`) sent by the uploader; its status and the start of its answer. */
const upload = (path, method, type, body) =>
  new Promise((resolve) => {
    uploader.once('message', (m) => resolve(m.done));
    uploader.postMessage({ path, method, type, body });
  });

for (let round = 0; round < ROUNDS; round++) {
  await phase('idle', idle);
  const ev = await phase('events', () => upload('/api/v1/endpoints/big/events', 'POST', 'application/x-ndjson', 'events'));
  console.log(`POST ${(made.eventsBytes / 1e6).toFixed(0)} MB NDJSON: ${ev.ms.toFixed(0)} ms, ${ev.out}`);
  const filed = await phase('filing', processed);
  console.log(`events filed by the stream processor: ${(ev.ms + filed.ms).toFixed(0)} ms after the POST began`);
  const ref = await phase('reference', () => upload('/api/v1/endpoints/big/reference', 'PUT', 'text/csv', 'reference'));
  console.log(`PUT ${(made.referenceBytes / 1e6).toFixed(0)} MB CSV reference: ${ref.ms.toFixed(0)} ms, ${ref.out.slice(0, 60)}`);
}
await phase(null, async () => {});
await new Promise((r) => setTimeout(r, 100));

console.log('\n/healthz latency (ms), one request at a time every 5 ms:');
console.log('phase       n      p50     p99     max  loop-cpu-ms  loop-busy');
for (const name of ['idle', 'events', 'filing', 'reference']) {
  const q = quantiles(results.get(name) ?? []);
  const u = loopUse.get(name) ?? { cpuMs: NaN, elu: NaN };
  console.log(
    `${name.padEnd(10)} ${String(q.n).padStart(4)} ${q.p50.toFixed(1).padStart(8)} ${q.p99.toFixed(1).padStart(7)} ${q.max.toFixed(1).padStart(7)} ${u.cpuMs.toFixed(0).padStart(12)} ${(u.elu * 100).toFixed(0).padStart(9)}%`,
  );
}
console.log(
  `host rss after: ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, peak (maxrss: the host, its workers, and the uploader with the bodies): ${(process.resourceUsage().maxRSS / 1e3).toFixed(0)} MB`,
);

await probe.terminate();
await uploader.terminate();
await nc.close();
await host.stop();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
