// Per-window cost of the drift app in the sandbox: a window of 1,000 rows x 20 numeric features
// against references of 1,000 and 10,000 rows, the input built as `modelwatch plugin test`
// builds it (localInput) and run in one kept PluginSandbox, as a runner runs a plugin version.
// Baselines in the same run, on the same windows: the same app called in process (its module
// bundled for Node, the context built by @modelwatch/sdk/testing), an app that only reads the
// window and the reference (the floor of any app that works on raw rows), and data-drift
// (Evidently's tests). Also the first window of an endpoint, which builds the reference model
// and its nulls.
//   npx tsc -b && node --no-node-snapshot bench/drift-cost.mjs
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePlugin } from '../host/dist/plugins/index.js';
import { PluginSandbox } from '../host/dist/runner/index.js';
import { localInput } from '../host/dist/runner/local.js';
import * as esbuild from 'esbuild';
import { createRandom } from '../sdk/dist/stats/index.js';
import { createTestContext } from '../sdk/dist/testing.js';
import { parseFlags } from './lib/flags.mjs';

// no flags: --help prints what it measures, an unknown flag is refused
parseFlags('node --no-node-snapshot bench/drift-cost.mjs', {});

const ROWS = 1000;
const FEATURES = 20;
const RUNS = 40;
const names = Array.from({ length: FEATURES }, (_, j) => `f${j}`);
const r = createRandom(1);
const table = (n, shift = 0) => ({
  columns: names,
  rows: n,
  values: Object.fromEntries(names.map((f, j) => [f, Array.from({ length: n }, () => r.normal() * (1 + j / 10) + shift)])),
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn, runs = RUNS) {
  for (let i = 0; i < 3; i++) await fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

const dir = await mkdtemp(join(tmpdir(), 'mw-bench-reader-'));
await mkdir(join(dir, 'src'));
await writeFile(
  join(dir, 'plugin.json'),
  JSON.stringify({ name: 'reader', version: '1.0.0', description: 'bench', entry: 'src/index.ts', referenceRows: true, isolation: 'version' }),
);
await writeFile(
  join(dir, 'src/index.ts'),
  `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';
export default class Reader extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    let s = 0;
    for (const n of ctx.endpoint.featureNames) s += (ctx.sample.column(n) as Float64Array)[0]! + (ctx.reference!.column(n) as Float64Array)[0]!;
    return { name: 'n', value: s };
  }
}
`,
);
const bundles = {
  reader: await bundlePlugin(dir),
  drift: await bundlePlugin(fileURLToPath(new URL('../plugins/drift/', import.meta.url))),
  'data-drift': await bundlePlugin(fileURLToPath(new URL('../plugins/data-drift/', import.meta.url))),
};

// the drift app bundled for Node, to call in process
const built = await esbuild.build({
  entryPoints: [fileURLToPath(new URL('../plugins/drift/src/index.ts', import.meta.url))],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'node',
  nodePaths: [fileURLToPath(new URL('../node_modules', import.meta.url))],
});
const InProcessDrift = (await import(`data:text/javascript;base64,${Buffer.from(built.outputFiles[0].text).toString('base64')}`)).default;

console.log(`window: ${ROWS} rows x ${FEATURES} numeric features, median of ${RUNS} runs, in the sandbox (kept, as a runner keeps a version's)`);
for (const refRows of [1000, 10_000]) {
  const reference = table(refRows);
  // inputs built once, outside the timings (the runner computes a window's statistics once for all apps)
  const samples = [table(ROWS), table(ROWS, 0.05), table(ROWS, 0.2)];
  const inputs = samples.map((sample) => localInput(bundles.drift, { sample, reference }));
  const contexts = samples.map((sample) => createTestContext({ sample: sample.values, reference: reference.values, config: bundles.drift.manifest.config }));
  let c = 0;
  let w = 0;
  const input = (app) => ({ ...inputs[w++ % inputs.length], applicationName: app, config: bundles[app].manifest.config });
  const sandboxes = Object.fromEntries(Object.entries(bundles).map(([k, b]) => [k, PluginSandbox.fromBundle(b)]));
  // the first window of an endpoint: a new sandbox, the reference model and the nulls built
  const first = [];
  for (let i = 0; i < 3; i++) {
    const sb = PluginSandbox.fromBundle(bundles.drift);
    const inp = { ...localInput(bundles.drift, { sample: table(ROWS), reference: table(refRows) }), applicationName: 'drift' };
    const t0 = performance.now();
    await sb.run(inp);
    first.push(performance.now() - t0);
    sb.dispose();
  }
  const reader = await time(() => sandboxes.reader.run(input('reader')));
  const drift = await time(() => sandboxes.drift.run(input('drift')));
  const dataDrift = await time(() => sandboxes['data-drift'].run(input('data-drift')), 10);
  const inProcess = await time(() => JSON.stringify(new InProcessDrift().doTracking(contexts[c++ % contexts.length])));
  console.log(`reference of ${refRows} rows:`);
  console.log(`  drift, a window (reference model kept)         ${drift.toFixed(2)} ms  (target <= 20 ms)`);
  console.log(`  the same, called in process                    ${inProcess.toFixed(2)} ms  (ratio sandbox / in process ${(drift / inProcess).toFixed(2)})`);
  console.log(`  an app that reads the window and the reference ${reader.toFixed(2)} ms  (baseline; ratio drift / baseline ${(drift / reader).toFixed(2)})`);
  console.log(`  data-drift (Evidently's tests), a window       ${dataDrift.toFixed(2)} ms  (ratio drift / data-drift ${(drift / dataDrift).toFixed(2)})`);
  console.log(
    `  drift, the first window of an endpoint         ${median(first).toFixed(2)} ms  (new sandbox, reference model and the nulls of two sizes built)`,
  );
  for (const sb of Object.values(sandboxes)) sb.dispose();
}
