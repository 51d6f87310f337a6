import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type EndpointRecord, type MonitoringSettings } from '@modelwatch/protocol';
import { filingWindow } from '../host/src/domain/windows.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { ensureTopology, openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { RowsChunk } from '../host/src/nats/rows.js';
import { buildWindowData, readWindowRows } from '../host/src/runner/index.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { WatchedKv } from '../host/src/store/watched-kv.js';
import { rowChunkId } from '../host/src/stream/filing.js';
import { parseEvent } from '../host/src/stream/formats/index.js';
import { StreamProcessor, type StreamProcessorDeps } from '../host/src/stream/processor.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';
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
  let topology: TestTopology;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let buckets: Buckets;
  const watched: Array<{ stop(): void }> = [];

  beforeAll(async () => {
    topology = await startTestTopology({ retentionMs: RETENTION_MS });
    ({ nc, jsm } = topology);
    buckets = await openBuckets(nc);
  });

  afterAll(async () => {
    for (const w of watched) w.stop();
    await topology?.[Symbol.asyncDispose]();
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
    // (the three as one batch: however they arrive, it goes when it holds all three)
    const a = await processor({ maxEventBytes: small.length, batchSize: 3, batchLingerMs: 600_000 });
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
  it('counts each row of an event once when a redelivered batch was chunked otherwise (parts split at other offsets)', async () => {
    const { record } = await new EndpointStore(buckets.endpoints).create({ name: 'rechunked', featureNames: ['a'], labelNames: ['y'], monitoring: true });
    const js = jetstream(nc);
    const when = Date.now();
    const sizes = [10, 7, 3];
    const events = sizes.map((rows, k) => ({
      format: 'columnar',
      when,
      inputs: { a: Array.from({ length: rows }, (_, i) => 100 * k + i) },
      outputs: { y: Array.from({ length: rows }, (_, i) => i % 2) },
    }));
    // the events filed by the stream processor: its composition, one part per event
    const seqs: number[] = [];
    for (const e of events) seqs.push((await js.publish(Subjects.events('rechunked'), jsonCodec.encode(e))).seq);
    const sp = await processor();
    await consumerDone();
    await sp.stop();
    const window = filingWindow(when, when, { periods: [{ fromMs: 0, periodMs: 600_000 }] }).start;
    const subject = Subjects.rows(record.id, window);
    const stored = async () => (await jsm.streams.info(Streams.rows, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const filed = await stored();
    expect(filed).toBeGreaterThan(0);

    // the same events filed again, chunked otherwise (another processor, another part size): event 1
    // from offset 4 on with event 2's first 5 rows, then event 2 from offset 3 on (rows 3-4 again)
    // with event 1 whole and event 3's rows 1-2; rows 4-9 of event 1 and 3-4 of event 2 are in both
    const endpoint = (await new EndpointStore(buckets.endpoints).get('rechunked'))!;
    const parsed = events.map((e) => parseEvent(e, endpoint, when));
    const compose = (parts: Array<[event: number, from: number, to: number]>) => {
      const c = new RowsChunk(1, 1);
      for (const [k, from, to] of parts) {
        c.beginPart(seqs[k]!, from);
        c.addRange(parsed[k]!, from, to, Infinity);
      }
      return c;
    };
    const chunks = [
      compose([
        [0, 4, 10],
        [1, 0, 5],
      ]),
      compose([
        [1, 3, 7],
        [0, 0, 10],
        [2, 1, 3],
      ]),
    ];
    // stored as the processor publishes them (a chunk's id names its parts), so both are kept
    for (const c of chunks) await js.publish(subject, c.encode(), { msgID: rowChunkId(subject, c.e) });
    expect(await stored()).toBe(filed + 2);

    const total = sizes.reduce((a, b) => a + b, 0);
    for (const parts of [undefined, [filed + 2]]) {
      const batches = await readWindowRows(js, jsm, record.id, [window], parts);
      const data = buildWindowData(batches, endpoint);
      expect(data.length, `parts ${JSON.stringify(parts)}`).toBe(total);
      expect(batches.flatMap((b) => b.x.map((r) => r[0])).sort((a, b) => (a as number) - (b as number))).toEqual(events.flatMap((e) => e.inputs.a));
    }
  });
});
