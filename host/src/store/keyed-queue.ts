/**
 * Work on items per key, one batch at a time per key: the items that arrive while a key's batch
 * is worked on form its next batch, so a key sees its items in order and one compare-and-set
 * covers a burst of them. Different keys are worked on concurrently.
 */
export class KeyedQueue<T, R> {
  private readonly queues = new Map<string, Array<{ item: T; resolve: (r: R) => void; reject: (err: unknown) => void }>>();

  constructor(private readonly work: (key: string, items: T[]) => Promise<R>) {}

  /** Settles with the result of the batch the item went into. */
  push(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queued = this.queues.get(key);
      if (queued) {
        queued.push({ item, resolve, reject });
        return;
      }
      this.queues.set(key, [{ item, resolve, reject }]);
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    const queued = this.queues.get(key)!;
    while (queued.length > 0) {
      const batch = queued.splice(0);
      try {
        const r = await this.work(
          key,
          batch.map((b) => b.item),
        );
        for (const b of batch) b.resolve(r);
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.queues.delete(key);
  }
}
