// Where the host's time goes for single events over HTTP: N single-event posts over 16
// keep-alive connections (`lib/http-load.mjs`, from a worker thread, ready before the clock), to
// a host of the stream processor and the API on one event loop (the default), or with --apart to
// an API-only host in a process of its own (`--roles api`; the stream processor in this one).
// The second run is CPU-profiled (the thread of the API) and its samples are put in categories
// by their nearest known frame (Node's HTTP server, the NATS client, the ingest, the stream
// processor, Fastify, the web guard, the token check...). Prints CPU time per event (the API's
// thread, the stream processor's, the client's), socket writes per event (one process only),
// and the breakdown in µs per event; writes the profile (open it in Chrome DevTools) to --out.
//
// With --shared, to two API-only processes sharing one port (`--reuse-port`), the first profiled
// (the CPU time an event is of both threads added up, and each one's share).
// With --no-filing, no stream processor runs (the host has the API alone): the events are timed
// until answered, not filed, which shows what the filing costs the same cores.
// Also prints nats-server's CPU time an event (its threads' scheduler statistics in /proc: Linux).
//
//   node --no-node-snapshot bench/ingest-http-profile.mjs [--events 5000] [--apart | --shared] [--no-filing] [--client raw|node] [--out /tmp/ingest-http.cpuprofile]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import net from 'node:net';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parseFlags } from './lib/flags.mjs';
import { startHttpLoad } from './lib/http-load.mjs';
import { loadAverage, processCpuMs, startApiProcess, startBenchHost } from './lib/setup.mjs';

const flags = parseFlags(
  'node --no-node-snapshot bench/ingest-http-profile.mjs [--events 5000] [--apart | --shared] [--no-filing] [--client raw|node] [--out /tmp/ingest-http.cpuprofile]',
  {
    events: { type: 'number', default: 5000, describe: 'single-event posts a run' },
    apart: { type: 'boolean', default: false, describe: 'to an API-only host in a process of its own (the stream processor in this one)' },
    shared: { type: 'boolean', default: false, describe: 'to two API-only processes sharing one port (--reuse-port), the first profiled' },
    filing: {
      type: 'boolean',
      default: true,
      describe: 'a stream processor files the events; --no-filing: the API alone, the events timed until answered',
    },
    client: {
      type: 'string',
      choices: ['raw', 'node'],
      default: 'raw',
      describe: 'the HTTP load: a minimal keep-alive HTTP/1.1 client (raw), or node:http (node)',
    },
    out: { type: 'string', default: join(tmpdir(), 'ingest-http.cpuprofile'), describe: 'where the CPU profile is written (open it in Chrome DevTools)' },
  },
);
const N = flags.events;
const OUT = flags.out;
const SHARED = flags.shared;
const APART = SHARED || flags.apart;
const FILING = flags.filing;
const CONCURRENCY = 16;
const httpClient = flags.client;

// socket writes of this process, to NATS and to HTTP clients
let natsPort = -1;
const writes = { nats: 0, http: 0 };
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (...args) {
  if (this.remotePort === natsPort) writes.nats++;
  else writes.http++;
  return write.apply(this, args);
};

const bench = await startBenchHost('http-profile', { runners: 0, basePeriod: '10s', allowedLateness: '60s', components: FILING ? ['stream', 'api'] : ['api'] });
const { client, nats } = bench;
natsPort = Number(new URL(nats.url.replace(/^nats:/, 'http:')).port);
const api = APART ? await startApiProcess(bench, SHARED ? { name: 'api-a', reusePort: true } : {}) : undefined;
// the second of --shared, on the first one's port
const second = SHARED ? await startApiProcess(bench, { name: 'api-b', reusePort: true, port: Number(new URL(api.url).port) }) : undefined;
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
const token = (await client.createToken({ name: 'bench-ingest', scopes: ['ingest'] })).token;
await client.createEndpoint({ name: 'p', featureNames: ['f0', 'f1', 'f2', 'f3'], labelNames: ['p0'] });
const now = Date.now();
const payloads = Array.from({ length: N }, (_, i) =>
  JSON.stringify({ when: now, inputs: [[1.5, 2.5, 3.5, 4.5]], outputs: [0.5], requestId: `r${i}`, latencyMicros: 800 }),
);

/** Until the stream processor has acknowledged everything (without one: at once). */
async function processed() {
  if (!FILING) return;
  for (;;) {
    const ci = await jsm.consumers.info('MW_EVENTS', 'stream-processor');
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function run(profile) {
  const load = await startHttpLoad({
    url: `${api?.url ?? bench.host.apiUrl}/api/v1/endpoints/p/events`,
    payloads,
    concurrency: CONCURRENCY,
    token,
    client: httpClient,
  });
  const session = new Session();
  session.connect();
  if (profile && !api) {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  const before = (await jsm.streams.info('MW_EVENTS')).state.messages;
  writes.nats = writes.http = 0;
  let result;
  let p;
  const a0 = await api?.cpuMs();
  const b0 = await second?.cpuMs();
  const n0 = processCpuMs(nats.pid);
  const c0 = process.threadCpuUsage();
  const t0 = performance.now();
  const go = async () => {
    result = await load.go();
    await processed();
  };
  if (profile && api) p = await api.profile(go);
  else await go();
  const ms = performance.now() - t0;
  const c = process.threadCpuUsage(c0);
  const natsUs = ((processCpuMs(nats.pid) - n0) * 1000) / N;
  const firstMs = api ? (await api.cpuMs()) - a0 : undefined;
  const secondMs = second ? (await second.cpuMs()) - b0 : 0;
  const apiMs = api ? firstMs + secondMs : undefined;
  if (profile && !api) p = (await session.post('Profiler.stop')).profile;
  session.disconnect();
  if (result.rejected) throw new Error(`${result.rejected} requests refused or with rejected events (the first: ${result.first})`);
  const messages = (await jsm.streams.info('MW_EVENTS')).state.messages - before;
  const here = ((c.user + c.system) / N).toFixed(0);
  const own = FILING ? `stream processor's thread ${here} µs` : `this thread (no stream processor) ${here} µs`;
  const threads = api
    ? `API thread${second ? `s (2, ${Math.round((100 * firstMs) / apiMs)}/${Math.round((100 * secondMs) / apiMs)})` : ''} ${((apiMs * 1000) / N).toFixed(0)} µs, ${own}`
    : `host thread (${FILING ? 'API and stream processor' : 'the API alone'}) ${here} µs`;
  console.log(
    `${profile ? 'profiled' : 'warm-up '}: ${N} events in ${ms.toFixed(0)} ms (${Math.round((N / ms) * 1000)}/s, until ${FILING ? 'filed' : 'answered'}), ${messages} messages in MW_EVENTS; CPU an event: ${threads}, client ${((result.cpuMs * 1000) / N).toFixed(0)} µs, nats-server ${natsUs.toFixed(0)} µs${
      api ? '' : `; socket writes an event: NATS ${(writes.nats / N).toFixed(2)}, HTTP ${(writes.http / N).toFixed(2)}`
    }`,
  );
  return { profile: p, apiUs: api ? (apiMs * 1000) / N : (c.user + c.system) / N };
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
  console.log(
    `\n${SHARED ? "the two API processes' threads (the first one's profile)" : APART ? "the API process's thread" : "the host's thread"}: ${hostUs.toFixed(0)} µs an event, by part (self samples by their nearest known frame):`,
  );
  for (const [k, v] of [...out].sort((a, b) => b[1] - a[1]))
    console.log(`${((100 * v) / busy).toFixed(1).padStart(5)}%  ${((hostUs * v) / busy).toFixed(0).padStart(4)} µs  ${k}`);
}

const processor = FILING ? 'the stream processor in this one' : 'no stream processor (--no-filing)';
console.log(
  `machine: ${(await import('node:os')).cpus().length} cores, load average ${loadAverage()}, node ${process.version}; ${
    SHARED
      ? `shared: two API-only processes on one port (--reuse-port), ${processor}`
      : APART
        ? `API apart: an API-only process, ${processor}`
        : FILING
          ? 'one process: the API and the stream processor on one event loop'
          : 'one process: the API alone, no stream processor (--no-filing)'
  }; HTTP client: ${httpClient}`,
);
await run(false);
const { profile, apiUs } = await run(true);
writeFileSync(OUT, JSON.stringify(profile));
breakdown(profile, apiUs);
console.log(`\nprofile: ${OUT}; load average at the end ${loadAverage()}`);
await api?.stop();
await second?.stop();
await nc.close();
await bench.stop();
