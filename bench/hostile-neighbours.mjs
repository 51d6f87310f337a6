// A well-behaved app next to hostile ones: how late its results are (stored - window end) with
// one-second windows, first alone (the baseline), then next to apps that loop, never settle,
// exhaust their heap, crash their runner and throw, on every window (none is quarantined, the
// worst case). The difference is the time its windows wait behind the hostile ones' windows and
// retries in the shared task queue, and the redelivery of the windows a crashed runner held.
// test/hostile.test.ts checks that every window is produced and correct; this measures when.
//
//   node --no-node-snapshot bench/hostile-neighbours.mjs [--windows N] [--runners N] [--concurrency N]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundlePlugin } from '../host/dist/plugins/bundle.js';
import { parseFlags } from './lib/flags.mjs';
import { startBenchHost } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/hostile-neighbours.mjs [--windows N] [--runners N] [--concurrency N]', {
  windows: { type: 'number', default: 8, describe: 'one-second windows measured, alone and then next to the hostile apps' },
  runners: { type: 'number', default: 2, describe: 'runner processes' },
  concurrency: { type: 'number', default: 4, describe: 'slots of each runner process' },
});
const WINDOWS = flags.windows;
const RUNNERS = flags.runners;
const CONCURRENCY = flags.concurrency;
const PERIOD = 1000;
const LATENESS = 200;

const GOOD = `doTracking(ctx) { return [{ name: 'rows', value: ctx.sample.length }]; }`;
const HOSTILE = {
  'sync-loop': ['for (;;) {}', { timeoutMs: 300, memoryMb: 32 }],
  'never-settles': ['await new Promise(() => {});', { timeoutMs: 300, memoryMb: 32 }],
  'heap-exhaustion': ['const a = []; for (;;) a.push(new Array(1e5).fill(1.5));', { timeoutMs: 10000, memoryMb: 32 }],
  'catastrophic-oom': ['const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });', { timeoutMs: 10000, memoryMb: 32 }],
  throws: ['throw new Error("no");', { timeoutMs: 300, memoryMb: 32 }],
};

function pluginDir(name, method, limits) {
  const d = join(dir, 'plugins', name);
  mkdirSync(join(d, 'src'), { recursive: true });
  writeFileSync(join(d, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', description: name, entry: 'src/index.ts', limits }));
  writeFileSync(
    join(d, 'src/index.ts'),
    `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class A extends MonitoringApplication {\n  // eslint-disable-next-line\n  ${method.replace('doTracking(ctx)', 'doTracking(ctx: MonitoringContext): any')}\n}\n`,
  );
  return d;
}

const bench = await startBenchHost('hostile', {
  runners: RUNNERS,
  runnerConcurrency: CONCURRENCY,
  basePeriod: PERIOD,
  allowedLateness: LATENESS,
  windowAttempts: 2,
  quarantineAfter: 1_000_000,
});
const { client, dir } = bench;
const publish = async (d) => {
  const b = await bundlePlugin(d);
  await client.publishPlugin({ manifest: b.manifest, code: b.code, map: b.map });
};
await publish(pluginDir('good', GOOD, { timeoutMs: 2000, memoryMb: 32 }));
await client.createEndpoint({ name: 'target', featureNames: ['x'], labelNames: ['y'] });

/** Traffic in WINDOWS windows; the good app's lateness in each, once every one is stored. */
async function phase() {
  const first = Math.ceil((Date.now() + 500) / PERIOD) * PERIOD;
  const starts = Array.from({ length: WINDOWS }, (_, i) => first + i * PERIOD);
  for (const ws of starts) {
    await new Promise((r) => setTimeout(r, Math.max(0, ws - Date.now())));
    await client.sendEvents(
      'target',
      Array.from({ length: 20 }, (_, i) => ({ when: ws + i * 10, inputs: [[i]], outputs: [0] })),
    );
  }
  for (;;) {
    const ws = (await client.results({ endpoint: 'target', app: 'good', limit: 100_000 })).filter((w) => starts.includes(w.windowStart));
    if (ws.length === starts.length) return ws.map((w) => w.storedAt - w.windowEnd).sort((a, b) => a - b);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)];

const alone = await phase();
for (const [name, [body, limits]] of Object.entries(HOSTILE)) {
  await publish(pluginDir(name, `async doTracking(ctx) { if (ctx.sample.length === 0) return []; ${body} }`, limits));
}
const crowded = await phase();
console.log(`${WINDOWS} one-second windows, ${RUNNERS} runners x ${CONCURRENCY}; lateness of the good app's results = stored - window end\n`);
console.log(`alone                       p50 ${q(alone, 0.5)} ms  max ${alone.at(-1)} ms`);
console.log(`next to ${Object.keys(HOSTILE).length} hostile apps      p50 ${q(crowded, 0.5)} ms  max ${crowded.at(-1)} ms`);
console.log(`ratio (hostile / alone)     p50 ${(q(crowded, 0.5) / q(alone, 0.5)).toFixed(1)}x  max ${(crowded.at(-1) / alone.at(-1)).toFixed(1)}x`);
await bench.stop();
