/**
 * Times as users give them: ms since the epoch (a number, or a string of digits), or an ISO 8601
 * date or date-time. Nothing else: `Date.parse` reads `'1'` and `'-1'` as the year 2001, `'Dec 5'`
 * as some December, `'2024-02-30'` as March 1st; here they are no time.
 * @module
 */
import { MAX_TIME_MS } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';

/**
 * ISO 8601 as the host reads it: `YYYY-MM-DD`, or that with a time `HH:MM[:SS[.fff...]]` after a
 * `T` or a space, and an offset `Z`, `±HH:MM` or `±HHMM`. Each part is checked for its range
 * afterwards ({@link isoTime}).
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/**
 * An ISO 8601 date or date-time ({@link ISO_TIME}) as ms since the epoch; undefined for any other
 * text, or a month, day, hour, minute, second or offset out of its range (`2024-13-45`). A date
 * alone is its midnight UTC; digits of a second past the ms are dropped (Python writes µs).
 * A date-time without an offset is refused (`zoneless: 'refuse'`: a user's local time, which the
 * host cannot know) or read as UTC (`'utc'`: MLRun's event times, Python's `str(datetime)`).
 */
export function isoTime(s: string, zoneless: 'refuse' | 'utc' = 'refuse'): number | undefined {
  const m = ISO_TIME.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  if (h !== undefined && zone === undefined && zoneless === 'refuse') return undefined;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(sec ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMs = 0;
  if (zone !== undefined && zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(-2));
    if (oh > 23 || om > 59) return undefined;
    offsetMs = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  // (setUTCFullYear, not Date.UTC: Date.UTC reads the years 0-99 as 1900-1999)
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime() - offsetMs;
}

/**
 * A time a user gave ({@link parseTime}'s rules), or undefined when it is none: for callers that
 * take something else too (a duration back from now) or throw errors of their own.
 */
export function readTime(v: unknown): number | undefined {
  let t: number | undefined;
  if (typeof v === 'number') t = v;
  else if (typeof v === 'string') t = /^-?\d+$/.test(v) ? Number(v) : isoTime(v);
  // within the dates JavaScript holds (±8.64e15 ms): a time beyond them is no time
  return t !== undefined && Number.isFinite(t) && Math.abs(t) <= MAX_TIME_MS ? t : undefined;
}

/**
 * A time a user gave (a query's `from`, a body's `to`, a CLI flag): a finite number or a string of
 * digits (optionally after a `-`) is ms since the epoch; else an ISO 8601 date (`2026-12-05`,
 * midnight UTC) or date-time with its offset (`2026-12-05T12:00:00Z`, `2026-12-05 13:00+01:00`).
 * Within ±{@link MAX_TIME_MS} (the dates a JavaScript `Date` holds).
 * @throws {ModelwatchError} INVALID_ARGUMENT naming `what`
 */
export function parseTime(v: unknown, what: string): number {
  const t = readTime(v);
  if (t === undefined) throw new ModelwatchError('INVALID_ARGUMENT', `${what}: expected a time (ISO 8601 or ms since the epoch), got ${shown(v)}${hint(v)}`);
  return t;
}

/** A value in a message: its JSON, cut to 60 characters. */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** What to add for a date-time without its offset (read as UTC where events are concerned, refused here). */
function hint(v: unknown): string {
  return typeof v === 'string' && isoTime(v, 'utc') !== undefined && isoTime(v) === undefined ? ' (give its offset: Z for UTC, or ±HH:MM)' : '';
}
