import { spawn, type ChildProcess } from 'node:child_process';
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
import { createTracker } from '../tracker/src/index.js';
import { waitForWindows } from './helpers/events.js';
import { publishDir, TEST_TOKEN } from './helpers/host.js';
import { hostProcess, type HostProcess } from './helpers/processes.js';
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
      sent++;
    }
    await nc.close();
  })();
  return {
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

describe('a cluster: 3 nats-server nodes (JetStream R3) and 3 modelwatch processes of different roles', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nodes: NatsNode[];
  const procs = new Map<string, HostProcess>();
  const clients = new Map<string, ModelwatchClient>();
  /** Roles of each process: each role runs in two of them, and every process answers queries. */
  const ROLES: Record<string, string[]> = {
    a: ['api', 'writer', 'controller', 'stream'],
    b: ['api', 'writer', 'controller', 'runner'],
    c: ['api', 'writer', 'stream', 'runner'],
  };

  beforeAll(async () => {
    dir = await tempDir('mw-cluster-');
    nodes = await natsCluster(dir.path);
    await Promise.all(nodes.map((n) => n.start()));
    const urls = nodes.map((n) => n.url);
    // JetStream answers once the nodes have elected its meta leader
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
    for (const [name, roles] of Object.entries(ROLES)) {
      const args = [
        ...hostFlags({ roles, http: true }, { natsUrls: urls, dataDir: join(dir.path, name), nodeId: name, httpHost: '127.0.0.1' }),
        '--base-period',
        '1s',
        '--allowed-lateness',
        '300ms',
        '--log-level',
        'warn',
      ];
      // three replicas: what a cluster gets by default, said explicitly
      const p = await hostProcess(['--replicas', '3', ...args]);
      await p.start();
      procs.set(name, p);
      clients.set(name, new ModelwatchClient({ url: p.url, token: TEST_TOKEN }));
    }
    const a = clients.get('a')!;
    await publishDir(a, ROW_COUNT);
    await a.createEndpoint({ name: 'steady', featureNames: ['i'], labelNames: ['y'] });
    await a.createEndpoint({ name: 'tracked', featureNames: ['i'], labelNames: ['y'] });
    await a.createEndpoint({ name: 'posted', featureNames: ['i'], labelNames: ['y'] });
  }, 180_000);

  afterAll(async () => {
    if (process.env.MW_CLUSTER_LOG) for (const [name, p] of procs) process.stdout.write(`---- ${name}\n${p.output().slice(-6000)}\n`);
    for (const p of procs.values()) await p.stop();
    for (const n of nodes ?? []) await n.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  /** Traffic of the three kinds: straight to NATS, from the SDK tracker, over HTTP (spread over the APIs). */
  function traffic() {
    const t = steadyTrickle(nodes.map((n) => n.url));
    const tracker = createTracker({ servers: nodes.map((n) => n.url), endpoint: 'tracked', samplingPercentage: 100, batchSize: 10, flushIntervalMs: 100 });
    let tracked = 0;
    let posted = 0;
    let stop = false;
    const loop = (async () => {
      for (let i = 0; !stop; i++) {
        const names = [...clients.keys()];
        await untilWallClock(Date.now() + 50);
        tracker.track({ inputs: [[tracked]], outputs: [0] });
        tracked++;
        // a process being killed answers nothing: the event goes to another API
        for (let k = 0; k < names.length; k++) {
          const c = clients.get(names[(i + k) % names.length]!);
          if (!c) continue;
          const ok = await c.sendEvents('posted', { inputs: [[posted]], outputs: [0] }).then(
            () => true,
            () => false,
          );
          if (ok) {
            posted++;
            break;
          }
        }
      }
    })();
    return {
      async stop(): Promise<Record<string, number>> {
        stop = true;
        await loop;
        await tracker.flush();
        await tracker.close();
        return { steady: await t.stop(), tracked, posted };
      },
    };
  }

  /** Every API's windows of `endpoint` from `from` through `through`: the same, back to back, once each, counting `sent` rows. */
  async function expectSameEverywhere(endpoint: string, from: number, through: number, sent: number | undefined, timeoutMs = 60_000): Promise<void> {
    const seen: Array<ReturnType<typeof comparable>> = [];
    for (const [name, c] of clients) {
      const all = await waitForWindows(`${endpoint}'s windows through ${name}`, () => c.results({ endpoint, limit: 100_000 }), from, through, timeoutMs);
      // this test's (the earlier tests' windows are there too), through the last with traffic:
      // later ones (empty) are stored by each writer within a second of the others
      const ws = all.filter((w) => w.windowStart >= from && w.windowStart <= through);
      expectContiguous(ws);
      if (sent !== undefined)
        expect(
          ws.reduce((n, w) => n + w.rows, 0),
          `${endpoint} rows via ${name}`,
        ).toBe(sent);
      seen.push(comparable(ws));
    }
    for (const s of seen.slice(1)) expect(s).toEqual(seen[0]);
  }

  it('makes its streams and buckets with three replicas, and runs one controller', async () => {
    const nc = await connect({ servers: nodes.map((n) => n.url) });
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
    const states = await Promise.all(['a', 'b'].map((n) => controllerState(procs.get(n)!)));
    expect(states.sort()).toEqual(['active', 'standby']);
  });

  it('answers every query the same through each of the three APIs, every window exactly once', async () => {
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic();
    await untilWallClock(firstWindow + 4 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    for (const [endpoint, n] of Object.entries(sent)) await expectSameEverywhere(endpoint, firstWindow, last, n);
  });

  it('SIGKILL of the active controller (with its stream processor and writer) during traffic: another takes over, nothing lost or twice', async () => {
    const states = Object.fromEntries(await Promise.all(['a', 'b'].map(async (n) => [n, await controllerState(procs.get(n)!)] as const)));
    const active = Object.keys(states).find((n) => states[n] === 'active')!;
    const standby = active === 'a' ? 'b' : 'a';
    const killed = procs.get(active)!;
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic();
    await untilWallClock(firstWindow + 2 * PERIOD);
    clients.delete(active);
    const killedAt = Date.now();
    await killed.kill();
    await waitFor(
      'the standby controller to take over',
      async () => ((await controllerState(procs.get(standby)!)) === 'active' ? true : undefined),
      30_000,
      50,
    );
    const failoverMs = Date.now() - killedAt;
    process.stdout.write(`controller failover: ${failoverMs} ms from SIGKILL of ${active} to ${standby} active\n`);
    await untilWallClock(Date.now() + 3 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    for (const [endpoint, n] of Object.entries(sent)) await expectSameEverywhere(endpoint, firstWindow, last, n);
    // the killed process comes back: its writer catches up from MW_OUTPUTS, its API answers as the others
    await killed.start();
    clients.set(active, new ModelwatchClient({ url: killed.url, token: TEST_TOKEN }));
    for (const [endpoint, n] of Object.entries(sent)) await expectSameEverywhere(endpoint, firstWindow, last, n);
    expect(await controllerState(killed)).toBe('standby');
  });
  it('SIGKILL of one NATS node and of a stream processor (with its writer and runner) during traffic: nothing lost or twice', async () => {
    const victim = 'c';
    const killed = procs.get(victim)!;
    const node = nodes[2]!;
    const firstWindow = Math.ceil(Date.now() / PERIOD) * PERIOD;
    await untilWallClock(firstWindow);
    const tr = traffic();
    await untilWallClock(firstWindow + 2 * PERIOD);
    await node.kill();
    clients.delete(victim);
    await killed.kill();
    await untilWallClock(Date.now() + 3 * PERIOD);
    const sent = await tr.stop();
    const last = Math.floor(Date.now() / PERIOD) * PERIOD;
    // the streams whose leader was on the node elect another (seconds, longer on a loaded machine).
    // The tracker holds the events it could not send meanwhile and sends them later: those that
    // come after their window's lateness are dead-lettered (LATE_EVENT), so its windows are only
    // compared between the APIs
    const counted = { ...sent, tracked: undefined };
    for (const [endpoint, n] of Object.entries(counted)) await expectSameEverywhere(endpoint, firstWindow, last, n, 180_000);
    // both come back: the node catches up with its peers, the process's writer with MW_OUTPUTS
    await node.start();
    await waitFor('every stream to have its three replicas current', () => replicasCurrent(nodes.map((n) => n.url)), 120_000, 500);
    await killed.start();
    clients.set(victim, new ModelwatchClient({ url: killed.url, token: TEST_TOKEN }));
    for (const [endpoint, n] of Object.entries(counted)) await expectSameEverywhere(endpoint, firstWindow, last, n);
  }, 600_000);
});
