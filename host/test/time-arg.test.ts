import { describe, expect, it } from 'vitest';
import { parseTime } from '../src/domain/time.js';

/** The times a request names (window starts, from and to): ms since the epoch or an ISO time, within the dates JavaScript holds. */
describe('parseTime, as the routes read a time', () => {
  it.each<[unknown, number]>([
    [1796472000000, 1796472000000],
    ['1796472000000', 1796472000000],
    ['-1', -1],
    ['1', 1],
    [0, 0],
    ['2026-12-05T12:00:00Z', Date.parse('2026-12-05T12:00:00Z')],
    ['2026-12-05', Date.parse('2026-12-05')],
  ])('reads %j', (v, t) => {
    expect(parseTime(v, 'from')).toBe(t);
  });

  // beyond ±8.64e15 ms a Date is invalid: such a time made a 500 ("Invalid time value") where it was printed
  it.each<unknown>([1e300, '99999999999999999999', -9e15, NaN, 'yesterday', '1 2', 'Dec 5', '2024-13-45', '2026-12-05garbage', true, null, {}])(
    'refuses %j, naming the field',
    (v) => {
      expect(() => parseTime(v, 'window start')).toThrow(/^window start: expected a time \(ISO 8601 or ms since the epoch\), got /);
    },
  );
});
