// Capacity model: the per-unit costs that size a deployment (ARCHITECTURE.md, "Capacity model").
//
//   rows/s of one stream processor   columnar micro-batches published to MW_EVENTS, until the
//                                    processor has filed every row by window (a host with only
//                                    the stream component)
//   windows/s per runner slot        E endpoints x the built-in apps (histogram-data-drift with a
//                                    reference, and a row counter), one window of R rows each,
//                                    with 1 runner process and then 2 (--runners: the list),
//                                    1 window at a time each (--concurrency)
//   results/s of one writer          the same windows: outputs stored per second of the writer
//                                    (its backlog alone: bench/writer-throughput.mjs)
//
//   node --no-node-snapshot bench/capacity.mjs [--endpoints 200] [--rows 1000] [--runners 1,2] [--concurrency 1]
//
// On 2 cores the runner processes share the cores with NATS, the host and this script: the
// figures per process and the ratio of 2 to 1 are what to read. Needs host/dist and nats-server.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createHost } from '../host/dist/host.js';
import { generateToken } from '../host/dist/domain/tokens.js';
import { ModelwatchClient } from '../host/dist/client/client.js';
import { startNatsServer } from '../host/dist/nats/server.js';
import { createLogger } from '../host/dist/logger.js';
import { bundlePlugin } from '../host/dist/plugins/bundle.js';
import { numberList, parseFlags } from './lib/flags.mjs';
// (its nats-servers and child processes are stopped however this process ends)
import './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/capacity.mjs [--endpoints 200] [--rows 1000] [--runners 1,2] [--concurrency 1]', {
  endpoints: { type: 'number', default: 200, describe: 'endpoints, each with the built-in apps' },
  rows: { type: 'number', default: 1000, describe: 'rows a window' },
  runners: { type: 'string', default: '1,2', coerce: numberList, describe: 'runner processes: a run for each number of the list' },
  concurrency: { type: 'number', default: 1, describe: 'windows at a time of each runner process (its slots)' },
});
const ENDPOINTS = flags.endpoints;
const ROWS = flags.rows;
const RUNNERS = flags.runners;
const CONCURRENCY = flags.concurrency;
const PERIOD = 20_000;
const LATENESS = 1000;
const FEATURES = ['a', 'b', 'c', 'd'];
const APPS = 2;
const load = () =>
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`;

let seed = 7;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const columnar = (when, rows) =>
  JSON.stringify({
    format: 'columnar',
    when: Array.from({ length: rows }, (_, i) => when + Math.floor((i * (PERIOD - 4000)) / rows)),
    inputs: {
      a: Array.from({ length: rows }, normal),
      b: Array.from({ length: rows }, normal),
      c: Array.from({ length: rows }, uniform),
      d: Array.from({ length: rows }, normal),
    },
    outputs: { y: Array.from({ length: rows }, uniform) },
  });

/** CPU seconds (user + system) of this process's child processes by command name (the runner processes, nats-server). */
function childCpu() {
  const out = {};
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/).map(Number));
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of rows) if (mine.has(ppid) && !mine.has(pid)) grew = Boolean(mine.add(pid));
  }
  mine.delete(process.pid);
  for (const pid of mine) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const kind = comm === 'nats-server' ? comm : 'runners';
      out[kind] = (out[kind] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every message through NATS, by kind of subject (every request, reply, ack and publish), counted from now on. */
function countMessages(nc) {
  const counts = {};
  const kind = (s) => {
    if (s.startsWith('_INBOX')) return `replies ${s.split('.')[0]}`;
    const m = /^\$JS\.API\.([A-Z.]+?)\.(MW_[A-Z_]+|OBJ_[a-z_]+|KV_[a-z_]+)/.exec(s);
    if (m) return `${m[1]} ${m[2]}`;
    const ack = /^\$JS\.ACK\.([A-Z_a-z]+)/.exec(s);
    if (ack) return `ack ${ack[1]}`;
    if (s.startsWith('$JS.EVENT')) return s.split('.').slice(0, 5).join('.');
    return s.split('.').slice(0, 2).join('.');
  };
  const sub = nc.subscribe('>', { callback: (_e, m) => (counts[kind(m.subject)] = (counts[kind(m.subject)] ?? 0) + 1) });
  return { counts, stop: () => sub.unsubscribe() };
}

async function withHost(opts, fn) {
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-capacity-'));
  const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
  const token = generateToken();
  const host = createHost(
    {
      adminToken: token,
      natsUrl: nats.url,
      dataDir: join(dir, 'host'),
      httpPort: 0,
      basePeriod: PERIOD,
      allowedLateness: LATENESS,
      logLevel: 'error',
      rateLimit: 'off',
      ...opts,
    },
    createLogger('error'),
  );
  await host.start();
  const nc = await connect({ servers: nats.url });
  try {
    return await fn({
      host,
      nc,
      client: new ModelwatchClient({ url: host.apiUrl, token, timeoutMs: 300_000 }),
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
    });
  } finally {
    await nc.close();
    await host.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function publishAll(js, items) {
  const inflight = new Set();
  for (const [subject, body] of items) {
    const p = js.publish(subject, body).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 64) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

async function processed(jsm) {
  for (;;) {
    const ci = await jsm.consumers.info('MW_EVENTS', 'stream-processor');
    if (ci.num_pending === 0 && ci.num_ack_pending === 0) return;
    await sleep(20);
  }
}

console.log(`machine: ${cpus().length} cores, node ${process.version}; ${ENDPOINTS} endpoints x ${APPS} apps, ${ROWS} rows a window\n`);

// ---- one stream processor: rows filed per second
const streamRate = await withHost({ runners: 0, components: ['stream', 'api'] }, async ({ client, js, jsm }) => {
  await client.createEndpoints([{ name: 'rows', featureNames: FEATURES, labelNames: ['y'] }]);
  const when = Date.now() - 60_000;
  const bodies = Array.from({ length: 300 }, () => ['mw.events.rows', columnar(when, 1000)]);
  await processed(jsm);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await publishAll(js, bodies);
  await processed(jsm);
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rowsPerSec: (300 * 1000) / secs, cpuSecs: (cpu.user + cpu.system) / 1e6, secs };
});
console.log(
  `stream processor: ${Math.round(streamRate.rowsPerSec)} rows/s (300 columnar batches of 1000 rows in ${streamRate.secs.toFixed(1)} s; this process, publisher included, used ${streamRate.cpuSecs.toFixed(1)} CPU s)`,
);

// ---- runner slots and the writer: windows analysed and stored per second
const reference = ['a,b,c,d,y', ...Array.from({ length: 500 }, () => [normal(), normal(), uniform(), normal(), 0].join(','))].join('\n');
const perRunners = [];
for (const runners of RUNNERS) {
  const r = await withHost({ runners, runnerConcurrency: CONCURRENCY }, async ({ client, js, nc }) => {
    const names = Array.from({ length: ENDPOINTS }, (_, i) => `cap-${i}`);
    await client.createEndpoints(names.map((name) => ({ name, featureNames: FEATURES, labelNames: ['y'] })));
    for (let i = 0; i < names.length; i += 20) await Promise.all(names.slice(i, i + 20).map((n) => client.setReference(n, reference, 'csv')));
    // the apps last: no window of the set-up is analysed
    for (const p of ['plugins/histogram-data-drift', 'test/fixtures/plugins/row-count']) {
      const b = await bundlePlugin(new URL(`../${p}`, import.meta.url).pathname);
      await client.publishPlugin({ manifest: b.manifest, code: b.code, map: b.map });
    }
    const ws = Math.ceil((Date.now() + 1000) / PERIOD) * PERIOD;
    await sleep(ws - Date.now() + 50);
    await publishAll(
      js,
      names.map((n) => [`mw.events.${n}`, columnar(ws, ROWS)]),
    );
    const closeAt = ws + PERIOD + LATENESS;
    await sleep(closeAt - Date.now());
    const counter = countMessages(nc);
    const cpu0 = childCpu();
    const expected = ENDPOINTS * APPS;
    let stored = [];
    while (Date.now() - closeAt < 600_000) {
      stored = (await client.results({ limit: 100_000 })).filter((w) => w.windowStart === ws);
      if (stored.length >= expected) break;
      await sleep(1000);
    }
    counter.stop();
    const cpu1 = childCpu();
    const cpuPerWindow = (comm) => (((cpu1[comm] ?? 0) - (cpu0[comm] ?? 0)) * 1000) / Math.max(1, stored.length);
    const messages = Object.entries(counter.counts).sort((a, b) => b[1] - a[1]);
    const total = messages.reduce((n, [, c]) => n + c, 0);
    console.log(`  NATS messages a window (every request, reply, ack and publish while the windows ran): ${(total / Math.max(1, stored.length)).toFixed(1)}`);
    for (const [k, c] of messages.filter(([, c]) => c >= stored.length / 20))
      console.log(`    ${(c / Math.max(1, stored.length)).toFixed(2).padStart(7)}  ${k}`);
    console.log(
      `  CPU a window: runner processes ${cpuPerWindow('runners').toFixed(2)} ms, nats-server ${cpuPerWindow('nats-server').toFixed(2)} ms (${load()})`,
    );
    const completed = stored.map((w) => w.completedAt).sort((a, b) => a - b);
    const storedAt = stored.map((w) => w.storedAt).sort((a, b) => a - b);
    const span = (xs) => Math.max(0.001, (xs[xs.length - 1] - xs[0]) / 1000);
    return {
      runners,
      windows: stored.length,
      windowsPerSec: stored.length / span(completed),
      sandboxMs: stored.reduce((n, w) => n + w.durationMs, 0) / stored.length,
      lastStoredSecs: (storedAt[storedAt.length - 1] - closeAt) / 1000,
      storedPerSec: stored.length / span(storedAt),
    };
  });
  perRunners.push(r);
  console.log(
    `${r.runners} runner process(es) x ${CONCURRENCY} slot(s): ${r.windows} windows, ${r.windowsPerSec.toFixed(0)} windows/s analysed (${(r.windowsPerSec / (r.runners * CONCURRENCY)).toFixed(0)} per slot), sandbox time ${r.sandboxMs.toFixed(1)} ms a window; all stored ${r.lastStoredSecs.toFixed(1)} s after the close; writer kept up at ${r.storedPerSec.toFixed(0)} results/s`,
  );
}
if (perRunners.length > 1) {
  console.log(
    `\n${perRunners[1].runners} runner processes / ${perRunners[0].runners}: ${(perRunners[1].windowsPerSec / perRunners[0].windowsPerSec).toFixed(2)}x the windows/s`,
  );
}
