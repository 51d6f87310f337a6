/* global fetch */
// The dashboard with a big history: ENDPOINTS endpoints x 2 apps x WINDOWS windows stored (written
// into the host's results store before it starts), plus one endpoint with BIG windows of one
// result. In headless Chromium (Debian's, through playwright-core), the time from navigation to
// the overview's first rows, and to the chart of the BIG-window endpoint drawn (its series
// downsampled on the server), each the median of 5; and the JavaScript the dashboard ships, gzipped.
//
//   node --no-node-snapshot bench/ui.mjs [--endpoints 1000] [--windows 1000] [--big 100000]
//
// Needs host/dist and host/ui-dist (npm run build), nats-server on PATH and /usr/bin/chromium.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { ModelwatchClient } from '../host/dist/client/client.js';
import { endpointId } from '../host/dist/domain/names.js';
import { generateToken } from '../host/dist/domain/tokens.js';
import { createHost } from '../host/dist/host.js';
import { createLogger } from '../host/dist/logger.js';
import { ResultsDb } from '../host/dist/store/results-db.js';
import { parseFlags } from './lib/flags.mjs';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/ui.mjs [--endpoints 1000] [--windows 1000] [--big 100000]', {
  endpoints: { type: 'number', default: 1000, describe: 'endpoints, each with 2 apps' },
  windows: { type: 'number', default: 1000, describe: 'windows stored of each endpoint and app' },
  big: { type: 'number', default: 100_000, describe: 'windows of one result of the big endpoint (its chart)' },
});
const ENDPOINTS = flags.endpoints;
const WINDOWS = flags.windows;
const BIG = flags.big;
const APPS = ['drift-a', 'drift-b'];
const PERIOD = 60_000;
const RUNS = 5;

const js = readFileSync(new URL('../host/ui-dist/assets/app.js', import.meta.url));
const css = readFileSync(new URL('../host/ui-dist/assets/app.css', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'mw-bench-ui-'));
let seed = 7;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const output = (name, app, windowStart, value, period = PERIOD) => ({
  v: 1,
  endpointId: endpointId(name),
  endpointName: name,
  app,
  version: '1.0.0',
  windowStart,
  windowEnd: windowStart + period,
  outcome: 'ok',
  rows: 100,
  results: [{ name: 'general_drift', value, kind: 0, status: value > 0.7 ? 2 : value > 0.5 ? 1 : 0, extraData: {} }],
  metrics: [],
  durationMs: 1,
  completedAt: windowStart + period,
  runner: 'bench',
});

// the history, stored as the writer stores it, before the host opens the store
const t0 = Math.floor(Date.now() / PERIOD) * PERIOD - WINDOWS * PERIOD;
// the big endpoint's windows are of 10 s, so that all of them are within the default retention of windows (30 days)
const BIG_PERIOD = 10_000;
const tBig = Math.floor(Date.now() / PERIOD) * PERIOD - BIG * BIG_PERIOD;
let t = performance.now();
const db = new ResultsDb(join(dir, 'results'));
await db.open();
let stored = 0;
const pending = [];
const put = async (o) => {
  pending.push(db.store(o, false));
  if (pending.length >= 2000) await Promise.all(pending.splice(0));
  stored++;
};
for (let e = 0; e < ENDPOINTS; e++) {
  for (const app of APPS) for (let w = 0; w < WINDOWS; w++) await put(output(`ep-${e}`, app, t0 + w * PERIOD, uniform() ** 3));
}
for (let w = 0; w < BIG; w++) await put(output('big', APPS[0], tBig + w * BIG_PERIOD, uniform() ** 4, BIG_PERIOD));
await Promise.all(pending);
await db.close();
const fillS = (performance.now() - t) / 1000;

const token = generateToken();
const host = createHost({ dataDir: dir, httpPort: 0, runners: 0, adminToken: token, logLevel: 'error' }, createLogger('error'));
await host.start();
const base = host.apiUrl.replace(/\/$/, '');
const client = new ModelwatchClient({ url: host.apiUrl, token });
t = performance.now();
for (let e = 0; e < ENDPOINTS; e += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, ENDPOINTS - e) }, (_, i) =>
      client.createEndpoint({ name: `ep-${e + i}`, featureNames: ['x'], labelNames: ['y'], tags: { team: (e + i) % 2 ? 'a' : 'b' } }),
    ),
  );
}
await client.createEndpoint({ name: 'big', featureNames: ['x'], labelNames: ['y'] });
const createS = (performance.now() - t) / 1000;

const session = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
const cookie = /mw_session=([^;]+)/.exec(session.headers.get('set-cookie') ?? '')[1];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'], timeout: 180_000 });
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const url = new URL(base);
await context.addCookies([{ name: 'mw_session', value: cookie, domain: url.hostname, path: '/', httpOnly: true, sameSite: 'Strict' }]);
const page = await context.newPage();
const requests = [];
page.on('requestfinished', (r) => {
  const t = r.timing();
  requests.push({ url: r.url(), start: t.startTime, ms: t.responseEnd });
});

/** ms from navigation start until `selector` is in the page (median of RUNS, after one warm-up). */
async function firstRender(hash, selector) {
  const times = [];
  for (let i = 0; i <= RUNS; i++) {
    await page.goto('about:blank');
    requests.length = 0;
    await page.goto(`${base}/ui/${hash}`);
    await page.waitForSelector(selector, { timeout: 120_000 });
    const ms = await page.evaluate(() => performance.now());
    if (i > 0) times.push(ms);
  }
  times.sort((a, b) => a - b);
  // the requests of the last run, with how long each took (ms from its start to its response's end)
  const t0 = requests[0]?.start ?? 0;
  const calls = requests
    .filter((r) => r.url.startsWith(base))
    .map((r) => `${r.url.replace(base, '')}: from ${(r.start - t0).toFixed(0)} ms, ${r.ms.toFixed(0)} ms`);
  return { ms: times[Math.floor(times.length / 2)], calls };
}

const overview = await firstRender('#/', 'tr[data-endpoint]');
const rows = await page.locator('tr[data-endpoint]').count();
const chart = await firstRender('#/endpoints/big', '[data-series="drift-a.result.general_drift"] .chart[data-points]');
const points = await page.locator('[data-series="drift-a.result.general_drift"] .chart').getAttribute('data-points');
t = performance.now();
const series = await (
  await fetch(`${base}/api/v1/endpoints/big/series?app=drift-a&result=general_drift&points=1000`, { headers: { cookie: `mw_session=${cookie}` } })
).json();
const seriesMs = performance.now() - t;

await browser.close();
await host.stop();
rmSync(dir, { recursive: true, force: true });

console.log(
  `history: ${ENDPOINTS} endpoints x ${APPS.length} apps x ${WINDOWS} windows + 1 endpoint of ${BIG} windows (${stored} windows stored in ${fillS.toFixed(1)} s; endpoints created in ${createS.toFixed(1)} s)\n`,
);
console.log(`overview, first render (${ENDPOINTS + 1} endpoints, ${rows} rows in the DOM)   ${overview.ms.toFixed(0)} ms (median of ${RUNS})`);
for (const c of overview.calls) console.log(`  ${c}`);
console.log(`endpoint chart, first render (${BIG} windows, ${points} points drawn)   ${chart.ms.toFixed(0)} ms (median of ${RUNS})`);
for (const c of chart.calls) console.log(`  ${c}`);
console.log(`GET /series of ${series.total} windows -> ${series.points.length} points              ${seriesMs.toFixed(0)} ms`);
console.log(
  `JavaScript shipped: ${(js.length / 1024).toFixed(1)} KB, ${(gzipSync(js).length / 1024).toFixed(1)} KB gzipped; CSS ${(gzipSync(css).length / 1024).toFixed(1)} KB gzipped`,
);
