import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Consumers, Streams, Subjects, type AppOutputMessage, type WindowRecord } from '@modelwatch/protocol';
import { outputKey, windowKey } from '../host/src/domain/keys.js';
import { createHost } from '../host/src/host.js';
import { rowCountTask } from './helpers/outputs.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { MaxDeliver, openBuckets } from '../host/src/nats/topology.js';
import { AppRunner, CRASH_TOLERANCE } from '../host/src/runner/runner.js';
import { trickle, waitForWindows } from './helpers/events.js';
import { publishDir, startTestHost, TEST_TOKEN } from './helpers/host.js';
import { startTestNats, startTestTopology } from './helpers/nats.js';
import { hostProcess, testHostArgs } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

/** The output a runner started on `topology` stores for the endpoint `id`'s window (its task already in MW_TASKS). */
async function outcomeWithARunner(topology: { nc: NatsConnection; jsm: JetStreamManager }, id: string): Promise<AppOutputMessage> {
  const runner = new AppRunner({ nc: topology.nc, logger: createLogger('warn'), windowAttempts: 3 });
  await runner.start();
  try {
    return await waitFor("the window's outcome", async () => {
      const m = await topology.jsm.streams.getMessage(Streams.outputs, { last_by_subj: Subjects.outputs(id) }).catch(() => null);
      return m ? m.json<AppOutputMessage>() : undefined;
    });
  } finally {
    await runner.stop();
  }
}

/** A plugin whose doTracking runs `body` on a window with rows. */
async function writeApp(root: string, name: string, body: string, limits: object): Promise<string> {
  const app = join(root, name);
  await mkdir(join(app, 'src'), { recursive: true });
  await writeFile(join(app, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', description: name, entry: 'src/index.ts', limits }));
  await writeFile(
    join(app, 'src/index.ts'),
    `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';\nexport default class App extends MonitoringApplication {\n  // eslint-disable-next-line\n  doTracking(ctx: MonitoringContext): any {\n    if (ctx.sample.length === 0) return [];\n    ${body}\n  }\n}\n`,
  );
  return app;
}

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;

/** Every window from the first to the last exactly once, back to back. */
function expectContiguous(ws: WindowRecord[]): void {
  const sorted = [...ws].sort((a, b) => a.windowStart - b.windowStart);
  expect(new Set(sorted.map((w) => w.windowStart)).size).toBe(sorted.length);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.windowStart).toBe(sorted[i - 1]!.windowEnd);
}

describe('restarts and crashes', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-restart-');
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('a restarted host neither skips nor repeats a window, and loses no event', async () => {
    const dataDir = join(dir.path, 'host');
    const opts = { natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 1000 };
    let env = await startTestHost(opts);
    let t: ReturnType<typeof trickle> | undefined;
    try {
      await publishDir(env.client, ROW_COUNT);
      await env.client.createEndpoint({ name: 'steady', featureNames: ['i'], labelNames: ['y'] });
      const firstWindow = Math.floor(Date.now() / PERIOD) * PERIOD;
      t = trickle(nats.url, ['steady'], 50);
      // the host analyses the first two windows
      await waitForWindows('the first two windows', () => env.client.results({ endpoint: 'steady' }), firstWindow, firstWindow + PERIOD);
      await env.host.stop();
      await t.through(Date.now() + 2500); // windows end while the host is down; events keep arriving in JetStream
      env = await startTestHost(opts);
      // the restarted host has caught up and analyses live windows again
      const restartedAt = Date.now();
      await waitForWindows('a window begun after the restart', () => env.client.results({ endpoint: 'steady' }), firstWindow, restartedAt);
      const sent = (await t.stop()).get('steady')!;
      const lastEventWindowEnd = Math.ceil((Date.now() + 1) / PERIOD) * PERIOD;
      // every window between, not only the first and the last: those of the downtime are analysed
      // after the restart, possibly after later ones
      const windows = await waitForWindows(
        'every window through the last event',
        () => env.client.results({ endpoint: 'steady' }),
        firstWindow,
        lastEventWindowEnd,
      );
      await env.host.stop();
      expectContiguous(windows);
      const counted = windows.reduce((n, w) => n + w.rows, 0);
      expect(counted).toBe(sent);
      for (const w of windows) {
        if (w.outcome === 'ok') expect(w.results.find((r) => r.name === 'rows')!.value).toBe(w.rows);
      }
    } finally {
      // stopped already when all went well; when not, they do not outlive the test
      await t?.stop().catch(() => undefined);
      await env.host.stop();
    }
  });

  it('a runner process killed with SIGKILL is restarted, and windows keep being analysed', async () => {
    const env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 1000 });
    try {
      await env.client.createEndpoint({ name: 'crashy', featureNames: ['i'], labelNames: ['y'] });
      const firstWindow = Math.floor(Date.now() / PERIOD) * PERIOD;
      const t = trickle(nats.url, ['crashy'], 50);
      // the runner is at work: it has analysed the first window
      await waitForWindows('the first window', () => env.client.results({ endpoint: 'crashy' }), firstWindow, firstWindow);
      const [pid] = env.host.runnerPids();
      expect(pid).toBeGreaterThan(0);
      process.kill(pid!, 'SIGKILL');
      await waitFor('a new runner', () => {
        const pids = env.host.runnerPids();
        return pids.length === 1 && pids[0] !== pid ? true : undefined;
      });
      // the new runner analyses: a window begun after it came up is stored
      const restartedAt = Date.now();
      await waitFor('a window begun after the new runner came up', async () =>
        (await env.client.results({ endpoint: 'crashy' })).find((w) => w.windowStart >= restartedAt),
      );
      const sent = (await t.stop()).get('crashy')!;
      const end = Math.ceil((Date.now() + 1) / PERIOD) * PERIOD;
      // every window from the first event's through the last: the one the killed runner was on
      // comes back only after the ack wait, possibly after later ones
      const windows = await waitForWindows('every window through the last event', () => env.client.results({ endpoint: 'crashy' }), firstWindow, end);
      expectContiguous(windows);
      expect(windows.reduce((n, w) => n + w.rows, 0)).toBe(sent);
      expect(windows.every((w) => w.outcome !== 'error')).toBe(true);
    } finally {
      await env[Symbol.asyncDispose]();
    }
  });
  it('a window lost with a runner another plugin crashed is not charged an attempt for it', async () => {
    // one runner working on two windows at once: the bystander's (busy for 6 s) and the crasher's
    // (V8 out of memory beyond recovery: the runner process aborts). The bystander's task comes
    // back to the restarted runner: its lost delivery is not one of its attempts, so with one
    // attempt it still runs, and its output says attempt 1 (before, 2: four such neighbours
    // in a row made it WINDOW_FAILED, the flake of hostile.test.ts)
    const env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200, runners: 1, runnerConcurrency: 3, windowAttempts: 1 });
    try {
      const limits = { timeoutMs: 60_000, memoryMb: 8 };
      await publishDir(
        env.client,
        await writeApp(dir.path, 'bystander', 'const until = Date.now() + 6000; while (Date.now() < until);\n    return [{ name: "done", value: 1 }];', limits),
      );
      await publishDir(
        env.client,
        await writeApp(
          dir.path,
          'crasher',
          'const until = Date.now() + 300; while (Date.now() < until);\n    const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });',
          limits,
        ),
      );
      await env.client.createEndpoint({ name: 'shared', featureNames: ['i'], labelNames: ['y'] });
      const [first] = env.host.runnerPids();
      const ws = Math.ceil((Date.now() + 200) / PERIOD) * PERIOD;
      await untilWallClock(ws);
      await env.client.sendEvents('shared', [{ when: ws + 1, inputs: [[1]], outputs: [0] }]);
      const windows = await waitFor(
        'both windows',
        async () => {
          // row-count too, published by an earlier test on this server
          const got = (await env.client.results({ endpoint: 'shared' })).filter((w) => w.windowStart === ws && w.app !== 'row-count');
          return got.length === 2 ? got : undefined;
        },
        90_000,
      );
      const crashed = windows.find((w) => w.app === 'crasher')!;
      expect(crashed).toMatchObject({ outcome: 'error', error: { code: 'APP_MEMORY_LIMIT' } });
      expect(crashed.error!.message).toMatch(/crashed its runner/);
      const bystander = windows.find((w) => w.app === 'bystander')!;
      expect(bystander).toMatchObject({ outcome: 'ok', metrics: [expect.objectContaining({ name: 'done', value: 1 })] });
      // it was in flight when the runner died: run to its end by the restarted runner
      expect(bystander.runner).not.toBe(`${hostname()}:${first}`);
      expect(bystander.attempts).toBe(1);
    } finally {
      await env[Symbol.asyncDispose]();
    }
  });
  it('a window whose every delivery is lost with its runner still gets an outcome', async () => {
    // its own server: the task consumer's ack wait is short here
    await using topology = await startTestTopology({ taskAckWaitMs: 300 });
    const { js } = topology;
    const task = rowCountTask('lossy', PERIOD);
    const { endpointId: id, windowStart } = task;
    await js.publish(Subjects.tasks('row-count'), jsonCodec.encode(task), { msgID: windowKey(id, 'row-count', windowStart) });
    // runners that die holding it: delivered, never acknowledged, up to and including the
    // delivery at which a runner gives up (3 attempts + CRASH_TOLERANCE)
    const tasks = await js.consumers.get(Streams.tasks, Consumers.runners);
    for (let delivery = 1; delivery <= 3 + CRASH_TOLERANCE; delivery++) {
      const m = await tasks.next({ expires: 10_000 });
      expect(m?.info.deliveryCount).toBe(delivery);
    }
    // a runner that lives: it records the window as failed rather than never
    const stored = await outcomeWithARunner(topology, id);
    expect(stored).toMatchObject({ windowStart, outcome: 'error', error: { code: 'WINDOW_FAILED' } });
    expect(stored.error!.message).toMatch(/gave up after \d+ deliveries ended without an outcome/);
  });
  it('a window handed back or lost as a bystander up to the cap of deliveries still gets an outcome', async () => {
    // deliveries that are not attempts (handed back unrun, lost with a runner another window
    // crashed) never reach window attempts + CRASH_TOLERANCE; at MW_TASKS' cap (100) the task would
    // end without an outcome. Its last deliveries are recorded as failed instead
    await using topology = await startTestTopology();
    const { nc, js } = topology;
    const task = rowCountTask('capped', PERIOD);
    const { endpointId: id, windowStart } = task;
    await js.publish(Subjects.tasks('row-count'), jsonCodec.encode(task), { msgID: windowKey(id, 'row-count', windowStart) });
    const tasks = await js.consumers.get(Streams.tasks, Consumers.runners);
    const cap = MaxDeliver[Consumers.runners];
    for (let delivery = 1; delivery <= cap - 2; delivery++) {
      const m = await tasks.next({ expires: 10_000 });
      expect(m?.info.deliveryCount).toBe(delivery);
      m!.nak();
    }
    // each counted as not an attempt, as a runner counts a task it hands back
    await (await openBuckets(nc)).deferrals.put(outputKey(task), String(cap - 2));
    const stored = await outcomeWithARunner(topology, id);
    expect(stored).toMatchObject({ windowStart, outcome: 'error', error: { code: 'WINDOW_FAILED' }, attempts: 1 });
    expect(stored.error!.message).toMatch(new RegExp(`gave up at delivery ${cap - 1} of at most ${cap}: its deliveries were handed back unrun`));
  });
  it('SIGTERM to a host whose NATS server is gone: it stops by itself and leaves no runner', async () => {
    // its own server, killed under the host: the drain of a NATS connection never ends while its
    // server is away, and every step that waits on NATS would wait for the reconnect
    const server = await startTestNats();
    const host = await hostProcess(testHostArgs(join(dir.path, 'gone'), '--nats', server.url, '--node-id', 'gone-a'));
    try {
      await host.start();
      const runners = await waitFor('the runner', () => (host.runnerPids().length ? host.runnerPids() : undefined));
      server.kill('SIGKILL');
      await waitFor('the host to see NATS gone', async () => ((await fetch(`${host.url}/readyz`)).ok ? undefined : true));
      // SIGKILL after 20 s (the helper): exit 0 and no signal is a stop of its own
      expect(await host.stop(), host.output().slice(-3000)).toEqual({ code: 0, signal: null });
      for (const pid of runners) expect(() => process.kill(pid, 0), `runner ${pid} outlived its host`).toThrow();
    } finally {
      await host.kill();
      await server[Symbol.asyncDispose]();
    }
  });
  it('a host whose own nats-server hangs still stops it: the nats-server does not outlive the host', async () => {
    // the host's own nats-server, frozen (SIGSTOP): every step that waits on NATS takes its whole
    // bound, the stop's budget is spent before the nats-server's step, and SIGTERM does nothing
    const host = createHost({ httpPort: 0, runners: 0, logLevel: 'warn', adminToken: TEST_TOKEN, dataDir: join(dir.path, 'own-nats') });
    await host.start();
    const pid = host.natsServerPid()!;
    expect(pid).toBeGreaterThan(0);
    try {
      process.kill(pid, 'SIGSTOP');
      await host.stop();
      expect(() => process.kill(pid, 0), `nats-server ${pid} outlived its host`).toThrow();
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
  }, 60_000);
});
