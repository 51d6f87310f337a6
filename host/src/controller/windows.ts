/** From `fromMs` on (until the next segment), windows are `periodMs` long, aligned to `fromMs`. */
export interface PeriodSegment {
  fromMs: number;
  periodMs: number;
}

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
