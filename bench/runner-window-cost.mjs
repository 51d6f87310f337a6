// CPU time per window of the runner's sandbox for the two built-in apps of the capacity model
// (histogram-data-drift with a 4-feature reference, and the row counter), at R rows a window,
// by part: the whole `sandbox.run` as the runner calls it, and what it is made of (an async call
// into the isolate, the heap check, the realm check, and a reference read from its object store).
//   node --no-node-snapshot bench/runner-window-cost.mjs [--rows 100] [--windows 2000]   (after `npx tsc -b`)
// Before and after a change, alternated in the same run (the ratio is what to read on a loaded machine):
//   node bench/ab.mjs --base main --runs 4 -- bench/runner-window-cost.mjs --windows 1500
// CPU time is process.cpuUsage (every thread: the isolate's too) over the windows, divided by them.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ivm from 'isolated-vm';
import { connect } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { bundlePlugin } from '../host/dist/plugins/index.js';
import { PluginSandbox } from '../host/dist/runner/index.js';
import { buildWindowData, referenceSample } from '../host/dist/runner/window-data.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import '../host/dist/nats/topology.js'; // its SHA-256 backend for object stores, as the runner has it
import { referenceStatsMap } from '../sdk/dist/stats/index.js';
import { parseFlags } from './lib/flags.mjs';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/runner-window-cost.mjs [--rows 100] [--windows 2000]', {
  rows: { type: 'number', default: 100, describe: 'rows a window' },
  windows: { type: 'number', default: 2000, describe: 'windows of each figure' },
});
const ROWS = flags.rows;
const WINDOWS = flags.windows;
const load = () =>
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`;
const FEATURES = ['a', 'b', 'c', 'd'];
let seed = 7;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());

// the endpoint, its reference (500 rows) and one window of ROWS rows, as the runner builds them
const REF_ROWS = 500;
const refValues = Object.fromEntries([...FEATURES, 'y'].map((f) => [f, Array.from({ length: REF_ROWS }, f === 'c' || f === 'y' ? uniform : normal)]));
const featureStats = referenceStatsMap(refValues);
const endpoint = { id: 'e'.repeat(40), name: 'bench', featureNames: FEATURES, labelNames: ['y'], featureStats, monitoring: true, createdAt: 0, updatedAt: 0 };
const reference = referenceSample({ rows: REF_ROWS, columns: [...FEATURES, 'y'], values: refValues }, endpoint);
const batch = () => ({
  v: 1,
  ts: Array.from({ length: ROWS }, (_, i) => i),
  x: Array.from({ length: ROWS }, () => [normal(), normal(), uniform(), normal()]),
  y: Array.from({ length: ROWS }, () => [uniform()]),
  rid: new Array(ROWS).fill(null),
  lat: new Array(ROWS).fill(null),
});
const windows = Array.from({ length: 16 }, () => buildWindowData([batch()], endpoint));

const root = (p) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const histogram = await bundlePlugin(root('plugins/histogram-data-drift'));
const rowCount = await bundlePlugin(root('test/fixtures/plugins/row-count'));
const inputOf = (bundle, i) => {
  const data = windows[i % windows.length];
  return {
    applicationName: bundle.manifest.name,
    endpoint: { id: endpoint.id, name: endpoint.name, featureNames: FEATURES, labelNames: ['y'] },
    windowStart: i * 20_000,
    windowEnd: (i + 1) * 20_000,
    sample: data,
    sampleStats: data.sampleStats,
    featureStats,
    config: bundle.manifest.config,
    ...(bundle.manifest.referenceRows ? { reference } : {}),
  };
};

/** CPU and wall ms per unit of `fn(i)` over n units (after a warm-up). */
async function measure(n, fn) {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000 / n, wall: (performance.now() - t0) / n };
}
const report = (part, r) => {
  console.log(`${part.padEnd(58)} ${r.cpu.toFixed(3).padStart(8)} ms CPU ${r.wall.toFixed(3).padStart(8)} ms wall`);
};

console.log(`${load()}; ${ROWS} rows a window, ${FEATURES.length} features, ${WINDOWS} windows a figure`);

// the whole window, as the runner calls it (artifacts kept, as the runner does)
const hs = PluginSandbox.fromBundle(histogram);
const rs = PluginSandbox.fromBundle(rowCount);
const keep = { onArtifact: () => undefined, onLog: () => undefined };
report('histogram-data-drift: sandbox.run', await measure(WINDOWS, (i) => hs.run(inputOf(histogram, i), keep)));
report('row-count: sandbox.run', await measure(WINDOWS, (i) => rs.run(inputOf(rowCount, i), keep)));
report(
  'both apps: a window each (the capacity unit)',
  await measure(WINDOWS, async (i) => {
    await hs.run(inputOf(histogram, i), keep);
    await rs.run(inputOf(rowCount, i), keep);
  }),
);
// 4 slots, as a runner with concurrency 4 runs them: the sandbox time each window records (its
// output's durationMs: wall time of sandbox.run, waiting for the other slots' windows included)
{
  const SLOTS = 4;
  const durations = [];
  let next = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: SLOTS }, async () => {
      while (next < WINDOWS) {
        const i = next++;
        for (const [sb, b] of [
          [hs, histogram],
          [rs, rowCount],
        ]) {
          const s0 = performance.now();
          await sb.run(inputOf(b, i), keep);
          durations.push(performance.now() - s0);
        }
      }
    }),
  );
  const c = process.cpuUsage(c0);
  durations.sort((a, b) => a - b);
  report('4 slots: both apps, CPU a window each; wall: median durationMs', {
    cpu: (c.user + c.system) / 1000 / WINDOWS,
    wall: durations[Math.floor(durations.length / 2)],
  });
  console.log(`4 slots: ${(WINDOWS / ((performance.now() - t0) / 1000)).toFixed(0)} windows/s of both apps`);
}
const rv = PluginSandbox.fromBundle(rowCount, { isolation: 'version' });
report('part: row-count kept module, no realm check (isolation version)', await measure(WINDOWS, (i) => rv.run(inputOf(rowCount, i), keep)));
rv.dispose();
console.log(`histogram output: ${(await hs.run(inputOf(histogram, 1), keep)).slice(0, 160)}...`);
console.log(`contexts made: histogram ${hs.contextsCreated}, row-count ${rs.contextsCreated}`);
hs.dispose();
rs.dispose();

// the primitives a window is made of, on a bare isolate
const isolate = new ivm.Isolate({ memoryLimit: 32 });
const context = await isolate.createContext();
const noop = await context.eval('(function noop(a, b, c) { return undefined; })', { reference: true });
report(
  'part: one async call into an isolate (apply, copy result)',
  await measure(WINDOWS, () => noop.apply(undefined, [true, 1, '{}'], { timeout: 1000, result: { copy: true } })),
);
report(
  'part: one sync call into an isolate (applySync)',
  await measure(WINDOWS, async () => noop.applySync(undefined, [true, 1, '{}'], { timeout: 1000, result: { copy: true } })),
);
report('part: isolate.getHeapStatistics() (the heap check)', await measure(WINDOWS, () => isolate.getHeapStatistics()));
const cb = new ivm.Callback(() => '{}');
const callsHost = await context.eval('(function (cb) { return () => { for (let i = 0; i < 4; i++) cb(); } })', { reference: true });
const four = await callsHost.apply(undefined, [cb], { reference: true });
report('part: async call making 4 sync host callbacks', await measure(WINDOWS, () => four.apply(undefined, [], { timeout: 1000 })));
isolate.dispose();
// what a referenceRows app's window cost the runner before the runner kept the references (it
// kept 4: with more endpoints, every window missed): the reference read from its object store,
// parsed and packed, against the cached one (nats-server on PATH, a 500-row reference)
{
  const dir = await mkdtemp(join(tmpdir(), 'mw-bench-window-cost-'));
  const nats = await startNatsServer({ dataDir: dir });
  const nc = await connect({ servers: nats.url });
  try {
    const store = await new Objm(nc).create('bench_references');
    const table = { rows: REF_ROWS, columns: [...FEATURES, 'y'], values: refValues };
    await store.putBlob({ name: `${endpoint.id}.json` }, new TextEncoder().encode(JSON.stringify(table)));
    const read = async () => referenceSample(JSON.parse(new TextDecoder().decode(await store.getBlob(`${endpoint.id}.json`))), endpoint);
    report('part: reference read, parsed and packed (a window, uncached)', await measure(Math.min(WINDOWS, 500), read));
  } finally {
    await nc.close();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
