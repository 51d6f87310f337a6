import { createHash } from 'node:crypto';
import { ENDPOINT_NAME } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';

// eslint-disable-next-line no-control-regex -- control characters are exactly what a name may not hold
export const FEATURE_NAME = /^[^\u0000-\u001f]{1,256}$/;

/** An endpoint's id: SHA-1 of its name, hex (MLRun derives ids the same way). */
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
