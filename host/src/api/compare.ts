import type { WindowRecord } from '@modelwatch/protocol';
import type { ResultComparison, ShadowComparison } from './contract.js';
import { dict } from '../domain/dict.js';

/**
 * Compare a shadow version's windows with the active version's over the windows both ran (same
 * endpoint and window start): per result, the status changes (`from->to`, active then shadow)
 * and the largest |value difference| with its window; per window, outcome changes.
 */
export function compareShadow(app: string, shadowVersion: string, active: readonly WindowRecord[], shadow: readonly WindowRecord[]): ShadowComparison {
  const key = (w: WindowRecord) => `${w.endpointId}/${w.windowStart}`;
  const byKey = new Map(active.map((w) => [key(w), w]));
  const results = new Map<string, ResultComparison>();
  const resultOf = (name: string) => {
    let r = results.get(name);
    if (!r) results.set(name, (r = { name, windows: 0, statusChanges: {}, largest: null, onlyActive: 0, onlyShadow: 0 }));
    return r;
  };
  const activeVersions = new Set<string>();
  const outcomeChanges = dict<number>();
  let windows = 0;
  for (const s of [...shadow].sort((a, b) => a.windowStart - b.windowStart || a.endpointId.localeCompare(b.endpointId))) {
    if (s.version !== shadowVersion) continue;
    const a = byKey.get(key(s));
    if (!a) continue;
    windows++;
    activeVersions.add(a.version);
    if (a.outcome !== s.outcome) bump(outcomeChanges, `${a.outcome}->${s.outcome}`);
    const shadowResults = new Map(s.results.map((r) => [r.name, r]));
    for (const ar of a.results) {
      const sr = shadowResults.get(ar.name);
      const r = resultOf(ar.name);
      if (!sr) {
        r.onlyActive++;
        continue;
      }
      shadowResults.delete(ar.name);
      r.windows++;
      if (ar.status !== sr.status) bump(r.statusChanges, `${ar.status}->${sr.status}`);
      const difference = Math.abs(sr.value - ar.value);
      if (Number.isFinite(difference) && (r.largest === null || difference > r.largest.difference)) {
        r.largest = { difference, endpoint: s.endpointName, windowStart: s.windowStart, windowEnd: s.windowEnd, active: ar.value, shadow: sr.value };
      }
    }
    for (const name of shadowResults.keys()) resultOf(name).onlyShadow++;
  }
  return {
    app,
    shadowVersion,
    activeVersions: [...activeVersions].sort(),
    windows,
    outcomeChanges,
    results: [...results.values()].sort((x, y) => x.name.localeCompare(y.name)),
  };
}

function bump(counts: Record<string, number>, k: string): void {
  counts[k] = (counts[k] ?? 0) + 1;
}
