import { describe, expect, it } from 'vitest';
import { changePeriod, periodAt, windowAt, type PeriodSegment, type Window } from '../src/controller/windows.js';

const S = 1_000;
const MIN = 60 * S;
const H = 60 * MIN;

/** 2026-11-27T10:00:00Z, a multiple of an hour since the epoch. */
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

/** Windows from the one holding `from` until one ends after `until`, each found by `windowAt(previous.end)`. */
function walk(from: number, until: number, segments: readonly PeriodSegment[]): Window[] {
  const out: Window[] = [];
  let w = windowAt(from, segments);
  out.push(w);
  while (w.end <= until) {
    w = windowAt(w.end, segments);
    out.push(w);
  }
  return out;
}

function expectContiguous(windows: Window[]): void {
  for (let i = 1; i < windows.length; i++) {
    expect(windows[i]!.start, `window ${i} starts where window ${i - 1} ends`).toBe(windows[i - 1]!.end);
  }
  for (const w of windows) expect(w.end).toBeGreaterThan(w.start);
}

describe('windowAt', () => {
  const tenMinutes: PeriodSegment[] = [{ fromMs: 0, periodMs: 10 * MIN }];

  it('aligns windows of a single segment to the epoch', () => {
    expect(windowAt(T0, tenMinutes)).toEqual({ start: T0, end: T0 + 10 * MIN });
    expect(windowAt(T0 + 7 * MIN + 123, tenMinutes)).toEqual({ start: T0, end: T0 + 10 * MIN });
    expect(windowAt(T0 + 10 * MIN - 1, tenMinutes)).toEqual({ start: T0, end: T0 + 10 * MIN });
    expect(windowAt(T0 + 10 * MIN, tenMinutes)).toEqual({ start: T0 + 10 * MIN, end: T0 + 20 * MIN });
    expect(windowAt(0, tenMinutes)).toEqual({ start: 0, end: 10 * MIN });
  });

  it.each([1 * S, 7 * S, 5 * MIN, 1 * H, 24 * H])('starts every %d ms window at a multiple of the period', (periodMs) => {
    for (const t of [T0 - 1, T0, T0 + 12_345, T0 + 3 * H + 17]) {
      const w = windowAt(t, [{ fromMs: 0, periodMs }]);
      expect(w.start % periodMs).toBe(0);
      expect(w.end - w.start).toBe(periodMs);
      expect(w.start).toBeLessThanOrEqual(t);
      expect(t).toBeLessThan(w.end);
    }
  });

  describe('across segments', () => {
    // 10-minute windows, then 1-hour windows from T0 + 1h, then 5-minute windows from T0 + 3h.
    const segments: PeriodSegment[] = [
      { fromMs: 0, periodMs: 10 * MIN },
      { fromMs: T0 + H, periodMs: H },
      { fromMs: T0 + 3 * H, periodMs: 5 * MIN },
    ];

    it.each([
      ['in the first segment', T0 + 25 * MIN, T0 + 20 * MIN, T0 + 30 * MIN],
      ['in the last window of the first segment', T0 + H - 1, T0 + 50 * MIN, T0 + H],
      ['at the start of the second segment', T0 + H, T0 + H, T0 + 2 * H],
      ['in the second segment', T0 + 2 * H + 59 * MIN, T0 + 2 * H, T0 + 3 * H],
      ['at the start of the third segment', T0 + 3 * H, T0 + 3 * H, T0 + 3 * H + 5 * MIN],
      ['far into the third segment', T0 + 10 * H + 7 * MIN, T0 + 10 * H + 5 * MIN, T0 + 10 * H + 10 * MIN],
    ])('finds the window %s', (_, t, start, end) => {
      expect(windowAt(t, segments)).toEqual({ start, end });
    });

    it('aligns each segment to its own start', () => {
      const odd: PeriodSegment[] = [
        { fromMs: 0, periodMs: 10 * MIN },
        { fromMs: T0 + 3 * MIN, periodMs: 7 * MIN },
      ];
      expect(windowAt(T0 + 3 * MIN, odd)).toEqual({ start: T0 + 3 * MIN, end: T0 + 10 * MIN });
      expect(windowAt(T0 + 20 * MIN, odd)).toEqual({ start: T0 + 17 * MIN, end: T0 + 24 * MIN });
    });

    it('ends the last window of a segment where the next segment starts', () => {
      const odd: PeriodSegment[] = [
        { fromMs: 0, periodMs: 10 * MIN },
        { fromMs: T0 + 3 * MIN, periodMs: 7 * MIN },
      ];
      expect(windowAt(T0 + MIN, odd)).toEqual({ start: T0, end: T0 + 3 * MIN });
    });

    it('walks the segments without a gap or an overlap', () => {
      const ws = walk(T0 - H, T0 + 4 * H, segments);
      expectContiguous(ws);
      expect(ws.filter((w) => w.end - w.start === H).map((w) => w.start)).toEqual([T0 + H, T0 + 2 * H]);
    });
  });
});

describe('changePeriod', () => {
  const base: PeriodSegment[] = [{ fromMs: 0, periodMs: 10 * MIN }];

  it('changes the period from the next window boundary after notBefore', () => {
    const next = changePeriod(base, H, T0 + 4 * MIN);
    expect(next).toEqual([
      { fromMs: 0, periodMs: 10 * MIN },
      { fromMs: T0 + 10 * MIN, periodMs: H },
    ]);
    // the window holding notBefore (which may already hold rows) keeps its bounds
    expect(windowAt(T0 + 4 * MIN, next)).toEqual(windowAt(T0 + 4 * MIN, base));
    expect(windowAt(T0 + 10 * MIN, next)).toEqual({ start: T0 + 10 * MIN, end: T0 + 70 * MIN });
  });

  it('changes the period right at notBefore when it is a window boundary', () => {
    expect(changePeriod(base, 5 * MIN, T0)).toEqual([
      { fromMs: 0, periodMs: 10 * MIN },
      { fromMs: T0, periodMs: 5 * MIN },
    ]);
  });

  it('never changes a window that starts before notBefore', () => {
    for (const notBefore of [T0 + 1, T0 + 9 * MIN, T0 + 10 * MIN - 1, T0 + 10 * MIN]) {
      const next = changePeriod(base, 3 * MIN, notBefore);
      const w = windowAt(notBefore - 1, base);
      expect(windowAt(notBefore - 1, next)).toEqual(w);
      expect(next[1]!.fromMs).toBeGreaterThanOrEqual(notBefore);
    }
  });

  it('returns the segments unchanged when the period is already in force', () => {
    expect(changePeriod(base, 10 * MIN, T0 + 4 * MIN)).toEqual(base);
  });

  it('replaces segments that would start at or after the change', () => {
    const planned: PeriodSegment[] = [
      { fromMs: 0, periodMs: 10 * MIN },
      { fromMs: T0 + 2 * H, periodMs: 5 * MIN },
    ];
    expect(changePeriod(planned, H, T0 + 15 * MIN)).toEqual([
      { fromMs: 0, periodMs: 10 * MIN },
      { fromMs: T0 + 20 * MIN, periodMs: H },
    ]);
    // changing back to the period in force drops the planned change
    expect(changePeriod(planned, 10 * MIN, T0 + 15 * MIN)).toEqual([{ fromMs: 0, periodMs: 10 * MIN }]);
  });

  it('appends to a later segment when notBefore is in it', () => {
    const two: PeriodSegment[] = [
      { fromMs: 0, periodMs: 10 * MIN },
      { fromMs: T0, periodMs: 7 * MIN },
    ];
    expect(changePeriod(two, MIN, T0 + 8 * MIN)).toEqual([...two, { fromMs: T0 + 14 * MIN, periodMs: MIN }]);
  });

  it('does not modify its input', () => {
    const segments: PeriodSegment[] = [{ fromMs: 0, periodMs: 10 * MIN }];
    changePeriod(segments, H, T0);
    expect(segments).toEqual([{ fromMs: 0, periodMs: 10 * MIN }]);
  });

  it.each([
    ['shorter, from mid-window', 7 * MIN, T0 + 13 * MIN + 5],
    ['longer, from mid-window', 45 * MIN, T0 + 13 * MIN + 5],
    ['shorter, from a boundary', 3 * MIN, T0 + 20 * MIN],
    ['not dividing the old period', 17 * S, T0 + 1],
  ])('keeps windows contiguous across a change to a period %s', (_, periodMs, notBefore) => {
    const next = changePeriod(base, periodMs, notBefore);
    const ws = walk(T0 - H, T0 + 5 * H, next);
    expectContiguous(ws);
    const before = ws.filter((w) => w.end <= next[1]!.fromMs);
    const after = ws.filter((w) => w.start >= next[1]!.fromMs);
    expect(before.length + after.length).toBe(ws.length);
    for (const w of before) expect(w.end - w.start).toBe(10 * MIN);
    for (const w of after) expect(w.end - w.start).toBe(periodMs);
  });

  it('keeps windows contiguous across a series of changes', () => {
    let segments: PeriodSegment[] = base;
    const changes: Array<[number, number]> = [
      [7 * MIN, T0 + 3 * MIN],
      [H, T0 + 2 * H + 1],
      [90 * S, T0 + 5 * H + 30 * MIN],
      [10 * MIN, T0 + 8 * H],
    ];
    for (const [periodMs, notBefore] of changes) segments = changePeriod(segments, periodMs, notBefore);
    expect(segments.map((s) => s.periodMs)).toEqual([10 * MIN, 7 * MIN, H, 90 * S, 10 * MIN]);
    for (let i = 1; i < segments.length; i++) expect(segments[i]!.fromMs).toBeGreaterThan(segments[i - 1]!.fromMs);
    const ws = walk(T0 - H, T0 + 10 * H, segments);
    expectContiguous(ws);
    // every window is exactly one period long (changes happen on boundaries, so none is cut short)
    for (const w of ws) expect(w.end - w.start).toBe(periodAt(w.start, segments));
  });
});

describe('periodAt', () => {
  const segments: PeriodSegment[] = [
    { fromMs: 0, periodMs: 10 * MIN },
    { fromMs: T0, periodMs: H },
  ];

  it.each([
    [0, 10 * MIN],
    [T0 - 1, 10 * MIN],
    [T0, H],
    [T0 + 100 * H + 1, H],
  ])('at %d is %d ms', (t, period) => {
    expect(periodAt(t, segments)).toBe(period);
  });
});
