import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Buckets, Streams, Subjects, type WindowRecord } from '@modelwatch/protocol';
import { jsonCodec } from '../host/src/nats/codec.js';
// the commands of the example deployment (deploy/), here on loopback ports
import { hostFlags, NATS_NODES, natsServerArgs } from '../deploy/topology.mjs';
import { ModelwatchClient } from '../host/src/client/client.js';
import { freePort } from '../host/src/nats/server.js';
import { createTracker, type TrackerStats } from '../tracker/src/index.js';
import { waitForWindows } from './helpers/events.js';
import { publishDir, TEST_TOKEN } from './helpers/host.js';
import { previousVersion, type PreviousVersion } from './helpers/previous-version.js';
import { hostProcess, type HostProcess, type HostProcessOptions } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;

/** A nats-server node of the test cluster, on fixed loopback ports so it can come back. */
interface NatsNode {
  url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function natsCluster(dir: string): Promise<NatsNode[]> {
  const ports = await Promise.all(Array.from({ length: NATS_NODES }, async () => ({ client: await freePort(), cluster: await freePort() })));
  const at = (j: number) => ({ host: '127.0.0.1', listen: '127.0.0.1', clientPort: ports[j]!.client, clusterPort: ports[j]!.cluster });
  return ports.map((p, i) => {
    let child: ChildProcess | undefined;
    let log = '';
    const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
    const end = async (signal: NodeJS.Signals) => {
      const c = child;
      child = undefined;
      if (!c) return;
      c.kill(signal);
      await exited(c);
    };
    return {
      url: `nats://127.0.0.1:${p.client}`,
      async start() {
        const c = spawn('nats-server', natsServerArgs(i, { at, storeDir: join(dir, `nats-${i}`) }), { stdio: ['ignore', 'ignore', 'pipe'] });
        child = c;
        c.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
        await waitFor(`nats-${i} to listen`, async () => {
          if (c.exitCode !== null) throw new Error(`nats-${i} exited: ${log}`);
          const nc = await connect({ servers: `nats://127.0.0.1:${p.client}`, maxReconnectAttempts: 0 }).catch(() => undefined);
          await nc?.close();
          return nc ? true : undefined;
        });
      },
      kill: () => end('SIGKILL'),
      stop: () => end('SIGTERM'),
    };
  });
}

/** Every window from the first to the last exactly once, back to back. */
function expectContiguous(ws: WindowRecord[]): void {
  const sorted = [...ws].sort((a, b) => a.windowStart - b.windowStart);
  expect(new Set(sorted.map((w) => w.windowStart)).size).toBe(sorted.length);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.windowStart).toBe(sorted[i - 1]!.windowEnd);
}

/** What must be the same through every API: each window's bounds, outcome, rows and results. */
function comparable(ws: WindowRecord[]) {
  return [...ws]
    .sort((a, b) => a.windowStart - b.windowStart)
    .map((w) => ({ start: w.windowStart, end: w.windowEnd, outcome: w.outcome, rows: w.rows, version: w.version, results: w.results }));
}

/**
 * Events straight to JetStream for 'steady', one every 50 ms, each with its own message id, published
 * again (same id: JetStream keeps one) until acknowledged while a node is down or a leader moves.
 */
function steadyTrickle(urls: string[]) {
  let stop = false;
  let sent = 0;
  const sentAt: number[] = [];
  // ids of their own: JetStream drops an id it saw within its duplicate window (2 min), an earlier test's too
  const run = Math.random().toString(36).slice(2);
  const done = (async () => {
    const nc = await connect({ servers: urls, maxReconnectAttempts: -1 });
    const js = jetstream(nc);
    while (!stop) {
      await untilWallClock(Date.now() + 50);
      for (;;) {
        try {
          await js.publish(Subjects.events('steady'), jsonCodec.encode({ inputs: [[sent]], outputs: [0] }), { msgID: `steady-${run}-${sent}`, timeout: 2000 });
          break;
        } catch {
          // no leader for the stream yet: the same event again
        }
      }
      sentAt.push(Date.now());
      sent++;
    }
    await nc.close();
  })();
  return {
    sentAt,
    async stop() {
      stop = true;
      await done;
      return sent;
    },
  };
}

/** True once every stream has a leader and two current followers (the cluster has healed). */
async function replicasCurrent(urls: string[]): Promise<true | undefined> {
  const nc = await connect({ servers: urls });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const si of jsm.streams.list()) {
      const c = si.cluster;
      if (!c?.leader || (c.replicas ?? []).length !== 2 || !(c.replicas ?? []).every((r) => r.current && !r.offline)) return undefined;
    }
    return true;
  } finally {
    await nc.close();
  }
}

/** The controller check of a process's /readyz: 'active', 'standby', or undefined (down, or no controller). */
async function controllerState(p: HostProcess): Promise<'active' | 'standby' | undefined> {
  const res = await fetch(`${p.url}/readyz`).catch(() => undefined);
  if (!res) return undefined;
  const body = (await res.json()) as { checks: Array<{ name: string; message: string }> };
  const m = body.checks.find((c) => c.name === 'controller')?.message;
  return m?.startsWith('active') ? 'active' : m?.startsWith('standby') ? 'standby' : undefined;
}

/** The wall-clock time of `t` (hh:mm:ss.mmm), for a test's timeline. */
const clock = (t = Date.now()) => new Date(t).toISOString().slice(11, 23);

/** The test's cluster: its nats-server nodes, its modelwatch processes by name, a client of each API that is up. */
interface Cluster {
  dir: string;
  nodes: NatsNode[];
  urls: string[];
  procs: Map<string, HostProcess>;
  clients: Map<string, ModelwatchClient>;
}

/** Roles of each process: each role runs in two of them, and every process answers queries. */
const ROLES: Record<string, string[]> = {
  a: ['api', 'writer', 'controller', 'stream'],
  b: ['api', 'writer', 'controller', 'runner'],
  c: ['api', 'writer', 'stream', 'runner'],
};

/** Three nats-server nodes in `dir`, once JetStream answers (the nodes have elected its meta leader). */
async function startCluster(dir: string): Promise<Cluster> {
  const nodes = await natsCluster(dir);
  const urls = nodes.map((n) => n.url);
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await waitFor(
      'the JetStream cluster',
      async () => {
        const nc = await connect({ servers: urls });
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      60_000,
      250,
    );
  } catch (err) {
    // a start that failed leaves no node running (each is spawned before it is waited for)
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return { dir, nodes, urls, procs: new Map(), clients: new Map() };
}

/** A modelwatch process `name` of `roles` (its data folder `<dir>/<name>`), started and answering; `opts.cli` for another checkout's. */
async function startHost(cl: Cluster, name: string, roles: string[], opts: HostProcessOptions = {}): Promise<HostProcess> {
  const args = [
    ...hostFlags({ roles, http: true }, { natsUrls: cl.urls, dataDir: join(cl.dir, name), nodeId: name, httpHost: '127.0.0.1' }),
    '--base-period',
    '1s',
    '--allowed-lateness',
    '3s',
    '--log-level',
    'warn',
  ];
  // three replicas: what a cluster gets by default, said explicitly
  const p = await hostProcess(['--replicas', '3', ...args], {}, opts);
  // in the cluster before it is up: one that does not come up is stopped with the others
  cl.procs.set(name, p);
  await p.start();
  cl.clients.set(name, new ModelwatchClient({ url: p.url, token: TEST_TOKEN }));
  return p;
}

/**
 * The cluster with its three processes of {@link ROLES} (from another checkout's CLI with
 * `opts.cli`), the row-count app and the three endpoints the traffic goes to.
 */
async function startClusterWithHosts(dir: string, opts: HostProcessOptions = {}): Promise<Cluster> {
  const cl = await startCluster(dir);
  try {
    for (const [name, roles] of Object.entries(ROLES)) await startHost(cl, name, roles, opts);
    const client = cl.clients.get('a')!;
    await publishDir(client, ROW_COUNT);
    for (const name of ['steady', 'tracked', 'posted']) await client.createEndpoint({ name, featureNames: ['i'], labelNames: ['y'] });
  } catch (err) {
    // the caller gets no cluster to stop: what started of it ends here
    await stopCluster(cl);
    throw err;
  }
  return cl;
}

/** What a stop of the cluster may take: each process up to 20 s (SIGTERM, then the helper's SIGKILL), then the nodes. */
const STOP_CLUSTER_MS = 120_000;

/** Stop every process (SIGTERM, all at once), then every nats-server node; resolves once all have exited. */
async function stopCluster(cl: Cluster | undefined): Promise<void> {
  if (!cl) return;
  if (process.env.MW_CLUSTER_LOG) for (const [name, p] of cl.procs) process.stdout.write(`---- ${name}\n${p.output().slice(-6000)}\n`);
  await Promise.all([...cl.procs.values()].map((p) => p.stop()));
  await Promise.all(cl.nodes.map((n) => n.stop()));
}

/** SIGTERM, and the process stops by itself (exit 0), not by the helper's SIGKILL 20 s later; its last output if not. */
async function stopCleanly(p: HostProcess, name: string): Promise<void> {
  const at = Date.now();
  const exit = await p.stop();
  if (exit?.code !== 0)
    process.stdout.write(`${name} after SIGTERM at ${clock(at)}: ${JSON.stringify(exit)} at ${clock()}; its last output:\n${p.output().slice(-4000)}\n`);
  expect(exit, `${name}'s exit at SIGTERM`).toEqual({ code: 0, signal: null });
}

/** Wait until the process's `/readyz` answers 200 (every check of its roles ready). */
async function untilReady(p: HostProcess, name: string): Promise<void> {
  let last = '';
  await waitFor(
    `${name}'s /readyz to answer ready`,
    async () => {
      const res = await fetch(`${p.url}/readyz`).catch((err: Error) => (last = err.message) && undefined);
      if (!res) return undefined;
      last = `${res.status} ${await res.text()}`;
      return res.status === 200 ? true : undefined;
    },
    120_000,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last answer: ${last.slice(0, 500)})`, { cause: err });
  });
}

/**
 * Traffic of the three kinds: straight to NATS, from the SDK tracker, over HTTP (spread over the
 * APIs in `cl.clients`, read at each send: a test takes out the one it stops). `sentAt` holds the
 * wall-clock time of each event sent, for a report of where rows went missing.
 */
function traffic(cl: Cluster) {
  const t = steadyTrickle(cl.urls);
  const tracker = createTracker({ servers: cl.urls, endpoint: 'tracked', samplingPercentage: 100, batchSize: 10, flushIntervalMs: 100 });
  const trackedAt: number[] = [];
  const postedAt: number[] = [];
  // keys unique to this traffic: the stream's duplicate window (2 min) outlives a test
  const run = randomUUID();
  let trackerStats: TrackerStats | undefined;
  let stop = false;
  /** Whether the last event posted got no answer from any API (it may be stored nonetheless). */
  let unanswered = false;
  const postNext = async (i: number) => {
    const names = [...cl.clients.keys()];
    for (let k = 0; k < names.length; k++) {
      const c = cl.clients.get(names[(i + k) % names.length]!);
      if (!c) continue;
      // the same key on every API: an event whose first post was stored before its 202 was lost counts once
      const ok = await c.sendEvents('posted', { inputs: [[postedAt.length]], outputs: [0] }, { idempotencyKey: `${run}:${postedAt.length}` }).then(
        () => true,
        () => false,
      );
      if (ok) {
        postedAt.push(Date.now());
        unanswered = false;
        return;
      }
    }
    unanswered = true;
  };
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      await untilWallClock(Date.now() + 50);
      tracker.track({ inputs: [[trackedAt.length]], outputs: [0] });
      trackedAt.push(Date.now());
      // a process being killed answers nothing: the event goes to another API (and, when none
      // answered, again on the next turn: its index and key stay those of the unanswered one)
      await postNext(i);
    }
    // the last event, when no API answered it: it may be stored, so it is sent until one answers
    for (let i = 0; unanswered && i < 100; i++) {
      await untilWallClock(Date.now() + 100);
      await postNext(i);
    }
  })();
  return {
    /** When each event was sent (accepted), by endpoint. */
    sentAt: { steady: t.sentAt, tracked: trackedAt, posted: postedAt } satisfies Record<string, number[]>,
    /** The tracker's counts (tracked, delivered, dropped, failures), once stopped. */
    trackerStats: () => trackerStats,
    async stop(): Promise<Record<string, number>> {
      stop = true;
      await loop;
      await tracker.flush();
      trackerStats = { ...tracker.stats() };
      await tracker.close();
      return { steady: await t.stop(), tracked: trackedAt.length, posted: postedAt.length };
    },
  };
}

/** What to print when an endpoint's stored rows are not the rows sent: when each was sent, the tracker's counts, what the test did meanwhile. */
interface LossReport {
  sentAt: Record<string, number[]>;
  tracker?: TrackerStats;
  timeline?: string[];
}

/** Every API's windows of `endpoint` from `from` through `through`: the same, back to back, once each, counting `sent` rows. */
async function expectSameEverywhere(
  cl: Cluster,
  endpoint: string,
  from: number,
  through: number,
  sent: number | undefined,
  timeoutMs = 60_000,
  report?: LossReport,
): Promise<void> {
  const seen: Array<ReturnType<typeof comparable>> = [];
  for (const [name, c] of cl.clients) {
    const all = await waitForWindows(`${endpoint}'s windows through ${name}`, () => c.results({ endpoint, limit: 100_000 }), from, through, timeoutMs);
    // this test's (the earlier tests' windows are there too), through the last with traffic:
    // later ones (empty) are stored by each writer within a second of the others
    const ws = all.filter((w) => w.windowStart >= from && w.windowStart <= through);
    expectContiguous(ws);
    const stored = ws.reduce((n, w) => n + w.rows, 0);
    if (sent !== undefined && stored !== sent && report) {
      // by the test's clock: an event sent near a window's end may be filed in the next one
      // and the same window as the other APIs have it: which output each stored (attempts, runner, completion)
      const others = new Map<string, WindowRecord[]>();
      for (const [other, oc] of cl.clients)
        if (other !== name) others.set(other, await oc.results({ endpoint, limit: 100_000 }).catch(() => [] as WindowRecord[]));
      const how = (w: WindowRecord | undefined) =>
        w ? `${w.rows} rows (${w.outcome}, attempts ${w.attempts}, ${w.runner}, completed ${w.completedAt}, stored ${w.storedAt})` : 'none';
      const byWindow = ws.map((w) => {
        const n = (report.sentAt[endpoint] ?? []).filter((t) => t >= w.windowStart && t < w.windowEnd).length;
        const elsewhere = [...others.values()].map((list) => list.find((x) => x.windowStart === w.windowStart && x.app === w.app));
        const differ = elsewhere.some((x) => x?.rows !== w.rows);
        const detail = differ ? `; here ${how(w)}; ${[...others.keys()].map((o, i) => `${o} ${how(elsewhere[i])}`).join('; ')}` : '';
        return `${clock(w.windowStart)} stored ${w.rows} sent ${n}${w.rows === n ? '' : ' <--'}${detail}`;
      });
      const letters = await c.deadLetters({ endpoint, limit: 1000 }).then(
        (l) => l.letters.filter((d) => Date.parse(d.time) >= from).map((d) => `dead letter ${d.time} ${d.reason.code}: ${d.reason.message}`),
        (err: Error) => [`dead letters: ${err.message}`],
      );
      const lines = [...byWindow, `tracker: ${JSON.stringify(report.tracker)}`, ...letters, ...(report.timeline ?? [])];
      process.stdout.write(`${endpoint} via ${name}: ${stored} rows stored, ${sent} sent\n  ${lines.join('\n  ')}\n`);
    }
    if (sent !== undefined) expect(stored, `${endpoint} rows via ${name}`).toBe(sent);
    seen.push(comparable(ws));
  }
  for (const s of seen.slice(1)) expect(s).toEqual(seen[0]);
}

describe('a cluster: 3 nats-server nodes (JetStream R3) and 3 modelwatch processes of different roles', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cl: Cluster;

  beforeAll(async () => {
    dir = await tempDir('mw-cluster-');
    cl = await startClusterWithHosts(dir.path);
  }, 180_000);

  afterAll(async () => {
    try {
      await stopCluster(cl);
    } finally {
      await dir?.[Symbol.asyncDispose]();
    }
  }, STOP_CLUSTER_MS);

  it('makes its streams and buckets with three replicas, and runs one controller', async () => {
    const nc = await connect({ servers: cl.urls });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(Streams.outputs)).config.num_replicas).toBe(3);
      expect((await jsm.streams.info(`KV_${Buckets.controller}`)).config.num_replicas).toBe(3);
      expect((await jsm.streams.info(`KV_${Buckets.leases}`)).config.num_replicas).toBe(3);
      // every writer reads the outputs through its own consumer
      for (const name of Object.keys(ROLES)) expect((await jsm.consumers.info(Streams.outputs, `writer-${name}`)).config.durable_name).toBe(`writer-${name}`);
    } finally {
      await nc.close();
    }
    const states = await Promise.all(['a', 'b'].map((n) => controllerState(cl.procs.get(n)!)));
    expect(states.sort()).toEqual(['active', 'standby']);
  });

  it('answers every query the same through each of the three APIs, every window exactly once', async () => {
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic(cl);
    await untilWallClock(firstWindow + 4 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    for (const [endpoint, n] of Object.entries(sent))
      await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 60_000, { sentAt: tr.sentAt, tracker: tr.trackerStats() });
  });

  it('SIGKILL of the active controller (with its stream processor and writer) during traffic: another takes over, nothing lost or twice', async () => {
    const states = Object.fromEntries(await Promise.all(['a', 'b'].map(async (n) => [n, await controllerState(cl.procs.get(n)!)] as const)));
    const active = Object.keys(states).find((n) => states[n] === 'active')!;
    const standby = active === 'a' ? 'b' : 'a';
    const killed = cl.procs.get(active)!;
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic(cl);
    await untilWallClock(firstWindow + 2 * PERIOD);
    cl.clients.delete(active);
    const killedAt = Date.now();
    await killed.kill();
    await waitFor(
      'the standby controller to take over',
      async () => ((await controllerState(cl.procs.get(standby)!)) === 'active' ? true : undefined),
      30_000,
      50,
    );
    const failoverMs = Date.now() - killedAt;
    process.stdout.write(`controller failover: ${failoverMs} ms from SIGKILL of ${active} to ${standby} active\n`);
    await untilWallClock(Date.now() + 3 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    for (const [endpoint, n] of Object.entries(sent))
      await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 60_000, { sentAt: tr.sentAt, tracker: tr.trackerStats() });
    // the killed process comes back: its writer catches up from MW_OUTPUTS, its API answers as the others
    await killed.start();
    cl.clients.set(active, new ModelwatchClient({ url: killed.url, token: TEST_TOKEN }));
    for (const [endpoint, n] of Object.entries(sent))
      await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 60_000, { sentAt: tr.sentAt, tracker: tr.trackerStats() });
    expect(await controllerState(killed)).toBe('standby');
  });
  it('SIGKILL of one NATS node and of a stream processor (with its writer and runner) during traffic: nothing lost or twice', async () => {
    const victim = 'c';
    const killed = cl.procs.get(victim)!;
    const node = cl.nodes[2]!;
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic(cl);
    await untilWallClock(firstWindow + 2 * PERIOD);
    await node.kill();
    cl.clients.delete(victim);
    await killed.kill();
    await untilWallClock(Date.now() + 3 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    // the streams whose leader was on the node elect another (seconds, longer on a loaded machine).
    // The tracker holds the events it could not send meanwhile and sends them later: those that
    // come after their window's lateness are dead-lettered (LATE_EVENT), so its windows are only
    // compared between the APIs
    const counted = { ...sent, tracked: undefined };
    try {
      for (const [endpoint, n] of Object.entries(counted))
        await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 180_000, { sentAt: tr.sentAt, tracker: tr.trackerStats() });
    } finally {
      // both come back, whatever the check said: the node catches up with its peers, the process's
      // writer with MW_OUTPUTS (a failure here leaves the next tests a whole cluster)
      await node.start();
      await waitFor('every stream to have its three replicas current', () => replicasCurrent(cl.urls), 120_000, 500);
      await killed.start();
      cl.clients.set(victim, new ModelwatchClient({ url: killed.url, token: TEST_TOKEN }));
    }
    for (const [endpoint, n] of Object.entries(counted))
      await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 60_000, { sentAt: tr.sentAt, tracker: tr.trackerStats() });
  }, 600_000);

  it('a rolling restart of every process, one by one, during traffic: nothing lost or twice, the same results through every API', async () => {
    const timeline: string[] = [];
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic(cl);
    await untilWallClock(firstWindow + 2 * PERIOD);
    // as an orchestrator does it: SIGTERM, the same node id and data folder, the next once it is ready
    for (const name of Object.keys(ROLES)) {
      const p = cl.procs.get(name)!;
      cl.clients.delete(name);
      const at = Date.now();
      await stopCleanly(p, name);
      const stopped = Date.now();
      await p.start();
      await untilReady(p, name);
      timeline.push(`${name} (${ROLES[name]!.join(',')}): SIGTERM ${clock(at)}, exited ${clock(stopped)}, ready ${clock()}`);
      cl.clients.set(name, new ModelwatchClient({ url: p.url, token: TEST_TOKEN }));
    }
    await untilWallClock(Date.now() + 2 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    process.stdout.write(`rolling restart, traffic ${clock(firstWindow)} to ${clock(last)}:\n  ${timeline.join('\n  ')}\n`);
    for (const [endpoint, n] of Object.entries(sent))
      await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 60_000, { sentAt: tr.sentAt, tracker: tr.trackerStats(), timeline });
    const states = await Promise.all(['a', 'b'].map((n) => controllerState(cl.procs.get(n)!)));
    expect(states.sort()).toEqual(['active', 'standby']);
  }, 600_000);
});

describe('a rolling upgrade: processes of the previous version (test/fixtures/upgrade-base/commit) with traffic, the current version joins, the previous leaves one by one', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cl: Cluster;
  let previous: PreviousVersion;

  beforeAll(async () => {
    const t = Date.now();
    previous = await previousVersion();
    process.stdout.write(
      `previous version ${previous.commit.slice(0, 7)} at ${previous.dir}: ${previous.built ? `built in ${previous.buildMs} ms (dependencies ${previous.deps})` : `cached (${Date.now() - t} ms)`}\n`,
    );
    dir = await tempDir('mw-upgrade-');
    cl = await startClusterWithHosts(dir.path, { cli: previous.cli });
  }, 900_000);

  afterAll(async () => {
    try {
      await stopCluster(cl);
    } finally {
      await dir?.[Symbol.asyncDispose]();
    }
  }, STOP_CLUSTER_MS);

  it('loses no event, skips or repeats no window, and answers the same through each API of the current version', async () => {
    // the processes run the previous version's CLI, from its own checkout
    for (const p of cl.procs.values()) expect(readFileSync(`/proc/${p.pid()}/cmdline`, 'utf8').split('\0')).toContain(previous.cli);
    const timeline: string[] = [];
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic(cl);
    await untilWallClock(firstWindow + 2 * PERIOD);
    for (const [name, roles] of Object.entries(ROLES)) {
      // the current version joins with the same roles (a node id and data folder of its own) ...
      const next = `${name}2`;
      const joined = Date.now();
      const p = await startHost(cl, next, roles);
      await untilReady(p, next);
      // ... and, once it is ready, the previous one leaves
      cl.clients.delete(name);
      const left = Date.now();
      await stopCleanly(cl.procs.get(name)!, name);
      timeline.push(`${next} (${roles.join(',')}) started ${clock(joined)}, ready ${clock(left)}; ${name} SIGTERM ${clock(left)}, exited ${clock()}`);
    }
    await untilWallClock(Date.now() + 2 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    process.stdout.write(`rolling upgrade, traffic ${clock(firstWindow)} to ${clock(last)}:\n  ${timeline.join('\n  ')}\n`);
    expect([...cl.clients.keys()].sort()).toEqual(['a2', 'b2', 'c2']);
    for (const [endpoint, n] of Object.entries(sent))
      await expectSameEverywhere(cl, endpoint, firstWindow, last, n, 60_000, { sentAt: tr.sentAt, tracker: tr.trackerStats(), timeline });
    const states = await Promise.all(['a2', 'b2'].map((n) => controllerState(cl.procs.get(n)!)));
    expect(states.sort()).toEqual(['active', 'standby']);
  }, 600_000);
});
