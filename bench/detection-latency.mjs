// Detection latency: from a window's end to its results stored in LevelDB, with one-second
// windows and steady traffic, for MLRun's default app (histogram-data-drift, with a reference)
// and a trivial app. Target: <= 1 s plus the allowed lateness.
//
//   node --no-node-snapshot bench/detection-latency.mjs [--windows N] [--lateness MS]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { bundlePlugin } from '../host/dist/plugins/bundle.js';
import { parseFlags } from './lib/flags.mjs';
import { startBenchHost } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/detection-latency.mjs [--windows N] [--lateness MS]', {
  windows: { type: 'number', default: 20, describe: 'one-second windows measured' },
  lateness: { type: 'number', default: 500, describe: 'the allowed lateness, in milliseconds' },
});
const WINDOWS = flags.windows;
const LATENESS = flags.lateness;
const PERIOD = 1000;
const ROWS_PER_SECOND = 500;

let seed = 7;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());

const bench = await startBenchHost('latency', { runners: 1, basePeriod: PERIOD, allowedLateness: LATENESS });
const { client, nats } = bench;
for (const p of ['plugins/histogram-data-drift', 'test/fixtures/plugins/row-count']) {
  const b = await bundlePlugin(new URL(`../${p}`, import.meta.url).pathname);
  await client.publishPlugin({ manifest: b.manifest, code: b.code, map: b.map });
}
await client.createEndpoint({ name: 'live', featureNames: ['a', 'b', 'c'], labelNames: ['y'] });
await client.setReference('live', ['a,b,c,y', ...Array.from({ length: 2000 }, () => [normal(), normal() * 2 + 10, uniform(), 0].join(','))].join('\n'), 'csv');

// steady traffic: a micro-batch every 50 ms
const nc = await connect({ servers: nats.url });
const js = jetstream(nc);
let stop = false;
const traffic = (async () => {
  while (!stop) {
    const n = ROWS_PER_SECOND / 20;
    await js.publish(
      'mw.events.live',
      JSON.stringify({
        format: 'columnar',
        when: Date.now(),
        inputs: { a: Array.from({ length: n }, normal), b: Array.from({ length: n }, () => normal() * 2 + 10), c: Array.from({ length: n }, uniform) },
        outputs: { y: Array.from({ length: n }, uniform) },
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
  }
})();

const first = Math.ceil((Date.now() + 2000) / PERIOD) * PERIOD;
const last = first + (WINDOWS - 1) * PERIOD;
for (;;) {
  const w = await client.results({ endpoint: 'live' });
  if (['histogram-data-drift', 'row-count'].every((app) => w.some((x) => x.app === app && x.windowStart >= last))) break;
  await new Promise((r) => setTimeout(r, 200));
}
stop = true;
await traffic;
const windows = (await client.results({ endpoint: 'live' })).filter((w) => w.windowStart >= first && w.windowStart <= last);
console.log(`${WINDOWS} one-second windows, ${ROWS_PER_SECOND} rows/s, allowed lateness ${LATENESS} ms; latency = stored - window end\n`);
for (const app of ['histogram-data-drift', 'row-count']) {
  const lat = windows
    .filter((w) => w.app === app)
    .map((w) => w.storedAt - w.windowEnd)
    .sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)];
  const outcomes = new Set(windows.filter((w) => w.app === app).map((w) => w.outcome));
  console.log(
    `${app.padEnd(22)} windows ${lat.length}  p50 ${q(0.5)} ms  p95 ${q(0.95)} ms  max ${lat[lat.length - 1]} ms  -> beyond the allowed lateness: p50 ${q(0.5) - LATENESS} ms, max ${lat[lat.length - 1] - LATENESS} ms (target <= 1000)  outcomes ${[...outcomes].join(',')}`,
  );
}
await nc.close();
await bench.stop();
