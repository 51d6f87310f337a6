// The floor of single events over HTTP on this machine: what a bare node:http server, with no
// modelwatch code, reaches against the raw JetStream single-publish loop of the same round (the
// baseline of bench/ingest.mjs, `lib/raw-loop.mjs`), with the same load (16 keep-alive
// connections from a worker thread, the raw client of `lib/http-load.mjs`) and the same events.
// The server runs in a process of its own (`lib/bare-http-server.mjs`), in three modes:
// - answer:   read the body, answer 202; no NATS (Node's HTTP server alone)
// - publish:  each body published to JetStream, 202 after its ack
// - coalesce: the bodies that arrive together published as one message (a group commit, 2 in
//             flight), 202 after its ack: the fewest messages for the same durability, as
//             modelwatch's API coalesces
// None of them files the events (no stream processor): modelwatch's HTTP path does all of
// `coalesce` and more (the token check, routing, the events checked against their endpoint) and
// the filing on the same cores, so its ratio in bench/ingest.mjs is below this one's.
//
//   node --no-node-snapshot bench/http-floor.mjs [--events 5000] [--rounds 3] [--connections 16]
//
// Prints events/s per mode and round, the ratio to the raw loop of the same round (and its
// median), and the CPU time a request of the server's thread and of the client's. Needs
// nats-server on PATH.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../host/dist/nats/server.js';
import { startHttpLoad } from './lib/http-load.mjs';
import { rawLoop, singleEventPayloads } from './lib/raw-loop.mjs';
import { parseFlags } from './lib/flags.mjs';
import { loadAverage, replyOf } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/http-floor.mjs [--events 5000] [--rounds 3] [--connections 16]', {
  events: { type: 'number', default: 5000, describe: 'single events of each measurement' },
  rounds: { type: 'number', default: 3, describe: 'rounds of the modes and the raw loop' },
  connections: { type: 'number', default: 16, describe: 'keep-alive connections of the HTTP load, one request in flight each' },
});
const EVENTS = flags.events;
const ROUNDS = flags.rounds;
const CONNECTIONS = flags.connections;
const MODES = ['answer', 'publish', 'coalesce'];

let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 100;
const payloads = singleEventPayloads(EVENTS, ['f0', 'f1', 'f2', 'f3'], rnd);

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-floor-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'FLOOR', subjects: ['floor.>'] });

/** A bare server process in `mode`: { url, cpuMs(), stop() }. */
async function startServer(mode) {
  const child = fork(new URL('./lib/bare-http-server.mjs', import.meta.url), [JSON.stringify({ mode, natsUrl: nats.url, subject: `floor.${mode}` })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const reply = (key) => replyOf(child, key, `the ${mode} server`);
  const url = await reply('url');
  return {
    url,
    cpuMs: () => {
      const r = reply('cpuMs');
      child.send('cpu');
      return r;
    },
    stop: () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      return exited;
    },
  };
}

/** Every payload posted to `server` over CONNECTIONS connections: { secs, serverMs, clientMs }. */
async function post(server) {
  const load = await startHttpLoad({ url: `${server.url}/`, payloads, concurrency: CONNECTIONS, client: 'raw' });
  const s0 = await server.cpuMs();
  const t0 = performance.now();
  const { rejected, first, cpuMs } = await load.go();
  const secs = (performance.now() - t0) / 1000;
  if (rejected) throw new Error(`${rejected} requests failed (the first: ${first})`);
  return { secs, serverMs: (await server.cpuMs()) - s0, clientMs: cpuMs };
}

const servers = Object.fromEntries(await Promise.all(MODES.map(async (m) => [m, await startServer(m)])));
console.log(
  `${EVENTS} single events, ${CONNECTIONS} connections, ${ROUNDS} rounds; machine: ${(await import('node:os')).cpus().length} cores, node ${process.version}, load average ${loadAverage()}\n`,
);
// warm up (JIT, the file store)
await rawLoop(nc, jsm, 'WARM', payloads.slice(0, 1000));
for (const m of MODES) await post(servers[m]);

const runs = { raw: [], ...Object.fromEntries(MODES.map((m) => [m, []])) };
for (let round = 0; round < ROUNDS; round++) {
  const raw = await rawLoop(nc, jsm, `RAW${round}`, payloads);
  runs.raw.push({ rate: EVENTS / raw.secs, cpu: (raw.cpuMs * 1000) / EVENTS });
  // each round in another order
  for (let k = 0; k < MODES.length; k++) {
    const m = MODES[(k + round) % MODES.length];
    const r = await post(servers[m]);
    runs[m].push({
      rate: EVENTS / r.secs,
      ratio: EVENTS / r.secs / (EVENTS / raw.secs),
      server: (r.serverMs * 1000) / EVENTS,
      client: (r.clientMs * 1000) / EVENTS,
    });
  }
}
const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const f0 = (x) => String(Math.round(x)).padStart(7);
console.log(
  `raw JetStream loop, single events     median ${f0(median(runs.raw.map((r) => r.rate)))} events/s, ${median(runs.raw.map((r) => r.cpu)).toFixed(0)} µs of its thread an event`,
);
for (const m of MODES) {
  const rs = runs[m];
  console.log(
    `bare HTTP server, ${m.padEnd(9)}           median ${f0(median(rs.map((r) => r.rate)))} events/s, ratio to raw per round ${rs.map((r) => r.ratio.toFixed(2)).join(' ')}, median ${median(rs.map((r) => r.ratio)).toFixed(2)}; ${median(rs.map((r) => r.server)).toFixed(0)} µs of the server's thread a request, client ${median(rs.map((r) => r.client)).toFixed(0)} µs`,
  );
}
console.log(`\nload average at the end: ${loadAverage()}`);
for (const s of Object.values(servers)) await s.stop();
await nc.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
