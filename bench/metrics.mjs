// Operator metrics: what recording costs on the hot paths (a window stored, dead letters, a
// batch of events filed) and how long a scrape of /metrics takes, with 20 apps and every dead-
// letter reason in use, on one HostMetrics in this process (no NATS: the lag source answers at once).
//
//   node bench/metrics.mjs [--calls N]
//
// Needs host/dist (npx tsc -b).
import { DEAD_LETTER_CODES } from '@modelwatch/protocol';
import { createHostMetrics } from '../host/dist/metrics.js';
import { parseFlags } from './lib/flags.mjs';

const flags = parseFlags('node bench/metrics.mjs [--calls N]', {
  calls: { type: 'number', default: 1_000_000, describe: 'calls of each recording timed' },
});
const N = flags.calls;
const APPS = Array.from({ length: 20 }, (_, k) => `app-${k}`);
const m = createHostMetrics();
m.observeRunners(() => 4);
m.observeConsumers(async () => [{ stream: 'MW_EVENTS', consumer: 'stream-processor', pending: 3, ackPending: 1 }]);

function perCall(what, fn) {
  const t = performance.now();
  for (let k = 0; k < N; k++) fn(k);
  console.log(`${what}: ${(((performance.now() - t) * 1000) / N).toFixed(3)} us per call`);
}

const out = { app: '', outcome: 'ok', durationMs: 3, windowEnd: Date.now() - 1000, endpointId: 'e' };
perCall('windowStored (20 apps)', (k) => {
  out.app = APPS[k % APPS.length];
  m.windowStored(out, Date.now(), true);
});
perCall('deadLettered (every reason)', (k) => m.deadLettered(DEAD_LETTER_CODES[k % DEAD_LETTER_CODES.length], true));
perCall('eventsFiled (a batch)', () => m.eventsFiled(256, 1024));
const tasks = APPS.map((app) => ({ app }));
perCall('windowsDispatched (20 tasks)', () => m.windowsDispatched(tasks));

const times = [];
let text = '';
for (let k = 0; k < 20; k++) {
  const t = performance.now();
  text = await m.scrape();
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const samples = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
console.log(`scrape: median ${times[10].toFixed(2)} ms, ${samples} samples, ${text.length} bytes`);
