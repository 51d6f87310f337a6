// Histogram data drift over a window of 100,000 rows x 20 numeric features: the built-in
// histogram-data-drift app run in the isolated-vm sandbox, against the same computation in
// numpy (as MLRun does it: np.histogram on the reference edges, then the formulas), timed in
// a python subprocess in the same run on the same data. Median of warm runs.
//
//   cd /work/main && npx tsc -b && node --no-node-snapshot bench/histogram-vs-numpy.mjs
//
// numpy side: np.histogram(column, bins=reference edges) per feature + the distances.
// modelwatch side, three ways:
//   computation     the window counted on the reference's 22 bins per feature (what the host's
//                   window statistics do, SDK `histogram`) + the app's doTracking in process
//   in the sandbox  the same histograms + the sandboxed run (the window's columns copied into a
//                   fresh isolated-vm context, doTracking, the output back): what a window costs
//   full stats      the whole window statistics the host builds (SDK `windowStats`: count,
//                   mean, std, min, max, quartiles, histogram) + the sandboxed run, vs the same
//                   summary in numpy (MLRun's sample statistics hold it too)
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { bundlePlugin } from '../host/dist/plugins/index.js';
import { PluginSandbox } from '../host/dist/runner/index.js';
import { histogram, referenceStats, windowStats } from '../sdk/dist/stats/index.js';
import { parseFlags } from './lib/flags.mjs';

// no flags: --help prints what it measures, an unknown flag is refused
parseFlags('node --no-node-snapshot bench/histogram-vs-numpy.mjs', {});

const ROWS = 100_000;
const FEATURES = 20;
const REFERENCE_ROWS = 10_000;
const RUNS = Number(process.env.RUNS ?? 15);

// deterministic data: features of different shapes, the window drifted in half of them
let seed = 12345;
const uniform = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
const draw = (j, n, drift) => {
  const out = new Float64Array(n);
  const shift = drift && j % 2 === 0 ? 0.3 : 0;
  for (let i = 0; i < n; i++) {
    const kind = j % 4;
    out[i] =
      kind === 0 ? gauss() + shift : kind === 1 ? Math.exp(gauss() * 0.5 + shift) : kind === 2 ? uniform() * 10 + shift : Math.floor(uniform() * 8 + shift * 3);
  }
  return out;
};
const names = Array.from({ length: FEATURES }, (_, j) => `f${j}`);
const featureStats = Object.fromEntries(names.map((n, j) => [n, referenceStats(draw(j, REFERENCE_ROWS, false))]));
const columns = names.map((_, j) => draw(j, ROWS, true));
const packed = new Float64Array((FEATURES + 2) * ROWS); // numeric columns, then timestamps and latencies (NaN)
columns.forEach((c, j) => packed.set(c, j * ROWS));
packed.fill(0, FEATURES * ROWS, (FEATURES + 1) * ROWS);
packed.fill(NaN, (FEATURES + 1) * ROWS);

const histogramDir = fileURLToPath(new URL('../plugins/histogram-data-drift/', import.meta.url));
const bundle = await bundlePlugin(histogramDir);
const sandbox = PluginSandbox.fromBundle(bundle);
const input = (sampleStats) => ({
  applicationName: 'histogram-data-drift',
  endpoint: { id: 'b'.repeat(40), name: 'bench', featureNames: names, labelNames: [] },
  windowStart: 0,
  windowEnd: 600_000,
  sample: { length: ROWS, columns: names, numeric: names, packed, strings: {}, requestIds: new Array(ROWS).fill(null), timed: true },
  sampleStats,
  featureStats,
  config: bundle.manifest.config,
});

/** The window counted on the reference bins, as the host's window statistics hold it (SDK `histogram`). */
function windowHistograms() {
  const sampleStats = {};
  names.forEach((n, j) => {
    const edges = featureStats[n].hist.edges;
    sampleStats[n] = { type: 'numeric', hist: { counts: histogram(columns[j], edges), edges } };
  });
  return sampleStats;
}

// the same app in process (bundled for node), for the cost of the computation alone
const nodeBundle = await esbuild.build({
  entryPoints: [join(histogramDir, 'src/index.ts')],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'node',
  logLevel: 'silent',
});
const App = (await import(`data:text/javascript;base64,${Buffer.from(nodeBundle.outputFiles[0].text).toString('base64')}`)).default;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
function inProcessDrift() {
  const ctx = {
    applicationName: 'histogram-data-drift',
    endpoint: { id: 'b'.repeat(40), name: 'bench', featureNames: names, labelNames: [] },
    windowStart: new Date(0),
    windowEnd: new Date(600_000),
    sample: { length: ROWS, columns: names, has: (n) => names.includes(n) },
    sampleStats: windowHistograms(),
    featureStats,
    config: bundle.manifest.config,
    logger: quiet,
  };
  return JSON.parse(JSON.stringify(new App().doTracking(ctx)));
}

/** Histogram drift: the window histograms, then the sandboxed app. */
async function histogramDrift() {
  return JSON.parse(await sandbox.run(input(windowHistograms())));
}

/** The full window statistics the host builds, then the sandboxed app. */
async function fullDrift() {
  const sampleStats = {};
  names.forEach((n, j) => (sampleStats[n] = windowStats(columns[j], featureStats[n])));
  return JSON.parse(await sandbox.run(input(sampleStats)));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
async function times(fn, runs) {
  for (let i = 0; i < 3; i++) await fn(); // warm-up: compile, JIT, isolate
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return t;
}

// the same window and reference histograms for numpy
const dir = await mkdtemp(join(tmpdir(), 'mw-bench-numpy-'));
try {
  await writeFile(join(dir, 'window.f64'), new Uint8Array(packed.buffer, 0, FEATURES * ROWS * 8));
  const reference = names.map((n) => ({ counts: featureStats[n].hist.counts, edges: featureStats[n].hist.edges }));
  await writeFile(join(dir, 'meta.json'), JSON.stringify({ rows: ROWS, features: FEATURES, reference }));

  // rounds alternate between node and python, so that other load on the machine hits both alike
  const ROUNDS = 3;
  const per = Math.max(3, Math.round(RUNS / ROUNDS));
  const js = { total: [], hist: [], sandbox: [], full: [], inProcess: [] };
  const py = { histogram: [], full: [] };
  let np;
  const stats = windowHistograms();
  for (let r = 0; r < ROUNDS; r++) {
    js.total.push(...(await times(histogramDrift, per)));
    js.inProcess.push(...(await times(inProcessDrift, per)));
    js.hist.push(...(await times(windowHistograms, per)));
    js.sandbox.push(...(await times(() => sandbox.run(input(stats)), per)));
    js.full.push(...(await times(fullDrift, Math.max(3, Math.round(per / 2)))));
    const run = spawnSync('python3', [fileURLToPath(new URL('./histogram_numpy.py', import.meta.url)), dir, String(per)], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
    np = JSON.parse(run.stdout.trim().split('\n').pop());
    py.histogram.push(...np.histogramTimes);
    py.full.push(...np.fullTimes);
  }
  const output = await histogramDrift();
  const jsHistogram = median(js.total);
  const npHistogram = median(py.histogram);

  const general = output.find((o) => o.name === 'general_drift');
  const metric = (name) => output.find((o) => o.name === name).value;
  const rel = (a, b) => (a === b ? 0 : Math.abs(a - b) / Math.abs(b));
  const diff = Math.max(
    rel(general.value, np.result.general_drift),
    rel(metric('hellinger_mean'), np.result.hellinger_mean),
    rel(metric('tvd_mean'), np.result.tvd_mean),
    rel(metric('kld_mean'), np.result.kld_mean),
  );
  const ms = (x) => `${x.toFixed(2)} ms`;
  console.log(
    `window ${ROWS.toLocaleString('en')} rows x ${FEATURES} features (reference ${REFERENCE_ROWS.toLocaleString('en')} rows); medians of ${js.total.length} warm runs, ${ROUNDS} alternating rounds; node ${process.version}, numpy ${np.numpy}`,
  );
  const jsInProcess = median(js.inProcess);
  console.log(
    `computation       modelwatch ${ms(jsInProcess)} (window histograms + the app's formulas, in process)   numpy ${ms(npHistogram)}   ratio modelwatch / numpy = ${(jsInProcess / npHistogram).toFixed(2)}`,
  );
  console.log(
    `in the sandbox    modelwatch ${ms(jsHistogram)} (window histograms ${ms(median(js.hist))} + sandbox run ${ms(median(js.sandbox))}: a fresh module in a pristine realm, the statistics in, the app, the output back)   numpy ${ms(npHistogram)}   ratio = ${(jsHistogram / npHistogram).toFixed(2)}`,
  );
  console.log(
    `with full stats   modelwatch ${ms(median(js.full))}   numpy ${ms(median(py.full))}   ratio = ${(median(js.full) / median(py.full)).toFixed(2)}   (count, mean, std, min, max, quartiles, histogram per feature)`,
  );
  console.log(`general_drift: sandbox ${general.value}, numpy ${np.result.general_drift} (max relative difference of the 4 numbers: ${diff.toExponential(2)})`);
  const inProcessOut = inProcessDrift();
  if (inProcessOut.find((o) => o.name === 'general_drift').value !== general.value) throw new Error('in-process and sandboxed outputs differ');
  console.log(
    `computation: ${jsInProcess <= npHistogram ? 'OK, not slower than numpy' : 'SLOWER than numpy'}; in the sandbox: ${jsHistogram <= npHistogram ? 'OK, not slower than numpy' : 'SLOWER than numpy'}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
  sandbox.dispose();
}
