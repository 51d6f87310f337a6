import { readFileSync, writeSync } from 'node:fs';
import { CRASH_MARKER, type CrashReport, type LostWindow } from '@modelwatch/protocol';

/** How a crash report of a runner over its memory bound begins (`crashError` words the failure from it). */
export const RUNNER_MEMORY_BOUND = 'pushed its runner over the runner memory bound';

/** How often the runner looks at its resident size while windows run, and for {@link WATCH_GRACE_MS} after. */
const WATCH_MS = 10;
/** How long after its last window the runner still looks every {@link WATCH_MS}: an isolate stopped at its deadline in one long builtin operation may allocate until that operation ends. */
const WATCH_GRACE_MS = 10_000;
/** How often an idle runner looks (nothing of a plugin's runs then): a wake-up every 10 ms cost an idle runner about 1% of a core. */
const IDLE_WATCH_MS = 1000;

/** The peak resident size of this process so far (VmHWM), in MiB; undefined where /proc is not there. */
export function peakRssMb(pid: number | 'self' = 'self'): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** The runner's memory watch: {@link MemoryWatch.wake} as a window starts, {@link MemoryWatch.stop} once. */
export interface MemoryWatch {
  /** A window starts in a sandbox: look every 10 ms from now (an idle watch looks once a second). */
  wake(): void;
  stop(): void;
}

/**
 * The last line of defence of a runner's memory: isolates are held to their plugins' limits, but
 * V8 lets one allocation through past an isolate's limit (isolated-vm grants up to 1 GiB more to
 * end it cleanly) and a builtin such as `new Array(1e8).fill(0)` cannot be stopped half way. So
 * the runner watches its resident size every 10 ms while windows run and for 10 s after the last
 * (once a second when idle: no plugin code runs then, and a timer every 10 ms cost an idle runner
 * about 1% of a core); past `boundMb` it writes a crash report for the window in a sandbox (when
 * one alone runs, it is the one, and the windows worked on that have not run yet are named as bystanders; with
 * several, none is blamed, and their tasks come back), and kills itself. The supervisor records the window as failed and restarts the runner.
 */
export function watchMemory(boundMb: number, running: () => CrashReport[], notRunYet: () => LostWindow[] = () => []): MemoryWatch {
  const bound = boundMb * 1024 * 1024;
  let busyUntil = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = () => {
    const rss = process.memoryUsage.rss();
    if (rss <= bound) return;
    const at = `${RUNNER_MEMORY_BOUND} of ${boundMb} MiB (resident ${Math.round(rss / 1048576)} MiB)`;
    const windows = running();
    try {
      if (windows.length === 1) {
        // bystanders: `notRunYet`, the other windows worked on that have not entered a sandbox
        // (one past its sandbox, its output being checked or stored, may be what grew: not named)
        const bystanders = notRunYet();
        const report: CrashReport = { ...windows[0]!, message: at, ...(bystanders.length ? { bystanders } : {}) };
        writeSync(2, `${CRASH_MARKER}${JSON.stringify(report)}\n`);
      } else writeSync(2, `${JSON.stringify({ level: 50, time: Date.now(), msg: `the runner went over its memory bound: ${at}`, windows: windows.length })}\n`);
    } finally {
      process.kill(process.pid, 'SIGKILL');
    }
  };
  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  const tick = () => {
    check();
    if (stopped) return;
    if (running().length > 0) busyUntil = Date.now() + WATCH_GRACE_MS;
    schedule(Date.now() < busyUntil ? WATCH_MS : IDLE_WATCH_MS);
  };
  schedule(IDLE_WATCH_MS);
  return {
    wake() {
      if (stopped) return;
      const idle = Date.now() >= busyUntil;
      busyUntil = Date.now() + WATCH_GRACE_MS;
      if (idle) schedule(WATCH_MS);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
