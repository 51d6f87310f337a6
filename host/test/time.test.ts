import { describe, expect, it } from 'vitest';
import { MAX_TIME_MS } from '@modelwatch/protocol';
import { isoTime, parseTime, readTime } from '../src/domain/time.js';
import { ModelwatchError } from '../src/errors.js';

/** The times users give (query and body times, CLI flags): ms since the epoch or ISO 8601, nothing Date.parse merely guesses at. */
describe('parseTime', () => {
  it.each<[unknown, number]>([
    [1796472000000, 1796472000000],
    [0, 0],
    [-1, -1],
    [MAX_TIME_MS, MAX_TIME_MS],
    [-MAX_TIME_MS, -MAX_TIME_MS],
    // digits are ms since the epoch: '1' is 1 ms, not the year 2001 Date.parse makes of it
    ['1', 1],
    ['-1', -1],
    ['0', 0],
    ['2026', 2026],
    ['1796472000000', 1796472000000],
    ['8640000000000000', MAX_TIME_MS],
    ['2026-12-05', Date.UTC(2026, 11, 5)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['2026-12-05T12:00Z', Date.UTC(2026, 11, 5, 12)],
    ['2026-12-05T12:00:00Z', Date.UTC(2026, 11, 5, 12)],
    ['2026-12-05T12:00:00.5Z', Date.UTC(2026, 11, 5, 12, 0, 0, 500)],
    ['2026-12-05T12:00:00.123Z', Date.UTC(2026, 11, 5, 12, 0, 0, 123)],
    ['2026-12-05T12:00:00.123456Z', Date.UTC(2026, 11, 5, 12, 0, 0, 123)],
    ['2026-12-05T13:30:00+01:30', Date.UTC(2026, 11, 5, 12)],
    ['2026-12-05T07:00:00-05:00', Date.UTC(2026, 11, 5, 12)],
    ['2026-12-05T07:00:00-0500', Date.UTC(2026, 11, 5, 12)],
    ['2026-12-05 12:00:00Z', Date.UTC(2026, 11, 5, 12)],
    ['2026-12-05 14:00+02:00', Date.UTC(2026, 11, 5, 12)],
    // (the years 0-99 too: Date.UTC would make them 1900-1999)
    ['0001-01-01', -62135596800000],
  ])('reads %j', (v, t) => {
    expect(parseTime(v, 'from')).toBe(t);
    expect(readTime(v)).toBe(t);
  });

  it('reads ISO times as Date.parse reads them (where both read one)', () => {
    for (const s of ['2026-12-05', '2026-12-05T12:00:00Z', '2026-12-05T12:00:00.007+05:45', '1969-07-20T20:17:40Z', '2000-02-29T23:59:59.999-12:00'])
      expect(parseTime(s, 'from')).toBe(Date.parse(s));
  });

  it.each<unknown>([
    // what Date.parse reads as some time but is none
    'yesterday',
    'Dec 5',
    '1 2',
    '2026-12',
    '12/05/2026',
    'Sat, 05 Dec 2026 12:00:00 GMT',
    // out of range
    '2024-13-45',
    '2024-00-10',
    '2024-02-30',
    '2023-02-29',
    '2024-01-01T24:00Z',
    '2024-01-01T10:60Z',
    '2024-01-01T10:00:60Z',
    '2024-01-01T10:00+24:00',
    // loose forms
    ' 2026-12-05',
    '2026-12-05T12:00:00z',
    '2026-12-05T12Z',
    '1.5',
    '+1',
    '1e3',
    '',
    '-',
    // beyond the dates JavaScript holds
    '8640000000000001',
    '99999999999999999999',
    1e300,
    -9e15,
    NaN,
    Infinity,
    // not a time's type
    true,
    null,
    undefined,
    {},
    [1],
  ])('refuses %j, naming the field', (v) => {
    let err: unknown;
    try {
      parseTime(v, 'window start');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as ModelwatchError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/^window start: expected a time \(ISO 8601 or ms since the epoch\), got /);
    expect(readTime(v)).toBeUndefined();
  });

  it('shows the value as JSON, cut to 60 characters', () => {
    expect(() => parseTime('2024-13-45', 'from')).toThrow(/^from: expected a time \(ISO 8601 or ms since the epoch\), got "2024-13-45"$/);
    expect(() => parseTime(NaN, 'to')).toThrow(/, got NaN$/);
    const long = 'x'.repeat(500);
    const message = (() => {
      try {
        parseTime(long, 'since');
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toBe(`since: expected a time (ISO 8601 or ms since the epoch), got "${'x'.repeat(56)}...`);
  });

  it('refuses a date-time without its offset, saying to give one (the host cannot know the local time meant)', () => {
    expect(() => parseTime('2026-12-05T12:00:00', 'from')).toThrow(
      /^from: expected a time \(ISO 8601 or ms since the epoch\), got "2026-12-05T12:00:00" \(give its offset: Z for UTC, or ±HH:MM\)$/,
    );
    expect(() => parseTime('2026-12-05 12:00', 'from')).toThrow(/give its offset/);
  });
});

describe('isoTime', () => {
  it('reads a date-time without an offset as UTC when asked to (events), else not', () => {
    expect(isoTime('2024-01-01 10:00:00.123456', 'utc')).toBe(Date.UTC(2024, 0, 1, 10, 0, 0, 123));
    expect(isoTime('2024-01-01T10:00', 'utc')).toBe(Date.UTC(2024, 0, 1, 10));
    expect(isoTime('2024-01-01T10:00')).toBeUndefined();
    expect(isoTime('2024-01-01')).toBe(Date.UTC(2024, 0, 1));
  });

  it('reads no digits as ms', () => {
    expect(isoTime('1')).toBeUndefined();
    expect(isoTime('-1', 'utc')).toBeUndefined();
    expect(isoTime('1796472000000', 'utc')).toBeUndefined();
  });
});
