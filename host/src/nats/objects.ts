/**
 * Small objects of a NATS object store read and written in its own format (so the client's
 * `info`, `getBlob`, `list`, `watch` and `delete` see them as any other) with fewer messages than
 * the client's: an object that fits in one chunk is read with two gets (its metadata, its chunk)
 * instead of a metadata get and an ordered consumer made for its chunks, and written with
 * its chunk and its metadata published together instead of a metadata read first and one publish
 * after the other. Larger objects (or links) go through the client.
 */
import { createHash } from 'node:crypto';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, JsHeaders, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import type { Logger } from '../logger.js';
import { lastBySubject } from './direct.js';
import { isTransient, isWrongLastSequence } from './errors.js';

/** The client's default chunk size: objects up to it are one chunk. */
const MAX_CHUNK = 128 * 1024;
const DIGEST = 'SHA-256=';

/** What the object store keeps in an object's metadata message (the fields this module reads). */
interface StoredMeta {
  name: string;
  nuid: string;
  size: number;
  chunks: number;
  digest: string;
  deleted?: boolean;
  options?: { link?: unknown; max_chunk_size?: number };
}

/** base64url with its padding, as the object store names metadata subjects and writes digests. */
function paddedBase64Url(b: Uint8Array | string): string {
  return Buffer.from(b).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

function streamOf(bucket: string): string {
  return `OBJ_${bucket}`;
}

function metaSubject(bucket: string, name: string): string {
  return `$O.${bucket}.M.${paddedBase64Url(name)}`;
}

function chunkSubject(bucket: string, nuid: string): string {
  return `$O.${bucket}.C.${nuid}`;
}

function digestOf(data: Uint8Array): string {
  return DIGEST + paddedBase64Url(createHash('sha256').update(data).digest());
}

/**
 * An object's content, or null when there is none (or it was deleted): one chunk by two gets,
 * checked against its digest; more (or a link) by the client.
 */
export async function readObject(jsm: JetStreamManager, store: ObjectStore, bucket: string, name: string): Promise<Uint8Array | null> {
  const m = await jsm.streams.getMessage(streamOf(bucket), { last_by_subj: metaSubject(bucket, name) });
  if (!m) return null;
  const meta = m.json<StoredMeta>();
  if (meta.deleted) return null;
  if (meta.options?.link || meta.chunks > 1) return await store.getBlob(name);
  if (meta.size === 0) return new Uint8Array(0);
  // the metadata from the stream's leader (as the client reads it), the chunk by a direct get (raw
  // bytes, not base64 in JSON) when the store allows them (one made by an older client may not,
  // see `lastBySubject`): a replica behind the leader gives no chunk, and the digest says so
  const chunk = await lastBySubject(jsm, streamOf(bucket), chunkSubject(bucket, meta.nuid));
  // replaced in between (its chunk gone with the old metadata): read whatever is there now
  if (!chunk || digestOf(chunk.data) !== meta.digest) return await store.getBlob(name);
  return chunk.data;
}

/** What an object is stored with besides its content. */
export interface ObjectPut {
  name: string;
  metadata?: Record<string, string>;
  /**
   * The name is most likely not stored yet (a window's artifact, put once unless its task runs
   * again): the first try of a small object expects no metadata instead of reading it. A name that
   * has some fails that expectation, and the put goes on as any other (read, publish again).
   */
  fresh?: boolean;
}

/** The two messages of an object that fits in a chunk (exported for tests that store them in another order). */
export function smallObjectMessages(bucket: string, put: ObjectPut, data: Uint8Array, maxChunk: number) {
  const digest = digestOf(data);
  // a subject token (base64url without padding) naming this object's chunk, from its name and its
  // content: a metadata message always names its own chunk, whatever other put of the name was
  // stored around it (two puts of one name at once, a task run twice)
  const nuid = createHash('sha256').update(`${bucket}/${put.name}/${digest}`).digest('base64url').slice(0, 22);
  const meta = {
    bucket,
    nuid,
    size: data.byteLength,
    chunks: data.byteLength > 0 ? 1 : 0,
    name: put.name,
    description: '',
    options: { max_chunk_size: maxChunk },
    metadata: put.metadata ?? {},
    mtime: new Date().toISOString(),
    digest,
    deleted: false,
  };
  return { chunkSubject: chunkSubject(bucket, nuid), metaSubject: metaSubject(bucket, put.name), nuid, meta: JSON.stringify(meta) };
}

/** Tries of a small object's metadata against metadata of its name stored in between by other puts. */
const PUT_TRIES = 5;

/**
 * Store an object. One that fits in a chunk: the metadata it replaces read (one get; none for a
 * new name, and not even the get for a name the caller says is `fresh`), then two publishes sent together, awaited together: its chunk under an id derived
 * from its name and content (a chunk rollup: the same content put again replaces its chunk), then
 * its metadata (a rollup too, as the client's), stored only if the metadata read is still the
 * name's last (`expect.lastSubjectSequence`). When another put stored one in between, the
 * metadata is read again and both are published again (up to PUT_TRIES times). Once the metadata is
 * stored, the chunks of the metadata it replaced are purged, those stored before it only (a put
 * of that content since keeps its chunk); a purge that fails is logged, not thrown: the object is
 * stored. When the stream refuses the metadata, the chunk this put stored is purged unless the
 * name's metadata names it; when it may have stored it (a timeout, the connection lost), nothing is
 * purged (a chunk left behind at worst). Larger ones go through the client (`putBlob`).
 */
export async function putObject(
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
  store: ObjectStore,
  bucket: string,
  put: ObjectPut,
  data: Uint8Array,
  log?: Pick<Logger, 'warn'>,
): Promise<void> {
  const maxChunk = Math.min(MAX_CHUNK, nc.info?.max_payload ?? 1024);
  if (data.byteLength > maxChunk) {
    await store.putBlob({ name: put.name, ...(put.metadata ? { metadata: put.metadata } : {}) }, data);
    return;
  }
  const stream = streamOf(bucket);
  const msgs = smallObjectMessages(bucket, put, data, maxChunk);
  const rollup = () => {
    const h = headers();
    h.set(JsHeaders.RollupHdr, JsHeaders.RollupValueSubject);
    return h;
  };
  /** The name's metadata now (null when there is none) and its sequence (0 then). */
  const current = async () => {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: msgs.metaSubject });
    return { meta: m?.json<StoredMeta>() ?? null, seq: m?.seq ?? 0 };
  };
  for (let tries = 1; ; tries++) {
    // a fresh name's first try: none expected (the read, its reply and its API advisory saved)
    const previous = put.fresh && tries === 1 ? { meta: null, seq: 0 } : await current();
    // the chunks the previous metadata named, unless they are this put's (the same content again)
    const superseded = previous.meta && !previous.meta.options?.link && previous.meta.nuid !== msgs.nuid ? chunkSubject(bucket, previous.meta.nuid) : undefined;
    // sent in this order on one connection, so the chunk is stored before the metadata that names
    // it; the chunk again on each try (a put that replaced metadata of this content in between
    // purged it)
    const [chunk, stored] = await Promise.allSettled([
      data.byteLength > 0 ? js.publish(msgs.chunkSubject, data, { headers: rollup() }) : undefined,
      js.publish(msgs.metaSubject, msgs.meta, { headers: rollup(), expect: { lastSubjectSequence: previous.seq } }),
    ]);
    if (chunk.status === 'rejected') {
      // metadata naming a chunk that is not there is no object: deleted (the caller puts it again)
      if (stored.status === 'fulfilled') {
        await store.delete(put.name).catch(() => undefined);
        if (superseded) await jsm.streams.purge(stream, { filter: superseded, seq: stored.value.seq }).catch(() => undefined);
      }
      throw chunk.reason;
    }
    if (stored.status === 'rejected') {
      // another put's metadata stored since the read: read again, try again
      if (isWrongLastSequence(stored.reason) && tries < PUT_TRIES) continue;
      // refused by the stream (not stored): the chunk this put stored is named by no metadata, unless
      // the name's metadata names this content's; purged up to this put's (a later put of this
      // content keeps its own)
      if (chunk.value && stored.reason instanceof JetStreamApiError && !isTransient(stored.reason) && !isWrongLastSequence(stored.reason)) {
        const now = await current().catch(() => undefined);
        if (now && now.meta?.nuid !== msgs.nuid)
          await jsm.streams.purge(stream, { filter: msgs.chunkSubject, seq: chunk.value.seq + 1 }).catch(() => undefined);
      }
      throw stored.reason;
    }
    if (superseded) {
      // only chunks stored before this metadata: a put of that content since has its own
      await jsm.streams.purge(stream, { filter: superseded, seq: stored.value.seq }).catch((err: unknown) => {
        log?.warn({ err, bucket, name: put.name }, "could not purge the chunks of an object's replaced metadata; they stay behind");
      });
    }
    return;
  }
}
