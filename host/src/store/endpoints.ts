import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { FeatureStatsMap } from '@modelwatch/sdk';
import { ModelwatchError } from '../errors.js';

/** An endpoint as stored in the `mw_endpoints` bucket (key: its name). */
export interface EndpointRecord {
  /** SHA-1 of the name, hex (MLRun derives ids the same way). */
  id: string;
  name: string;
  featureNames: string[];
  labelNames: string[];
  /** Reference statistics from training data; `{}` until a reference is set. */
  featureStats: FeatureStatsMap;
  /** When the reference was last set (ms); its rows are `<id>.json` in the reference store. */
  referenceRevision?: number;
  /** Rows of the reference data. */
  referenceRowCount?: number;
  /** Whether windows of this endpoint are analysed. */
  monitoring: boolean;
  createdAt: number;
  updatedAt: number;
}

export const ENDPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what a name may not hold
export const FEATURE_NAME = /^[^\u0000-\u001f]{1,256}$/;

export function endpointId(name: string): string {
  return createHash('sha1').update(name).digest('hex');
}

export function checkEndpointName(name: unknown): string {
  if (typeof name !== 'string' || !ENDPOINT_NAME.test(name)) {
    throw new ModelwatchError(
      'INVALID_ARGUMENT',
      `endpoint name ${JSON.stringify(name)} is not valid: use 1-128 letters, digits, '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

export function checkNames(names: unknown, what: string): string[] {
  if (!Array.isArray(names)) throw new ModelwatchError('INVALID_ARGUMENT', `${what} must be a list of names`);
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== 'string' || !FEATURE_NAME.test(n)) {
      throw new ModelwatchError('INVALID_ARGUMENT', `${what}: ${JSON.stringify(n)} is not a valid name (1-256 printable characters)`);
    }
    if (seen.has(n)) throw new ModelwatchError('INVALID_ARGUMENT', `${what}: '${n}' appears twice`);
    seen.add(n);
  }
  return names as string[];
}

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
