// Per-window cost of running an app in the sandbox (data transfer, a fresh module instance in a
// pristine realm, call, result) against the same doTracking called in-process, in the same run;
// plus the fixed per-window overhead (an app that does nothing), the cost of moving the rows in,
// and the time of a hot-reload swap.
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
import { parseFlags } from './lib/flags.mjs';

// no flags: --help prints what it measures, an unknown flag is refused
parseFlags('node --no-node-snapshot bench/sandbox-overhead.mjs', {});

const ROWS = 10_000;
const FEATURES = 20;
const RUNS = 60;
const names = Array.from({ length: FEATURES }, (_, j) => `f${j}`);
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
const column = (shift) => Float64Array.from({ length: ROWS }, () => gauss() + shift);

// reference and window, as the runner builds them
const refCols = Object.fromEntries(names.map((n) => [n, Array.from(column(0))]));
const featureStats = referenceStatsMap(refCols);
const endpoint = { id: 'b'.repeat(40), name: 'bench', featureNames: names, labelNames: [], featureStats, monitoring: true, createdAt: 0, updatedAt: 0 };
const winCols = names.map(() => column(0.2));
const batch = {
  v: 1,
  ts: new Array(ROWS).fill(0),
  x: Array.from({ length: ROWS }, (_, i) => winCols.map((c) => c[i])),
  y: Array.from({ length: ROWS }, () => []),
  rid: new Array(ROWS).fill(null),
  lat: new Array(ROWS).fill(null),
};

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

/** A plugin folder with `source` as its src/index.ts, bundled as `modelwatch plugin publish` would; a sandbox of it. */
async function benchPlugin(name, source) {
  const dir = await mkdtemp(join(tmpdir(), `mw-bench-${name}-`));
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', description: 'bench', entry: 'src/index.ts' }));
  await writeFile(join(dir, 'src/index.ts'), source);
  const bundle = await bundlePlugin(dir);
  return { dir, bundle, sandbox: PluginSandbox.fromBundle(bundle) };
}

const histogramDir = fileURLToPath(new URL('../plugins/histogram-data-drift/', import.meta.url));
const bundle = await bundlePlugin(histogramDir);
const data = buildWindowData([batch], endpoint);
const input = () => ({
  applicationName: 'histogram-data-drift',
  endpoint: { id: endpoint.id, name: 'bench', featureNames: names, labelNames: [] },
  windowStart: 0,
  windowEnd: 600_000,
  sample: data,
  // a new object every window, as the runner's (its JSON is made once per window, for all apps)
  sampleStats: { ...data.sampleStats },
  featureStats,
  config: bundle.manifest.config,
});

// A histogram-style app that does its own work on the raw columns: counts every value of every
// feature on the reference's bins (binary search), then TVD and Hellinger per feature.
const style = await benchPlugin(
  'histogram-style',
  `import { MonitoringApplication, ResultKind, ResultStatus, type MonitoringContext } from '@modelwatch/sdk';
export default class HistogramStyle extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    let tvdSum = 0, hSum = 0, k = 0;
    for (const name of ctx.endpoint.featureNames) {
      const ref = ctx.featureStats[name];
      if (!ref || ref.type !== 'numeric') continue;
      const edges = ref.hist.edges, refCounts = ref.hist.counts;
      const x = ctx.sample.column(name) as Float64Array;
      const counts = new Float64Array(refCounts.length);
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        let lo = 0, hi = edges.length - 1;
        while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (edges[mid]! <= v) lo = mid; else hi = mid; }
        counts[lo]!++;
      }
      let rs = 0, ws = 0;
      for (let j = 0; j < counts.length; j++) { rs += refCounts[j]!; ws += counts[j]!; }
      let tvd = 0, bc = 0;
      for (let j = 0; j < counts.length; j++) { const p = refCounts[j]! / rs, q = counts[j]! / ws; tvd += Math.abs(p - q); bc += Math.sqrt(p * q); }
      tvdSum += tvd / 2; hSum += Math.sqrt(Math.max(1 - bc, 0)); k++;
    }
    const drift = (tvdSum + hSum) / (2 * k);
    return [{ name: 'drift', value: drift, kind: ResultKind.DataDrift, status: drift > 0.5 ? ResultStatus.Detected : ResultStatus.NoDetection }];
  }
}
`,
);

// in-process: the same plugin source, bundled for Node, called with the same context
const inProcessOf = async (dir) => {
  const b = await esbuild.build({
    entryPoints: [join(dir, 'src/index.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    nodePaths: [fileURLToPath(new URL('../node_modules', import.meta.url))],
  });
  const mod = await import(`data:text/javascript;base64,${Buffer.from(b.outputFiles[0].text).toString('base64')}`);
  return mod.default;
};
const ctx = createTestContext({ sample: Object.fromEntries(names.map((n, j) => [n, winCols[j]])), reference: refCols, config: bundle.manifest.config });
const StyleApp = await inProcessOf(style.dir);
const inProcess = await time(async () => JSON.stringify(await new StyleApp().doTracking(ctx)));
// what an in-process host would do per window: a new context (new sample object and accessors)
// around the window's columns, then the call; the data is not copied
const perWindowCtx = () => {
  const cols = new Map(names.map((n, j) => [n, winCols[j]]));
  return { ...ctx, sample: { ...ctx.sample, has: (n) => cols.has(n), column: (n) => cols.get(n) } };
};
const inProcessFresh = await time(async () => JSON.stringify(await new StyleApp().doTracking(perWindowCtx())));
const sb = style.sandbox;
const sandboxed = await time(() => sb.run(input()));
const warmSb = PluginSandbox.fromBundle(style.bundle, { isolation: 'version' });
const sandboxedWarm = await time(() => warmSb.run(input()));

// the built-in MLRun app (its work is on the precomputed window statistics)
const MlrunApp = await inProcessOf(histogramDir);
// each call a window of its own: the app logs its drift table once per window (ctx.logArtifact)
const mlrunInProcess = await time(async () => JSON.stringify(await new MlrunApp().doTracking({ ...ctx, logArtifact: () => undefined })));
const mlrunSb = PluginSandbox.fromBundle(bundle);
const mlrunSandboxed = await time(() => mlrunSb.run(input()));

// fixed overhead: an app that returns a constant, on the same 10k x 20 window
const { sandbox: noopSb } = await benchPlugin(
  'noop',
  "import { MonitoringApplication } from '@modelwatch/sdk';\nexport default class Noop extends MonitoringApplication { doTracking() { return { name: 'n', value: 1 }; } }\n",
);
const fixed = await time(() => noopSb.run(input()));
// the rows moved in: an app that reads every column and does nothing with them
const { sandbox: touchSb } = await benchPlugin(
  'touch',
  "import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class Touch extends MonitoringApplication { doTracking(ctx: MonitoringContext) { let s = 0; for (const n of ctx.endpoint.featureNames) s += (ctx.sample.column(n) as Float64Array).length; return { name: 'n', value: s }; } }\n",
);
const touched = await time(() => touchSb.run(input()));
const tiny = {
  ...input(),
  sample: { length: 0, columns: [], numeric: [], packed: new Float64Array(0), strings: {}, requestIds: [], timed: true },
  sampleStats: {},
  featureStats: {},
};
const fixedEmpty = await time(() => noopSb.run(tiny));

// hot reload: a new version = new isolate + compile + first window
const swap = await time(async () => {
  const next = new PluginSandbox({ name: 'histogram-data-drift', version: `1.0.${Math.random()}`, code: bundle.code, limits: bundle.manifest.limits });
  next.load();
  await next.run(tiny);
  next.dispose();
}, 30);

console.log(`window: ${ROWS} rows x ${FEATURES} numeric features, median of ${RUNS} runs`);
console.log(`histogram-style app (counts the raw values):`);
console.log(`  in-process doTracking, same context every call  ${inProcess.toFixed(2)} ms`);
console.log(`  in-process doTracking, a new context per window ${inProcessFresh.toFixed(2)} ms`);
console.log(`  sandboxed (realm check+module+transfer+call) ${sandboxed.toFixed(2)} ms (${sb.contextsCreated} context for ${RUNS + 5} windows)`);
console.log(`  ratio sandbox / in-process        ${(sandboxed / inProcess).toFixed(2)}  (target <= 1.5)`);
console.log(`  sandboxed, "isolation": "version" (context kept, JIT warm) ${sandboxedWarm.toFixed(2)} ms, ratio ${(sandboxedWarm / inProcess).toFixed(2)}`);
console.log(`histogram-data-drift (works on the precomputed window statistics):`);
console.log(`  in-process ${mlrunInProcess.toFixed(2)} ms, sandboxed ${mlrunSandboxed.toFixed(2)} ms`);
console.log(`fixed per-window overhead (noop app, same window)  ${fixed.toFixed(2)} ms  (target <= 2 ms)`);
console.log(`fixed per-window overhead (noop app, empty window) ${fixedEmpty.toFixed(2)} ms`);
console.log(`an app that reads every column and nothing else    ${touched.toFixed(2)} ms  (the rows moved in: ${(touched - fixed).toFixed(2)} ms)`);
console.log(`hot-reload swap (new isolate, compile, first window) ${swap.toFixed(2)} ms`);
sb.dispose();
warmSb.dispose();
mlrunSb.dispose();
noopSb.dispose();
touchSb.dispose();
