/**
 * Big request bodies are parsed and checked on worker threads (piscina), so the event loop keeps
 * answering (`/healthz`, small requests) while a 60 MB batch of events or a reference file is
 * read: the body's bytes are moved to the worker, and what comes back (NATS payloads, dead
 * letters, a reference's encoded table and statistics) is moved back.
 */
import type { Piscina } from 'piscina';
import type { PreparedReference, ReferenceFormat } from '../domain/reference.js';
import { ModelwatchError } from '../errors.js';
import type { IngestInput, PreparedIngest } from '../stream/ingest.js';
import { workerPool } from '../worker-pool.js';
import type { BodyTask, BodyTaskResult } from './body-worker.js';

/** Bytes that own their buffer alone (a copy when they share one), so they can be moved to a worker. */
function movable(raw: Uint8Array): Uint8Array<ArrayBuffer> {
  return raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer
    ? (raw as Uint8Array<ArrayBuffer>)
    : new Uint8Array(raw);
}

export class BodyWorkers {
  private readonly pool: Piscina;

  constructor() {
    this.pool = workerPool(import.meta.url, 'body-worker');
  }

  /** `prepareIngest` on a worker thread; `input.body`'s bytes are moved there (unusable here after). */
  ingest = async (input: IngestInput): Promise<PreparedIngest> => {
    if (!input.body) return await this.run<PreparedIngest>({ kind: 'ingest', input }, []);
    const raw = movable(input.body.raw);
    return await this.run<PreparedIngest>({ kind: 'ingest', input: { ...input, body: { ...input.body, raw } } }, [raw.buffer]);
  };

  /** A reference file parsed, encoded and its statistics computed on a worker thread; `raw` is moved there. */
  async reference(
    raw: Uint8Array,
    format: ReferenceFormat,
    endpoint: { featureNames: string[]; labelNames: string[] },
    maxFeatures?: number,
  ): Promise<PreparedReference> {
    const bytes = movable(raw);
    return await this.run<PreparedReference>(
      {
        kind: 'reference',
        raw: bytes,
        format,
        endpoint: { featureNames: endpoint.featureNames, labelNames: endpoint.labelNames },
        ...(maxFeatures !== undefined ? { maxFeatures } : {}),
      },
      [bytes.buffer],
    );
  }

  private async run<T>(task: BodyTask, transferList: ArrayBuffer[]): Promise<T> {
    const out = (await this.pool.run(task, { transferList })) as BodyTaskResult<T>;
    if ('error' in out) throw new ModelwatchError(out.error.code, out.error.message);
    return out.value;
  }

  async close(): Promise<void> {
    await this.pool.close({ force: true });
  }
}
