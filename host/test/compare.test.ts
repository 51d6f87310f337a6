import { describe, expect, it } from 'vitest';
import type { MonitoringResult } from '@modelwatch/sdk';
import type { WindowRecord } from '@modelwatch/protocol';
import { compareShadow } from '../src/api/compare.js';

/** A stored window of endpoint `ep` starting at `start` (seconds), with these results (name: [value, status]). */
function win(version: string, ep: string, start: number, results: Record<string, [number, number]>, outcome: WindowRecord['outcome'] = 'ok'): WindowRecord {
  return {
    endpointId: `id-${ep}`,
    endpointName: ep,
    app: 'a',
    version,
    windowStart: start * 1000,
    windowEnd: (start + 1) * 1000,
    outcome,
    rows: 1,
    results: Object.entries(results).map(([name, [value, status]]) => ({ name, kind: 0, value, status }) as MonitoringResult),
    metrics: [],
    durationMs: 1,
    completedAt: 0,
    runner: 'r',
    attempts: 1,
    storedAt: 0,
  };
}

describe('compareShadow', () => {
  it('counts status changes by from->to and finds the largest |value difference| over the windows both ran only', () => {
    const active = [
      win('1.0.0', 'e', 1, { drift: [0.1, 0], rows: [10, 0] }),
      win('1.0.0', 'e', 2, { drift: [0.2, 0], rows: [11, 0] }),
      win('1.1.0', 'f', 2, { drift: [0.9, 2] }),
      win('1.0.0', 'e', 3, {}, 'error'),
      win('1.0.0', 'e', 9, { drift: [5, 2] }), // the shadow did not run it
    ];
    const shadow = [
      win('2.0.0', 'e', 1, { drift: [0.6, 2], rows: [10, 0] }),
      win('2.0.0', 'e', 2, { drift: [0.25, 1], extra: [1, 0] }),
      win('2.0.0', 'f', 2, { drift: [0.1, 0] }),
      win('2.0.0', 'e', 3, { drift: [1, 0] }),
      win('2.0.0', 'e', 4, { drift: [7, 2] }), // the active version has no such window
      win('1.9.0', 'e', 1, { drift: [100, 2] }), // another shadow version
    ];
    const c = compareShadow('a', '2.0.0', active, shadow);
    expect(c).toMatchObject({ app: 'a', shadowVersion: '2.0.0', activeVersions: ['1.0.0', '1.1.0'], windows: 4, outcomeChanges: { 'error->ok': 1 } });
    expect(c.results.map((r) => r.name)).toEqual(['drift', 'extra', 'rows']);
    const [drift, extra, rows] = c.results;
    expect(drift).toMatchObject({ windows: 3, statusChanges: { '0->2': 1, '0->1': 1, '2->0': 1 }, onlyActive: 0, onlyShadow: 1 });
    expect(drift!.largest).toEqual({
      difference: expect.closeTo(0.8, 12) as number,
      endpoint: 'f',
      windowStart: 2000,
      windowEnd: 3000,
      active: 0.9,
      shadow: 0.1,
    });
    expect(extra).toMatchObject({ windows: 0, statusChanges: {}, largest: null, onlyActive: 0, onlyShadow: 1 });
    expect(rows).toMatchObject({ windows: 1, statusChanges: {}, largest: { difference: 0, windowStart: 1000 }, onlyActive: 1, onlyShadow: 0 });
  });

  it('compares nothing when the versions ran no window together', () => {
    expect(compareShadow('a', '2.0.0', [win('1.0.0', 'e', 1, { x: [1, 0] })], [win('2.0.0', 'e', 2, { x: [1, 0] })])).toEqual({
      app: 'a',
      shadowVersion: '2.0.0',
      activeVersions: [],
      windows: 0,
      outcomeChanges: {},
      results: [],
    });
  });
});
