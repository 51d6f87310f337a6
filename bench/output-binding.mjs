// The writer's cost of output binding: outputs stored per second from a backlog in MW_OUTPUTS
// (20 endpoints x 1 app, one-second windows, 1 result each, a fifth of them empty), by a writer
// that verifies each output's binding (HMAC-SHA256, domain/binding.ts) against one that checks
// nothing (the baseline), each on its own nats-server and LevelDB, in this process, without
// failure streaks (so the check is a larger share of the work). Runs alternate (baseline,
// binding, then binding, baseline, ...) so machine load and the disk work a run leaves behind
// hit both alike.
//
//   node --no-node-snapshot bench/output-binding.mjs [--outputs N] [--rounds R]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Subjects } from '@modelwatch/protocol';
import { bindingKeyObject, newBindingKey, outputBinding, outputMsgId, verifyBinding } from '../host/dist/domain/binding.js';
import { createLogger } from '../host/dist/logger.js';
import { jsonCodec } from '../host/dist/nats/codec.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { ensureTopology } from '../host/dist/nats/topology.js';
import { ResultsDb } from '../host/dist/store/results-db.js';
import { benchOutputs } from './lib/outputs.mjs';
import { Writer } from '../host/dist/writer/writer.js';
import { parseFlags } from './lib/flags.mjs';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/output-binding.mjs [--outputs N] [--rounds R]', {
  outputs: { type: 'number', default: 10_000, describe: 'app outputs of the backlog (20 endpoints x 1 app, 1 result each, a fifth empty)' },
  rounds: { type: 'number', default: 4, describe: 'runs of each writer (baseline and binding, alternating)' },
});
const OUTPUTS = flags.outputs;
const ROUNDS = flags.rounds;
// as the host holds it: imported once as a secret key object
const KEY = bindingKeyObject(newBindingKey());
const ENDPOINTS = 20;
const { outputs } = benchOutputs(OUTPUTS, ENDPOINTS);

async function run(withBinding) {
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-binding-'));
  const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  await ensureTopology(nc, await jetstreamManager(nc), { retentionMs: 7 * 86_400_000 });
  await Promise.all(
    outputs.map((o) => {
      // as the runner publishes it: the task's binding in the output and in the message id
      const binding = withBinding ? outputBinding(KEY, o) : undefined;
      return js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(binding ? { ...o, binding } : o), { msgID: outputMsgId(o, binding) });
    }),
  );
  const db = new ResultsDb(join(dir, 'results'));
  await db.open();
  const writer = new Writer({ nc, js, db, logger: createLogger('error'), ...(withBinding ? { bindingKey: KEY } : {}) });
  const t = performance.now();
  await writer.start();
  while (writer.stored < OUTPUTS) {
    if (writer.refused > 0) throw new Error(`${writer.refused} outputs refused: the bench's bindings do not verify`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t) / 1000;
  await writer.stop();
  await db.close();
  await nc.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
  return OUTPUTS / seconds;
}

// the cost of the check alone, in this process: one HMAC and a constant-time compare per output
const bound = outputs.map((o) => ({ ...o, binding: outputBinding(KEY, o) }));
let t = performance.now();
for (const o of bound) if (!verifyBinding(KEY, o, o.binding)) throw new Error('does not verify');
const verifyUs = ((performance.now() - t) * 1000) / bound.length;

const base = [];
const bind = [];
for (let r = 0; r < ROUNDS; r++) {
  // which goes first alternates too: a run pays for the disk work the one before it left
  if (r % 2 === 0) {
    base.push(await run(false));
    bind.push(await run(true));
  } else {
    bind.push(await run(true));
    base.push(await run(false));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${OUTPUTS} outputs (${ENDPOINTS} endpoints), stored from a backlog, ${ROUNDS} rounds alternating\n`);
console.log(`writer, no binding (baseline)   ${base.map((x) => x.toFixed(0)).join(' / ')} outputs/s`);
console.log(`writer, binding verified        ${bind.map((x) => x.toFixed(0)).join(' / ')} outputs/s`);
console.log(`ratio of medians (binding / baseline)  ${(median(bind) / median(base)).toFixed(2)}`);
console.log(`verifyBinding alone             ${verifyUs.toFixed(1)} µs per output`);
