import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp folder, removed by the returned dispose. */
export async function tempDir(prefix = 'mw-test-'): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** Poll `fn` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Wait until the wall clock reads `t` (at once if it has). The one wait on time the tests make:
 * the host stamps an event's arrival with the wall clock (JetStream's) and files rows and closes
 * windows by it, so a test that wants its events in one window starts sending when that window
 * begins. It is never a guess of how long something takes: for that, wait for the event itself
 * ({@link waitFor}, `helpers/events.ts`).
 */
export async function untilWallClock(t: number): Promise<void> {
  for (let left = t - Date.now(); left > 0; left = t - Date.now()) await new Promise((r) => setTimeout(r, left));
}
