import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_STORE, Streams, Subjects } from '@modelwatch/protocol';
import { putObject, readObject } from '../host/src/nats/objects.js';
import { RowsChunk } from '../host/src/nats/rows.js';
import { openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { buildWindowData, readWindowRows } from '../host/src/runner/index.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { parseEvent } from '../host/src/stream/formats/index.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';

/**
 * Streams that do not answer direct gets (MW_ROWS before a host of this version updated it, an
 * object store made by an older client): on nats-server 2.9 a direct get of them times out. A
 * window of one part and a small object are still read, by the leader's get.
 */
describe('reads of streams without direct gets', () => {
  let topology: TestTopology;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let buckets: Buckets;
  const noDirect = async (stream: string) => {
    const config = (await jsm.streams.info(stream)).config;
    await jsm.streams.update(stream, { ...config, allow_direct: false });
    expect((await jsm.streams.info(stream)).config.allow_direct).toBe(false);
  };

  beforeAll(async () => {
    topology = await startTestTopology();
    ({ nc, js, jsm } = topology);
    buckets = await openBuckets(nc);
  });
  afterAll(async () => {
    await topology?.[Symbol.asyncDispose]();
  });

  it("a window's rows of one part are read from MW_ROWS without allow_direct, again and again", async () => {
    const { record } = await new EndpointStore(buckets.endpoints).create({ name: 'nodirect', featureNames: ['a'], labelNames: ['y'], monitoring: true });
    const when = Date.now();
    const event = { format: 'columnar', when, inputs: { a: [1, 2, 3, 4] }, outputs: { y: [0, 1, 0, 1] } };
    const parsed = parseEvent(event, record, when);
    const chunk = new RowsChunk(1, 1);
    chunk.beginPart(1, 0);
    chunk.addRange(parsed, 0, 4, Infinity);
    const window = 600_000 * Math.floor(when / 600_000);
    await js.publish(Subjects.rows(record.id, window), chunk.encode());
    await noDirect(Streams.rows);
    // the first read finds direct gets unanswered, the next ones use the leader's get at once
    for (let i = 0; i < 3; i++) {
      const data = buildWindowData(await readWindowRows(js, jsm, record.id, [window], [1]), record);
      expect(data.length).toBe(4);
      expect([...data.packed.subarray(0, 4)]).toEqual([1, 2, 3, 4]);
    }
  });

  it('a small object is read from an object store without allow_direct', async () => {
    const stream = `OBJ_${REFERENCE_STORE}`;
    await noDirect(stream);
    const store = buckets.references;
    await putObject(nc, js, jsm, store, REFERENCE_STORE, { name: 'e1.json' }, new TextEncoder().encode('{"rows":1}'));
    await store.putBlob({ name: 'e2.json' }, new TextEncoder().encode('{"rows":2}'));
    for (const [name, text] of [
      ['e1.json', '{"rows":1}'],
      ['e2.json', '{"rows":2}'],
    ] as const) {
      expect(new TextDecoder().decode((await readObject(jsm, store, REFERENCE_STORE, name))!)).toBe(text);
    }
  });
});
