import type { KV } from '@nats-io/kv';

/** Read, update with compare-and-set, retry on a concurrent change. */
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
