import { Bucket, type KV } from '@nats-io/kv';

/**
 * Read, update with compare-and-set, retry on a concurrent change: the one primitive under the
 * stores' named operations (`PluginStore`, `EndpointStore`, `SettingsStore`). `fn` returns the
 * new value, or `undefined` to leave the key as it is (the current value is then returned); it
 * may throw to refuse the change, and is called again with the newer value after a conflict.
 */
export async function updateJson<T>(kv: KV, key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    const e = await kv.get(key);
    const current = e && e.operation === 'PUT' ? e.json<T>() : undefined;
    const next = fn(current);
    if (next === undefined) return current;
    try {
      if (e && e.operation === 'PUT') await kv.update(key, JSON.stringify(next), e.revision);
      else await kv.create(key, JSON.stringify(next));
      return next;
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}

/** A value and the revision it was read or written at. */
export interface Versioned<T> {
  value: T;
  revision: number;
}

/**
 * {@link updateJson} for a writer that keeps what it last read or wrote of a key: `fn` is first
 * given that (`known`) and the change is written against its revision, one round trip; when the
 * key changed since (or nothing is known), it is read, and compare-and-set as `updateJson` does.
 * The value as it is now and its revision (`undefined` when the key has none and is left so).
 */
export async function updateJsonFrom<T>(
  kv: KV,
  key: string,
  known: Versioned<T> | undefined,
  fn: (current: T | undefined) => T | undefined,
): Promise<Versioned<T> | undefined> {
  if (known) {
    const next = fn(known.value);
    if (next !== undefined) {
      try {
        return { value: next, revision: await kv.update(key, JSON.stringify(next), known.revision) };
      } catch {
        // changed since: read it
      }
    }
  }
  for (let attempt = 0; ; attempt++) {
    const e = await kv.get(key);
    const current = e && e.operation === 'PUT' ? { value: e.json<T>(), revision: e.revision } : undefined;
    const next = fn(current?.value);
    if (next === undefined) return current;
    try {
      const revision = e && e.operation === 'PUT' ? await kv.update(key, JSON.stringify(next), e.revision) : await kv.create(key, JSON.stringify(next));
      return { value: next, revision };
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}

/** The value of a key, or `undefined` when it has none (never set, deleted or purged). */
export async function readJson<T>(kv: KV, key: string): Promise<T | undefined> {
  const e = await kv.get(key);
  return e && e.operation === 'PUT' ? e.json<T>() : undefined;
}

/** Every value of the bucket, each key once, in no particular order. */
export async function listJson<T>(kv: KV): Promise<T[]> {
  const out: T[] = [];
  for (const k of await bucketKeys(kv)) {
    const v = await readJson<T>(kv, k);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/**
 * A bucket's keys, each once, deleted ones included (a delete is a marker on the key's subject):
 * the subjects its stream holds, in one request. Not `kv.keys()`: it delivers the last value of
 * every key and goes on until nothing is pending, so a key written while it runs comes again (a
 * plugin listed twice while its status changed), and its end waits on the consumer's heartbeat
 * (30 s here) when writes keep coming.
 */
export async function bucketKeys(kv: KV): Promise<string[]> {
  if (!(kv instanceof Bucket)) return keysOnce(kv);
  const info = await kv.jsm.streams.info(kv.stream, { subjects_filter: `${kv.prefix}.>` });
  return Object.keys(info.state.subjects ?? {}).map((s) => kv.decodeKey(s.substring(kv.prefix.length + 1)));
}

/**
 * Delete a key if its value is still the one read (compare-and-set on its revision), retrying on
 * a concurrent change. The value deleted, or `undefined` when the key had none.
 */
export async function deleteJson<T>(kv: KV, key: string): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    const e = await kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    try {
      await kv.delete(key, { previousSeq: e.revision });
      return e.json<T>();
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}

/** The keys `kv.keys()` gives (deleted ones left out), each once: see {@link bucketKeys} for why it can give one twice. */
export async function keysOnce(kv: KV): Promise<string[]> {
  const keys = new Set<string>();
  for await (const k of await kv.keys()) keys.add(k);
  return [...keys];
}
