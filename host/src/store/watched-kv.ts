import { KvWatchInclude, type KV, type KvEntry } from '@nats-io/kv';

/**
 * A live, read-only copy of a KV bucket of JSON values, kept by a watch. A key missing
 * from the copy is looked up once in the bucket (a record written a moment ago may not
 * have reached the watch yet).
 */
export class WatchedKv<T> {
  private readonly values = new Map<string, { value: T; revision: number }>();
  private readonly deleted = new Map<string, number>();
  private iter: Awaited<ReturnType<KV['watch']>> | undefined;
  private readyPromise: Promise<void> | undefined;
  private readonly listeners = new Set<(key: string, value: T | undefined) => void>();
  /** The latest read of a key from the bucket itself, and when it was sent. */
  private readonly reads = new Map<string, { sentAt: number; done: Promise<void> }>();

  constructor(private readonly kv: KV) {}

  /**
   * Watch the bucket from its last values on (one ordered consumer: every key's latest value,
   * then every change): ready once the last of those values has come (its pending count 0), so a
   * bucket of many keys loads in one pass, not a request per key, and no change is lost.
   */
  async start(): Promise<void> {
    if (this.readyPromise) return this.readyPromise;
    this.readyPromise = (async () => {
      const empty = (await this.kv.status()).values === 0;
      let loaded!: () => void;
      const ready = new Promise<void>((resolve) => (loaded = resolve));
      if (empty) loaded();
      this.iter = await this.kv.watch({ include: KvWatchInclude.LastValue });
      void (async () => {
        for await (const e of this.iter!) {
          this.apply(e);
          if (e.delta === 0) loaded();
        }
        loaded();
      })();
      await ready;
    })();
    return this.readyPromise;
  }

  stop(): void {
    this.iter?.stop();
  }

  /** Called on every change after start (value undefined: deleted). */
  onChange(fn: (key: string, value: T | undefined) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private apply(e: KvEntry): void {
    const known = this.values.get(e.key)?.revision ?? this.deleted.get(e.key) ?? 0;
    if (e.revision <= known) return;
    if (e.operation === 'DEL' || e.operation === 'PURGE') {
      this.values.delete(e.key);
      this.deleted.set(e.key, e.revision);
      for (const l of this.listeners) l(e.key, undefined);
      return;
    }
    let v: T;
    try {
      v = e.json<T>();
    } catch {
      return; // a value that is not JSON is not ours
    }
    this.deleted.delete(e.key);
    this.values.set(e.key, { value: v, revision: e.revision });
    for (const l of this.listeners) l(e.key, v);
  }

  peek(key: string): T | undefined {
    return this.values.get(key)?.value;
  }

  async get(key: string): Promise<T | undefined> {
    const v = this.values.get(key);
    if (v !== undefined) return v.value;
    const e = await this.kv.get(key);
    if (!e) return undefined;
    this.apply(e);
    return this.values.get(key)?.value;
  }

  /**
   * The value of a key as the bucket held it after `sentAfterMs`: a read of the bucket sent in a
   * later millisecond is awaited (one read serves every caller it is recent enough for), so a
   * change stored by then is seen even if the watch has not brought it yet. A read sent in the
   * same millisecond does not count: it may have left before the change was stored (a delete
   * that followed an update within one millisecond kept the update's read, and the record).
   */
  async fresh(key: string, sentAfterMs: number): Promise<T | undefined> {
    let read = this.reads.get(key);
    if (!read || read.sentAt <= sentAfterMs) {
      const sentAt = Date.now();
      const done = this.kv.get(key).then((e) => {
        if (e) this.apply(e);
      });
      const r = { sentAt, done };
      this.reads.set(key, r);
      done.catch(() => {
        if (this.reads.get(key) === r) this.reads.delete(key);
      });
      read = r;
    }
    await read.done;
    return this.values.get(key)?.value;
  }

  all(): T[] {
    return [...this.values.values()].map((v) => v.value);
  }
}
