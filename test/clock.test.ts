import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Streams,
  Subjects,
  type EndpointRecord,
  type MonitoringSettings,
  type PluginRecord,
  type ServingMinuteMessage,
  type ServingPartMessage,
  type TaskMessage,
} from '@modelwatch/protocol';
import { Controller } from '../host/src/controller/controller.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { SettingsStore } from '../host/src/store/settings.js';
import { WatchedKv } from '../host/src/store/watched-kv.js';
import { ServingAggregator } from '../host/src/stream/serving.js';
import { ManualClock } from '../host/test/manual-clock.js';
import { waitUntilDrained } from './helpers/events.js';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;

const logger = createLogger('warn');

/**
 * The controller and the serving aggregator on a real nats-server, their time a ManualClock:
 * a window is due, and an interval closes, exactly when the test moves the clock there. The
 * clock stays behind the wall clock (see ManualClock), and nothing here sleeps: a tick of a
 * loop is awaited as the loop scheduling its next one.
 */
describe('the clock of the controller and the serving aggregator', () => {
  let topology: TestTopology;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let buckets: Buckets;

  beforeAll(async () => {
    topology = await startTestTopology({ retentionMs: 86_400_000 });
    ({ nc, jsm } = topology);
    buckets = await openBuckets(nc);
  });
  afterAll(async () => {
    await topology?.[Symbol.asyncDispose]();
  });

  /** Every task in MW_TASKS, oldest first (no runner consumes them here). */
  async function tasks(): Promise<TaskMessage[]> {
    const { state } = await jsm.streams.info(Streams.tasks);
    const out: TaskMessage[] = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(Streams.tasks, { seq });
      if (m) out.push(jsonCodec.decode<TaskMessage>(m.data));
    }
    return out;
  }

  it('dispatches a window when its end plus the allowed lateness is reached on the clock, not before', async () => {
    // a second-aligned time a minute behind the wall clock
    const t0 = Math.floor((Date.now() - 60_000) / 1000) * 1000;
    const clock = new ManualClock(t0);
    await new SettingsStore(buckets.settings, { allowedLatenessMs: 0, maxFutureSkewMs: 0, retentionMs: 3_600_000 }).init(1000);
    const ep: EndpointRecord = {
      id: 'ep-1',
      name: 'clocked',
      featureNames: ['x'],
      labelNames: ['y'],
      featureStats: {},
      monitoring: true,
      createdAt: t0,
      updatedAt: t0,
    };
    const plugin: PluginRecord = {
      name: 'app',
      activeVersion: '1.0.0',
      status: 'active',
      createdAt: t0,
      updatedAt: t0,
      versions: [
        {
          version: '1.0.0',
          description: '',
          digest: 'd',
          publishedAt: t0,
          limits: { memoryMb: 64, timeoutMs: 1000, extraDataBytes: 1024 },
          config: {},
          // called on empty windows: the controller dispatches their tasks (it files a window
          // without rows itself for an app that is not)
          runOnEmptyWindows: true,
          referenceRows: false,
        },
      ],
    };
    await buckets.endpoints.put(ep.name, JSON.stringify(ep));
    await buckets.plugins.put(plugin.name, JSON.stringify(plugin));
    const endpoints = new WatchedKv<EndpointRecord>(buckets.endpoints);
    const plugins = new WatchedKv<PluginRecord>(buckets.plugins);
    const settings = new WatchedKv<MonitoringSettings>(buckets.settings);
    await Promise.all([endpoints.start(), plugins.start(), settings.start()]);
    const controller = new Controller({
      js: jetstream(nc),
      jsm,
      endpoints,
      plugins,
      settings,
      progressKv: buckets.controller,
      logger,
      allowedLatenessMs: 300,
      retentionMs: 86_400_000,
      clock,
    });
    try {
      // one tick at a time, at the clock's time: the first window [t0, t0 + 1000) is due at
      // t0 + 1300, and not a millisecond before
      expect(await controller.tick()).toBe(0);
      clock.set(t0 + 1299);
      expect(await controller.tick()).toBe(0);
      clock.set(t0 + 1300);
      expect(await controller.tick()).toBe(1);
      // between windows a tick looks at no pair: the pass before found the next due at t0 + 2300
      const looked = controller.pairsLooked;
      clock.set(t0 + 2299);
      expect(await controller.tick()).toBe(0);
      expect(controller.pairsLooked).toBe(looked);
      // three more windows end while the clock jumps: one tick dispatches them, oldest first
      clock.set(t0 + 4300);
      expect(await controller.tick()).toBe(3);
      expect(controller.pairsLooked).toBe(looked + 1);
      expect(await controller.tick()).toBe(0);
      expect(controller.pairsLooked).toBe(looked + 1);
      // the loop: the first tick runs at once (nothing is due), the next a quarter of the
      // period after it ended; moving the clock a second runs it, and it sees the new time
      controller.start();
      await clock.scheduled();
      expect(controller.dispatched).toBe(4);
      expect(clock.advance(1000)).toBe(1);
      await clock.scheduled();
      expect(controller.dispatched).toBe(5);
      const sent = await tasks();
      expect(sent.map((t) => t.windowStart - t0)).toEqual([0, 1000, 2000, 3000, 4000]);
      expect(sent.map((t) => t.dispatchedAt - t0)).toEqual([1300, 4300, 4300, 4300, 5300]);
      expect(sent.every((t) => t.endpointId === ep.id && t.app === 'app' && t.windowEnd === t.windowStart + 1000)).toBe(true);
      // the progress is saved: the next window to dispatch
      expect((await buckets.controller.get(`${ep.id}.app`))?.json<{ next: number }>()).toEqual({ next: t0 + 5000 });
    } finally {
      await controller.stop();
      endpoints.stop();
      plugins.stop();
      settings.stop();
      // records made for this controller alone: no host of a later test dispatches for them
      await buckets.plugins.delete(plugin.name);
      await buckets.endpoints.delete(ep.name);
    }
    // stopped: no tick waits on the clock any more
    expect(clock.pending).toBe(0);
  });

  it('closes a serving interval once the clock is past its end plus the grace, and stamps it with the clock', async () => {
    const intervalMs = 60_000;
    const t0 = Math.floor((Date.now() - 10 * intervalMs) / intervalMs) * intervalMs;
    const clock = new ManualClock(t0 + 5000);
    // a tick every millisecond: each move of the clock runs one, at the time moved to
    const aggregator = new ServingAggregator({ nc, js: jetstream(nc), jsm, logger, intervalMs, tickMs: 1, graceMs: 1000, clock });
    await aggregator.start();
    try {
      // what the stream processor reports of one event message: 3 requests, 1 error, 3 latencies of 12 ms
      const part: ServingPartMessage = {
        v: 1,
        intervalMs,
        eps: [['ep-s', 'served']],
        ev: [[1, t0, 0, 3, 1, 3, 3, 0, t0 + 5, t0 + 10, 0, [12, 3]]],
      };
      await jetstream(nc).publish(Subjects.servingPart, jsonCodec.encode(part));
      await waitFor('the aggregator to take the report', () => (aggregator.live().open['ep-s']?.requests === 3 ? true : undefined), 10_000, 20);
      // the interval ends at t0 + 60 s; with the grace it closes at t0 + 61 s, not a millisecond before
      expect(clock.set(t0 + intervalMs + 999)).toBe(1);
      await clock.scheduled();
      expect(aggregator.published).toBe(0);
      expect(clock.set(t0 + intervalMs + 1000)).toBe(1);
      await clock.scheduled();
      expect(aggregator.published).toBe(1);
      const m = await jsm.streams.getMessage(Streams.serving, { last_by_subj: Subjects.servingMinute('ep-s') });
      const minute = jsonCodec.decode<ServingMinuteMessage>(m!.data);
      expect(minute).toMatchObject({ endpointId: 'ep-s', start: t0, intervalMs, requests: 3, errors: 1, latencyP50: 12, closedAt: t0 + intervalMs + 1000 });
      expect(aggregator.live().open).toEqual({});
    } finally {
      await aggregator.stop();
    }
    expect(clock.pending).toBe(0);
  });

  it("a host's windows close by the clock it is given: none before the test moves it, exactly those due after", async () => {
    const clock = new ManualClock(Date.now());
    await using env = await startTestHost({ natsUrl: topology.nats.url, basePeriod: 1000, allowedLateness: 300, clock });
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'held', featureNames: ['i'], labelNames: ['y'] });
    // the controller's and the aggregator's loops wait on the clock
    await clock.scheduled(2);
    // three rows in one window, two in the next (the wall clock files them: JetStream's arrival)
    const ws = Math.ceil((Date.now() + 100) / 1000) * 1000;
    await untilWallClock(ws);
    await env.client.sendEvents(
      'held',
      [0, 1, 2].map((i) => ({ when: ws + i, inputs: [[i]], outputs: [0] })),
    );
    await untilWallClock(ws + 1000);
    await env.client.sendEvents(
      'held',
      [0, 1].map((i) => ({ when: ws + 1000 + i, inputs: [[i]], outputs: [0] })),
    );
    // the clock may not lead the wall clock: both windows have ended, with their lateness
    await untilWallClock(ws + 2300);
    const stored = async () =>
      (await env.client.results({ endpoint: 'held', app: 'row-count' })).filter((w) => w.windowStart >= ws).map((w) => [w.windowStart - ws, w.rows]);
    // the clock has not moved: no tick has run since the endpoint was made, nothing is stored
    await waitUntilDrained(topology.nats.url);
    expect(await stored()).toEqual([]);
    // the first window is due at ws + 1300: one tick of each loop, then every task it dispatched is analysed
    expect(clock.set(ws + 1300)).toBe(2);
    await clock.scheduled(2);
    await waitUntilDrained(topology.nats.url);
    expect(await stored()).toEqual([[0, 3]]);
    expect(clock.set(ws + 2300)).toBe(2);
    await clock.scheduled(2);
    await waitUntilDrained(topology.nats.url);
    expect((await stored()).sort()).toEqual([
      [0, 3],
      [1000, 2],
    ]);
  });
});
