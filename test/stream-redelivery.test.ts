import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type EndpointRecord, type MonitoringSettings } from '@modelwatch/protocol';
import { filingWindow } from '../host/src/domain/windows.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { ensureTopology, openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { readWindowRows } from '../host/src/runner/index.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { WatchedKv } from '../host/src/store/watched-kv.js';
import { StreamProcessor, type StreamProcessorDeps } from '../host/src/stream/processor.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

const RETENTION_MS = 3_600_000;

/**
 * A batch redelivered after its rows were partly stored: the rolling-restart defect. A processor
 * files the rows of some messages of a batch into a window's chunk, then does not acknowledge
 * (here its dead-letter publish fails; in a rolling restart, a publish that timed out or a process
 * stopped between the publish and the acks). JetStream redelivers the batch, and the next
 * processor files it with more of its messages in the chunk. Row chunks used to be named by the
 * batch's first and last event sequence, so that chunk had the stored one's id and JetStream's
 * duplicate window dropped it: the rows of the messages the first processor had not filed were
 * lost, with their events acknowledged and no dead letter.
 */
describe('stream processor, a batch redelivered after a partial publish', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let buckets: Buckets;
  const watched: Array<{ stop(): void }> = [];

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await ensureTopology(nc, jsm, { retentionMs: RETENTION_MS });
    buckets = await openBuckets(nc);
  });

  afterAll(async () => {
    for (const w of watched) w.stop();
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  async function processor(overrides: Partial<StreamProcessorDeps> = {}): Promise<StreamProcessor> {
    const endpoints = new WatchedKv<EndpointRecord>(buckets.endpoints);
    const settings = new WatchedKv<MonitoringSettings>(buckets.settings);
    await Promise.all([endpoints.start(), settings.start()]);
    watched.push(endpoints, settings);
    const sp = new StreamProcessor({
      js: jetstream(nc),
      endpointsKv: buckets.endpoints,
      batchesKv: buckets.batches,
      endpoints,
      settings,
      logger: createLogger('silent'),
      allowedLatenessMs: 600_000,
      maxFutureSkewMs: 300_000,
      offloadAboveBytes: Infinity,
      ...overrides,
    });
    await sp.start();
    return sp;
  }

  async function consumerDone(): Promise<void> {
    await waitFor('every event acknowledged', async () => {
      const info = await jsm.consumers.info(Streams.events, Consumers.stream);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    });
  }

  it('stores the rows of every message, whatever the first processor filed', async () => {
    const { record } = await new EndpointStore(buckets.endpoints).create({ name: 'rolled', featureNames: ['a'], labelNames: ['y'], monitoring: true });
    const js = jetstream(nc);
    // one window (the default layout: ten minutes) for every row
    const when = Date.now();
    const event = (rows: number) => jsonCodec.encode(Array.from({ length: rows }, (_, i) => ({ when, inputs: [[i]], outputs: [i % 2] })));
    const small = event(1);
    const big = event(3);
    for (const data of [small, big, small]) await js.publish(Subjects.events('rolled'), data);

    // processor A files the first and the last message (the middle one it cannot file: here it is
    // over A's size limit; in a rolling restart it went to another processor or failed) and its
    // batch is not acknowledged: its dead-letter publish fails (no MW_DLQ), so all come back
    await jsm.streams.delete(Streams.dlq);
    const a = await processor({ maxEventBytes: small.length });
    const window = filingWindow(when, when, { periods: [{ fromMs: 0, periodMs: 600_000 }] }).start;
    const subject = Subjects.rows(record.id, window);
    await waitFor('A to store a row chunk', async () => {
      const info = await jsm.streams.info(Streams.rows, { subjects_filter: subject });
      return (info.state.subjects?.[subject] ?? 0) > 0 ? true : undefined;
    });
    await a.stop();
    expect(a.handled).toBe(0);

    // processor B (MW_DLQ back) files the redelivered batch whole
    await ensureTopology(nc, jsm, { retentionMs: RETENTION_MS });
    const b = await processor();
    await consumerDone();
    await b.stop();

    const batches = await readWindowRows(js, jsm, record.id, [window]);
    expect(batches.reduce((n, rb) => n + rb.ts.length, 0)).toBe(5);
    // with the count of parts a task carries (`rowParts`, the controller's listing): the same rows,
    // the part stored twice dropped as before; a count that is not one whole number per subject is
    // not used (the count is asked for)
    const parts = (await jsm.streams.info(Streams.rows, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    expect(parts).toBeGreaterThan(1);
    for (const given of [[parts], ['2'], [parts, 1], [-1]]) {
      const read = await readWindowRows(js, jsm, record.id, [window], given);
      expect(
        read.reduce((n, rb) => n + rb.ts.length, 0),
        `parts ${JSON.stringify(given)}`,
      ).toBe(5);
    }
  });
});
