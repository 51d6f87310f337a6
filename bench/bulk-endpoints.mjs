// Bulk endpoint creation: N endpoints through POST /api/v1/endpoints/bulk (the route of
// `modelwatch endpoint create --from FILE`), in requests of 5,000, against one POST each
// (20 at a time) for a tenth of them. Target: >= 1,000 endpoints/s.
//
//   node --no-node-snapshot bench/bulk-endpoints.mjs [--endpoints N]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHost } from '../host/dist/host.js';
import { generateToken } from '../host/dist/domain/tokens.js';
import { ModelwatchClient } from '../host/dist/client/client.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { createLogger } from '../host/dist/logger.js';
import { parseFlags } from './lib/flags.mjs';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/bulk-endpoints.mjs [--endpoints N]', {
  endpoints: { type: 'number', default: 10_000, describe: 'endpoints created in bulk (a tenth of them one POST each)' },
});
const N = flags.endpoints;
const dir = mkdtempSync(join(tmpdir(), 'mw-bench-bulk-'));
const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
const TOKEN = generateToken();
const host = createHost(
  { adminToken: TOKEN, natsUrl: nats.url, dataDir: join(dir, 'host'), httpPort: 0, runners: 0, logLevel: 'error' },
  createLogger('error'),
);
await host.start();
const client = new ModelwatchClient({ url: host.apiUrl, token: TOKEN, timeoutMs: 300_000 });
const spec = (name) => ({ name, featureNames: ['a', 'b', 'c', 'd'], labelNames: ['y'], tags: { team: 'bench' } });
let t = performance.now();
let created = 0;
for (let k = 0; k < N; k += 5000) {
  const r = await client.createEndpoints(Array.from({ length: Math.min(5000, N - k) }, (_, j) => spec(`bulk-${k + j}`)));
  created += r.created;
}
let secs = (performance.now() - t) / 1000;
console.log(`bulk: ${created} of ${N} endpoints created in ${secs.toFixed(2)} s: ${(N / secs).toFixed(0)} endpoints/s`);
const M = Math.max(1, Math.floor(N / 10));
t = performance.now();
for (let k = 0; k < M; k += 20) await Promise.all(Array.from({ length: Math.min(20, M - k) }, (_, j) => client.createEndpoint(spec(`one-${k + j}`))));
secs = (performance.now() - t) / 1000;
console.log(`one POST each (20 at a time): ${M} endpoints in ${secs.toFixed(2)} s: ${(M / secs).toFixed(0)} endpoints/s`);
await host.stop();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
