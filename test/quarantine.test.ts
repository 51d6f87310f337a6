import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@modelwatch/sdk/testing';
import { Buckets, Consumers, Streams, Subjects, type AppOutputMessage, type PluginRecord, type StreakRecord, type WindowMark } from '@modelwatch/protocol';
import { windowKey } from '../host/src/domain/keys.js';
import { endpointId } from '../host/src/domain/names.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { ensureTopology, openBuckets } from '../host/src/nats/topology.js';
import { ResultsDb } from '../host/src/store/results-db.js';
import { streakKey } from '../host/src/store/streaks.js';
import { Writer } from '../host/src/writer/writer.js';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const ALWAYS_THROWS = new URL('./fixtures/plugins/always-throws', import.meta.url).pathname;
const PERIOD = 1000;

/** The stored failure streak of a plugin version on an endpoint. */
async function streakOf(kv: KV, app: string, version: string, endpoint: string): Promise<StreakRecord | undefined> {
  const e = await kv.get(streakKey(app, version, endpointId(endpoint)));
  return e && e.operation === 'PUT' ? e.json<StreakRecord>() : undefined;
}

/** Quarantine counts failed windows in a row per plugin version and endpoint, in window order, and keeps the count in NATS KV. */
describe('quarantine', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let nc: NatsConnection;
  let streaks: KV;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    dir = await tempDir('mw-quarantine-');
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await dir?.[Symbol.asyncDispose]();
  });

  /** A fresh nats-server (so each test has its own plugins) and a connection to its buckets. */
  async function freshNats(): Promise<void> {
    nats = await startTestNats();
    cleanup.push(() => nats[Symbol.asyncDispose]());
    nc = await connect({ servers: nats.url });
    cleanup.push(() => nc.close());
  }
  async function openStreaks(): Promise<void> {
    streaks = await new Kvm(nc).open(Buckets.streaks);
  }

  /** Send 5 events into each of these windows (each waits for its window to begin). */
  async function traffic(client: Awaited<ReturnType<typeof startTestHost>>['client'], endpoint: string, starts: number[]): Promise<void> {
    for (const ws of starts) {
      await untilWallClock(ws);
      await client.sendEvents(
        endpoint,
        Array.from({ length: 5 }, (_, i) => ({ when: ws + i, inputs: [[i]], outputs: [0] })),
      );
    }
  }

  it('an app that always throws, with traffic in every other window, is quarantined after 3 called windows', async () => {
    await freshNats();
    const env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 200, quarantineAfter: 3, windowAttempts: 1 });
    cleanup.push(() => env[Symbol.asyncDispose]());
    await openStreaks();
    await publishDir(env.client, ALWAYS_THROWS);
    await env.client.createEndpoint({ name: 'alternate', featureNames: ['x'], labelNames: ['y'] });
    const first = Math.ceil((Date.now() + 300) / PERIOD) * PERIOD;
    // three windows with rows, an empty one between each two: only the three are called
    const called = [first, first + 2 * PERIOD, first + 4 * PERIOD];
    await traffic(env.client, 'alternate', called);
    const p = await waitFor(
      'always-throws quarantined',
      async () => (await env.client.listPlugins()).find((x) => x.name === 'always-throws' && x.status === 'quarantined'),
      60_000,
    );
    expect(p.statusReason).toMatch(
      /^failed 3 windows in a row on endpoint alternate; last: APP_ERROR: always-throws@1\.0\.0 .* threw: always fails \(5 rows\)/,
    );
    // the windows between were empty, recorded as such, and neither counted nor reset the streak
    const ws = (await env.client.results({ endpoint: 'alternate', app: 'always-throws', limit: 1000 })).filter(
      (w) => w.windowStart >= first && w.windowStart <= called.at(-1)!,
    );
    expect(ws.map((w) => [w.windowStart - first, w.outcome]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [0, 'error'],
      [PERIOD, 'empty'],
      [2 * PERIOD, 'error'],
      [3 * PERIOD, 'empty'],
      [4 * PERIOD, 'error'],
    ]);
    const s = await streakOf(streaks, 'always-throws', '1.0.0', 'alternate');
    expect(s).toMatchObject({ streak: 3, quarantinedAt: 3 });
  });

  it('the streak survives a restart of the host in its middle', async () => {
    await freshNats();
    const dataDir = join(dir.path, 'restart');
    const opts = { natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 200, quarantineAfter: 3, windowAttempts: 1 };
    let env = await startTestHost(opts);
    cleanup.push(() => env.host.stop());
    await openStreaks();
    await publishDir(env.client, ALWAYS_THROWS);
    await env.client.createEndpoint({ name: 'restarted', featureNames: ['x'], labelNames: ['y'] });
    const first = Math.ceil((Date.now() + 300) / PERIOD) * PERIOD;
    await traffic(env.client, 'restarted', [first, first + 2 * PERIOD]);
    // two failures accounted (the event itself: the stored streak, not the stored windows)
    await waitFor('two failures in a row accounted', async () => {
      const s = await streakOf(streaks, 'always-throws', '1.0.0', 'restarted');
      return s && s.streak === 2 && s.next >= first + 3 * PERIOD ? s : undefined;
    });
    await env.host.stop();
    env = await startTestHost(opts);
    const third = Math.ceil((Date.now() + 300) / PERIOD) * PERIOD;
    await traffic(env.client, 'restarted', [third]);
    const p = await waitFor(
      'always-throws quarantined after the restart',
      async () => (await env.client.listPlugins()).find((x) => x.name === 'always-throws' && x.status === 'quarantined'),
      60_000,
    );
    expect(p.statusReason).toMatch(/^failed 3 windows in a row on endpoint restarted; last: APP_ERROR: .*always fails/);
    expect(p.lastError).toMatchObject({ code: 'APP_ERROR', windowStart: third });
  });

  it('outputs reaching two writers in shuffled order are counted in window order', async () => {
    await freshNats();
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureTopology(nc, jsm, { retentionMs: 3_600_000 });
    const buckets = await openBuckets(nc);
    streaks = buckets.streaks;
    const now = Date.now();
    const plugin = (name: string): PluginRecord => ({
      name,
      activeVersion: '1.0.0',
      status: 'active',
      createdAt: now,
      updatedAt: now,
      versions: [
        {
          version: '1.0.0',
          description: name,
          digest: 'd',
          publishedAt: now,
          limits: { memoryMb: 32, timeoutMs: 1000, extraDataBytes: 1024 },
          config: {},
          runOnEmptyWindows: false,
          referenceRows: false,
        },
      ],
    });
    // in window order: 'interleaved' fails 3 called windows with empty ones between (quarantined);
    // 'recovering' fails twice, succeeds, fails twice (not quarantined, though the outputs below
    // reach the writers failure, failure, failure, success, failure); 'long' is 60 windows whose
    // only run of 3 failures is at the end
    const T0 = Math.floor(now / PERIOD) * PERIOD - 3_600_000;
    const long = `${'ff-o-f-fo--ffo'.repeat(4)}-f-ff`;
    const apps: Record<string, { marks: string; order?: number[] }> = {
      interleaved: { marks: 'f-f-f-' },
      recovering: { marks: 'ffoff', order: [0, 1, 3, 2, 4] },
      long: { marks: long },
    };
    for (const name of Object.keys(apps)) await buckets.plugins.put(name, JSON.stringify(plugin(name)));
    const logger = createLogger('warn');
    for (const i of [1, 2]) {
      const db = new ResultsDb(join(dir.path, `writer-${i}`));
      await db.open();
      const writer = new Writer({ nc, js, db, logger, pluginsKv: buckets.plugins, streaksKv: buckets.streaks, quarantineAfter: 3 });
      await writer.start();
      cleanup.push(async () => {
        await writer.stop();
        await db.close();
      });
    }
    const rand = seededRandom(3).uniform;
    const outputs: AppOutputMessage[] = [];
    for (const [app, { marks }] of Object.entries(apps)) {
      [...marks].forEach((m, i) => {
        const mark = m as WindowMark;
        outputs.push({
          v: 1,
          endpointId: endpointId('shuffled'),
          endpointName: 'shuffled',
          app,
          version: '1.0.0',
          windowStart: T0 + i * PERIOD,
          windowEnd: T0 + (i + 1) * PERIOD,
          outcome: mark === 'f' ? 'error' : mark === 'o' ? 'ok' : 'empty',
          rows: mark === '-' ? 0 : 5,
          results: [],
          metrics: [],
          ...(mark === 'f' ? { error: { code: 'APP_ERROR', message: `${app} failed window ${i}` } } : {}),
          durationMs: 1,
          completedAt: now,
          runner: 'test',
          attempts: 1,
        });
      });
    }
    const shuffled = outputs
      .map((o) => ({ o, k: rand() }))
      .sort((a, b) => a.k - b.k)
      .map(({ o }) => o);
    // 'recovering' in the order given (the others shuffled around it)
    const rec = outputs.filter((o) => o.app === 'recovering');
    const recOrder = apps.recovering!.order!.map((i) => rec[i]!);
    let r = 0;
    const sent = shuffled.map((o) => (o.app === 'recovering' ? recOrder[r++]! : o));
    for (const o of sent) {
      await js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o), { msgID: windowKey(o.endpointId, o.app, o.windowStart) });
    }
    // the event: the writers acknowledged every output, which they do once its window is stored and accounted
    await waitFor('every output acknowledged by the writers', async () => {
      const ci = await jsm.consumers.info(Streams.outputs, Consumers.writer);
      return ci.ack_floor.stream_seq >= sent.length && ci.num_pending === 0 && ci.num_ack_pending === 0 ? true : undefined;
    });
    const status = async (name: string) => (await buckets.plugins.get(name))!.json<PluginRecord>();
    expect(await status('interleaved')).toMatchObject({
      status: 'quarantined',
      statusReason: expect.stringMatching(/^failed 3 windows in a row on endpoint shuffled/),
    });
    expect(await status('long')).toMatchObject({ status: 'quarantined' });
    expect(await status('recovering')).toMatchObject({ status: 'active' });
    expect((await status('recovering')).statusReason).toBeUndefined();
    const final: Record<string, StreakRecord | undefined> = {};
    for (const app of Object.keys(apps)) final[app] = await streakOf(streaks, app, '1.0.0', 'shuffled');
    for (const [app, { marks }] of Object.entries(apps)) {
      expect(final[app], app).toMatchObject({ from: T0, next: T0 + marks.length * PERIOD, pending: [] });
    }
    expect(final.interleaved).toMatchObject({ streak: 3, quarantinedAt: 3 });
    expect(final.recovering).toMatchObject({ streak: 2, quarantinedAt: 0 });
    expect(final.long).toMatchObject({ streak: 3, quarantinedAt: 3 });
  });
});
