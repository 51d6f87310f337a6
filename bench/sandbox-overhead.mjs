// Per-window cost of running an app in the sandbox (data transfer, fresh context, call,
// result) against the same doTracking called in-process, in the same run; plus the fixed
// per-window overhead (an app that does nothing) and the time of a hot-reload swap.
//   node --no-node-snapshot bench/sandbox-overhead.mjs   (after `npx tsc -b`)
import { fileURLToPath } from 'node:url';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { bundlePlugin } from '../host/dist/plugins/index.js';
import { PluginSandbox } from '../host/dist/runner/index.js';
import { buildWindowData } from '../host/dist/runner/window-data.js';
import { createTestContext } from '../sdk/dist/testing.js';
import { referenceStatsMap } from '../sdk/dist/stats/index.js';

const ROWS = 10_000;
const FEATURES = 20;
const RUNS = 60;
const names = Array.from({ length: FEATURES }, (_, j) => `f${j}`);
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
const column = (shift) => Float64Array.from({ length: ROWS }, () => gauss() + shift);

// reference and window, as the runner builds them
const refCols = Object.fromEntries(names.map((n) => [n, Array.from(column(0))]));
const featureStats = referenceStatsMap(refCols);
const endpoint = { id: 'b'.repeat(40), name: 'bench', featureNames: names, labelNames: [], featureStats, monitoring: true, createdAt: 0, updatedAt: 0 };
const winCols = names.map(() => column(0.2));
const batch = { v: 1, ts: new Array(ROWS).fill(0), x: Array.from({ length: ROWS }, (_, i) => winCols.map((c) => c[i])), y: Array.from({ length: ROWS }, () => []), rid: new Array(ROWS).fill(null), lat: new Array(ROWS).fill(null) };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn, runs = RUNS) => {
  for (let i = 0; i < 5; i++) await fn(); // warm-up
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
};

const histogramDir = fileURLToPath(new URL('../plugins/histogram-data-drift/', import.meta.url));
const bundle = await bundlePlugin(histogramDir);
const data = buildWindowData([batch], endpoint);
const input = () => ({
  applicationName: 'histogram-data-drift',
  endpoint: { id: endpoint.id, name: 'bench', featureNames: names, labelNames: [] },
  windowStart: 0,
  windowEnd: 600_000,
  sample: data,
  sampleStats: data.sampleStats,
  featureStats,
  config: bundle.manifest.config,
});

// in-process: the same plugin source, bundled for Node, called with the same context
const nodeBundle = await esbuild.build({ entryPoints: [join(histogramDir, 'src/index.ts')], bundle: true, write: false, format: 'esm', platform: 'node' });
const mod = await import(`data:text/javascript;base64,${Buffer.from(nodeBundle.outputFiles[0].text).toString('base64')}`);
const App = mod.default;
const ctx = createTestContext({ sample: Object.fromEntries(names.map((n, j) => [n, winCols[j]])), reference: refCols, config: bundle.manifest.config });
const inProcess = await time(async () => {
  const out = await new App().doTracking(ctx);
  JSON.stringify(out);
});

const sb = new PluginSandbox({ name: 'histogram-data-drift', version: '1.0.0', code: bundle.code, limits: bundle.manifest.limits, sourceMap: bundle.map });
const sandboxed = await time(() => sb.run(input()));

// fixed overhead: an app that returns a constant, on the same 10k x 20 window
const dir = await mkdtemp(join(tmpdir(), 'mw-bench-'));
await mkdir(join(dir, 'src'));
await writeFile(join(dir, 'plugin.json'), JSON.stringify({ name: 'noop', version: '1.0.0', description: 'noop', entry: 'src/index.ts' }));
await writeFile(join(dir, 'src/index.ts'), "import { MonitoringApplication } from '@modelwatch/sdk';\nexport default class Noop extends MonitoringApplication { doTracking() { return { name: 'n', value: 1 }; } }\n");
const noop = await bundlePlugin(dir);
const noopSb = new PluginSandbox({ name: 'noop', version: '1.0.0', code: noop.code, limits: noop.manifest.limits });
const fixed = await time(() => noopSb.run(input()));
const tiny = { ...input(), sample: { length: 0, columns: [], numeric: [], packed: new Float64Array(0), strings: {}, requestIds: [], timed: true }, sampleStats: {}, featureStats: {} };
const fixedEmpty = await time(() => noopSb.run(tiny));

// hot reload: a new version = new isolate + compile + first window
const swap = await time(async () => {
  const next = new PluginSandbox({ name: 'histogram-data-drift', version: `1.0.${Math.random()}`, code: bundle.code, limits: bundle.manifest.limits });
  next.load();
  await next.run(tiny);
  next.dispose();
}, 30);

console.log(`window: ${ROWS} rows x ${FEATURES} numeric features, histogram-data-drift, median of ${RUNS} runs`);
console.log(`in-process doTracking            ${inProcess.toFixed(2)} ms`);
console.log(`sandboxed (transfer+context+call) ${sandboxed.toFixed(2)} ms`);
console.log(`ratio sandbox / in-process        ${(sandboxed / inProcess).toFixed(2)}  (target <= 1.5)`);
console.log(`fixed per-window overhead (noop app, same window)  ${fixed.toFixed(2)} ms  (target <= 2 ms)`);
console.log(`fixed per-window overhead (noop app, empty window) ${fixedEmpty.toFixed(2)} ms`);
console.log(`hot-reload swap (new isolate, compile, first window) ${swap.toFixed(2)} ms`);
sb.dispose();
noopSb.dispose();
