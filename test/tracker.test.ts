import { join } from 'node:path';
import { build } from 'esbuild';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestBatch } from '@modelwatch/protocol';
import { freePort, startNatsServer, type NatsServerHandle } from '../host/src/nats/server.js';
import { createTracker } from '../tracker/src/index.js';
import { publishDir, REPO, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;

/** `@modelwatch/sdk/tracker`: a Node model server's way in, with MLRun's sampling and bounded memory. */
describe('SDK tracker', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 500 });
    await publishDir(env.client, ROW_COUNT);
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('sends sampled rows with every request counted: requests, errors and latencies of all, predictions estimated from the sample', async () => {
    await env.client.createEndpoint({ name: 'tracked', featureNames: ['a', 'b'], labelNames: ['y'] });
    const r = rng(3);
    const tracker = createTracker({ servers: nats.url, endpoint: 'tracked', samplingPercentage: 20, batchSize: 100, flushIntervalMs: 200, random: r.uniform });
    for (let i = 0; i < 1000; i++) {
      // requests of one to three rows, as MLRun samples each row
      const n = 1 + (i % 3);
      tracker.track({
        inputs: Array.from({ length: n }, (_, k) => [i, k]),
        outputs: Array.from({ length: n }, () => i % 2),
        requestId: `q${i}`,
        latencyMicros: 100 + i,
      });
    }
    for (let i = 0; i < 20; i++) tracker.track({ inputs: [[0, 0]], error: new Error('model crashed'), latencyMicros: 50 });
    await tracker.flush();
    const st = tracker.stats();
    await tracker.close();
    expect(st).toMatchObject({ tracked: 1020, delivered: 1020, dropped: 0, buffered: 0 });
    const totalRows = Array.from({ length: 1000 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0);
    // about a fifth of the rows kept
    expect(st.sampledRows).toBeGreaterThan(totalRows * 0.15);
    expect(st.sampledRows).toBeLessThan(totalRows * 0.25);

    const stats = await waitFor('every request counted', async () => {
      const s = await env.client.endpointStats('tracked');
      return s.requests === 1020 ? s : undefined;
    });
    expect(stats).toMatchObject({ requests: 1020, errors: 20, predictions: st.sampledRows, estimatedPredictions: st.sampledRows * 5, latencyCount: 1020 });
    expect(stats.latencyAvg).toBeCloseTo((Array.from({ length: 1000 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0) + 20 * 50) / 1020, 2);
    await waitFor('the sampled rows analysed', async () => {
      const w = await env.client.results({ endpoint: 'tracked' });
      return w.reduce((n, x) => n + x.rows, 0) === st.sampledRows ? true : undefined;
    });
  });

  it("keeps to the host's bounds: a time or a latency the host refuses costs its request's event alone, never the batch; a sampling percentage it refuses is refused at creation", async () => {
    expect(() => createTracker({ servers: nats.url, endpoint: 'tracked-bounds', samplingPercentage: 0.0005 })).toThrow(
      "samplingPercentage: expected 0.001 <= p <= 100 (the host's range), got 0.0005",
    );
    await env.client.createEndpoint({ name: 'tracked-bounds', featureNames: ['a'], labelNames: ['y'] });
    const tracker = createTracker({ servers: nats.url, endpoint: 'tracked-bounds', batchSize: 100 });
    const now = Date.now();
    tracker.track({ inputs: [[1]], outputs: 0, latencyMicros: 10, when: now });
    tracker.track({ inputs: [[2]], outputs: 0, latencyMicros: 1e308, when: now });
    tracker.track({ inputs: [[3]], outputs: 0, when: 1e300 });
    await tracker.flush();
    await tracker.close();
    // the batch counts three requests (one latency); of its events, the first is taken and the other two refused
    const stats = await waitFor('three requests counted', async () => {
      const s = await env.client.endpointStats('tracked-bounds');
      return s.requests === 3 ? s : undefined;
    });
    expect(stats).toMatchObject({ requests: 3, predictions: 1, estimatedPredictions: 1, latencyCount: 1, latencySum: 10, firstRequest: now, lastRequest: now });
    const letters = await waitFor('two dead letters', async () => {
      const l = (await env.client.deadLetters({ endpoint: 'tracked-bounds' })).letters;
      return l.length === 2 ? l : undefined;
    });
    expect(letters.map((l) => [l.index, l.reason.code, l.reason.message.split(':')[0]]).sort()).toEqual([
      [1, 'INVALID_EVENT', 'latencyMicros'],
      [2, 'INVALID_EVENT', 'when'],
    ]);
  });

  it('samples a request whose inputs are one row written flat as that one row (as MLRun reads it)', async () => {
    await env.client.createEndpoint({ name: 'tracked-flat', featureNames: ['a', 'b'], labelNames: ['y'] });
    // every row kept, but through the per-row sampling path
    const tracker = createTracker({ servers: nats.url, endpoint: 'tracked-flat', samplingPercentage: 50, batchSize: 100, random: () => 0 });
    for (let i = 0; i < 10; i++) tracker.track({ inputs: [i, 1], outputs: i % 2, requestId: `f${i}` });
    await tracker.flush();
    const st = tracker.stats();
    await tracker.close();
    expect(st).toMatchObject({ tracked: 10, delivered: 10, sampledRows: 10 });
    await waitFor('the ten rows analysed', async () => {
      const w = await env.client.results({ endpoint: 'tracked-flat' });
      return w.reduce((n, x) => n + x.rows, 0) === 10 ? true : undefined;
    });
    expect((await env.client.deadLetters({ endpoint: 'tracked-flat' })).letters).toEqual([]);
  });

  it('holds at most maxBufferedEvents while NATS is unreachable, dropping the oldest and counting them, then reconnects and resumes', async () => {
    await using dir = await tempDir('mw-tracker-');
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const errors: string[] = [];
    const tracker = createTracker({
      servers: url,
      endpoint: 'offline',
      batchSize: 50,
      flushIntervalMs: 50,
      maxBufferedEvents: 200,
      onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 1000; i++) tracker.track({ inputs: [[i]], outputs: [0], latencyMicros: 10 });
    await waitFor('the tracker to drop the oldest batches', () => (errors.some((e) => /dropped/.test(e)) ? true : undefined), 10_000, 10);
    let st = tracker.stats();
    expect(st.buffered).toBeLessThanOrEqual(200);
    expect(st.dropped).toBe(1000 - st.buffered);
    expect(errors.some((e) => /dropped/.test(e))).toBe(true);

    // NATS comes up (with a stream taking the events, as a host would have made)
    let server: NatsServerHandle = await startNatsServer({ dataDir: join(dir.path, 'nats'), port });
    try {
      const nc = await connect({ servers: url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'MW_EVENTS', subjects: ['mw.events.>'] });
      await waitFor('the buffer delivered', () => (tracker.stats().buffered === 0 ? true : undefined), 30_000);
      st = tracker.stats();
      expect(st.delivered + st.dropped).toBe(1000);

      // NATS restarts: tracking goes on, and what is tracked meanwhile is delivered after
      await nc.close();
      await server.stop();
      const failuresBefore = tracker.stats().failures;
      for (let i = 0; i < 100; i++) tracker.track({ inputs: [[i]], outputs: [0] });
      // the tracker has seen the outage: a send failed while NATS was away
      await waitFor('a send to fail while NATS is away', () => (tracker.stats().failures > failuresBefore ? true : undefined), 30_000, 20);
      server = await startNatsServer({ dataDir: join(dir.path, 'nats'), port });
      await tracker.flush();
      st = tracker.stats();
      expect(st).toMatchObject({ tracked: 1100, buffered: 0 });
      expect(st.delivered + st.dropped).toBe(1100);

      // what the stream holds: each batch once, the dropped requests reported to the host
      const nc2 = await connect({ servers: url });
      const js = jetstream(nc2);
      await (await jetstreamManager(nc2)).consumers.add('MW_EVENTS', { durable_name: 'check', ack_policy: AckPolicy.None });
      const c = await js.consumers.get('MW_EVENTS', 'check');
      const info = await c.info();
      const batches: RequestBatch[] = [];
      for await (const m of await c.fetch({ max_messages: info.num_pending, expires: 5000 })) {
        batches.push(m.json<RequestBatch>());
        expect(m.headers?.get('Mw-Source')).toBe('tracker');
        if (m.info.pending === 0) break;
      }
      expect(batches.reduce((n, b) => n + b.requests.count, 0)).toBe(st.delivered);
      expect(batches.reduce((n, b) => n + (b.requests.dropped ?? 0), 0)).toBe(st.dropped);
      expect(batches.reduce((n, b) => n + b.events.length, 0)).toBe(st.delivered);
      await tracker.close();
      await nc2.close();
    } finally {
      await tracker.close();
      await server.stop();
    }
  });

  it('is not part of the main SDK entry, which monitoring apps bundle into their sandbox', async () => {
    const out = await build({
      stdin: { contents: "export * from '@modelwatch/sdk';", resolveDir: REPO, loader: 'ts' },
      bundle: true,
      write: false,
      platform: 'neutral',
      format: 'esm',
      logLevel: 'silent',
    });
    const code = out.outputFiles[0]!.text;
    expect(code).toContain('MonitoringApplication');
    expect(code).not.toMatch(/nats-io|createTracker/);
  });
});
