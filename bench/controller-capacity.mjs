// Controller capacity: 1,000 endpoints x 2 apps (MLRun's histogram-data-drift with a
// reference, and a row counter), one window of 1,000 rows per endpoint: how long from the
// window's close (its end plus the allowed lateness) until all 2,000 results are stored.
// Target: all within 30 s. Prints windows per second and the memory of the host and runners.
//
//   node --no-node-snapshot bench/controller-capacity.mjs [--endpoints N] [--rows N] [--runners N] [--concurrency N]
//
// --rows: rows per endpoint in the window (default 1,000); the rows are the stream processor's
// cost, which the watermark waits for: the time until the processor is done is printed apart.
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createHost } from '../host/dist/host.js';
import { generateToken } from '../host/dist/domain/tokens.js';
import { ModelwatchClient } from '../host/dist/client/client.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { createLogger } from '../host/dist/logger.js';
import { bundlePlugin } from '../host/dist/plugins/bundle.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ENDPOINTS = arg('--endpoints', 1000);
const RUNNERS = arg('--runners', 2);
const CONCURRENCY = arg('--concurrency', 4);
const ROWS = arg('--rows', 1000);
const PERIOD = 20_000;
const LATENESS = 1000;
const APPS = ['histogram-data-drift', 'row-count'];
const FEATURES = ['a', 'b', 'c', 'd'];

let seed = 11;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
const rssMb = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-controller-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
// the host is told its admin token, and the client sends it
const TOKEN = generateToken();
const host = createHost(
  {
    adminToken: TOKEN,
    natsUrl: nats.url,
    dataDir: join(dir, 'host'),
    httpPort: 0,
    runners: RUNNERS,
    runnerConcurrency: CONCURRENCY,
    basePeriod: PERIOD,
    allowedLateness: LATENESS,
    logLevel: 'error',
    // the references of many endpoints are many requests
    rateLimit: 'off',
  },
  createLogger('error'),
);
await host.start();
const client = new ModelwatchClient({ url: host.apiUrl, token: TOKEN, timeoutMs: 120_000 });
const reference = ['a,b,c,d,y', ...Array.from({ length: 500 }, () => [normal(), normal() * 3 + 10, uniform(), normal(), 0].join(','))].join('\n');
const names = Array.from({ length: ENDPOINTS }, (_, i) => `ep-${String(i).padStart(4, '0')}`);
let t = performance.now();
// the endpoints in bulk (POST /api/v1/endpoints/bulk, 5,000 a request), then their references, 50 at a time
for (let i = 0; i < names.length; i += 5000) {
  const r = await client.createEndpoints(names.slice(i, i + 5000).map((name) => ({ name, featureNames: FEATURES, labelNames: ['y'] })));
  if (r.failed) throw new Error(`${r.failed} endpoints not created: ${JSON.stringify(r.items.find((x) => x.status === 'failed'))}`);
}
const createdSecs = (performance.now() - t) / 1000;
console.log(`${ENDPOINTS} endpoints created in bulk in ${createdSecs.toFixed(1)} s (${(ENDPOINTS / createdSecs).toFixed(0)} endpoints/s)`);
// the references, 100 requests at a time (each parsed on the API's worker threads)
t = performance.now();
let refs = 0;
await Promise.all(
  Array.from({ length: 100 }, async () => {
    while (refs < names.length) {
      const name = names[refs++];
      await client.setReference(name, reference, 'csv');
    }
  }),
);
console.log(`references set in ${((performance.now() - t) / 1000).toFixed(1)} s (${(names.length / ((performance.now() - t) / 1000)).toFixed(0)} a second)`);
console.log(`${ENDPOINTS} endpoints with references; ${RUNNERS} runner process(es) x ${CONCURRENCY} windows at once`);

// the apps last: windows begin at the later of the endpoint's and the app's creation, so the
// endpoints' (empty) windows of the set-up are not analysed (with many endpoints they alone
// would be more windows a period than the runners analyse)
// when each app was published (at or after its creation): its windows before the one measured
// are empty ones, whose outputs are in MW_OUTPUTS too
const publishedApps = [];
for (const p of ['plugins/histogram-data-drift', 'test/fixtures/plugins/row-count']) {
  const b = await bundlePlugin(new URL(`../${p}`, import.meta.url).pathname);
  await client.publishPlugin({ manifest: b.manifest, code: b.code, map: b.map });
  publishedApps.push(Date.now());
}
// one window of ROWS rows per endpoint: the next full window
const ws = Math.ceil((Date.now() + 1000) / PERIOD) * PERIOD;
await new Promise((r) => setTimeout(r, ws - Date.now() + 50));
const nc = await connect({ servers: nats.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
t = performance.now();
const inflight = new Set();
for (const name of names) {
  const body = JSON.stringify({
    format: 'columnar',
    when: Array.from({ length: ROWS }, (_, i) => ws + Math.floor((i * (PERIOD - 2000)) / ROWS)),
    // endpoints whose name ends in 7 drift: every feature shifted
    inputs: Object.fromEntries(
      [
        ['a', normal],
        ['b', () => normal() * 3 + 10],
        ['c', uniform],
        ['d', normal],
      ].map(([f, gen]) => [f, Array.from({ length: ROWS }, () => gen() + (name.endsWith('7') ? 4 : 0))]),
    ),
    outputs: { y: Array.from({ length: ROWS }, uniform) },
  });
  const p = js.publish(`mw.events.${name}`, body).finally(() => inflight.delete(p));
  inflight.add(p);
  if (inflight.size >= 64) await Promise.race(inflight);
}
await Promise.all(inflight);
console.log(`${ENDPOINTS * ROWS} rows sent in ${((performance.now() - t) / 1000).toFixed(1)} s, into the window starting ${new Date(ws).toISOString()}`);

// from the window's close until every result is stored
const closeAt = ws + PERIOD + LATENESS;
await new Promise((r) => setTimeout(r, Math.max(0, closeAt - Date.now())));
const expected = ENDPOINTS * APPS.length;
const emptyOutputs = publishedApps.reduce((n, at) => n + ENDPOINTS * ((ws - Math.floor(at / PERIOD) * PERIOD) / PERIOD), 0);
let stored;
let processorDoneAt;
let publishedAt;
let peakHost = 0;
let peakRunners = 0;
for (;;) {
  peakHost = Math.max(peakHost, rssMb(process.pid));
  peakRunners = Math.max(
    peakRunners,
    host.runnerPids().reduce((n, pid) => n + rssMb(pid), 0),
  );
  // the outputs published (one stream info, cheap) until all are there, then the stored windows (a big query)
  // a loaded server may not answer in time: ask again on the next turn
  if (processorDoneAt === undefined) {
    const ci = await jsm.consumers.info('MW_EVENTS', 'stream-processor').catch(() => undefined);
    if (ci && ci.num_pending === 0 && ci.num_ack_pending === 0) processorDoneAt = Date.now();
  }
  const info = await jsm.streams.info('MW_OUTPUTS', { subjects_filter: 'mw.outputs.>' }).catch(() => undefined);
  const outputs = info ? info.state.messages - emptyOutputs : 0;
  if (outputs >= expected) publishedAt ??= Date.now();
  if (outputs < expected && Date.now() - closeAt <= 300_000) {
    await new Promise((r) => setTimeout(r, 250));
    continue;
  }
  // a loaded writer may not answer in time: ask again
  const all = (await client.results({ limit: 100_000 }).catch(() => stored ?? [])).filter((w) => w.windowStart === ws);
  stored = all;
  if (all.length >= expected || Date.now() - closeAt > 300_000) break;
  await new Promise((r) => setTimeout(r, 500));
}
const done = Math.max(...stored.map((w) => w.storedAt));
const secs = (done - closeAt) / 1000;
const rows = stored.filter((w) => w.app === 'row-count').reduce((n, w) => n + w.rows, 0);
const drifted = stored.filter((w) => w.app === 'histogram-data-drift' && w.results.find((r) => r.name === 'general_drift')?.status === 2).length;
console.log(
  `\nwindows stored: ${stored.length} of ${expected} (outcomes: ${[...new Set(stored.map((w) => w.outcome))].join(', ')}), rows analysed ${rows} of ${ENDPOINTS * ROWS}`,
);
console.log(
  `stream processor done with the window's events ${((processorDoneAt - closeAt) / 1000).toFixed(1)} s after the close; all outputs published ${((publishedAt - closeAt) / 1000).toFixed(1)} s after`,
);
console.log(`all windows of the period stored ${secs.toFixed(1)} s after the window closed (target <= 30 s): ${(stored.length / secs).toFixed(0)} windows/s`);
const firstDone = Math.min(...stored.map((w) => w.completedAt));
const lastDone = Math.max(...stored.map((w) => w.completedAt));
const writerLag = stored.map((w) => w.storedAt - w.completedAt);
console.log(
  `first window analysed ${((firstDone - closeAt) / 1000).toFixed(1)} s after the close, last ${((lastDone - closeAt) / 1000).toFixed(1)} s; runners' rate ${(stored.length / ((lastDone - firstDone) / 1000)).toFixed(0)} windows/s; writer lag median ${median(writerLag)} ms, max ${Math.max(...writerLag)} ms`,
);
console.log(
  `sandbox time per window: median ${median(stored.map((w) => w.durationMs)).toFixed(1)} ms; drift detected on ${drifted} endpoints (the drifted ones: ${names.filter((n) => n.endsWith('7')).length})`,
);
console.log(`memory (RSS): host process ${peakHost.toFixed(0)} MB peak (includes this benchmark's client), runners ${peakRunners.toFixed(0)} MB peak in total`);
await nc.close();
await host.stop();
await nats.stop();
rmSync(dir, { recursive: true, force: true });

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
