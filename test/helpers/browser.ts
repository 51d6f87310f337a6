import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (`make system-deps`): playwright drives it, it downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** What a hook that launches the browser may take: {@link launchChromium}'s tries and their waits. */
export const BROWSER_HOOK_TIMEOUT_MS = 200_000;

/**
 * Launch headless Chromium for a test. On a loaded machine a launch can stall (it once took over a
 * minute under a full test run): each try gets `timeoutMs`, and a try that fails is retried, its
 * browser process killed by playwright, so a slow start is not a failed test. No /dev/shm use (it
 * is small in containers), no GPU, no sandbox (tests run as root).
 */
export async function launchChromium(opts: { tries?: number; timeoutMs?: number } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: make system-deps installs it (apt-get install chromium)`);
  const tries = opts.tries ?? 3;
  let last: unknown;
  for (let i = 1; i <= tries; i++) {
    try {
      return await chromium.launch({
        executablePath: CHROMIUM,
        timeout: opts.timeoutMs ?? 60_000,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      });
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`chromium did not start in ${tries} tries: ${(last as Error).message}`, { cause: last });
}
