// Writer throughput: outputs stored per second from a backlog in MW_OUTPUTS (20 endpoints x 1
// app, one-second windows, 1 result each, a fifth of them empty), with the failure streaks kept
// in KV mw_streaks (one compare-and-set per output) against a writer that keeps none (the
// baseline), each on its own nats-server and LevelDB, in this process. The outputs come in
// shuffled window order, as from concurrent runners.
//
//   node --no-node-snapshot bench/writer-throughput.mjs [--outputs N]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { join } from 'node:path';
import { createLogger } from '../host/dist/logger.js';
import { openBuckets } from '../host/dist/nats/topology.js';
import { ResultsDb } from '../host/dist/store/results-db.js';
import { Writer } from '../host/dist/writer/writer.js';
import { benchOutputs } from './lib/outputs.mjs';
import { arg, publishOutputs, withNats } from './lib/setup.mjs';

const OUTPUTS = arg('--outputs', 10_000);
const ENDPOINTS = 20;
const { outputs, uniform } = benchOutputs(OUTPUTS, ENDPOINTS);
// concurrent runners: each output up to 8 places from its place in window order
for (let i = 0; i < outputs.length; i++) {
  const j = Math.min(outputs.length - 1, i + Math.floor(uniform() * 8));
  [outputs[i], outputs[j]] = [outputs[j], outputs[i]];
}

function run(withStreaks) {
  return withNats('writer', async ({ nc, js, dir }) => {
    const buckets = await openBuckets(nc);
    const now = Date.now();
    await buckets.plugins.put(
      'bench',
      JSON.stringify({ name: 'bench', activeVersion: '1.0.0', status: 'active', createdAt: now, updatedAt: now, versions: [] }),
    );
    await publishOutputs(js, outputs);
    const db = new ResultsDb(join(dir, 'results'));
    await db.open();
    const writer = new Writer({
      nc,
      js,
      db,
      logger: createLogger('error'),
      pluginsKv: buckets.plugins,
      ...(withStreaks ? { streaksKv: buckets.streaks } : {}),
      quarantineAfter: 5,
    });
    const t = performance.now();
    await writer.start();
    while (writer.stored < OUTPUTS) await new Promise((r) => setTimeout(r, 20));
    const seconds = (performance.now() - t) / 1000;
    await writer.stop();
    await db.close();
    return OUTPUTS / seconds;
  });
}

const baseline = await run(false);
const streaks = await run(true);
console.log(`${OUTPUTS} outputs (${ENDPOINTS} endpoints, shuffled by up to 8 places), stored from a backlog\n`);
console.log(`writer, no streaks (baseline)    ${baseline.toFixed(0)} outputs/s`);
console.log(`writer, streaks in mw_streaks    ${streaks.toFixed(0)} outputs/s`);
console.log(`ratio (streaks / baseline)       ${(streaks / baseline).toFixed(2)}`);
