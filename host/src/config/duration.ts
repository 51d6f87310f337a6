import { readTime, shown } from '../domain/time.js';
import { ModelwatchError } from '../errors.js';

/**
 * The code of a duration's error: `INVALID_OPTIONS` for the host's options and environment (the
 * default), `INVALID_ARGUMENT` for a request's or a command's (an HTTP 400).
 */
export type DurationErrorCode = 'INVALID_OPTIONS' | 'INVALID_ARGUMENT';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/**
 * Parse a duration: a number of milliseconds, or a string such as `'500ms'`, `'5s'`,
 * `'10m'`, `'1h30m'`, `'7d'`, `'2w'`, `'2y'` (a year is 365 days).
 * @throws {ModelwatchError} `code` naming `what`
 */
export function parseDuration(value: string | number, what = 'duration', code: DurationErrorCode = 'INVALID_OPTIONS'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw invalid(what, String(value), code);
    return bounded(value, what, String(value), code);
  }
  const s = value.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return bounded(Number(s), what, value, code);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) throw invalid(what, value, code);
  return bounded(total, what, value, code);
}

/**
 * What parseDuration reads, as a JSON-schema `pattern`: a bare number, or parts that each end in a
 * unit. No part can be read two ways, so a long run of digits is refused in one pass (the pattern
 * it replaces, `(\d+(\.\d+)?(ms|s|m|h|d)?)+`, took seconds on 30 digits and a letter).
 */
export const DURATION_PATTERN = '^\\s*(?:\\d+(?:\\.\\d+)?|(?:\\d+(?:\\.\\d+)?(?:ms|s|m|h|d|w|y))+)\\s*$';

/** The longest duration read: 100 years. Longer ones are typing errors, and past it a time plus the duration leaves the dates JavaScript can hold. */
export const MAX_DURATION_MS = 100 * UNITS.y!;

function bounded(ms: number, what: string, text: string, code: DurationErrorCode): number {
  if (ms > MAX_DURATION_MS) throw new ModelwatchError(code, `${what}: '${text}' is longer than 100 years`);
  return ms;
}

/** A duration's bounds (`what`: how the caller names it): `ms` itself when within them, else a `code` error naming the bound. */
export function checkDurationBounds(ms: number, what: string, minMs: number, maxMs: number, code: DurationErrorCode = 'INVALID_OPTIONS'): number {
  if (ms < minMs) throw new ModelwatchError(code, `${what}: ${ms} ms is below the minimum of ${formatDuration(minMs)}`);
  if (ms > maxMs) throw new ModelwatchError(code, `${what}: ${formatDuration(ms)} is above the maximum of ${formatDuration(maxMs)}`);
  return ms;
}

/** Format milliseconds the way parseDuration reads them (`'5s'`, `'10m'`, `'1h30m'`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}

function invalid(what: string, value: string, code: DurationErrorCode): ModelwatchError {
  return new ModelwatchError(code, `${what}: '${value}' is not a duration (use e.g. 500ms, 5s, 10m, 1h, 7d)`);
}

/**
 * A time a user gave (`parseTime`'s rules), or a duration back from `now` (`24h`, `30m`,
 * `1h30m`): a report's range, the audit log's `since`. Digits alone are a time, not a duration.
 * @throws {ModelwatchError} INVALID_ARGUMENT naming `what`
 */
export function timeOrAgo(v: unknown, what: string, now: number): number {
  const t = readTime(v);
  if (t !== undefined) return t;
  if (typeof v === 'string') {
    try {
      return now - parseDuration(v, what, 'INVALID_ARGUMENT');
    } catch {
      // neither: said below
    }
  }
  throw new ModelwatchError('INVALID_ARGUMENT', `${what}: expected an ISO time, ms since the epoch or a duration back from now (24h), got ${shown(v)}`);
}
