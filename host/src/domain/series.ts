import type { SeriesPoint } from '@modelwatch/protocol';

/**
 * Min/max per bucket: `points` is cut into `target / 3` buckets of equal count, and each keeps
 * its lowest and highest value (in time order) and its first detected window (status 2), so
 * spikes and detections survive any range. Under `target` points, everything is kept.
 */
export function downsample(points: readonly SeriesPoint[], target: number): SeriesPoint[] {
  if (points.length <= target) return [...points];
  const buckets = Math.max(1, Math.floor(target / 3));
  const size = points.length / buckets;
  const out: SeriesPoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * size);
    const hi = Math.min(points.length, Math.floor((b + 1) * size));
    if (hi <= lo) continue;
    let min = lo;
    let max = lo;
    let detected = -1;
    for (let i = lo; i < hi; i++) {
      const v = points[i]![1];
      if (v < points[min]![1]) min = i;
      if (v > points[max]![1]) max = i;
      if (detected < 0 && points[i]![2] === 2) detected = i;
    }
    for (const i of [...new Set([min, max, detected])].filter((i) => i >= 0).sort((a, b) => a - b)) out.push(points[i]!);
  }
  return out;
}
