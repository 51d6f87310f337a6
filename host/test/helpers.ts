/** Small helpers the host's unit tests share. */
import type { EndpointRecord } from '@modelwatch/protocol';
import type { ModelwatchError } from '../src/errors.js';

/** The rejection of `p` (fails the test if `p` resolves). */
export async function rejection(p: Promise<unknown>): Promise<ModelwatchError> {
  try {
    await p;
  } catch (err) {
    return err as ModelwatchError;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** An endpoint record with these feature and label names, and nothing else of note. */
export function endpointRecord(featureNames: string[], labelNames: string[]): EndpointRecord {
  return { id: 'id', name: 'e', featureNames, labelNames, featureStats: {}, monitoring: true, createdAt: 0, updatedAt: 0 };
}
