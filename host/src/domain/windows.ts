import type { PeriodChange, PeriodSegment } from '@modelwatch/protocol';
/**
 * Window arithmetic over period changes: which window holds a time, where a row is filed, which
 * row subjects a window reads (see ARCHITECTURE.md, "Windows"). The segment and change records
 * are the wire's (`mw_settings`).
 */

export type { PeriodChange, PeriodSegment };

export interface Window {
  start: number;
  end: number;
}

/** The window holding time `t` (ms since the epoch). Segments are sorted by `fromMs`, the first from 0. */
export function windowAt(t: number, segments: readonly PeriodSegment[]): Window {
  let i = segments.length - 1;
  while (i > 0 && segments[i]!.fromMs > t) i--;
  const seg = segments[i]!;
  const start = seg.fromMs + Math.floor((t - seg.fromMs) / seg.periodMs) * seg.periodMs;
  const next = segments[i + 1];
  return { start, end: next ? Math.min(start + seg.periodMs, next.fromMs) : start + seg.periodMs };
}

/**
 * Segments with the period changed to `periodMs` from the first window boundary at or after
 * `notBeforeMs`, so no window that may already hold rows changes.
 */
export function changePeriod(segments: readonly PeriodSegment[], periodMs: number, notBeforeMs: number): PeriodSegment[] {
  const w = windowAt(notBeforeMs, segments);
  const from = w.start === notBeforeMs ? w.start : w.end;
  const kept = segments.filter((s) => s.fromMs < from);
  const last = kept[kept.length - 1];
  if (last && last.periodMs === periodMs) return kept;
  return [...kept, { fromMs: from, periodMs }];
}

/** The period in force at time `t`. */
export function periodAt(t: number, segments: readonly PeriodSegment[]): number {
  const w = windowAt(t, segments);
  return w.end - w.start;
}

/** The windows of the settings: the segments in force, and the changes rows may still be filed by. */
export interface WindowLayout {
  periods: readonly PeriodSegment[];
  changes?: readonly PeriodChange[] | undefined;
}

export interface ScheduleOptions {
  /**
   * How long after the change is stamped the stream processor may still file new arrivals by the
   * old layout: more than it takes the change to be stored, at most the allowed lateness (so a row
   * is late, or not, by either layout alike).
   */
  graceMs: number;
  /** How far ahead of its arrival an event time may be. */
  maxFutureSkewMs: number;
}

/**
 * The layout with the period changed to `periodMs` from the next window boundary after `nowMs`:
 * the window open at `nowMs` (and every earlier one) keeps its length. Returns `layout` itself
 * when nothing changes.
 */
export function schedulePeriod(layout: WindowLayout, periodMs: number, nowMs: number, opts: ScheduleOptions): Required<WindowLayout> {
  const changes = layout.changes ?? [];
  const periods = changePeriod(layout.periods, periodMs, nowMs + 1);
  const same =
    periods.length === layout.periods.length && periods.every((s, i) => s.fromMs === layout.periods[i]!.fromMs && s.periodMs === layout.periods[i]!.periodMs);
  if (same) return { periods: layout.periods, changes };
  const fromMs = windowAt(nowMs, layout.periods).end;
  const holding = layout.periods.filter((s) => s.fromMs <= fromMs).pop()!;
  const before = [holding, ...layout.periods.filter((s) => s.fromMs > fromMs)];
  const last = changes[changes.length - 1];
  const arrivalsFrom = Math.max(nowMs + opts.graceMs, last?.arrivalsFrom ?? -Infinity);
  return { periods, changes: [...changes, { fromMs, arrivalsFrom, untilMs: arrivalsFrom + opts.maxFutureSkewMs, before }] };
}

/**
 * The window a row of event time `t` is filed under when its event arrived at `arrivalMs`: the
 * window of the layout in force at that arrival. For any one event this never depends on when it
 * is processed, so a redelivered event lands where it landed the first time.
 */
export function filingWindow(t: number, arrivalMs: number, layout: WindowLayout): Window {
  const changes = layout.changes;
  if (changes?.length && changes[changes.length - 1]!.arrivalsFrom > arrivalMs) {
    // the changes that had not taken hold at that arrival, oldest first: the first one from
    // whose boundary on `t` lies gives the layout that was in force there
    for (const c of changes) if (c.arrivalsFrom > arrivalMs && c.fromMs <= t) return windowAt(t, c.before);
  }
  return windowAt(t, layout.periods);
}

/**
 * The window starts of the row subjects that may hold rows of window `w` of the layout: its own,
 * and after a period change the old layout's windows that overlap it while rows filed by the old
 * layout can exist (up to the change's `untilMs`). A reader keeps the rows whose time is in `w`.
 */
export function rowKeysOf(w: Window, layout: WindowLayout): number[] {
  const keys = new Set([w.start]);
  for (const c of layout.changes ?? []) {
    const lo = Math.max(w.start, c.fromMs);
    const hi = Math.min(w.end, c.untilMs);
    for (let x = windowAt(lo, c.before); lo < hi && x.start < hi; x = windowAt(x.end, c.before)) keys.add(x.start);
  }
  return [...keys].sort((a, b) => a - b);
}

/** The windows of the layout whose rows the row subject of window start `key` may hold (see {@link rowKeysOf}). */
export function windowsHoldingKey(key: number, layout: WindowLayout): Window[] {
  const out = new Map<number, Window>();
  const own = windowAt(key, layout.periods);
  if (own.start === key) out.set(own.start, own);
  for (const c of layout.changes ?? []) {
    if (key < c.fromMs || key >= c.untilMs) continue;
    const x = windowAt(key, c.before);
    if (x.start !== key) continue;
    const hi = Math.min(x.end, c.untilMs);
    for (let w = windowAt(key, layout.periods); w.start < hi; w = windowAt(w.end, layout.periods)) out.set(w.start, w);
  }
  return [...out.values()].filter((w) => rowKeysOf(w, layout).includes(key)).sort((a, b) => a.start - b.start);
}

/** The period in force at `nowMs`, and the next one when a change is scheduled. */
export function periodsAround(nowMs: number, layout: WindowLayout): { current: PeriodSegment; pending: PeriodSegment | undefined } {
  const current = layout.periods.filter((s) => s.fromMs <= nowMs).pop() ?? layout.periods[0]!;
  return { current, pending: layout.periods.find((s) => s.fromMs > nowMs) };
}
