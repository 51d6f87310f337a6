// What the dry run at publish costs: the time of `POST /api/v1/plugins` for MLRun's
// histogram-data-drift (a new version each time) with 0 endpoints (the check alone: the
// baseline, measured in the same run), 1 endpoint and 20 endpoints (the most a dry run covers),
// each with a 20-feature reference; and what matching plugin.json `endpoints` globs costs the
// controller per (endpoint, plugin) pair and tick, answered from its cache against
// path.matchesGlob every time.
//   node --no-node-snapshot bench/publish-dry-run.mjs   (after `npx tsc -b`; needs nats-server on PATH)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { createHost } from '../host/dist/host.js';
import { generateToken } from '../host/dist/domain/tokens.js';
import { ModelwatchClient } from '../host/dist/client/client.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { createLogger } from '../host/dist/logger.js';
import { bundlePlugin } from '../host/dist/plugins/bundle.js';
import { appliesTo } from '../host/dist/store/plugins.js';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';
import { parseFlags } from './lib/flags.mjs';

// no flags: --help prints what it measures, an unknown flag is refused
parseFlags('node --no-node-snapshot bench/publish-dry-run.mjs', {});

const RUNS = 15;
const FEATURES = Array.from({ length: 20 }, (_, j) => `f${j}`);
let seed = 3;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-publish-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
// the host is told its admin token, and the client sends it
const TOKEN = generateToken();
const host = createHost(
  { adminToken: TOKEN, natsUrl: nats.url, dataDir: join(dir, 'host'), httpPort: 0, runners: 1, logLevel: 'error' },
  createLogger('error'),
);
await host.start();
const client = new ModelwatchClient({ url: host.apiUrl, token: TOKEN });
const bundle = await bundlePlugin(new URL('../plugins/histogram-data-drift', import.meta.url).pathname);
const reference = [FEATURES.join(','), ...Array.from({ length: 2000 }, () => FEATURES.map(() => normal().toFixed(4)).join(','))].join('\n');

let version = 0;
/** Median time of a publish (a new version each time, so the check runs too). */
async function publishMs() {
  const times = [];
  let warnings = 0;
  let ran = 0;
  for (let i = 0; i < RUNS; i++) {
    const manifest = { ...bundle.manifest, version: `1.0.${version++}` };
    const t = performance.now();
    const rec = await client.publishPlugin({ manifest, code: bundle.code, map: bundle.map });
    times.push(performance.now() - t);
    warnings += rec.dryRun.warnings.length;
    ran = rec.dryRun.endpoints.filter((r) => r.outcome === 'ok').length;
  }
  return { ms: median(times), warnings, ran };
}

const endpoints = async (n) => {
  for (let i = 0; i < n; i++) {
    const name = `ep-${String(i).padStart(2, '0')}`;
    await client.createEndpoint({ name, featureNames: FEATURES, labelNames: [] });
    await client.setReference(name, reference, 'csv');
  }
};

await publishMs(); // warm-up: the runner's first isolate, esbuild's and fastify's first calls
const base = await publishMs();
console.log(`publish, no endpoint (check only, no dry run): ${base.ms.toFixed(1)} ms (median of ${RUNS})`);
await endpoints(1);
const one = await publishMs();
console.log(
  `publish, dry run on 1 endpoint: ${one.ms.toFixed(1)} ms, ${(one.ms / base.ms).toFixed(2)}x the baseline (${one.ran} dry-run window ok, ${one.warnings} warnings)`,
);
await endpoints(20);
const twenty = await publishMs();
console.log(
  `publish, dry run on 20 endpoints: ${twenty.ms.toFixed(1)} ms, ${(twenty.ms / base.ms).toFixed(2)}x the baseline (${twenty.ran} dry-run windows ok, ${twenty.warnings} warnings)`,
);
await host.stop();
await nats.stop();
rmSync(dir, { recursive: true, force: true });

// the controller asks for every (endpoint, plugin) pair on every tick
const names = Array.from({ length: 1000 }, (_, i) => `churn-${i}`);
const patterns = ['churn-1*', 'fraud-?', 'ep-[0-9]'];
const PASSES = 20;
let t = performance.now();
let n = 0;
for (let p = 0; p < PASSES; p++) for (const e of names) n += patterns.some((g) => posix.matchesGlob(e, g)) ? 1 : 0;
const raw = (performance.now() - t) / (PASSES * names.length);
appliesTo(patterns, { name: names[0] });
t = performance.now();
let m = 0;
for (let p = 0; p < PASSES; p++) for (const e of names) m += appliesTo(patterns, { name: e }) ? 1 : 0;
const cached = (performance.now() - t) / (PASSES * names.length);
if (n !== m) throw new Error(`appliesTo disagrees with path.matchesGlob: ${m} against ${n}`);
console.log(
  `endpoints globs per (endpoint, plugin) pair and tick: ${(cached * 1000).toFixed(2)} us from the cache, ${(raw * 1000).toFixed(2)} us with path.matchesGlob each time (${(raw / cached).toFixed(0)}x); 1,000 endpoints: ${(cached * 1000).toFixed(2)} ms a tick per plugin`,
);
