/*
 * Read your writes: a change of an endpoint the API makes is in its process's watched copy of the
 * records before the change returns, so the next request it answers (an event checked against a
 * reference just set, through the same watched copy) sees it, however late the watch brings it.
 * The watch is stopped here, so only the store's `written` hook can bring the change.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointRecord } from '@modelwatch/protocol';
import { ensureTopology, openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { WatchedKv } from '../host/src/store/watched-kv.js';
import { startTestNats } from './helpers/nats.js';

describe("an endpoint's change, seen at once by the process that made it", () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let nc: NatsConnection;
  let buckets: Buckets;

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    await ensureTopology(nc, await jetstreamManager(nc), { retentionMs: 3_600_000 });
    buckets = await openBuckets(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  it('reference, monitoring, tags and removal: in the watched copy when the change returns; without the hook the copy stays behind', async () => {
    const plain = new EndpointStore(buckets.endpoints, buckets.references);
    await plain.create({ name: 'seen', featureNames: ['a'], labelNames: ['y'], monitoring: true });
    await plain.create({ name: 'behind', featureNames: ['a'], labelNames: ['y'], monitoring: true });
    const watched = new WatchedKv<EndpointRecord>(buckets.endpoints);
    await watched.start();
    expect(watched.peek('seen')?.monitoring).toBe(true);
    // from here on the watch brings nothing: a watch that lags, as far as it can
    watched.stop();
    const store = new EndpointStore(buckets.endpoints, buckets.references, (name) => watched.fresh(name, Date.now()));

    await store.setReference('seen', { columns: ['a', 'y'], values: { a: [1, 2, 3], y: [0, 1, 0] }, rows: 3 });
    expect(watched.peek('seen')?.referenceRowCount).toBe(3);
    expect((await watched.get('seen'))?.featureStats?.a).toMatchObject({ type: 'numeric' });
    await store.setMonitoring('seen', false);
    expect(watched.peek('seen')?.monitoring).toBe(false);
    await store.update('seen', { setTags: { team: 'risk' } });
    expect(watched.peek('seen')?.tags).toEqual({ team: 'risk' });
    await store.delete('seen');
    expect(watched.peek('seen')).toBeUndefined();

    // the same change through a store without the hook: the copy still has the record as it was
    await plain.setMonitoring('behind', false);
    expect(watched.peek('behind')?.monitoring).toBe(true);
    expect((await plain.get('behind'))?.monitoring).toBe(false);
  });
});
