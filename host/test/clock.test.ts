import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { ManualClock } from './manual-clock.js';

describe('systemClock', () => {
  it('reads the wall clock and runs a timeout once, and a cancelled one never', async () => {
    const before = Date.now();
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
    const calls: string[] = [];
    const cancelled = systemClock.timeout(() => calls.push('cancelled'), 0);
    cancelled.cancel();
    await new Promise<void>((resolve) => systemClock.timeout(resolve, 0));
    // both were due at once: the one that ran (after the cancelled one) is the positive marker
    expect(calls).toEqual([]);
  });

  it('runs an interval until it is cancelled', async () => {
    let n = 0;
    await new Promise<void>((resolve) => {
      const t = systemClock.interval(() => {
        if (++n === 3) {
          t.cancel();
          resolve();
        }
      }, 1);
    });
    expect(n).toBe(3);
  });
});

describe('ManualClock', () => {
  it('stands still until moved, then runs what fell due, in order, reading the new time', () => {
    const clock = new ManualClock(1000);
    const seen: Array<[string, number]> = [];
    clock.timeout(() => seen.push(['b', clock.now()]), 200);
    clock.timeout(() => seen.push(['a', clock.now()]), 100);
    clock.timeout(() => seen.push(['c', clock.now()]), 200);
    expect(clock.now()).toBe(1000);
    expect(clock.pending).toBe(3);
    clock.advance(99);
    expect(seen).toEqual([]);
    clock.advance(151);
    expect(seen).toEqual([
      ['a', 1250],
      ['b', 1250],
      ['c', 1250],
    ]);
    expect(clock.pending).toBe(0);
  });

  it('runs an interval once per period passed, and never after it is cancelled', () => {
    const clock = new ManualClock();
    let n = 0;
    const t = clock.interval(() => n++, 10);
    clock.advance(35);
    expect(n).toBe(3);
    clock.set(40);
    expect(n).toBe(4);
    t.cancel();
    clock.advance(100);
    expect(n).toBe(4);
    expect(clock.pending).toBe(0);
    expect(() => clock.advance(-1)).toThrow('a clock moves forward');
  });

  it('counts a timer set by a timer from the time it was set', () => {
    const clock = new ManualClock();
    const at: number[] = [];
    clock.timeout(() => {
      at.push(clock.now());
      clock.timeout(() => at.push(clock.now()), 5);
    }, 5);
    clock.advance(20);
    expect(at).toEqual([20]);
    clock.advance(4);
    expect(at).toEqual([20]);
    clock.advance(1);
    expect(at).toEqual([20, 25]);
  });

  it('says when a loop has scheduled its next tick', async () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    // a loop as the controller's: work (asynchronous), then the next tick
    const loop = async () => {
      await Promise.resolve();
      ticks.push(clock.now());
      clock.timeout(() => void loop(), 100);
    };
    void loop();
    await clock.scheduled();
    expect(ticks).toEqual([0]);
    clock.advance(100);
    expect(clock.pending).toBe(0); // the tick is running: it has not scheduled the next one
    await clock.scheduled();
    expect(ticks).toEqual([0, 100]);
  });
});
