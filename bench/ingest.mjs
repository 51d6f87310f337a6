// Ingest throughput, end to end: events accepted (JetStream publish ack, or HTTP 202) ->
// rows stored by window in MW_ROWS (the stream processor has acknowledged every event), over
// NATS and over HTTP, single events and columnar micro-batches; against a plain JetStream
// publish-and-consume loop (same client, same payloads, same publisher, JSON-decoded and
// acknowledged by the consumer) in the same run.
//
//   node --no-node-snapshot bench/ingest.mjs [--quick] [--rounds N] [--client raw|node] [--connections N] [--auth]
//
// --connections: the keep-alive connections of the single-event HTTP loads, one request in flight
// each (default 16; the micro-batches go over 4).
//
// HTTP is measured in two layouts, each round:
// - "one process": the API and the stream processor in this process, on one event loop (the
//   laptop default, `host start` with every role): the host's thread pays for both.
// - "API apart": the same loads to an API-only host in a process of its own (`--roles api`, as a
//   deployment at scale runs it), the stream processor still in this process: the API's thread
//   and the stream processor's are counted apart.
// - "2 APIs, one port": the same loads to two API-only processes listening on one port
//   (`host start --roles api --reuse-port`, SO_REUSEPORT: the kernel spreads the connections
//   among them), the stream processor still in this process; their threads' CPU is added up.
// HTTP requests carry an ingest token (`Authorization: Bearer`), as a model server's would. The
// load comes from a worker thread (`lib/http-load.mjs`: a model server is another process), its
// connections open before the clock starts; --client raw (default) is a minimal keep-alive
// HTTP/1.1 client, as a load generator is, --client node is node:http, several times its CPU
// a request, taken from the same cores.
// --auth measures the cost of authentication instead: the same HTTP loads against two API-only
// hosts alike (same NATS, same stream processor in a third host), one checking an ingest token
// and one started with --insecure-local (no authentication), alternating in each round, with
// the ratio per round; and the token check alone.
//
// Each measurement runs --rounds times (default 5): raw and modelwatch back to back in each
// round, and the ratio of each pair is printed with their median (this machine is shared: a
// pair sees the same load), with the CPU time an event of each thread (which moves much less
// with the load) and the load average.
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createHost } from '../host/dist/host.js';
import { hashToken, sameHash } from '../host/dist/domain/tokens.js';
import { createLogger } from '../host/dist/logger.js';
import { parseFlags } from './lib/flags.mjs';
import { startHttpLoad } from './lib/http-load.mjs';
import { publishAll, rawLoop as rawLoopOf, singleEventPayloads } from './lib/raw-loop.mjs';
import { loadAverage, startApiProcess, startBenchHost } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/ingest.mjs [--quick] [--rounds N] [--client raw|node] [--connections N] [--auth]', {
  quick: { type: 'boolean', default: false, describe: 'fewer events a measurement (5,000 single events and 300 micro-batches, not 20,000 and 1,000)' },
  rounds: { type: 'number', default: 5, describe: 'rounds of each measurement' },
  client: {
    type: 'string',
    choices: ['raw', 'node'],
    default: 'raw',
    describe: 'the HTTP load: a minimal keep-alive HTTP/1.1 client (raw), or node:http (node)',
  },
  connections: { type: 'number', default: 16, describe: 'keep-alive connections of the single-event HTTP loads, one request in flight each' },
  auth: { type: 'boolean', default: false, describe: 'measure the cost of authentication instead (an ingest token vs --insecure-local)' },
});
const quick = flags.quick;
const httpClient = flags.client;
/** CPU time of the main thread (the raw loop's publisher and consumer; the host's API and stream processor) and of the HTTP client, per measurement. */
const cpu = [];
const authCost = flags.auth;
const ROUNDS = flags.rounds;
const FEATURES = ['f0', 'f1', 'f2', 'f3'];
const BATCH_ROWS = 1000;
/** Keep-alive connections (one request in flight each) of the single-event HTTP loads (--connections, default 16). */
const CONNS = flags.connections;
const SINGLE_MSGS = quick ? 5_000 : 20_000;
const BATCH_MSGS = quick ? 300 : 1_000;

let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 100;

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

/** Raw JetStream: publish, consume, JSON.parse, ack (`lib/raw-loop.mjs`). Returns seconds. */
async function rawLoop(nc, jsm, name, payloads) {
  const { secs, cpuMs } = await rawLoopOf(nc, jsm, name, payloads);
  cpu.push({ what: `raw ${name}`, events: payloads.length, hostMs: cpuMs });
  return secs;
}

/** Until the stream processor has acknowledged everything. */
async function processed(jsm) {
  for (;;) {
    const ci = await jsm.consumers.info('MW_EVENTS', 'stream-processor');
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return;
    await new Promise((r) => setTimeout(r, 10));
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

/**
 * POST every payload to `apiUrl` (default the client's host) with `token` (default the ingest
 * token; null: none), `concurrency` requests at a time, each on its own keep-alive connection
 * (`lib/http-load.mjs`, the client of --client). `api`: the API process apart (its thread's CPU
 * time is counted too).
 */
async function mwHttp(jsm, client, name, payloads, concurrency, { apiUrl = client.url, token = ingestToken, api, layout = 'one' } = {}) {
  await client.createEndpoint({ name, featureNames: FEATURES, labelNames: ['p0'] });
  await processed(jsm);
  const load = await startHttpLoad({ url: `${apiUrl}/api/v1/endpoints/${name}/events`, payloads, concurrency, token, client: httpClient });
  const t0 = performance.now();
  const c0 = process.threadCpuUsage();
  const a0 = await api?.cpuMs();
  const first0 = api?.first;
  const { rejected, first, cpuMs } = await load.go();
  await processed(jsm);
  const dt = (performance.now() - t0) / 1000;
  const c = process.threadCpuUsage(c0);
  const apiMs = api ? (await api.cpuMs()) - a0 : undefined;
  const firstShare = first0 === undefined ? undefined : (api.first - first0) / apiMs;
  cpu.push({ what: `HTTP ${name}`, layout, events: payloads.length, hostMs: (c.user + c.system) / 1000, apiMs, clientMs: cpuMs, firstShare });
  if (rejected) throw new Error(`${rejected} HTTP requests had rejected events (the first: ${first})`);
  return dt;
}

async function rowsIn(jsm) {
  const info = await jsm.streams.info('MW_ROWS');
  return info.state.messages;
}

const bench = await startBenchHost('ingest', { runners: 0, basePeriod: '10s', allowedLateness: '60s', components: ['stream', 'api'] });
const { client, nats, dir, adminToken } = bench;
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
// what a model server sends with: a token of the ingest scope
const ingestToken = (await client.createToken({ name: 'bench-ingest', scopes: ['ingest'] })).token;

const single = singleEventPayloads(SINGLE_MSGS, FEATURES, rnd);
const batches = batchPayloads(BATCH_MSGS);
const mb = (ps) => (ps.reduce((n, p) => n + p.length, 0) / 1e6).toFixed(1);
console.log(
  `payloads: ${SINGLE_MSGS} single events (${mb(single)} MB), ${BATCH_MSGS} columnar micro-batches of ${BATCH_ROWS} rows x ${FEATURES.length} features + 1 output (${mb(batches)} MB)`,
);
console.log(
  `machine: ${(await import('node:os')).cpus().length} cores, node ${process.version}, HTTP client: ${httpClient}; load average at the start ${loadAverage()}\n`,
);

const best = (xs) => Math.max(...xs);
const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const report = (what, rows, secs, base) => {
  const rps = secs.map((x) => rows / x);
  // each round runs raw and modelwatch back to back: the ratio of a pair shares the machine's load of the moment
  const paired = base ? rps.map((x, i) => x / base[i]) : [];
  console.log(
    `${what.padEnd(46)} best ${String(Math.round(best(rps))).padStart(9)} rows/s  median ${String(Math.round(median(rps))).padStart(9)}${
      base ? `  ratio to raw JetStream: per round ${paired.map((x) => x.toFixed(2)).join(' ')}, median ${median(paired).toFixed(2)}` : ''
    }`,
  );
  return rps;
};

// warm up (JIT, file store)
await rawLoop(nc, jsm, 'WARM', batches.slice(0, 50));
await mwNats(nc, jsm, client, 'warm', batches.slice(0, 50));

if (authCost) {
  // the same loads, to an API checking the ingest token and to one without authentication
  const open = createHost(
    { natsUrl: nats.url, dataDir: join(dir, 'open'), httpPort: 0, runners: 0, components: ['api'], insecureLocal: true, logLevel: 'error' },
    createLogger('error'),
  );
  // and its twin checking tokens: two API-only hosts alike (own NATS connection each, same process), the stream processor's host apart
  const secured = createHost(
    { natsUrl: nats.url, dataDir: join(dir, 'secured'), httpPort: 0, runners: 0, components: ['api'], adminToken, logLevel: 'error' },
    createLogger('error'),
  );
  await Promise.all([open.start(), secured.start()]);
  const a = { tokenSingle: [], openSingle: [], tokenBatch: [], openBatch: [] };
  const insecure = { apiUrl: open.apiUrl, token: null };
  const withToken = { apiUrl: secured.apiUrl, token: ingestToken };
  for (let round = 0; round < ROUNDS; round++) {
    const pairs = [
      ['tokenBatch', (n) => mwHttp(jsm, client, `tb-${n}`, batches, 4, withToken)],
      ['openBatch', (n) => mwHttp(jsm, client, `ob-${n}`, batches, 4, insecure)],
      ['tokenSingle', (n) => mwHttp(jsm, client, `ts-${n}`, single.slice(0, SINGLE_MSGS / 2), 16, withToken)],
      ['openSingle', (n) => mwHttp(jsm, client, `os-${n}`, single.slice(0, SINGLE_MSGS / 2), 16, insecure)],
    ];
    // alternate which of a pair goes first
    const order = round % 2 === 0 ? [0, 1, 2, 3] : [1, 0, 3, 2];
    for (const k of order) a[pairs[k][0]].push(await pairs[k][1](round));
  }
  console.log(`${ROUNDS} rounds: HTTP, an ingest token checked vs --insecure-local (same NATS, same stream processor)\n`);
  const openB = report('HTTP micro-batches (4 conns), --insecure-local', BATCH_MSGS * BATCH_ROWS, a.openBatch);
  const tokB = report('HTTP micro-batches (4 conns), ingest token', BATCH_MSGS * BATCH_ROWS, a.tokenBatch);
  const openS = report('HTTP single events (16 conns), --insecure-local', SINGLE_MSGS / 2, a.openSingle);
  const tokS = report('HTTP single events (16 conns), ingest token', SINGLE_MSGS / 2, a.tokenSingle);
  const pair = (x, y) => x.map((v, i) => v / y[i]);
  // what the check itself costs a request: the token's SHA-256, a map lookup, a constant-time compare
  const byHash = new Map([[hashToken(ingestToken), hashToken(ingestToken)]]);
  const N = 200_000;
  let hits = 0;
  const c0 = performance.now();
  for (let i = 0; i < N; i++) {
    const h = hashToken(ingestToken);
    const stored = byHash.get(h);
    if (stored && sameHash(stored, h)) hits++;
  }
  const perCheckUs = ((performance.now() - c0) * 1000) / N;
  console.log(`\nthe token check alone (hash, lookup, constant-time compare): ${perCheckUs.toFixed(2)} µs per request (${hits} of ${N})`);
  console.log(
    `\ntoken / insecure-local, per round: micro-batches ${pair(tokB, openB)
      .map((x) => x.toFixed(3))
      .join(' ')} (median ${median(pair(tokB, openB)).toFixed(3)})`,
  );
  console.log(
    `token / insecure-local, per round: single events ${pair(tokS, openS)
      .map((x) => x.toFixed(3))
      .join(' ')} (median ${median(pair(tokS, openS)).toFixed(3)})`,
  );
  console.log(`\nload average at the end: ${loadAverage()}`);
  await open.stop();
  await secured.stop();
  await nc.close();
  await bench.stop();
  process.exit(0);
}

// the API role alone in a process of its own, on the same NATS (the stream processor stays in this one)
const api = await startApiProcess(bench);
const apart = { apiUrl: api.url, api, layout: 'apart' };
// two API-only processes sharing one port (--reuse-port): the second on the first one's port
const apiA = await startApiProcess(bench, { name: 'api-a', reusePort: true });
const apiB = await startApiProcess(bench, { name: 'api-b', reusePort: true, port: Number(new URL(apiA.url).port) });
// their threads' CPU time added up; `first`: the first one's, to show how the kernel spread the connections
const both = {
  first: 0,
  async cpuMs() {
    this.first = await apiA.cpuMs();
    return this.first + (await apiB.cpuMs());
  },
};
const shared = { apiUrl: apiA.url, api: both, layout: 'shared' };
const HTTP_SINGLE = SINGLE_MSGS / 2;
const t = {
  rawSingle: [],
  natsSingle: [],
  httpSingle: [],
  httpSingleApart: [],
  httpSingleShared: [],
  rawBatch: [],
  natsBatch: [],
  httpBatch: [],
  httpBatchApart: [],
};
for (let round = 0; round < ROUNDS; round++) {
  // alternate which goes first
  if (round % 2 === 0) {
    t.rawBatch.push(await rawLoop(nc, jsm, `RAWB${round}`, batches));
    t.natsBatch.push(await mwNats(nc, jsm, client, `nats-batch-${round}`, batches));
  } else {
    t.natsBatch.push(await mwNats(nc, jsm, client, `nats-batch-${round}`, batches));
    t.rawBatch.push(await rawLoop(nc, jsm, `RAWB${round}`, batches));
  }
  t.httpBatch.push(await mwHttp(jsm, client, `http-batch-${round}`, batches, 4));
  t.httpBatchApart.push(await mwHttp(jsm, client, `http-batch-apart-${round}`, batches, 4, apart));
  t.rawSingle.push(await rawLoop(nc, jsm, `RAW1${round}`, single));
  t.natsSingle.push(await mwNats(nc, jsm, client, `nats-single-${round}`, single));
  // the three layouts, each round in another order
  const layouts = [
    () => mwHttp(jsm, client, `http-single-${round}`, single.slice(0, HTTP_SINGLE), CONNS).then((x) => t.httpSingle.push(x)),
    () => mwHttp(jsm, client, `http-single-apart-${round}`, single.slice(0, HTTP_SINGLE), CONNS, apart).then((x) => t.httpSingleApart.push(x)),
    () => mwHttp(jsm, client, `http-single-shared-${round}`, single.slice(0, HTTP_SINGLE), CONNS, shared).then((x) => t.httpSingleShared.push(x)),
  ];
  for (let k = 0; k < layouts.length; k++) await layouts[(k + round) % layouts.length]();
}
console.log(
  `${ROUNDS} rounds; HTTP "one process": API and stream processor on one event loop; "API apart": an API-only process, the stream processor in another; "2 APIs, one port": two API-only processes on one port (--reuse-port)\n`,
);
const rawB = report('raw JetStream loop, micro-batches', BATCH_MSGS * BATCH_ROWS, t.rawBatch);
report('modelwatch over NATS, micro-batches', BATCH_MSGS * BATCH_ROWS, t.natsBatch, rawB);
report('HTTP micro-batches (4 conns), one process', BATCH_MSGS * BATCH_ROWS, t.httpBatch, rawB);
report('HTTP micro-batches (4 conns), API apart', BATCH_MSGS * BATCH_ROWS, t.httpBatchApart, rawB);
console.log('');
const rawS = report('raw JetStream loop, single events', SINGLE_MSGS, t.rawSingle);
report('modelwatch over NATS, single events', SINGLE_MSGS, t.natsSingle, rawS);
report(`HTTP single events (${CONNS} conns), one process`, HTTP_SINGLE, t.httpSingle, rawS);
report(`HTTP single events (${CONNS} conns), API apart`, HTTP_SINGLE, t.httpSingleApart, rawS);
report(`HTTP single events (${CONNS} conns), 2 APIs, one port`, HTTP_SINGLE, t.httpSingleShared, rawS);

// CPU time per event: on a shared machine the wall-clock ratio moves with the load, this much less
const perEvent = (prefix, layout, key) => median(cpu.filter((x) => x.what.startsWith(prefix) && x.layout === layout).map((x) => (x[key] * 1000) / x.events));
const rawCpu = perEvent('raw RAW1', undefined, 'hostMs');
const oneHost = perEvent('HTTP http-single-', 'one', 'hostMs');
const oneClient = perEvent('HTTP http-single-', 'one', 'clientMs');
const apartApi = perEvent('HTTP http-single-apart', 'apart', 'apiMs');
const apartStream = perEvent('HTTP http-single-apart', 'apart', 'hostMs');
const apartClient = perEvent('HTTP http-single-apart', 'apart', 'clientMs');
const sharedApi = perEvent('HTTP http-single-shared', 'shared', 'apiMs');
const sharedStream = perEvent('HTTP http-single-shared', 'shared', 'hostMs');
const sharedSplit = cpu
  .filter((x) => x.layout === 'shared')
  .map((x) => `${Math.round(100 * x.firstShare)}/${Math.round(100 * (1 - x.firstShare))}`)
  .join(' ');
console.log(`\nCPU per single event (median of the rounds):
  raw JetStream loop            ${rawCpu.toFixed(0).padStart(4)} µs (publisher and consumer, one thread)
  HTTP, one process             ${oneHost.toFixed(0).padStart(4)} µs the host's thread (API and stream processor), client ${oneClient.toFixed(0)} µs; raw / host ${(rawCpu / oneHost).toFixed(2)}
  HTTP, API apart               ${apartApi.toFixed(0).padStart(4)} µs the API's thread, ${apartStream.toFixed(0)} µs the stream processor's, client ${apartClient.toFixed(0)} µs; raw / API ${(rawCpu / apartApi).toFixed(2)}
  HTTP, 2 APIs on one port      ${sharedApi.toFixed(0).padStart(4)} µs the two API threads together (split of their CPU per round: ${sharedSplit}), ${sharedStream.toFixed(0)} µs the stream processor's; raw / API ${(rawCpu / sharedApi).toFixed(2)}`);
console.log(`\nrow messages in MW_ROWS: ${await rowsIn(jsm)} (rows are stored in binary chunks per window)`);
console.log(`load average at the end: ${loadAverage()}`);
await api.stop();
await apiA.stop();
await apiB.stop();
await nc.close();
await bench.stop();
