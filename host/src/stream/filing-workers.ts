/**
 * The stream processor files big batches of events on worker threads (piscina), so its event
 * loop (in a host of one process, the API's too) keeps answering while a 60 MB body's half
 * million events are decoded, checked and encoded as row chunks: the messages' bytes are copied
 * once into one buffer that is moved to the worker, and the row chunks are moved back.
 */
import type { Piscina } from 'piscina';
import { workerPool } from '../worker-pool.js';
import type { FiledBatch, FilingTask } from './filing.js';

export class FilingWorkers {
  private readonly pool: Piscina;

  constructor() {
    this.pool = workerPool(import.meta.url, 'filing-worker');
  }

  /** `task` filed on a worker thread; its messages' bytes are copied into one buffer moved there. */
  async file(task: FilingTask): Promise<FiledBatch> {
    const total = task.messages.reduce((s, m) => s + m.data.byteLength, 0);
    const buf = new ArrayBuffer(total);
    const all = new Uint8Array(buf);
    let at = 0;
    const messages = task.messages.map((m) => {
      all.set(m.data, at);
      const data = new Uint8Array(buf, at, m.data.byteLength);
      at += m.data.byteLength;
      return { ...m, data };
    });
    return (await this.pool.run({ ...task, messages }, { transferList: [buf] })) as FiledBatch;
  }

  async close(): Promise<void> {
    await this.pool.close({ force: true });
  }
}
