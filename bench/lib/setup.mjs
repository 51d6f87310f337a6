// What the benches set up alike: a nats-server with the host's topology in a
// temp dir, a host on its own nats-server, a backlog of app outputs published to MW_OUTPUTS.
// an API-only host in a process of its own, the load average.
// Each cleans up after itself (the temp dir is removed, the nats-server stopped), and however the
// bench ends (an uncaught error, process.exit(), SIGINT, SIGTERM, SIGHUP) its nats-servers are
// killed (startNatsServer does it at exit) and those temp dirs removed: see below.
import { createHash } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Subjects } from '@modelwatch/protocol';
import { ModelwatchClient } from '../../host/dist/client/client.js';
import { windowKey } from '../../host/dist/domain/keys.js';
import { generateToken } from '../../host/dist/domain/tokens.js';
import { createHost } from '../../host/dist/host.js';
import { createLogger } from '../../host/dist/logger.js';
import { jsonCodec } from '../../host/dist/nats/codec.js';
import { startNatsServer } from '../../host/dist/nats/server.js';
import { ensureTopology } from '../../host/dist/nats/topology.js';

/** The temp dirs of `benchDir` not yet removed. */
const benchDirs = new Set();

/** A fresh temp dir `mw-bench-<prefix>-*`, removed at exit if the bench ends before it does. */
function benchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `mw-bench-${prefix}-`));
  benchDirs.add(dir);
  return dir;
}

function removeBenchDir(dir) {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  benchDirs.delete(dir);
}

/** Remove the temp dirs a bench ending early left. */
function removeBenchDirs() {
  for (const dir of benchDirs) {
    try {
      removeBenchDir(dir);
    } catch {
      // left in the temp dir
    }
  }
}
if (isMainThread) {
  // however a bench ends, its temp dirs go; its nats-servers are killed at exit by
  // startNatsServer, its API processes and a host's runners end with their IPC channel
  process.on('exit', removeBenchDirs);
  // a signal's default ends the process before any 'exit' handler: end by exit instead, with the
  // signal's status (128 + its number)
  for (const [signal, number] of [
    ['SIGHUP', 1],
    ['SIGINT', 2],
    ['SIGTERM', 15],
  ]) {
    process.once(signal, () => process.exit(128 + number));
  }
}

/** Run `fn({ nc, js, jsm, dir })` against a fresh nats-server with the host's topology (7 days' retention). */
export async function withNats(prefix, fn) {
  const dir = benchDir(prefix);
  const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
  const nc = await connect({ servers: nats.url });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureTopology(nc, jsm, { retentionMs: 7 * 86_400_000 });
    return await fn({ nc, js, jsm, dir });
  } finally {
    await nc.close();
    await nats.stop();
    removeBenchDir(dir);
  }
}

/** Publish app outputs to MW_OUTPUTS with the writer's message ids, all at once. */
export function publishOutputs(js, outputs) {
  return Promise.all(
    outputs.map((o) => js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o), { msgID: windowKey(o.endpointId, o.app, o.windowStart) })),
  );
}

/**
 * The CPU time (ms) another process's live threads have had so far, from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds: /proc/<pid>/stat counts 10 ms ticks, too coarse
 * for a run of a second). Threads that ended are not counted: for a server such as nats-server,
 * whose threads live as long as it does. Linux only.
 */
export function processCpuMs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e6;
}

/** The machine's load average (1, 5, 15 minutes), to print with every figure measured on it. */
export function loadAverage() {
  return loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
}

/**
 * A started host on its own nats-server in a temp dir, logging errors only, with an admin token:
 * `{ host, client, nats, dir, adminToken, stop() }`.
 */
export async function startBenchHost(prefix, options = {}) {
  const dir = benchDir(prefix);
  const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
  const token = generateToken();
  const host = createHost(
    { adminToken: token, natsUrl: nats.url, dataDir: join(dir, 'host'), httpPort: 0, logLevel: 'error', ...options },
    createLogger('error'),
  );
  await host.start();
  return {
    host,
    client: new ModelwatchClient({ url: host.apiUrl, token }),
    nats,
    dir,
    adminToken: token,
    async stop() {
      try {
        await host.stop();
      } finally {
        await nats.stop();
        removeBenchDir(dir);
      }
    },
  };
}

/**
 * A host of the API role alone in a process of its own (`lib/api-process.mjs`), on the NATS of a
 * bench host (`startBenchHost`'s result; its admin token, so the tokens it made are good here
 * too): `{ url, cpuMs(), profile(fn), stop() }`. `cpuMs()` is the CPU time of the API's
 * thread; `profile(fn)` runs `fn` while that thread is CPU-profiled and resolves the profile.
 * `opts.port` with `opts.reusePort`: on another API process's port, sharing it (`--reuse-port`);
 * `opts.name` names its data folder and node id (default `api-apart`).
 */
export async function startApiProcess(bench, opts = {}) {
  const name = opts.name ?? 'api-apart';
  const config = {
    natsUrl: bench.nats.url,
    dataDir: join(bench.dir, name),
    adminToken: bench.adminToken,
    nodeId: name,
    httpPort: opts.port ?? 0,
    reusePort: opts.reusePort ?? false,
  };
  const child = fork(new URL('./api-process.mjs', import.meta.url), [JSON.stringify(config)], {
    execArgv: ['--no-node-snapshot'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const reply = (key) => replyOf(child, key, 'the API process');
  const url = await reply('apiUrl');
  return {
    url,
    async cpuMs() {
      const r = reply('cpuMs');
      child.send('cpu');
      return r;
    },
    async profile(fn) {
      const started = reply('profiling');
      child.send('profile-start');
      await started;
      await fn();
      const p = reply('profile');
      child.send('profile-stop');
      return p;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
    },
  };
}

/** The next IPC message of `child` that carries `key`: its value (rejected if the child, named `what`, exits first). */
export function replyOf(child, key, what) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (!(key in m)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m[key]);
    };
    const onExit = (code) => reject(new Error(`${what} exited (${code})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * The machine's speed of the moment: the milliseconds a fixed piece of work takes on this thread
 * (JSON round trips of a window's output, SHA-256 of 16 MiB), best of 3. Figures of an absolute
 * target (seconds after a close) move with it: this machine's cores are shared, and some hours
 * every process spends 1.4 times the CPU on the same work. Printed beside such figures.
 */
export function referenceWorkMs() {
  const output = {
    results: Array.from({ length: 8 }, (_, i) => ({
      name: `r${i}`,
      value: i / 7,
      kind: 'data_drift',
      status: 1,
      extraData: { hist: Array.from({ length: 20 }, (_, j) => j / 20) },
    })),
  };
  const data = Buffer.alloc(16 << 20, 7);
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    for (let i = 0; i < 20_000; i++) JSON.parse(JSON.stringify(output));
    createHash('sha256').update(data).digest();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}
