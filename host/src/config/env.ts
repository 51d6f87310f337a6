import { ModelwatchError } from '../errors.js';

/** An environment variable holding a whole number; undefined when unset or empty. */
export function intEnv(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ModelwatchError('INVALID_OPTIONS', `${name}: '${v}' is not a whole number`);
  return n;
}

/** An environment variable holding 1/true or 0/false; undefined when unset or empty. */
export function boolEnv(v: string | undefined, name: string): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new ModelwatchError('INVALID_OPTIONS', `${name}: '${v}' is neither 1/true nor 0/false`);
}
