// Alert delivery latency: the time from `notifier.enqueue()` (the notification stored in
// MW_ALERTS) to the first delivery attempt reaching a local webhook receiver, one notification at
// a time (below the storm threshold), on a host with its own test nats-server. Target: under 1 s.
//
//   node --no-node-snapshot bench/alert-delivery.mjs [--n 50]
//
// Needs host/dist (npx tsc -b).
import { createServer } from 'node:http';
import { sampleNotification } from '../host/dist/alerts/notify/index.js';
import { parseFlags } from './lib/flags.mjs';
import { startBenchHost } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/alert-delivery.mjs [--n 50]', {
  n: { type: 'number', default: 50, describe: 'notifications, one at a time' },
});
const N = flags.n;

const arrived = new Map();
const server = createServer((req, res) => {
  const key = req.headers['idempotency-key'];
  if (!arrived.has(key)) arrived.set(key, performance.now());
  req.resume();
  req.on('end', () => res.writeHead(200).end());
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/hook`;

const { host, client, stop } = await startBenchHost('alerts', {
  runners: 0,
  components: ['api', 'controller'],
  alertAllowedHosts: ['127.0.0.1'],
  // one notification at a time never reaches the storm threshold
  alertDelivery: { groupThreshold: 1000 },
});
try {
  await client.createAlertChannel({ name: 'bench', type: 'webhook', url });
  const enqueueMs = [];
  const firstAttemptMs = [];
  for (let k = 0; k < N; k++) {
    const n = sampleNotification({ key: `bench-${k}`, channels: ['bench'] });
    const t0 = performance.now();
    await host.notifier.enqueue(n);
    enqueueMs.push(performance.now() - t0);
    while (!arrived.has(n.key)) await new Promise((r) => setTimeout(r, 1));
    firstAttemptMs.push(arrived.get(n.key) - t0);
  }
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  console.log(`notifications: ${N}, one at a time, webhook on 127.0.0.1`);
  console.log(`enqueue (stored in MW_ALERTS): median ${q(enqueueMs, 0.5).toFixed(2)} ms, p95 ${q(enqueueMs, 0.95).toFixed(2)} ms`);
  console.log(
    `enqueue -> first delivery attempt: median ${q(firstAttemptMs, 0.5).toFixed(2)} ms, p95 ${q(firstAttemptMs, 0.95).toFixed(2)} ms, max ${Math.max(...firstAttemptMs).toFixed(2)} ms (target < 1000 ms)`,
  );
} finally {
  await stop();
  server.close();
}
