// What a JetStream publish costs nats-server, by how many publishes are in flight: the same
// messages (--bytes each, to a file stream of their own, purged after each step) published with
// at most 1, 2, 4, 16 and 256 awaiting their acknowledgement (`publishAll` of `lib/raw-loop.mjs`),
// each step once a round, in an order rotated from round to round. Prints, per step, the
// publishes/s and nats-server's CPU time a publish (its threads' scheduler statistics in /proc),
// and its ratio to the 256-in-flight step of the same round (the raw loop's): the server's cost of
// a message falls as the messages come closer together, because an idle server is woken for each
// one that comes alone. A path that has few messages in flight at a time (the API's coalescer,
// two; a runner's round trips for a window) pays that cost on each of them.
//
//   node --no-node-snapshot bench/nats-publish-cost.mjs [--messages 20000] [--bytes 1000] [--rounds 3]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH; Linux (/proc).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../host/dist/nats/server.js';
import { publishAll } from './lib/raw-loop.mjs';
import { parseFlags } from './lib/flags.mjs';
import { loadAverage, processCpuMs } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/nats-publish-cost.mjs [--messages 20000] [--bytes 1000] [--rounds 3]', {
  messages: { type: 'number', default: 20_000, describe: 'messages published by each step' },
  bytes: { type: 'number', default: 1000, describe: 'bytes of each message' },
  rounds: { type: 'number', default: 3, describe: 'rounds of the steps (1, 2, 4, 16 and 256 in flight)' },
});
const MESSAGES = flags.messages;
const BYTES = flags.bytes;
const ROUNDS = flags.rounds;
const STEPS = [1, 2, 4, 16, 256];
const BASELINE = 256;

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-publish-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
try {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'COST', subjects: ['cost.>'] });
  const payloads = new Array(MESSAGES).fill(Buffer.alloc(BYTES, 'x'));

  /** Publish MESSAGES with at most `inFlight` unacknowledged: { perSec, serverUs } (a publish). */
  const step = async (inFlight) => {
    const c0 = processCpuMs(nats.pid);
    const t0 = performance.now();
    await publishAll(js, 'cost.x', payloads, inFlight);
    const ms = performance.now() - t0;
    const serverUs = ((processCpuMs(nats.pid) - c0) * 1000) / MESSAGES;
    await jsm.streams.purge('COST');
    return { perSec: (MESSAGES / ms) * 1000, serverUs };
  };

  console.log(`${MESSAGES} publishes of ${BYTES} B a step, ${ROUNDS} rounds; load average at the start ${loadAverage()}`);
  await step(16); // warm-up
  const results = new Map(STEPS.map((s) => [s, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const round = new Map();
    const order = STEPS.map((_, i) => STEPS[(i + r) % STEPS.length]);
    for (const s of order) round.set(s, await step(s));
    const base = round.get(BASELINE).serverUs;
    for (const s of STEPS) results.get(s).push({ ...round.get(s), ratio: round.get(s).serverUs / base });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`\nin flight   publishes/s   nats-server CPU a publish   ratio to ${BASELINE} in flight (per round, median)`);
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
} finally {
  await nc.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}
