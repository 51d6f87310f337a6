// The writer benches' run: the host's Writer on the bench's nats-server (`withNats`) and a LevelDB
// in its temp dir, storing a backlog of app outputs of plugin `bench` published to MW_OUTPUTS,
// timed from its start until it has stored them all.
import { join } from 'node:path';
import { createLogger } from '../../host/dist/logger.js';
import { openBuckets } from '../../host/dist/nats/topology.js';
import { ResultsDb } from '../../host/dist/store/results-db.js';
import { Writer } from '../../host/dist/writer/writer.js';
import { publishOutputs } from './setup.mjs';

/**
 * Seconds one writer takes to store `outputs`, and the CPU time of this process an output (µs);
 * `streaks`: it keeps failure streaks in KV mw_streaks; `bindingKey`: it checks the outputs'
 * bindings; `batchSize`: outputs stored in one LevelDB batch (the writer's default if not given).
 */
export async function timeWriter({ nc, js, dir }, outputs, { streaks = false, bindingKey, batchSize } = {}) {
  const buckets = await openBuckets(nc);
  const now = Date.now();
  await buckets.plugins.put('bench', JSON.stringify({ name: 'bench', activeVersion: '1.0.0', status: 'active', createdAt: now, updatedAt: now, versions: [] }));
  await publishOutputs(js, outputs);
  const db = new ResultsDb(join(dir, 'results'));
  await db.open();
  const writer = new Writer({
    nc,
    js,
    db,
    logger: createLogger('error'),
    pluginsKv: buckets.plugins,
    ...(streaks ? { streaksKv: buckets.streaks } : {}),
    quarantineAfter: 5,
    ...(bindingKey ? { bindingKey } : {}),
    ...(batchSize ? { batchSize } : {}),
  });
  const cpu = process.cpuUsage();
  const t = performance.now();
  await writer.start();
  while (writer.stored < outputs.length) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  await writer.stop();
  await db.close();
  return { seconds, cpuUs: (used.user + used.system) / outputs.length };
}
