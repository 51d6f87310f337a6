import { seededRandom } from '@modelwatch/sdk/testing';
import { describe, expect, it } from 'vitest';
import type { PeriodSegment } from '@modelwatch/protocol';
import {
  changePeriod,
  filingWindow,
  periodAt,
  periodsAround,
  rowKeysOf,
  schedulePeriod,
  windowAt,
  windowsHoldingKey,
  type Window,
  type WindowLayout,
} from '../src/domain/windows.js';

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

describe('schedulePeriod', () => {
  const base: WindowLayout = { periods: [{ fromMs: 0, periodMs: 10 * S }] };
  const opts = { graceMs: 300, maxFutureSkewMs: 5 * MIN };

  it('changes the period from the end of the window open now: that window keeps its length', () => {
    const now = T0 + 4 * S + 250;
    const next = schedulePeriod(base, 3 * S, now, opts);
    expect(next.periods).toEqual([
      { fromMs: 0, periodMs: 10 * S },
      { fromMs: T0 + 10 * S, periodMs: 3 * S },
    ]);
    expect(windowAt(now, next.periods)).toEqual({ start: T0, end: T0 + 10 * S });
    expect(windowAt(T0 + 10 * S, next.periods)).toEqual({ start: T0 + 10 * S, end: T0 + 13 * S });
    expect(next.changes).toEqual([{ fromMs: T0 + 10 * S, arrivalsFrom: now + 300, untilMs: now + 300 + 5 * MIN, before: [{ fromMs: 0, periodMs: 10 * S }] }]);
  });

  it('at a boundary, the window that just began keeps its length too', () => {
    expect(schedulePeriod(base, 3 * S, T0, opts).periods[1]).toEqual({ fromMs: T0 + 10 * S, periodMs: 3 * S });
  });

  it('replaces a change that has not taken effect, and remembers both layouts rows may be filed by', () => {
    const first = schedulePeriod(base, 3 * S, T0 + 1 * S, opts);
    const second = schedulePeriod(first, 4 * S, T0 + 2 * S, opts);
    expect(second.periods).toEqual([
      { fromMs: 0, periodMs: 10 * S },
      { fromMs: T0 + 10 * S, periodMs: 4 * S },
    ]);
    expect(second.changes.map((c) => c.before)).toEqual([[{ fromMs: 0, periodMs: 10 * S }], [{ fromMs: T0 + 10 * S, periodMs: 3 * S }]]);
    // back to the period in force: no change is pending, but rows may be filed by the 4 s layout
    const back = schedulePeriod(second, 10 * S, T0 + 3 * S, opts);
    expect(back.periods).toEqual(base.periods);
    expect(back.changes).toHaveLength(3);
  });

  it('returns the layout unchanged when the period is the one in force', () => {
    const same = schedulePeriod(base, 10 * S, T0 + 1, opts);
    expect(same.periods).toBe(base.periods);
    expect(same.changes).toEqual([]);
  });

  it('never lets a later change take hold for arrivals before an earlier one did', () => {
    const first = schedulePeriod(base, 3 * S, T0, { graceMs: 5 * S, maxFutureSkewMs: MIN });
    const second = schedulePeriod(first, 4 * S, T0 + 1 * S, { graceMs: 300, maxFutureSkewMs: MIN });
    expect(second.changes[1]!.arrivalsFrom).toBe(T0 + 5 * S);
  });
});

describe('periodsAround', () => {
  it('gives the period in force and the pending one with the time it applies', () => {
    const layout = schedulePeriod({ periods: [{ fromMs: 0, periodMs: 10 * S }] }, 3 * S, T0 + 1, { graceMs: 0, maxFutureSkewMs: 0 });
    expect(periodsAround(T0 + 1, layout)).toEqual({ current: { fromMs: 0, periodMs: 10 * S }, pending: { fromMs: T0 + 10 * S, periodMs: 3 * S } });
    expect(periodsAround(T0 + 10 * S, layout)).toEqual({ current: { fromMs: T0 + 10 * S, periodMs: 3 * S }, pending: undefined });
  });
});

describe('filingWindow and rowKeysOf', () => {
  const base: WindowLayout = { periods: [{ fromMs: 0, periodMs: 10 * S }] };
  const opts = { graceMs: 300, maxFutureSkewMs: MIN };
  const changedAt = T0 + 4 * S;
  const layout = schedulePeriod(base, 3 * S, changedAt, opts);

  it('files a row by the layout in force when its event arrived', () => {
    // arrived before the change took hold, timed past the boundary: the old 10 s window
    expect(filingWindow(T0 + 14 * S, changedAt, layout)).toEqual({ start: T0 + 10 * S, end: T0 + 20 * S });
    // arrived after: the new 3 s window
    expect(filingWindow(T0 + 14 * S, changedAt + 300, layout)).toEqual({ start: T0 + 13 * S, end: T0 + 16 * S });
    // before the boundary both layouts are the same
    expect(filingWindow(T0 + 9 * S, changedAt, layout)).toEqual(filingWindow(T0 + 9 * S, changedAt + 300, layout));
  });

  it('reads the old windows that overlap a new one, while rows filed by the old layout can exist', () => {
    expect(rowKeysOf({ start: T0 + 10 * S, end: T0 + 13 * S }, layout)).toEqual([T0 + 10 * S]);
    expect(rowKeysOf({ start: T0 + 19 * S, end: T0 + 22 * S }, layout)).toEqual([T0 + 10 * S, T0 + 19 * S, T0 + 20 * S]);
    // windows that begin before the change, and windows past the reach of the old layout's rows, read only themselves
    expect(rowKeysOf({ start: T0, end: T0 + 10 * S }, layout)).toEqual([T0]);
    const far = windowAt(changedAt + 300 + MIN + 5 * S, layout.periods);
    expect(rowKeysOf(far, layout)).toEqual([far.start]);
  });

  it('finds the new windows a row subject of the old layout holds rows of', () => {
    expect(windowsHoldingKey(T0 + 10 * S, layout).map((w) => w.start)).toEqual([T0 + 10 * S, T0 + 13 * S, T0 + 16 * S, T0 + 19 * S]);
    expect(windowsHoldingKey(T0 + 13 * S, layout).map((w) => w.start)).toEqual([T0 + 13 * S]);
    expect(windowsHoldingKey(T0 + 5 * S, layout)).toEqual([]);
  });

  /**
   * The claim the runner relies on, checked on random histories: however the changes fall and
   * whenever an event is processed (by a processor that has read every change stamped before it
   * processes), each row lands under one key, that key is read by exactly the one window of the
   * final layout that holds its time, and the row is late by the final layout exactly when it is
   * late by the layout it was filed by.
   */
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('every row is read by exactly one window, whatever the history (seed %i)', (seed) => {
    const r = seededRandom(seed);
    const lateness = 300;
    const o = { graceMs: Math.min(1000, lateness), maxFutureSkewMs: 20 * S };
    const snapshots: Array<{ at: number; layout: Required<WindowLayout> }> = [
      { at: -Infinity, layout: { periods: [{ fromMs: 0, periodMs: 2 * S }], changes: [] } },
    ];
    let now = T0;
    for (let i = 0; i < 6; i++) {
      now += Math.floor(r.uniform() * 8 * S);
      const periodMs = [1, 2, 3, 5, 7][Math.floor(r.uniform() * 5)]! * S;
      snapshots.push({ at: now, layout: schedulePeriod(snapshots[snapshots.length - 1]!.layout, periodMs, now, o) });
    }
    const final = snapshots[snapshots.length - 1]!.layout;
    for (let k = 0; k < 3000; k++) {
      const arrival = T0 - 5 * S + Math.floor(r.uniform() * (now - T0 + 40 * S));
      const t = arrival - 10 * S + Math.floor(r.uniform() * (10 * S + o.maxFutureSkewMs));
      // processed some time after it arrived, with the settings stored by then
      const processedAt = arrival + Math.floor(r.uniform() * 3 * S);
      const seen = snapshots.filter((s) => s.at <= processedAt).pop()!.layout;
      const filed = filingWindow(t, arrival, seen);
      expect(filed, `the same key whenever processed (t ${t}, arrival ${arrival})`).toEqual(filingWindow(t, arrival, final));
      const home = windowAt(t, final.periods);
      expect(rowKeysOf(home, final), `window ${home.start} reads key ${filed.start}`).toContain(filed.start);
      // no other window reads it and keeps it: its time is in `home` only
      expect(t >= home.start && t < home.end).toBe(true);
      expect(windowsHoldingKey(filed.start, final).map((w) => w.start)).toContain(home.start);
      expect(arrival > filed.end + lateness, `late by both layouts or by neither (t ${t}, arrival ${arrival})`).toBe(arrival > home.end + lateness);
    }
  });
});
