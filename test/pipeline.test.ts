import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage, type WindowRecord, type WindowStoredMessage } from '@modelwatch/protocol';
import { endpointId } from '../host/src/domain/names.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { HISTOGRAM_PLUGIN, publishDir, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';
import { startTestTsdb, type TestTsdb } from './helpers/tsdb.js';

/**
 * The whole pipeline on real components: nats-server, a host with a runner process,
 * LevelDB, and VictoriaMetrics taking the InfluxDB v2 write API.
 */
describe('pipeline: events -> windows -> sandboxed app -> LevelDB and TSDB', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let tsdb: TestTsdb;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  const PERIOD = 1000;
  const features = ['a', 'b', 'c'];
  const r = rng(7);
  const normalRow = () => [r.normal(0, 1), r.normal(10, 2), r.uniform()];
  const driftRow = () => [r.normal(3, 1), r.normal(4, 2), r.uniform() ** 4];
  let windows: WindowRecord[] = [];
  let normalWindows: number[] = [];
  let driftWindows: number[] = [];
  const notices: WindowStoredMessage[] = [];
  let noticeConn: Awaited<ReturnType<typeof connect>> | undefined;

  beforeAll(async () => {
    // one after the other: both are in hand for afterAll, whichever fails to start
    nats = await startTestNats();
    tsdb = await startTestTsdb();
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 200,
      influx: { url: tsdb.url, org: 'test', bucket: 'modelwatch' },
    });
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    noticeConn = await connect({ servers: nats.url });
    noticeConn.subscribe(Subjects.storedAll, { callback: (_e, m) => void notices.push(jsonCodec.decode(m.data) as WindowStoredMessage) });
    await noticeConn.flush();
    await env.client.createEndpoint({ name: 'pipe', featureNames: features, labelNames: ['y'] });
    const reference = ['a,b,c,y', ...Array.from({ length: 3000 }, () => [...normalRow(), 0].join(','))].join('\n');
    await env.client.setReference('pipe', reference, 'csv');

    // Two windows of normal traffic, then two of drifted traffic, by event time in the recent past.
    const start = Math.floor(Date.now() / PERIOD) * PERIOD;
    normalWindows = [start, start + PERIOD];
    driftWindows = [start + 2 * PERIOD, start + 3 * PERIOD];
    for (const [ws, gen] of [
      [normalWindows[0]!, normalRow],
      [normalWindows[1]!, normalRow],
      [driftWindows[0]!, driftRow],
      [driftWindows[1]!, driftRow],
    ] as const) {
      await untilWallClock(ws);
      const events = Array.from({ length: 300 }, (_, i) => ({
        when: ws + (i * (PERIOD - 10)) / 300,
        inputs: [gen()],
        outputs: [r.uniform()],
        requestId: `${ws}-${i}`,
      }));
      const res = await env.client.sendEvents('pipe', events);
      expect(res).toEqual({ accepted: 300, rejected: [] });
    }
    windows = await waitFor(
      'four analysed windows',
      async () => {
        const w = await env.client.results({ endpoint: 'pipe' });
        return [...normalWindows, ...driftWindows].every((s) => w.some((x) => x.windowStart === s)) ? w : undefined;
      },
      30_000,
    );
  });

  afterAll(async () => {
    await noticeConn?.close();
    await env?.[Symbol.asyncDispose]();
    await tsdb?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it('analyses every window with all its rows and the right drift status', () => {
    const byStart = new Map(windows.map((w) => [w.windowStart, w]));
    for (const ws of [...normalWindows, ...driftWindows]) {
      const w = byStart.get(ws)!;
      expect(w.outcome).toBe('ok');
      expect(w.rows).toBe(300);
      expect(w.windowEnd - w.windowStart).toBe(PERIOD);
      expect(w.version).toBe('1.0.0');
      expect(w.metrics.map((m) => m.name).sort()).toEqual(['hellinger_mean', 'kld_mean', 'tvd_mean']);
    }
    const drift = (ws: number) => byStart.get(ws)!.results.find((x) => x.name === 'general_drift')!;
    for (const ws of normalWindows) expect(drift(ws).status).toBe(0);
    for (const ws of driftWindows) expect(drift(ws).status).toBe(2);
    expect(Object.keys(drift(driftWindows[0]!).extraData!.features as object).sort()).toEqual(features);
  });

  it('tells live views of each stored window on mw.stored.<endpoint id>, with the stored output', async () => {
    const id = endpointId('pipe');
    const noticed = await waitFor('a notice for each analysed window', () => {
      const mine = notices.filter((n) => n.output.endpointId === id && n.output.outcome === 'ok');
      return [...normalWindows, ...driftWindows].every((s) => mine.some((n) => n.output.windowStart === s)) ? mine : undefined;
    });
    for (const w of windows.filter((x) => driftWindows.includes(x.windowStart))) {
      const n = noticed.find((x) => x.output.windowStart === w.windowStart)!;
      expect(n.v).toBe(1);
      expect(n.output.binding).toBeUndefined();
      expect(n.output.results.map((r) => [r.name, r.status])).toEqual(w.results.map((r) => [r.name, r.status]));
      expect(n.storedAt).toBeGreaterThanOrEqual(n.output.completedAt);
    }
  });

  it('records windows without traffic as empty, without calling the app', async () => {
    const later = await waitFor('an empty window after the traffic', async () => {
      const w = await env.client.results({ endpoint: 'pipe' });
      return w.find((x) => x.windowStart > driftWindows[1]! && x.outcome === 'empty');
    });
    expect(later.rows).toBe(0);
    expect(later.results).toEqual([]);
  });

  it('keeps the latest value per result', async () => {
    const latest = await env.client.latest('pipe');
    const g = latest.find((l) => l.name === 'general_drift')!;
    expect(g.windowStart).toBeGreaterThanOrEqual(driftWindows[1]!);
    expect(g.app).toBe('histogram-data-drift');
  });

  it('writes one point per result and window to the TSDB (InfluxDB v2 write API)', async () => {
    const series = await waitFor('app_results points', async () => {
      const s = await tsdb.exportSeries('app_results_value', Math.floor(normalWindows[0]! / 1000) - 5);
      const pipe = s.filter((x) => x.metric.endpoint_name === 'pipe' && x.metric.result_name === 'general_drift');
      const ts = pipe.flatMap((x) => x.timestamps);
      // every window's point, not only the last ones': points ship in the order windows were stored
      return [...normalWindows, ...driftWindows].every((w) => ts.includes(w + PERIOD)) ? pipe : undefined;
    });
    expect(series).toHaveLength(1);
    const s = series[0]!;
    expect(s.metric).toMatchObject({ application: 'histogram-data-drift', result_kind: '0', endpoint_id: endpointId('pipe') });
    const byStart = new Map(windows.map((w) => [w.windowStart, w]));
    for (const ws of [...normalWindows, ...driftWindows]) {
      const i = s.timestamps.indexOf(ws + PERIOD);
      expect(i).toBeGreaterThanOrEqual(0);
      const stored = byStart.get(ws)!.results.find((x) => x.name === 'general_drift')!.value;
      expect(s.values[i]).toBeCloseTo(stored, 10);
    }
    expect(new Set(s.timestamps).size).toBe(s.timestamps.length);
    const metrics = await waitFor('app_metrics points of every window', async () => {
      const m = (await tsdb.exportSeries('app_metrics_value', Math.floor(normalWindows[0]! / 1000) - 5)).filter((x) => x.metric.endpoint_name === 'pipe');
      return m.length > 0 && m.every((x) => [...normalWindows, ...driftWindows].every((w) => x.timestamps.includes(w + PERIOD))) ? m : undefined;
    });
    expect(metrics.map((m) => m.metric.metric_name).sort()).toEqual(['hellinger_mean', 'kld_mean', 'tvd_mean']);
  });

  it('is idempotent: a redelivered output changes nothing in LevelDB or the TSDB', async () => {
    const before = (await env.client.results({ endpoint: 'pipe' })).find((w) => w.windowStart === driftWindows[0])!;
    const nc = await connect({ servers: nats.url });
    try {
      const forged: AppOutputMessage = {
        v: 1,
        endpointId: before.endpointId,
        endpointName: 'pipe',
        app: before.app,
        version: before.version,
        windowStart: before.windowStart,
        windowEnd: before.windowEnd,
        outcome: 'ok',
        rows: 1,
        results: [{ name: 'general_drift', value: 0.123, kind: 0, status: 0, extraData: {} }],
        metrics: [],
        durationMs: 1,
        completedAt: Date.now(),
        runner: 'test',
      };
      // A different message id, as after the dedup window: only the writer's idempotency stops it.
      const ack = await jetstream(nc).publish(Subjects.outputs(before.endpointId), jsonCodec.encode(forged), { msgID: `replay-${Date.now()}` });
      // the positive marker: the writer is done with it (it acknowledges an output once stored, or found stored)
      const jsm = await jetstreamManager(nc);
      await waitFor('the writer done with the replayed output', async () =>
        (await jsm.consumers.info(Streams.outputs, Consumers.writer)).ack_floor.stream_seq >= ack.seq ? true : undefined,
      );
    } finally {
      await nc.close();
    }
    const after = (await env.client.results({ endpoint: 'pipe' })).find((w) => w.windowStart === driftWindows[0])!;
    expect(after).toEqual(before);
    const s = await tsdb.exportSeries('app_results_value', Math.floor(normalWindows[0]! / 1000) - 5);
    const pipe = s.find((x) => x.metric.endpoint_name === 'pipe' && x.metric.result_name === 'general_drift')!;
    expect(pipe.values).not.toContain(0.123);
  });
});
