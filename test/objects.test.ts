import { jetstream, jetstreamManager, JsHeaders, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_STORE } from '@modelwatch/protocol';
import { putObject, readObject, smallObjectMessages } from '../host/src/nats/objects.js';
import { ensureTopology, openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { startTestNats } from './helpers/nats.js';

/** Small objects put and read in the object store's own format with fewer messages, against a real nats-server. */
describe('object store: small objects by direct gets and publishes together', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let buckets: Buckets;
  const stream = `OBJ_${ARTIFACT_STORE}`;
  const bytes = (s: string) => new TextEncoder().encode(s);
  /** Messages the store's stream holds for its chunks. */
  const chunkMessages = async () => {
    const info = await jsm.streams.info(stream, { subjects_filter: `$O.${ARTIFACT_STORE}.C.>` });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  };

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await ensureTopology(nc, jsm, { retentionMs: 3_600_000 });
    buckets = await openBuckets(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  it('an object put in one chunk is what the client reads, lists and deletes; put again, its chunk is replaced, not left behind', async () => {
    const store = buckets.artifacts;
    const before = await chunkMessages();
    await putObject(
      nc,
      js,
      jsm,
      store,
      ARTIFACT_STORE,
      { name: 'e/app/1000/table.csv', metadata: { contentType: 'text/csv', app: 'app' } },
      bytes('a,b\n1,2\n'),
    );
    expect(new TextDecoder().decode((await store.getBlob('e/app/1000/table.csv'))!)).toBe('a,b\n1,2\n');
    const info = await store.info('e/app/1000/table.csv');
    expect(info).toMatchObject({ name: 'e/app/1000/table.csv', size: 8, chunks: 1, deleted: false, metadata: { contentType: 'text/csv', app: 'app' } });
    expect((await store.list()).map((o) => o.name)).toContain('e/app/1000/table.csv');
    expect(await chunkMessages()).toBe(before + 1);

    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name: 'e/app/1000/table.csv' }, bytes('a,b\n3,4\n5,6\n'));
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, 'e/app/1000/table.csv'))!)).toBe('a,b\n3,4\n5,6\n');
    expect(new TextDecoder().decode((await store.getBlob('e/app/1000/table.csv'))!)).toBe('a,b\n3,4\n5,6\n');
    expect(await chunkMessages()).toBe(before + 1);

    await store.delete('e/app/1000/table.csv');
    expect(await readObject(jsm, store, ARTIFACT_STORE, 'e/app/1000/table.csv')).toBeNull();
    expect(await chunkMessages()).toBe(before);
  });

  it('reads what the client stored: one chunk, several chunks, an empty object; null for a name never stored', async () => {
    const store = buckets.artifacts;
    await store.putBlob({ name: 'old/one' }, bytes('stored by the client'));
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, 'old/one'))!)).toBe('stored by the client');

    const big = new Uint8Array(300 * 1024).map((_, i) => i % 251);
    await store.putBlob({ name: 'old/big' }, big);
    expect((await store.info('old/big'))!.chunks).toBeGreaterThan(1);
    expect(await readObject(jsm, store, ARTIFACT_STORE, 'old/big')).toEqual(big);

    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name: 'new/empty' }, new Uint8Array(0));
    expect(await readObject(jsm, store, ARTIFACT_STORE, 'new/empty')).toEqual(new Uint8Array(0));
    expect((await store.info('new/empty'))!.size).toBe(0);

    expect(await readObject(jsm, store, ARTIFACT_STORE, 'never/stored')).toBeNull();
  });

  it('a chunk the stream refuses leaves no object behind: the put fails, and the metadata stored with it is deleted', async () => {
    const store = buckets.artifacts;
    const config = (await jsm.streams.info(stream)).config;
    // the metadata fits under this, the chunk does not
    await jsm.streams.update(stream, { ...config, max_msg_size: 2048 });
    try {
      const put = putObject(nc, js, jsm, store, ARTIFACT_STORE, { name: 'refused/big.csv' }, new Uint8Array(8192).fill(65));
      await expect(put).rejects.toThrow();
      expect(await readObject(jsm, store, ARTIFACT_STORE, 'refused/big.csv')).toBeNull();
      expect((await store.list()).map((o) => o.name)).not.toContain('refused/big.csv');
    } finally {
      await jsm.streams.update(stream, config);
    }
  });

  it('an object larger than a chunk is put through the client, and read back whole', async () => {
    const store = buckets.artifacts;
    const big = new Uint8Array(200 * 1024).map((_, i) => i % 13);
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name: 'new/big', metadata: { contentType: 'application/octet-stream' } }, big);
    expect((await store.info('new/big'))!.chunks).toBeGreaterThan(1);
    expect(await readObject(jsm, store, ARTIFACT_STORE, 'new/big')).toEqual(big);
    expect(await store.getBlob('new/big')).toEqual(big);
  });
  it('two puts of one name stored interleaved (chunk 1, chunk 2, metadata 2, metadata 1) leave the last metadata readable', async () => {
    const store = buckets.artifacts;
    const name = 'twice/table.csv';
    const before = await chunkMessages();
    const [one, two] = ['a\n1\n', 'a\n2\n'].map((text) => smallObjectMessages(ARTIFACT_STORE, { name }, bytes(text), 128 * 1024));
    const rollup = () => {
      const h = headers();
      h.set(JsHeaders.RollupHdr, JsHeaders.RollupValueSubject);
      return h;
    };
    // the order two runs of a redelivered task can have them stored in
    await js.publish(one!.chunkSubject, bytes('a\n1\n'), { headers: rollup() });
    await js.publish(two!.chunkSubject, bytes('a\n2\n'), { headers: rollup() });
    await js.publish(two!.metaSubject, two!.meta, { headers: rollup() });
    await js.publish(one!.metaSubject, one!.meta, { headers: rollup() });
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('a\n1\n');
    expect(new TextDecoder().decode((await store.getBlob(name))!)).toBe('a\n1\n');
    // the next put replaces it and purges the chunk of the metadata it replaced (the other stays behind: the race's cost)
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('a\n3\n'));
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('a\n3\n');
    expect(await chunkMessages()).toBe(before + 2);
    await store.delete(name);
  });

  it("a small put replacing an object the client wrote in several chunks purges the client's chunks", async () => {
    const store = buckets.artifacts;
    const name = 'replaced/by-small';
    const before = await chunkMessages();
    await store.putBlob(
      { name },
      new Uint8Array(300 * 1024).map((_, i) => i % 7),
    );
    expect(await chunkMessages()).toBeGreaterThan(before + 1);
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('small now'));
    expect(new TextDecoder().decode((await store.getBlob(name))!)).toBe('small now');
    expect(await chunkMessages()).toBe(before + 1);
    await store.delete(name);
    expect(await chunkMessages()).toBe(before);
  });

  it('metadata the stream refuses leaves no chunk behind, and the object stored before stays readable', async () => {
    const store = buckets.artifacts;
    const name = 'refused/meta.csv';
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('first'));
    const before = await chunkMessages();
    const config = (await jsm.streams.info(stream)).config;
    // the chunk fits under this, the metadata (its JSON, over 200 bytes) does not
    await jsm.streams.update(stream, { ...config, max_msg_size: 64 });
    try {
      await expect(putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('second'))).rejects.toThrow();
    } finally {
      await jsm.streams.update(stream, config);
    }
    expect(await chunkMessages()).toBe(before);
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('first');
    // the same content again: its chunk is the stored object's, so a refused metadata purges nothing
    await jsm.streams.update(stream, { ...config, max_msg_size: 64 });
    try {
      await expect(putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('first'))).rejects.toThrow();
    } finally {
      await jsm.streams.update(stream, config);
    }
    expect(new TextDecoder().decode((await store.getBlob(name))!)).toBe('first');
  });
});
