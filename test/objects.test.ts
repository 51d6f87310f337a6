import { JsHeaders, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Writable } from 'node:stream';
import { headers, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_STORE } from '@modelwatch/protocol';
import { createLogger } from '../host/src/logger.js';
import { putObject, readObject, smallObjectMessages } from '../host/src/nats/objects.js';
import { openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';

/**
 * A client that calls the real one, with some of its methods replaced: a put's steps held at a
 * point the test picks (to interleave two puts deterministically), or an answer lost.
 */
function intercept<T extends object>(target: T, overrides: Record<string, unknown>): T {
  return new Proxy(target, {
    get(t, p) {
      if (typeof p === 'string' && p in overrides) return overrides[p];
      const v: unknown = Reflect.get(t, p, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** Small objects put and read in the object store's own format with fewer messages, against a real nats-server. */
describe('object store: small objects by direct gets and publishes together', () => {
  let topology: TestTopology;
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
    topology = await startTestTopology();
    ({ nc, js, jsm } = topology);
    buckets = await openBuckets(nc);
  });
  afterAll(async () => {
    await topology?.[Symbol.asyncDispose]();
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

  it('a fresh name is put without reading its metadata; a fresh put of a stored name still replaces it and purges its chunk', async () => {
    const store = buckets.artifacts;
    const name = 'fresh/1000/table.csv';
    const gets: string[] = [];
    const sub = nc.subscribe('$JS.API.STREAM.MSG.GET.>', {
      callback: (_e, m) => {
        gets.push(m.subject);
      },
    });
    const before = await chunkMessages();
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name, fresh: true }, bytes('a\n1\n'));
    await nc.flush();
    expect(gets).toEqual([]);
    expect(new TextDecoder().decode((await store.getBlob(name))!)).toBe('a\n1\n');
    // stored already (the task ran again, with another content): the expectation fails, the put reads and goes on
    gets.length = 0;
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name, fresh: true, metadata: { run: '2' } }, bytes('a\n2\n'));
    await nc.flush();
    sub.unsubscribe();
    expect(gets).toEqual([`$JS.API.STREAM.MSG.GET.OBJ_${ARTIFACT_STORE}`]);
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('a\n2\n');
    expect((await store.info(name))!.metadata).toEqual({ run: '2' });
    expect(await chunkMessages()).toBe(before + 1);
    await store.delete(name);
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
  /** The manager with its metadata reads and purges passing through hooks (the first read only, for `afterFirstRead`). */
  const hooked = (hooks: { afterFirstRead?: () => Promise<void>; beforePurge?: () => Promise<void> }): JetStreamManager => {
    let reads = 0;
    const streams = intercept(jsm.streams, {
      getMessage: async (...args: Parameters<JetStreamManager['streams']['getMessage']>) => {
        const m = await jsm.streams.getMessage(...args);
        if (reads++ === 0) await hooks.afterFirstRead?.();
        return m;
      },
      purge: async (...args: Parameters<JetStreamManager['streams']['purge']>) => {
        await hooks.beforePurge?.();
        return await jsm.streams.purge(...args);
      },
    });
    return intercept(jsm, { streams });
  };

  it('two puts of one name at once: the metadata stored second is stored over the first (read again), and no metadata names a purged chunk', async () => {
    const store = buckets.artifacts;
    const name = 'race/table.csv';
    const before = await chunkMessages();
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('a\n1\n'));
    let read2!: () => void;
    const readBy2 = new Promise<void>((r) => (read2 = r));
    let stored1!: () => void;
    const storedBy1 = new Promise<void>((r) => (stored1 = r));
    let done2!: () => void;
    const doneBy2 = new Promise<void>((r) => (done2 = r));
    // put 2 (the same content again: a task run twice) reads the metadata, and waits
    const put2 = putObject(
      nc,
      js,
      hooked({
        afterFirstRead: async () => {
          read2();
          await storedBy1;
        },
      }),
      store,
      ARTIFACT_STORE,
      { name },
      bytes('a\n1\n'),
    );
    await readBy2;
    // put 1 (another content) reads the same metadata, stores its chunk and metadata; its purge of
    // the chunk it replaced waits until put 2 has stored its own (the order that left put 2's
    // metadata naming a purged chunk)
    const put1 = putObject(
      nc,
      js,
      hooked({
        beforePurge: async () => {
          stored1();
          await doneBy2;
        },
      }),
      store,
      ARTIFACT_STORE,
      { name },
      bytes('a\n2\n'),
    );
    try {
      await put2;
    } finally {
      done2();
    }
    await put1;
    // put 2's metadata, stored over put 1's once read again, names its chunk, which is there
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('a\n1\n');
    expect(new TextDecoder().decode((await store.getBlob(name))!)).toBe('a\n1\n');
    // and put 1's chunk was purged by put 2: one chunk left
    expect(await chunkMessages()).toBe(before + 1);
    await store.delete(name);
    expect(await chunkMessages()).toBe(before);
  });

  it('metadata whose publish times out (it may be stored) purges nothing: the object it stored stays readable', async () => {
    const store = buckets.artifacts;
    const name = 'timeout/table.csv';
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('first'));
    // the metadata is stored, its answer lost
    const lossy = intercept(js, {
      publish: async (...args: Parameters<JetStreamClient['publish']>) => {
        const ack = await js.publish(...args);
        if (args[0].startsWith(`$O.${ARTIFACT_STORE}.M.`)) throw new TimeoutError();
        return ack;
      },
    });
    await expect(putObject(nc, lossy, jsm, store, ARTIFACT_STORE, { name }, bytes('second'))).rejects.toBeInstanceOf(TimeoutError);
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('second');
    expect(new TextDecoder().decode((await store.getBlob(name))!)).toBe('second');
    await store.delete(name);
  });

  it('a purge that fails after the metadata is stored is logged, not thrown: the put succeeded', async () => {
    const store = buckets.artifacts;
    const name = 'purge-fails/table.csv';
    await putObject(nc, js, jsm, store, ARTIFACT_STORE, { name }, bytes('first'));
    const lines: string[] = [];
    const log = createLogger(
      'warn',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const failingPurge = hooked({
      beforePurge: () => Promise.reject(new TimeoutError()),
    });
    await putObject(nc, js, failingPurge, store, ARTIFACT_STORE, { name }, bytes('second'), log);
    expect(new TextDecoder().decode((await readObject(jsm, store, ARTIFACT_STORE, name))!)).toBe('second');
    expect(lines.some((l) => l.includes('could not purge'))).toBe(true);
    await store.delete(name);
  });
});
