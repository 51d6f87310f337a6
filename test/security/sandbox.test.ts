import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginLogLine, WindowRecord } from '@modelwatch/protocol';
import { bundlePlugin } from '../../host/src/plugins/bundle.js';
import { peakRssMb } from '../../host/src/runner/memory.js';
import { trickle } from '../helpers/events.js';
import { publishDir, REPO, startTestHost } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { untilWallClock, waitFor } from '../helpers/tmp.js';

const FIXTURES = join(REPO, 'test/fixtures/plugins');
/** The runner memory bound of the host under test, and the bound its runners' peak resident size must stay under. */
const RUNNER_MEMORY_MB = 450;
const RSS_BOUND_MB = 600;

/**
 * Issue 10, findings 7 and 8: a plugin's memory, whatever it allocates or logs, stays within a
 * bound of its runner, and a plugin that spins to its time limit on every window does not keep
 * another plugin's windows from being stored.
 */
describe('finding 7: memory a plugin allocates or logs does not grow its runner past a bound', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  const PERIOD = 1000;
  const WINDOWS = 2;
  const HOSTILE = ['hostile-big-array', 'hostile-arraybuffers', 'hostile-giant-logs', 'hostile-one-allocation'];
  let windows: WindowRecord[] = [];
  let first = 0;

  beforeAll(async () => {
    nats = await startTestNats();
    // one window at a time per runner: a runner over its bound names the one window it ran
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 200,
      runners: 2,
      runnerConcurrency: 1,
      runnerMemoryMb: RUNNER_MEMORY_MB,
      windowAttempts: 1,
    });
    for (const name of HOSTILE) await publishDir(env.client, join(FIXTURES, name));
    await env.client.createEndpoint({ name: 'target', featureNames: ['x'], labelNames: ['y'] });
    first = Math.ceil((Date.now() + 500) / PERIOD) * PERIOD;
    for (let w = 0; w < WINDOWS; w++) {
      const ws = first + w * PERIOD;
      await untilWallClock(ws);
      await env.client.sendEvents(
        'target',
        Array.from({ length: 20 }, (_, i) => ({ when: ws + i * 10, inputs: [[i]], outputs: [0] })),
      );
    }
    windows = await waitFor(
      'an outcome of every window of every hostile plugin',
      async () => {
        const ws = (await env.client.results({ endpoint: 'target', limit: 10_000 })).filter(
          (w) => w.windowStart >= first && w.windowStart < first + WINDOWS * PERIOD,
        );
        return HOSTILE.every((name) => ws.filter((w) => w.app === name).length === WINDOWS) ? ws : undefined;
      },
      150_000,
      500,
    );
  }, 200_000);

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const of = (app: string) => windows.filter((w) => w.app === app);

  it('new Array(1e8) filled in a plugin limited to 32 MB: its windows fail with a memory reason', () => {
    for (const w of of('hostile-big-array')) {
      expect(w.outcome).toBe('error');
      expect(w.error!.code).toBe('APP_MEMORY_LIMIT');
      expect(w.error!.message).toMatch(/memory/);
    }
  });

  it('ArrayBuffers past a 32 MB limit: refused in the isolate, the window fails with a memory reason', () => {
    for (const w of of('hostile-arraybuffers')) {
      expect(w.outcome).toBe('error');
      expect(w.error!.code).toMatch(/APP_ERROR|APP_MEMORY_LIMIT/);
      expect(w.error!.message).toMatch(/Array buffer allocation failed|memory/);
    }
  });

  it('one 800 MB allocation V8 lets through: the runner stops at its bound, is restarted, and the window is recorded as failed', async () => {
    for (const w of of('hostile-one-allocation')) {
      expect(w.outcome).toBe('error');
      expect(w.error!.code).toBe('APP_MEMORY_LIMIT');
      const m = /pushed its runner over the runner memory bound of (\d+) MiB \(resident (\d+) MiB\)/.exec(w.error!.message);
      expect(m, w.error!.message).not.toBeNull();
      expect(Number(m![1])).toBe(RUNNER_MEMORY_MB);
      expect(Number(m![2])).toBeLessThan(RSS_BOUND_MB);
    }
    await waitFor('both runners back', () => (env.host.runnerPids().length === 2 ? true : undefined), 30_000);
  });

  it('24 log lines of 64 MiB: the window ends ok, the lines are cut in the isolate with a marker, and the cut is counted', async () => {
    for (const w of of('hostile-giant-logs')) expect(w.outcome).toBe('ok');
    const lines: PluginLogLine[] = [];
    for await (const l of env.client.pluginLogs('hostile-giant-logs', { limit: 1000 })) lines.push(l);
    const mine = lines.filter((l) => l.windowStart === first);
    expect(mine.length).toBeGreaterThan(0);
    for (const l of mine) expect(l.message.length).toBeLessThanOrEqual(4096);
    expect(mine[0]!.message).toMatch(/^a+…\[\d+ characters cut\]$/);
    expect(mine.map((l) => l.message).join('\n')).toMatch(/more log line\(s\) of this window dropped \(\d+ characters\)/);
  });

  it("the runners' peak resident size stays under the bound", () => {
    const pids = env.host.runnerPids();
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) {
      const peak = peakRssMb(pid);
      expect(peak, `runner ${pid}`).toBeDefined();
      expect(peak!).toBeLessThan(RSS_BOUND_MB);
    }
  });
});

describe('finding 8: a plugin spinning to its time limit does not hold every slot', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 200, runners: 2, runnerConcurrency: 2, windowAttempts: 1 });
  }, 60_000);

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('a manifest whose timeoutMs is over the host ceiling is refused at publish, naming the ceiling', async () => {
    const b = await bundlePlugin(join(FIXTURES, 'row-count'));
    const manifest = { ...b.manifest, name: 'too-patient', limits: { ...b.manifest.limits, timeoutMs: 120_000 } };
    await expect(env.client.publishPlugin({ manifest, code: b.code })).rejects.toThrow(
      /too-patient@1\.0\.0: limits\.timeoutMs is 120000, over this host's ceiling of 60000 ms \(--max-timeout-ms\)/,
    );
    expect((await env.client.listPlugins()).map((p) => p.name)).not.toContain('too-patient');
  });

  it("a well-behaved plugin's windows keep being stored while a plugin spins on two endpoints", async () => {
    await publishDir(env.client, join(FIXTURES, 'hostile-spinner'));
    await publishDir(env.client, join(FIXTURES, 'row-count'));
    for (const name of ['a', 'b']) await env.client.createEndpoint({ name, featureNames: ['x'] });
    const events = trickle(nats.url, ['a', 'b'], 100);
    try {
      const GOOD_WINDOWS = 6;
      const counts = await waitFor(
        `${GOOD_WINDOWS} windows of row-count on each endpoint`,
        async () => {
          const ws = [...(await env.client.results({ endpoint: 'a', limit: 1000 })), ...(await env.client.results({ endpoint: 'b', limit: 1000 }))];
          const good = (e: string) => ws.filter((w) => w.app === 'row-count' && w.endpointName === e && w.outcome === 'ok').length;
          if (good('a') < GOOD_WINDOWS || good('b') < GOOD_WINDOWS) return undefined;
          return { good: good('a') + good('b'), spinner: ws.filter((w) => w.app === 'hostile-spinner').length };
        },
        60_000,
        250,
      );
      // the spinner was still holding its slots: it stored fewer windows than the good plugin
      expect(counts.spinner).toBeLessThan(counts.good);
    } finally {
      await events.stop();
    }
  });
});
