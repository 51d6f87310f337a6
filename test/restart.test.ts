import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage, type WindowRecord } from '@modelwatch/protocol';
import { windowKey } from '../host/src/domain/keys.js';
import { createHost } from '../host/src/host.js';
import { rowCountTask } from './helpers/outputs.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { AppRunner, CRASH_TOLERANCE } from '../host/src/runner/runner.js';
import { trickle, waitForWindows } from './helpers/events.js';
import { publishDir, startTestHost, TEST_TOKEN } from './helpers/host.js';
import { startTestNats, startTestTopology } from './helpers/nats.js';
import { hostProcess, testHostArgs } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';

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
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'steady', featureNames: ['i'], labelNames: ['y'] });
    const firstWindow = Math.floor(Date.now() / PERIOD) * PERIOD;
    const t = trickle(nats.url, ['steady'], 50);
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
  it('a window whose every delivery is lost with its runner still gets an outcome', async () => {
    // its own server: the task consumer's ack wait is short here
    await using topology = await startTestTopology({ taskAckWaitMs: 300 });
    const { nc, js, jsm } = topology;
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
    const runner = new AppRunner({ nc, logger: createLogger('warn'), windowAttempts: 3 });
    await runner.start();
    try {
      const stored = await waitFor("the window's outcome", async () => {
        const m = await jsm.streams.getMessage(Streams.outputs, { last_by_subj: Subjects.outputs(id) }).catch(() => null);
        return m ? m.json<AppOutputMessage>() : undefined;
      });
      expect(stored).toMatchObject({ windowStart, outcome: 'error', error: { code: 'WINDOW_FAILED' } });
      expect(stored.error!.message).toMatch(/gave up after \d+ deliveries ended without an outcome/);
    } finally {
      await runner.stop();
    }
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
