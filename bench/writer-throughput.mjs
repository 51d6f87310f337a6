// Writer throughput: outputs stored per second from a backlog in MW_OUTPUTS (20 endpoints x 1
// app, one-second windows, 1 result each, a fifth of them empty), with the failure streaks kept
// in KV mw_streaks (one compare-and-set per output) against a writer that keeps none (the
// baseline), each on its own nats-server and LevelDB, in this process. The outputs come in
// shuffled window order, as from concurrent runners.
//
//   node --no-node-snapshot bench/writer-throughput.mjs [--outputs N]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { benchOutputs } from './lib/outputs.mjs';
import { arg, withNats } from './lib/setup.mjs';
import { timeWriter } from './lib/writer.mjs';

const OUTPUTS = arg('--outputs', 10_000);
const ENDPOINTS = 20;
const { outputs, uniform } = benchOutputs(OUTPUTS, ENDPOINTS);
// concurrent runners: each output up to 8 places from its place in window order
for (let i = 0; i < outputs.length; i++) {
  const j = Math.min(outputs.length - 1, i + Math.floor(uniform() * 8));
  [outputs[i], outputs[j]] = [outputs[j], outputs[i]];
}

function run(withStreaks) {
  return withNats('writer', async (env) => OUTPUTS / (await timeWriter(env, outputs, { streaks: withStreaks })));
}

const baseline = await run(false);
const streaks = await run(true);
console.log(`${OUTPUTS} outputs (${ENDPOINTS} endpoints, shuffled by up to 8 places), stored from a backlog\n`);
console.log(`writer, no streaks (baseline)    ${baseline.toFixed(0)} outputs/s`);
console.log(`writer, streaks in mw_streaks    ${streaks.toFixed(0)} outputs/s`);
console.log(`ratio (streaks / baseline)       ${(streaks / baseline).toFixed(2)}`);
