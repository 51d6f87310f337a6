import type { Clock, Timer } from '../src/clock.js';

interface Scheduled {
  at: number;
  /** Order of scheduling: timers due at the same time run in the order they were set. */
  seq: number;
  every: number | undefined;
  fn: () => void;
}

/**
 * A clock that moves only when the test moves it: `advance(ms)` moves it, then runs every timer
 * due by then. A loop that schedules its next tick when its work is done (the
 * controller, the serving aggregator) says so by scheduling it: `await clock.scheduled()` is the
 * event "the tick is finished", so a test never waits on the wall clock.
 *
 * Handed to a host (`HostOptions.clock`), it must not run ahead of the wall clock: events arrive
 * by JetStream's clock, and a controller ahead of it would close windows that rows may still
 * reach. Behind it is safe: windows close later, when the test says so.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Scheduled[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  timeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, undefined);
  }

  interval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Timers waiting to run. */
  get pending(): number {
    return this.timers.length;
  }

  /** Resolves once at least `count` timers are waiting (at once if they are). */
  scheduled(count = 1): Promise<void> {
    if (this.timers.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /**
   * Move time forward by `ms`, then run every timer due by then, in the order they fell due
   * (an interval once per period passed). They all read the new time, as timers that fire late
   * do: a loop's tick sees the time the test moved to. Returns how many timers ran (a loop's
   * next tick is due `tickMs` after the last one ended: a test that moves less runs none).
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new Error(`a clock moves forward: cannot advance by ${ms} ms`);
    this.t += ms;
    let ran = 0;
    for (;;) {
      const due = this.sorted()[0];
      if (!due || due.at > this.t) break;
      if (due.every === undefined) this.remove(due);
      else due.at += due.every;
      ran++;
      due.fn();
    }
    return ran;
  }

  /** Move time forward to `t` (see {@link advance}). */
  set(t: number): number {
    return this.advance(t - this.t);
  }

  private add(fn: () => void, ms: number, every: number | undefined): Timer {
    const s: Scheduled = { at: this.t + Math.max(0, ms), seq: this.seq++, every, fn };
    this.timers.push(s);
    this.waiters = this.waiters.filter((w) => {
      if (this.timers.length < w.count) return true;
      w.resolve();
      return false;
    });
    return { cancel: () => this.remove(s) };
  }

  private remove(s: Scheduled): void {
    this.timers = this.timers.filter((x) => x !== s);
  }

  private sorted(): Scheduled[] {
    return [...this.timers].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
