import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginRecord, WindowRecord } from '@modelwatch/protocol';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
/** A nats-server's own default (`docker run nats:2 -js`), where the host's own server allows 16 MiB. */
const MAX_PAYLOAD = 1024 * 1024;
const PERIOD = 1000;
const WINDOWS = 3;
const WINDOW_ATTEMPTS = 2;

/** An app returning `n` metrics on every window with rows (about 30 bytes of output each). */
async function metricsApp(root: string, name: string, n: number): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', description: `${n} metrics a window`, entry: 'src/index.ts' }));
  await writeFile(
    join(dir, 'src/index.ts'),
    `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';
export default class Metrics extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    if (ctx.sample.length === 0) return [];
    const metrics: Record<string, number> = {};
    for (let i = 0; i < ${n}; i++) metrics['metric_' + i] = i + ctx.sample.length / 1000;
    return metrics;
  }
}
`,
  );
  return dir;
}

/**
 * An app whose output is larger than the NATS server takes in one message (its max_payload): the
 * window fails as the app's (APP_INVALID_OUTPUT, naming the sizes), tried as any failure of the
 * app is, never taken for NATS trouble (redelivered until WINDOW_FAILED, the plugin never
 * quarantined); the dry run at publish says so; other apps, large outputs that fit included, are
 * unaffected.
 */
describe("outputs over the NATS server's max payload", () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let first = 0;
  let windows: WindowRecord[] = [];
  let huge: PluginRecord;

  beforeAll(async () => {
    nats = await startTestNats({ maxPayloadBytes: MAX_PAYLOAD });
    dir = await tempDir('mw-output-payload-');
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 200,
      windowAttempts: WINDOW_ATTEMPTS,
      quarantineAfter: WINDOWS,
    });
    await env.client.createEndpoint({ name: 'wide', featureNames: ['x'], labelNames: ['y'] });
  }, 60_000);

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('the dry run at publish says an output will not fit', async () => {
    const app = await metricsApp(dir.path, 'huge-output', 40_000);
    await expect(publishDir(env.client, app, { strict: true })).rejects.toThrow(
      /refused \(strict\): dry run on endpoint 'wide' failed: APP_INVALID_OUTPUT: huge-output returned an output of \d+ bytes, over the \d+ bytes .*max_payload of 1048576 bytes/,
    );
    // published without strict: a warning, and the version is active
    const published = await publishDir(env.client, app);
    expect(published.status).toBe('active');
    expect(published.dryRun.warnings.join('\n')).toMatch(/APP_INVALID_OUTPUT: .*max_payload of 1048576 bytes/);
    await publishDir(env.client, await metricsApp(dir.path, 'wide-output', 10_000));
    await publishDir(env.client, ROW_COUNT);
  }, 60_000);

  it("each window fails as the app's, tried as many times as any failure, and the plugin is quarantined", async () => {
    first = Math.ceil((Date.now() + 300) / PERIOD) * PERIOD;
    for (let w = 0; w < WINDOWS; w++) {
      const ws = first + w * PERIOD;
      await untilWallClock(ws);
      await env.client.sendEvents(
        'wide',
        Array.from({ length: 5 }, (_, i) => ({ when: ws + i, inputs: [[i]], outputs: [0] })),
      );
    }
    const last = first + (WINDOWS - 1) * PERIOD;
    // the plugin first: the windows that led to its quarantine are stored before it
    huge = await waitFor(
      'huge-output quarantined',
      async () => (await env.client.listPlugins()).find((p) => p.name === 'huge-output' && p.status === 'quarantined'),
      90_000,
    );
    windows = await waitFor('every window of every app', async () => {
      const ws = (await env.client.results({ endpoint: 'wide', limit: 1000 })).filter((w) => w.windowStart >= first && w.windowStart <= last);
      return ['huge-output', 'wide-output', 'row-count'].every((app) => ws.filter((w) => w.app === app).length === WINDOWS) ? ws : undefined;
    });
    const failed = windows.filter((w) => w.app === 'huge-output').sort((a, b) => a.windowStart - b.windowStart);
    expect(failed.map((w) => w.windowStart)).toEqual(Array.from({ length: WINDOWS }, (_, i) => first + i * PERIOD));
    for (const w of failed) {
      expect(w).toMatchObject({ outcome: 'error', rows: 5, error: { code: 'APP_INVALID_OUTPUT' } });
      expect(w.error!.message).toMatch(
        new RegExp(
          `^huge-output@1\\.0\\.0 on endpoint wide, window ${new Date(w.windowStart).toISOString()}: returned an output of \\d+ bytes, over the \\d+ bytes .*max_payload of 1048576 bytes`,
        ),
      );
      const bytes = Number(/an output of (\d+) bytes/.exec(w.error!.message)![1]);
      expect(bytes).toBeGreaterThan(MAX_PAYLOAD);
      // the app's tries, as for any failure of it: not deliveries taken for NATS trouble until WINDOW_FAILED
      expect(w.attempts).toBe(WINDOW_ATTEMPTS);
    }
    expect(huge.statusReason).toMatch(
      new RegExp(`^failed ${WINDOWS} windows in a row on endpoint wide; last: APP_INVALID_OUTPUT: .*max_payload of 1048576 bytes`),
    );
    expect(huge.lastError).toMatchObject({ code: 'APP_INVALID_OUTPUT' });
  }, 120_000);

  it('plugin evaluate gets the same failure, not a reply too large to send', async () => {
    const [evaluated] = await env.client.evaluatePlugin('huge-output', { endpoint: 'wide', from: first, to: first + PERIOD });
    expect(evaluated!.output).toMatchObject({ outcome: 'error', rows: 5, error: { code: 'APP_INVALID_OUTPUT' } });
    expect(evaluated!.output.error!.message).toMatch(/returned an output of \d+ bytes, over the \d+ bytes .*max_payload of 1048576 bytes/);
    const [fits] = await env.client.evaluatePlugin('wide-output', { endpoint: 'wide', from: first, to: first + PERIOD });
    expect(fits!.output).toMatchObject({ outcome: 'ok', rows: 5 });
    expect(fits!.output.metrics).toHaveLength(10_000);
  });

  it('other apps are unaffected, an output that fits under the max payload included', async () => {
    for (const w of windows.filter((x) => x.app === 'row-count')) {
      expect(w).toMatchObject({ outcome: 'ok', attempts: 1 });
      expect(w.results).toEqual([expect.objectContaining({ name: 'rows', value: 5 })]);
    }
    const wide = windows.filter((x) => x.app === 'wide-output');
    for (const w of wide) {
      expect(w).toMatchObject({ outcome: 'ok', attempts: 1 });
      expect(w.metrics).toHaveLength(10_000);
      expect(w.metrics.at(-1)).toMatchObject({ name: 'metric_9999', value: 9999.005 });
    }
    const plugins = await env.client.listPlugins();
    expect(plugins.filter((p) => p.name !== 'huge-output').map((p) => [p.name, p.status])).toEqual(
      expect.arrayContaining([
        ['row-count', 'active'],
        ['wide-output', 'active'],
      ]),
    );
  });
});
