import type { Options } from 'yargs';
import { InvalidArgumentError } from '../errors.js';

/** Options every command takes. */
export interface GlobalArgs {
  host: string;
  json: boolean;
  /** The API token (else MODELWATCH_TOKEN, else `<data-dir>/admin.token`). */
  token?: string | undefined;
  /** The data folder: the host's, and where the CLI finds `admin.token`. */
  'data-dir'?: string | undefined;
}

/**
 * A flag that takes a count (`--limit N`): a positive whole number, so `--limit abc` or `--limit 0`
 * is a usage error naming the flag, not a value the command would ignore (or send on as `NaN`). The
 * upper bound, where there is one, is the host's to say.
 */
export function countOption(flag: string, options: { describe: string; default?: number }): Options & { coerce: (v: number | number[]) => number } {
  return {
    type: 'number',
    describe: options.describe,
    ...(options.default !== undefined && { default: options.default }),
    // given twice: the last one wins, as for the global flags
    coerce: (v: number | number[]) => positiveWholeNumber(flag, Array.isArray(v) ? v[v.length - 1]! : v),
  };
}

/** The value of a count flag as yargs read it (`NaN`: not a number). */
function positiveWholeNumber(flag: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`--${flag}: expected a positive whole number${Number.isNaN(n) ? '' : `, got ${n}`}`);
  return n;
}
