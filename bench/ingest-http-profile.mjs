// Where the host's time goes for single events over HTTP: a host (stream processor and API, one
// event loop) takes N single-event posts over 16 keep-alive connections (node:http, from a
// worker thread, ready before the clock); the second run is CPU-profiled (the host's thread) and
// its samples are put in categories by their nearest known frame (Node's HTTP server, the NATS
// client, the ingest, the stream processor, Fastify, the web guard, the token check, GC...).
// Prints CPU time per event (host thread, client thread), socket writes per event, and the
// breakdown in µs per event; writes the profile (open it in Chrome DevTools) to --out.
//
//   node --no-node-snapshot bench/ingest-http-profile.mjs [--events 5000] [--out /tmp/ingest-http.cpuprofile]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { Session } from 'node:inspector/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { createHost } from '../host/dist/host.js';
import { ModelwatchClient } from '../host/dist/client/client.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { generateToken } from '../host/dist/domain/tokens.js';
import { createLogger } from '../host/dist/logger.js';
import { connect } from '@nats-io/transport-node';

const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const N = Number(arg('--events', 5000));
const OUT = arg('--out', join(tmpdir(), 'ingest-http.cpuprofile'));
const CONCURRENCY = 16;

// socket writes of this process, to NATS and to HTTP clients
let natsPort = -1;
const writes = { nats: 0, http: 0 };
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (...args) {
  if (this.remotePort === natsPort) writes.nats++;
  else writes.http++;
  return write.apply(this, args);
};

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-http-profile-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
natsPort = Number(new URL(nats.url.replace(/^nats:/, 'http:')).port);
const adminToken = generateToken();
const host = createHost(
  {
    adminToken,
    natsUrl: nats.url,
    dataDir: join(dir, 'host'),
    httpPort: 0,
    runners: 0,
    basePeriod: '10s',
    allowedLateness: '60s',
    components: ['stream', 'api'],
    logLevel: 'error',
  },
  createLogger('error'),
);
await host.start();
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
const client = new ModelwatchClient({ url: host.apiUrl, token: adminToken });
const token = (await client.createToken({ name: 'bench-ingest', scopes: ['ingest'] })).token;
await client.createEndpoint({ name: 'p', featureNames: ['f0', 'f1', 'f2', 'f3'], labelNames: ['p0'] });
const now = Date.now();
const payloads = Array.from({ length: N }, (_, i) =>
  JSON.stringify({ when: now, inputs: [[1.5, 2.5, 3.5, 4.5]], outputs: [0.5], requestId: `r${i}`, latencyMicros: 800 }),
);

const CLIENT = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { url, payloads, concurrency, token } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const post = (body) => new Promise((resolve, reject) => {
  const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token, 'content-length': Buffer.byteLength(body) } }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error('HTTP ' + res.statusCode + ' ' + Buffer.concat(chunks)))));
  });
  req.on('error', reject);
  req.end(body);
});
parentPort.once('message', () => {
  let i = 0;
  const c0 = process.threadCpuUsage();
  Promise.all(Array.from({ length: concurrency }, async () => { while (i < payloads.length) await post(payloads[i++]); })).then(
    () => { const c = process.threadCpuUsage(c0); parentPort.postMessage({ cpuMs: (c.user + c.system) / 1000 }); },
    (err) => parentPort.postMessage({ error: String(err) }),
  );
});
parentPort.postMessage('ready');
`;

async function run(profile) {
  const w = new Worker(CLIENT, { eval: true, workerData: { url: `${host.apiUrl}/api/v1/endpoints/p/events`, payloads, concurrency: CONCURRENCY, token } });
  const next = () => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
  await next();
  const session = new Session();
  session.connect();
  if (profile) {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  const before = (await jsm.streams.info('MW_EVENTS')).state.messages;
  writes.nats = writes.http = 0;
  const c0 = process.threadCpuUsage();
  const t0 = performance.now();
  w.postMessage('go');
  const { cpuMs, error } = await next();
  const ms = performance.now() - t0;
  const c = process.threadCpuUsage(c0);
  const p = profile ? (await session.post('Profiler.stop')).profile : undefined;
  session.disconnect();
  await w.terminate();
  if (error) throw new Error(error);
  const messages = (await jsm.streams.info('MW_EVENTS')).state.messages - before;
  const hostUs = (c.user + c.system) / N;
  console.log(
    `${profile ? 'profiled' : 'warm-up '}: ${N} events in ${ms.toFixed(0)} ms (${Math.round((N / ms) * 1000)}/s), ${messages} messages in MW_EVENTS; CPU an event: host thread ${hostUs.toFixed(0)} µs, client ${((cpuMs * 1000) / N).toFixed(0)} µs; socket writes an event: NATS ${(writes.nats / N).toFixed(2)}, HTTP ${(writes.http / N).toFixed(2)}`,
  );
  return { profile: p, hostUs };
}

/** Self samples by the nearest frame of a known part (ordered: the first that matches on the way up wins). */
function breakdown(p, hostUs) {
  const parts = [
    ['web guard and security headers', /helmet|web-guard/],
    ['token check and scope', /api\/auth\.js|store\/tokens|domain\/tokens|api\/sessions/],
    ['rate limit', /rate-limit/],
    ['stream processor (consume, file rows)', /stream\/processor|stream\/filing|nats\/rows|watermark/],
    ['ingest: parse and check the event', /stream\/formats|prepareIngest|checkEvent|inferNames/],
    ['ingest: route, coalescer, publish', /stream\/ingest\.js|routes\/events\.js/],
    ['body read and JSON parse', /content-type-parser/],
    ['NATS client (incl. its socket writes)', /nats-io/],
    ['Fastify routing, hooks, reply', /node_modules\/fastify\/|find-my-way/],
    ['Node HTTP server (parse, socket I/O)', /_http_|node:net|stream_base|internal\/streams/],
  ];
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map();
  let busy = 0;
  for (const id of p.samples) {
    const leaf = byId.get(id).callFrame.functionName;
    if (leaf === '(idle)') continue;
    busy++;
    let part = leaf === '(garbage collector)' ? 'GC' : 'other (timers, microtasks)';
    for (let x = id; x !== undefined && part.startsWith('other'); x = parent.get(x)) {
      const f = byId.get(x).callFrame;
      const hit = parts.find(([, re]) => re.test(`${f.functionName} ${f.url}`));
      if (hit) part = hit[0];
    }
    out.set(part, (out.get(part) ?? 0) + 1);
  }
  console.log(`\nthe host thread's ${hostUs.toFixed(0)} µs an event, by part (self samples by their nearest known frame):`);
  for (const [k, v] of [...out].sort((a, b) => b[1] - a[1]))
    console.log(`${((100 * v) / busy).toFixed(1).padStart(5)}%  ${((hostUs * v) / busy).toFixed(0).padStart(4)} µs  ${k}`);
}

const os = await import('node:os');
console.log(
  `machine: ${os.cpus().length} cores, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}, node ${process.version}`,
);
await run(false);
const { profile, hostUs } = await run(true);
writeFileSync(OUT, JSON.stringify(profile));
breakdown(profile, hostUs);
console.log(`\nprofile: ${OUT}`);
await host.stop();
await nc.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
