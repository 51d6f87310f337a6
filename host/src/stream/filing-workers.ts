/**
 * The stream processor files big batches of events on worker threads (piscina), so its event
 * loop (in a host of one process, the API's too) keeps answering while a 60 MB body's half
 * million events are decoded, checked and encoded as row chunks: the messages' bytes are copied
 * once into one buffer that is moved to the worker, and the row chunks are moved back.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { FiledBatch, FilingTask } from './filing.js';

/** Path of the compiled worker (the host runs from dist; tests may import src). */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/[/\\]src[/\\]stream[/\\]filing-workers\.ts$/, '/dist/stream/filing-workers.js').replace(/filing-workers\.js$/, 'filing-worker.js');
}

export class FilingWorkers {
  private readonly pool: Piscina;

  constructor() {
    this.pool = new Piscina({
      filename: workerEntry(),
      minThreads: 0,
      // the host has other work for the cores (runners, the API's body workers): one worker on two cores
      maxThreads: Math.max(1, Math.min(4, availableParallelism() - 1)),
      idleTimeout: 30_000,
    });
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
