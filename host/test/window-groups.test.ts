import { describe, expect, it } from 'vitest';
import { WindowGroups } from '../src/store/window-groups.js';

describe('WindowGroups: the windows a results store wrote since it opened', () => {
  it('knows the pairs above the newest start of the store when opened, and nothing at or below it', () => {
    const g = new WindowGroups();
    g.opened(100);
    expect(g.has('a', 100)).toBeUndefined();
    expect(g.has('a', 50)).toBeUndefined();
    expect(g.has('a', 200)).toBe(false);
    g.add('a', 200);
    g.add('a', 100); // at the floor: the time index holds it, not this
    expect([g.has('a', 200), g.has('b', 200), g.has('a', 100)]).toEqual([true, false, undefined]);
    g.opened(undefined); // an empty store: every start is known
    expect(g.has('a', 200)).toBe(false);
    expect(g.has('a', -5)).toBe(false);
  });

  it('forgets the oldest starts beyond its size, which are then asked of the time index; expiry drops starts before a cutoff', () => {
    const g = new WindowGroups(4);
    g.opened(undefined);
    for (const start of [10, 20, 30]) for (const id of ['a', 'b']) g.add(id, start);
    // the fifth pair forgot start 10 (two pairs), the floor raised to 10
    expect([g.has('a', 10), g.has('b', 20), g.has('a', 30), g.has('c', 30)]).toEqual([undefined, true, true, false]);
    g.add('a', 40); // five again: start 20 forgotten
    expect(g.has('b', 20)).toBeUndefined();
    g.expireBefore(35);
    // below the cutoff: asked of the time index (an expiry that fails half-way leaves some there)
    expect([g.has('a', 30), g.has('a', 34), g.has('a', 35), g.has('a', 40)]).toEqual([undefined, undefined, false, true]);
  });
});
