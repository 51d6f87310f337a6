// What a JetStream publish costs nats-server, by how many publishes are in flight: the same
// messages (--bytes each, to a file stream of their own) published with at most 1, 2, 4, 16 and
// 256 awaiting their acknowledgement, each step --rounds times in turn. Prints, per step, the
// publishes/s and nats-server's CPU time (user + system, from /proc) a publish, and its ratio to
// the 256-in-flight step of the same round (the raw loop's, `lib/raw-loop.mjs`): the server's
// cost of a message falls as the messages come closer together, because an idle server is woken
// for each one. A path that has few messages in flight at a time (the API's coalescer, two; a
// runner's round trips for a window) pays that cost on every message.
//
//   node --no-node-snapshot bench/nats-publish-cost.mjs [--messages 20000] [--bytes 1000] [--rounds 3]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH; Linux (/proc).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../host/dist/nats/server.js';
import { arg, loadAverage } from './lib/setup.mjs';

const MESSAGES = arg('--messages', 20_000);
const BYTES = arg('--bytes', 1000);
const ROUNDS = arg('--rounds', 3);
const STEPS = [1, 2, 4, 16, 256];

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-publish-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
/** nats-server's CPU time so far (ms), user and system. */
const serverCpuMs = () => {
  const f = readFileSync(`/proc/${nats.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // clock ticks of 10 ms
};
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'COST', subjects: ['cost.>'] });
const body = Buffer.alloc(BYTES, 'x');

/** Publish MESSAGES with at most `inFlight` unacknowledged: { perSec, serverUs } (a publish). */
async function step(inFlight) {
  const pending = new Set();
  const c0 = serverCpuMs();
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    const p = js.publish('cost.x', body).finally(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= inFlight) await Promise.race(pending);
  }
  await Promise.all(pending);
  const ms = performance.now() - t0;
  return { perSec: (MESSAGES / ms) * 1000, serverUs: ((serverCpuMs() - c0) * 1000) / MESSAGES };
}

console.log(`${MESSAGES} publishes of ${BYTES} B a step, ${ROUNDS} rounds; load average at the start ${loadAverage()}`);
await step(16); // warm-up
const results = new Map(STEPS.map((s) => [s, []]));
for (let r = 0; r < ROUNDS; r++) {
  const round = new Map();
  for (const s of STEPS) round.set(s, await step(s));
  const base = round.get(256).serverUs;
  for (const s of STEPS) results.get(s).push({ ...round.get(s), ratio: round.get(s).serverUs / base });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('\nin flight   publishes/s   nats-server CPU a publish   ratio to 256 in flight (per round, median)');
for (const s of STEPS) {
  const rs = results.get(s);
  console.log(
    `${String(s).padStart(9)}   ${median(rs.map((x) => x.perSec))
      .toFixed(0)
      .padStart(11)}   ${median(rs.map((x) => x.serverUs))
      .toFixed(1)
      .padStart(20)} µs   ${rs.map((x) => x.ratio.toFixed(2)).join(' ')}, median ${median(rs.map((x) => x.ratio)).toFixed(2)}`,
  );
}
console.log(`\nload average at the end ${loadAverage()}`);
await nc.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
