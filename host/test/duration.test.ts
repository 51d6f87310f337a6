import { describe, expect, it } from 'vitest';
import { checkDurationBounds, DURATION_PATTERN, formatDuration, parseDuration } from '../src/config/duration.js';
import { ModelwatchError } from '../src/errors.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1.5s', 1_500],
    ['0s', 0],
  ])('reads a single unit: %s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['2s500ms', 2_500],
    ['1d2h3m4s5ms', 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5],
  ])('adds up combinations: %s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads a bare number (as a string or a number) as milliseconds', () => {
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration(0)).toBe(0);
  });

  it('reads up to 100 years; a longer duration is refused, not a date past what JavaScript holds', () => {
    expect(parseDuration('100y')).toBe(100 * 365 * 86_400_000);
    for (const text of ['101y', '99999999999d', String(8.64e15)]) {
      expect(() => parseDuration(text, 'basePeriod')).toThrow(`basePeriod: '${text}' is longer than 100 years`);
    }
    expect(() => parseDuration(1e300)).toThrow('is longer than 100 years');
  });

  it("DURATION_PATTERN, the schemas' check, takes what parseDuration reads, and refuses a long run of digits in one pass", () => {
    const re = new RegExp(DURATION_PATTERN, 'u');
    const reads = (t: string) => {
      try {
        parseDuration(t);
        return true;
      } catch {
        return false;
      }
    };
    for (const t of ['5s', '1h30m', ' 2s500ms ', '250', '1.5s', '7d', '2w', '1y', '', 'soon', '5x', '5 s', '1h30', '-5s', '1..5s', 'h1'])
      expect(re.test(t), t).toBe(reads(t));
    // was exponential: 30 digits and a letter took seconds
    expect(re.test(`${'1'.repeat(100_000)}x`)).toBe(false);
  });

  it('ignores surrounding whitespace', () => {
    expect(parseDuration('  5s \n')).toBe(5_000);
  });

  it.each(['', '   ', 'soon', '5x', '5 s', '-5s', 's', '5S', '1h 30m', '10m!', 'h1'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(ModelwatchError);
    expect(() => parseDuration(text)).toThrow(`'${text}' is not a duration (use e.g. 500ms, 5s, 10m, 1h, 7d)`);
  });

  it.each([-1, NaN, Infinity])('rejects the number %d', (n) => {
    expect(() => parseDuration(n)).toThrow(`'${n}' is not a duration`);
  });

  it('names what was being parsed, with the code INVALID_OPTIONS', () => {
    expect(() => parseDuration('forever', 'retention')).toThrow(/^retention: 'forever' is not a duration/);
    try {
      parseDuration('forever');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ModelwatchError);
      expect((err as ModelwatchError).code).toBe('INVALID_OPTIONS');
      expect((err as Error).message).toMatch(/^duration: /);
    }
  });

  it("says INVALID_ARGUMENT for a request's or a command's duration, for its syntax, its length and its bounds", () => {
    for (const f of [
      () => parseDuration('forever', 'last', 'INVALID_ARGUMENT'),
      () => parseDuration(-1, 'last', 'INVALID_ARGUMENT'),
      () => parseDuration('101y', 'last', 'INVALID_ARGUMENT'),
      () => checkDurationBounds(500, 'basePeriod', 1000, 86_400_000, 'INVALID_ARGUMENT'),
      () => checkDurationBounds(2 * 86_400_000, 'basePeriod', 1000, 86_400_000, 'INVALID_ARGUMENT'),
    ]) {
      expect(f).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    expect(() => checkDurationBounds(500, 'timeout', 1000, 2000)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: 'timeout: 500 ms is below the minimum of 1s' }),
    );
    expect(() => checkDurationBounds(3000, 'timeout', 1000, 2000)).toThrow('timeout: 3s is above the maximum of 2s');
    expect(checkDurationBounds(1500, 'timeout', 1000, 2000)).toBe(1500);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [5_000, '5s'],
    [600_000, '10m'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [604_800_000, '7d'],
    [90_061_001, '1d1h1m1s1ms'],
    [86_400_000 + 5, '1d5ms'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([0, 1, 999, 1_000, 61_000, 3_599_999, 5_400_000, 86_399_999, 90_061_001, 30 * 86_400_000 + 1])('round-trips %d ms through parseDuration', (ms) => {
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it.each(['500ms', '5s', '10m', '1h30m', '7d', '1d1h1m1s1ms'])('formats parseDuration(%s) back to the same text', (text) => {
    expect(formatDuration(parseDuration(text))).toBe(text);
  });
});
