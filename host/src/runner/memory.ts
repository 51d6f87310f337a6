import { readFileSync, writeSync } from 'node:fs';
import { CRASH_MARKER, type CrashReport } from '@modelwatch/protocol';

/** How a crash report of a runner over its memory bound begins (`crashError` words the failure from it). */
export const RUNNER_MEMORY_BOUND = 'pushed its runner over the runner memory bound';

/** How often the runner looks at its resident size. */
const WATCH_MS = 10;

/** The peak resident size of this process so far (VmHWM), in MiB; undefined where /proc is not there. */
export function peakRssMb(pid: number | 'self' = 'self'): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The last line of defence of a runner's memory: isolates are held to their plugins' limits, but
 * V8 lets one allocation through past an isolate's limit (isolated-vm grants up to 1 GiB more to
 * end it cleanly) and a builtin such as `new Array(1e8).fill(0)` cannot be stopped half way. So
 * the runner watches its resident size every 10 ms; past `boundMb` it writes a crash report for
 * the window in a sandbox (when one alone runs, it is the one; with several, none is blamed, and
 * their tasks come back), and kills itself. The supervisor records the window as failed and
 * restarts the runner.
 */
export function watchMemory(boundMb: number, running: () => CrashReport[]): () => void {
  const bound = boundMb * 1024 * 1024;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss <= bound) return;
    const at = `${RUNNER_MEMORY_BOUND} of ${boundMb} MiB (resident ${Math.round(rss / 1048576)} MiB)`;
    const windows = running();
    try {
      if (windows.length === 1) writeSync(2, `${CRASH_MARKER}${JSON.stringify({ ...windows[0]!, message: at })}\n`);
      else writeSync(2, `${JSON.stringify({ level: 50, time: Date.now(), msg: `the runner went over its memory bound: ${at}`, windows: windows.length })}\n`);
    } finally {
      process.kill(process.pid, 'SIGKILL');
    }
  }, WATCH_MS);
  timer.unref();
  return () => clearInterval(timer);
}
