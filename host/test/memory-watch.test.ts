import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CrashReport } from '@modelwatch/protocol';
import { watchMemory } from '../src/runner/memory.js';

const WINDOW: CrashReport = {
  app: 'a',
  version: '1.0.0',
  message: '',
  window: { endpointId: 'e', endpointName: 'e', windowStart: 0, windowEnd: 1000 },
};

describe('the runner memory watch', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  /** Looks at the resident size counted over `ms` of fake time. */
  const looks = async (rss: { mock: { calls: unknown[] } }, ms: number) => {
    const before = rss.mock.calls.length;
    await vi.advanceTimersByTimeAsync(ms);
    return rss.mock.calls.length - before;
  };

  it('looks every 10 ms while a window runs and for 10 s after, once a second when idle', async () => {
    vi.useFakeTimers();
    const rss = vi.spyOn(process.memoryUsage, 'rss').mockReturnValue(1);
    const running: CrashReport[] = [];
    const watch = watchMemory(1024, () => running);
    try {
      // idle from the start: once a second
      expect(await looks(rss, 5000)).toBe(5);
      // a window starts: every 10 ms at once, not at the next idle look
      running.push(WINDOW);
      watch.wake();
      expect(await looks(rss, 1000)).toBe(100);
      // the window ends: still every 10 ms for 10 s (an isolate stopped at its deadline may still allocate)
      running.length = 0;
      expect(await looks(rss, 9000)).toBeGreaterThanOrEqual(880);
      await vi.advanceTimersByTimeAsync(2000);
      // then idle again
      expect(await looks(rss, 10_000)).toBe(10);
      // a wake while idle makes the next look 10 ms away
      watch.wake();
      expect(await looks(rss, 20)).toBe(2);
    } finally {
      watch.stop();
    }
    expect(await looks(rss, 5000)).toBe(0);
  });
});
