import type { KV } from '@nats-io/kv';
import type { BatchRecord } from '@modelwatch/protocol';
import { updateJson } from './kv.js';

/**
 * The batches of historical events (`mw_batches`, key `<endpoint name>.<batch id>`) and their two
 * state changes, each one compare-and-set: the stream processor records a batch's end marker,
 * the controller marks it dispatched.
 */
export class BatchStore {
  constructor(private readonly kv: KV) {}

  /** Record a batch whose end marker was processed (status `ingested`); a batch already recorded stays as it is. */
  async recordEnd(batch: BatchRecord): Promise<BatchRecord> {
    return (await updateJson<BatchRecord>(this.kv, batchKey(batch), (cur) => (cur ? undefined : batch)))!;
  }

  /** The batch's windows were dispatched to `apps`: `ingested` becomes `dispatched`, with their count, the apps and the time (once). */
  async markDispatched(batch: Pick<BatchRecord, 'endpoint' | 'batchId'>, windows: number, apps: string[], at: number): Promise<BatchRecord | undefined> {
    return await updateJson<BatchRecord>(this.kv, batchKey(batch), (cur) =>
      cur && cur.status === 'ingested' ? { ...cur, status: 'dispatched', windows, apps, dispatchedAt: at } : undefined,
    );
  }
}

function batchKey(b: Pick<BatchRecord, 'endpoint' | 'batchId'>): string {
  return `${b.endpoint}.${b.batchId}`;
}
