// Writer throughput: outputs stored per second from a backlog in MW_OUTPUTS (20 endpoints x 1
// app, one-second windows, 1 result each, a fifth of them empty, each with its output binding
// checked as the host checks it), with the failure streaks kept in KV mw_streaks (one
// compare-and-set per output and key, pipelined across keys) against a writer that keeps none,
// each on its own nats-server and LevelDB, in this process. The outputs come in shuffled window
// order, as from concurrent runners. Each is run at every batch size asked for (the writer's
// `batchSize`: outputs stored in one LevelDB batch; 1 is one store after another), so the
// ratios are of the same run.
//
//   node --no-node-snapshot bench/writer-throughput.mjs [--outputs N] [--batch 1,1024]
//
// --rebuild: instead, a store rebuilt from MW_OUTPUTS (`replay` in writer/recovery.ts, what a
// store LevelDB cannot open or a store behind the stream gets) at each batch size, each into an
// empty LevelDB from the same stream, the sizes alternated over --rounds rounds (default 2); the
// ratio is of the last batch size to the first (1: one output stored after another, as before).
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { newBindingKey, outputBinding } from '../host/dist/domain/binding.js';
import { createLogger } from '../host/dist/logger.js';
import { ResultsDb } from '../host/dist/store/results-db.js';
import { replay } from '../host/dist/writer/recovery.js';
import { numberList, parseFlags } from './lib/flags.mjs';
import { benchOutputs } from './lib/outputs.mjs';
import { publishOutputs, withNats } from './lib/setup.mjs';
import { timeWriter } from './lib/writer.mjs';

const flags = parseFlags(
  'node --no-node-snapshot bench/writer-throughput.mjs [--outputs N] [--batch 1,1024]\nnode --no-node-snapshot bench/writer-throughput.mjs --rebuild [--outputs N] [--batch 1,1024] [--rounds 2]',
  {
    outputs: { type: 'number', default: 10_000, describe: 'outputs in the backlog' },
    batch: { type: 'string', default: '1,1024', coerce: numberList, describe: "the writer's batch sizes (outputs stored in one LevelDB batch): a run at each" },
    rebuild: { type: 'boolean', default: false, describe: 'instead, a store rebuilt from MW_OUTPUTS at each batch size' },
    rounds: { type: 'number', default: 2, describe: 'with --rebuild: rounds, the batch sizes alternated' },
  },
);
const OUTPUTS = flags.outputs;
const BATCHES = flags.batch;
const ENDPOINTS = 20;
const bindingKey = newBindingKey();
const { outputs, uniform } = benchOutputs(OUTPUTS, ENDPOINTS);
for (const o of outputs) o.binding = outputBinding(bindingKey, o);
// concurrent runners: each output up to 8 places from its place in window order
for (let i = 0; i < outputs.length; i++) {
  const j = Math.min(outputs.length - 1, i + Math.floor(uniform() * 8));
  [outputs[i], outputs[j]] = [outputs[j], outputs[i]];
}

function run(withStreaks, batchSize) {
  return withNats('writer', async (env) => {
    const { seconds, cpuUs } = await timeWriter(env, outputs, { streaks: withStreaks, bindingKey, batchSize });
    return { perSec: OUTPUTS / seconds, cpuUs };
  });
}

if (flags.rebuild) {
  await rebuild();
  process.exit(0);
}

/** The --rebuild mode: outputs/s and CPU an output of a replay of MW_OUTPUTS into an empty store, per batch size. */
async function rebuild() {
  const rounds = flags.rounds;
  console.log(
    `${OUTPUTS} outputs (${ENDPOINTS} endpoints, shuffled by up to 8 places, bindings checked), a store rebuilt from MW_OUTPUTS; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  await withNats('rebuild', async ({ js, jsm, dir }) => {
    await publishOutputs(js, outputs);
    const last = (await jsm.streams.info('MW_OUTPUTS')).state.last_seq;
    const logger = createLogger('error');
    const runs = new Map(BATCHES.map((b) => [b, []]));
    for (let round = 0; round < rounds; round++) {
      for (const batchSize of round % 2 === 0 ? BATCHES : [...BATCHES].reverse()) {
        const db = new ResultsDb(join(dir, `rebuilt-${batchSize}-${round}`));
        await db.open();
        const cpu = process.cpuUsage();
        const t = performance.now();
        const r = await replay({ js, logger, withOutbox: false, bindingKey, batchSize }, db, 1, last);
        const seconds = (performance.now() - t) / 1000;
        const used = process.cpuUsage(cpu);
        await db.close();
        if (r.stored !== OUTPUTS) throw new Error(`batch ${batchSize}: stored ${r.stored} of ${OUTPUTS}`);
        const run = { perSec: OUTPUTS / seconds, cpuUs: (used.user + used.system) / OUTPUTS };
        runs.get(batchSize).push(run);
        console.log(
          `round ${round + 1}, batch ${String(batchSize).padStart(4)}  ${run.perSec.toFixed(0).padStart(6)} results/s  ${run.cpuUs.toFixed(0).padStart(5)} µs CPU of this process an output  (load ${loadavg()[0].toFixed(1)})`,
        );
      }
    }
    const best = (b) => ({ perSec: Math.max(...runs.get(b).map((r) => r.perSec)), cpuUs: Math.min(...runs.get(b).map((r) => r.cpuUs)) });
    const [first, last_] = [BATCHES[0], BATCHES.at(-1)];
    if (first !== last_) {
      const [a, b] = [best(first), best(last_)];
      console.log(
        `\nbest of ${rounds}: batch ${first} ${a.perSec.toFixed(0)} results/s, batch ${last_} ${b.perSec.toFixed(0)} results/s: ${(b.perSec / a.perSec).toFixed(2)} x the results/s, ${(b.cpuUs / a.cpuUs).toFixed(2)} x the CPU an output`,
      );
    }
  });
  console.log(
    `load average after ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

console.log(
  `${OUTPUTS} outputs (${ENDPOINTS} endpoints, shuffled by up to 8 places, bindings checked), stored from a backlog; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}\n`,
);
const rows = [];
for (const batch of BATCHES) {
  for (const streaks of [false, true]) {
    const r = await run(streaks, batch);
    rows.push({ batch, streaks, ...r });
    console.log(
      `batch ${String(batch).padStart(4)}, ${streaks ? 'streaks in mw_streaks' : 'no streaks          '}  ${r.perSec.toFixed(0).padStart(6)} outputs/s  ${r.cpuUs.toFixed(0).padStart(5)} µs CPU of this process an output`,
    );
  }
}
const base = rows[0];
if (rows.length > 2) {
  for (const streaks of [false, true]) {
    const [first, last] = [rows.find((r) => r.streaks === streaks), rows.findLast((r) => r.streaks === streaks)];
    console.log(
      `${streaks ? 'streaks   ' : 'no streaks'}: batch ${last.batch} / batch ${first.batch}: ${(last.perSec / first.perSec).toFixed(2)} x the outputs/s, ${(last.cpuUs / first.cpuUs).toFixed(2)} x the CPU an output`,
    );
  }
} else console.log(`ratio (streaks / no streaks)  ${(rows[1].perSec / base.perSec).toFixed(2)}`);
console.log(
  `load average after ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
