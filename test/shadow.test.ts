import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects, type PluginRecord, type ResultsReply, type ResultsRequest, type WindowRecord } from '@modelwatch/protocol';
import type { ShadowComparison } from '../host/src/api/contract.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { bundlePlugin } from '../host/src/plugins/bundle.js';
import { rejection } from '../host/test/helpers.js';
import { trickle, waitForWindows, waitUntilDrained, type Trickle } from './helpers/events.js';
import { startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';
import { startTestTsdb, type TestTsdb } from './helpers/tsdb.js';

const PERIOD = 1000;
const run = promisify(execFile);

/** An app whose one result is the window's row count plus `offset`, with status `status`. */
const rowsApp = (offset: number, status: number) => `import { MonitoringApplication, type MonitoringContext } from '@modelwatch/sdk';

export default class Rows extends MonitoringApplication {
  doTracking(ctx: MonitoringContext) {
    return [{ name: 'rows', kind: 0, value: ctx.sample.length + ${offset}, status: ${status} }];
  }
}
`;

/** V8 cannot recover from this: the runner process aborts and the supervisor records the window. */
const CRASHES = `import { MonitoringApplication } from '@modelwatch/sdk';

export default class Crashes extends MonitoringApplication {
  doTracking(): never {
    const m = new Map<number, { i: number }>();
    for (let i = 0; ; i++) m.set(i, { i });
  }
}
`;

const FAILS = `import { MonitoringApplication } from '@modelwatch/sdk';

export default class Fails extends MonitoringApplication {
  doTracking(): never {
    throw new Error('shadow bug');
  }
}
`;

/**
 * A shadow version runs beside the active one on the same live windows: both outputs of a
 * window are stored, the shadow's apart (not in the TSDB, no latest value); `plugin compare`
 * shows how they differ; `plugin promote` makes it active from the next window; a failing
 * shadow is dropped without touching the active version.
 */
describe('shadow versions: publish --shadow, compare, promote', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let tsdb: TestTsdb;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nc: NatsConnection;
  let traffic: Trickle;
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.host.apiUrl, ...args], { timeout: 120_000 })).stdout;
  const app = async (version: string, code: string, manifest: object = {}) => {
    const d = join(dir.path, version);
    await mkdir(join(d, 'src'), { recursive: true });
    await writeFile(
      join(d, 'plugin.json'),
      JSON.stringify({ name: 'canary', version, description: 'shadow test app', entry: 'src/index.ts', runOnEmptyWindows: true, ...manifest }),
    );
    await writeFile(join(d, 'src/index.ts'), code);
    return d;
  };
  /** The stored windows of the app on the endpoint, the active versions' or the shadows'. */
  const stored = async (shadow: boolean): Promise<WindowRecord[]> => {
    const q: ResultsRequest = { endpointId: (await env.client.getEndpoint('canary-ep')).id, app: 'canary', shadow };
    const r = jsonCodec.decode<ResultsReply>((await nc.request(Subjects.resultsQuery, jsonCodec.encode(q), { timeout: 10_000 })).data);
    if (!('windows' in r)) throw new Error(JSON.stringify(r));
    return r.windows.sort((a, b) => a.windowStart - b.windowStart);
  };

  beforeAll(async () => {
    // one after the other: both are in hand for afterAll, whichever fails to start
    nats = await startTestNats();
    tsdb = await startTestTsdb();
    dir = await tempDir('mw-shadow-');
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 200,
      windowAttempts: 1,
      quarantineAfter: 2,
      influx: { url: tsdb.url, org: 'test', bucket: 'modelwatch' },
    });
    nc = await connect({ servers: nats.url });
    await env.client.createEndpoint({ name: 'canary-ep', featureNames: ['x'], labelNames: ['y'] });
    traffic = trickle(nats.url, ['canary-ep'], 50);
  });
  afterAll(async () => {
    await traffic?.stop();
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await tsdb?.stop();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('stores the outputs of both versions for the same windows, ships only the active ones to the TSDB, compares them, and promotes the shadow from the next window', async () => {
    expect(await cli('plugin', 'publish', await app('1.0.0', rowsApp(0, 0)))).toMatch(/^published canary@1\.0\.0 /);
    const first = await waitFor('a window of 1.0.0', async () => (await stored(false))[0]);

    const out = await cli('plugin', 'publish', await app('2.0.0', rowsApp(1000, 2)), '--shadow');
    expect(out).toMatch(/^published canary@2\.0\.0 as the shadow of canary@1\.0\.0 /);
    const rec = await env.client.getPlugin('canary');
    expect(rec).toMatchObject({ activeVersion: '1.0.0', status: 'active', shadow: { version: '2.0.0' } });
    expect(await cli('plugin', 'list')).toContain('1.0.0 (shadow 2.0.0)');

    // three windows analysed by both versions; each stored once per version
    const shadows = await waitFor('three shadow windows', async () => {
      const s = await stored(true);
      return s.length >= 3 ? s : undefined;
    });
    expect(shadows.every((w) => w.shadow === true && w.version === '2.0.0')).toBe(true);
    expect(shadows[0]!.windowStart).toBeGreaterThanOrEqual(rec.shadow!.since);
    const active = await waitForWindows('the active windows beside them', () => stored(false), first.windowStart, shadows[2]!.windowStart);
    for (const s of shadows.slice(0, 3)) {
      const a = active.find((w) => w.windowStart === s.windowStart)!;
      expect(a).toMatchObject({ version: '1.0.0', windowEnd: s.windowEnd });
      expect(a.shadow).toBeUndefined();
      expect(s.results[0]).toMatchObject({ name: 'rows', value: a.results[0]!.value + 1000, status: 2 });
      expect(a.results[0]!.status).toBe(0);
    }
    // the latest value is the active version's
    const latest = (await env.client.latest('canary-ep')).find((l) => l.app === 'canary')!;
    expect(latest.version).toBe('1.0.0');

    // the TSDB has the active version's points of those windows, and none of the shadow's
    // (points are shipped in the order stored: the active one of the third window comes after the shadow's first)
    const lastEnd = shadows[2]!.windowEnd;
    const series = await waitFor(
      "the active version's point of the third shadowed window in the TSDB",
      async () => {
        const s = (await tsdb.exportSeries('app_results_(value|status)')).filter((x) => x.metric.application === 'canary');
        return s.some((x) => x.timestamps.includes(lastEnd)) ? s : undefined;
      },
      30_000,
      250,
    );
    for (const s of series) {
      expect(s.metric.shadow).toBeUndefined();
      if (s.metric.__name__ === 'app_results_value') expect(Math.max(...s.values)).toBeLessThan(1000);
      else expect(s.values.every((v) => v === 0)).toBe(true);
    }

    // compare: every window both ran moved from no_detection (0) to detected (2), values 1000 apart
    const cmp = JSON.parse(await cli('plugin', 'compare', 'canary', '--json')) as ShadowComparison;
    expect(cmp).toMatchObject({ app: 'canary', shadowVersion: '2.0.0', activeVersions: ['1.0.0'] });
    expect(cmp.outcomeChanges).toEqual({});
    expect(cmp.windows).toBeGreaterThanOrEqual(3);
    expect(cmp.results).toHaveLength(1);
    const r = cmp.results[0]!;
    expect(r).toMatchObject({ name: 'rows', windows: cmp.windows, statusChanges: { '0->2': cmp.windows }, onlyActive: 0, onlyShadow: 0 });
    expect(r.largest).toMatchObject({ difference: 1000, endpoint: 'canary-ep' });
    expect(r.largest!.shadow - r.largest!.active).toBe(1000);
    const table = await cli('plugin', 'compare', 'canary');
    expect(table).toContain('canary@2.0.0 (shadow) vs 1.0.0 (active)');
    expect(table).toMatch(/rows.*no_detection->detected: \d+.*1000\.0000 \(/);

    // promote: 2.0.0 is active from the next window on, and the shadow stops
    const promoted = await cli('plugin', 'promote', 'canary');
    expect(promoted).toBe('canary@2.0.0: active\n');
    const after = await env.client.getPlugin('canary');
    expect(after.activeVersion).toBe('2.0.0');
    expect(after.shadow).toBeUndefined();
    const firstV2 = await waitFor('a window of 2.0.0 as the active version', async () => (await stored(false)).find((w) => w.version === '2.0.0'));
    const windows = await waitForWindows('two more windows of 2.0.0', () => stored(false), first.windowStart, firstV2.windowStart + 2 * PERIOD);
    await waitUntilDrained(nats.url);
    // every window has one active output: 1.0.0 up to the promotion, 2.0.0 after it
    const versions = windows.map((w) => w.version);
    expect(versions.indexOf('2.0.0')).toBe(versions.lastIndexOf('1.0.0') + 1);
    // the shadow ran on no window after that
    const lastShadow = (await stored(true)).at(-1)!;
    expect(lastShadow.windowStart).toBeLessThan(firstV2.windowStart);
    expect(lastShadow.windowEnd).toBe(firstV2.windowStart);
  });

  it('a failing shadow is dropped after --quarantine-after windows in a row; the active version runs on untouched', async () => {
    const rec = await env.client.publishBundle(await bundlePlugin(await app('3.0.0', FAILS)), { shadow: true });
    expect(rec.shadow?.version).toBe('3.0.0');
    const dropped = await waitFor('the failing shadow dropped', async () => {
      const p = await env.client.getPlugin('canary');
      return p.droppedShadow?.version === '3.0.0' ? p : undefined;
    });
    expect(dropped).toMatchObject({ activeVersion: '2.0.0', status: 'active' } satisfies Partial<PluginRecord>);
    expect(dropped.shadow).toBeUndefined();
    expect(dropped.droppedShadow!.reason).toMatch(/^failed 2 windows in a row on endpoint canary-ep; last: APP_ERROR: .*shadow bug/);
    // the failure is the shadow's: the plugin's last error is not
    expect(dropped.lastError).toBeUndefined();
    const failed = (await stored(true)).filter((w) => w.version === '3.0.0');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.every((w) => w.outcome === 'error')).toBe(true);
    // windows after the drop are analysed by 2.0.0 alone
    const last = failed.at(-1)!;
    await waitForWindows('two more active windows', () => stored(false), last.windowStart, last.windowStart + 2 * PERIOD);
    expect((await stored(false)).filter((w) => w.windowStart >= failed[0]!.windowStart).every((w) => w.version === '2.0.0' && w.outcome === 'ok')).toBe(true);
  });

  it("a shadow that crashes its runner has its windows recorded as its own failures, never the active version's", async () => {
    const rec = await env.client.publishBundle(await bundlePlugin(await app('4.0.0', CRASHES, { limits: { timeoutMs: 30_000, memoryMb: 32 } })), {
      shadow: true,
    });
    expect(rec.shadow?.version).toBe('4.0.0');
    const dropped = await waitFor(
      'the crashing shadow dropped',
      async () => {
        const p = await env.client.getPlugin('canary');
        return p.droppedShadow?.version === '4.0.0' ? p : undefined;
      },
      120_000,
      250,
    );
    expect(dropped).toMatchObject({ activeVersion: '2.0.0', status: 'active' });
    expect(dropped.droppedShadow!.reason).toMatch(/APP_MEMORY_LIMIT: .*crashed its runner/);
    const crashed = (await stored(true)).filter((w) => w.version === '4.0.0');
    expect(crashed.length).toBeGreaterThanOrEqual(2);
    expect(crashed.every((w) => w.outcome === 'error' && w.runner === 'supervisor')).toBe(true);
    // the active version's outputs of those windows are stored, and are its own
    const active = await waitForWindows(
      'the active windows of the crashed ones',
      () => stored(false),
      crashed[0]!.windowStart,
      crashed.at(-1)!.windowStart,
      60_000,
    );
    for (const c of crashed) expect(active.find((w) => w.windowStart === c.windowStart)).toMatchObject({ version: '2.0.0', outcome: 'ok' });
  }, 180_000);

  it('a shadow dropped by hand is kept as droppedShadow; with none to drop, and to promote, it is a CONFLICT', async () => {
    await env.client.publishBundle(await bundlePlugin(await app('5.0.0', rowsApp(1, 0))), { shadow: true });
    const dropped = await env.client.dropShadow('canary');
    expect(dropped).toMatchObject({ activeVersion: '2.0.0', droppedShadow: { version: '5.0.0', reason: 'dropped by a user' } });
    expect(dropped.shadow).toBeUndefined();
    expect((await rejection(env.client.dropShadow('canary'))).code).toBe('CONFLICT');
    expect((await rejection(env.client.promotePlugin('canary'))).code).toBe('CONFLICT');
    // a shadow must be another version than the active one
    expect((await rejection(env.client.publishBundle(await bundlePlugin(await app('2.0.0', rowsApp(1000, 2))), { shadow: true }))).code).toBe('CONFLICT');
  });
});
