import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { KV } from '@nats-io/kv';
import { CRASH_MARKER, type CrashReport } from '@modelwatch/protocol';
import type { NatsSecurity } from '../config/options.js';
import type { Logger } from '../logger.js';
import { RUNNER_MEMORY_BOUND } from './memory.js';
import type { HostMetrics } from '../metrics.js';
import { compiledWorker } from '../worker-pool.js';
import { settledWithin } from '../clock.js';
import { outputKey } from '../domain/keys.js';
import { countUnrunDelivery } from '../nats/unrun.js';

export interface SupervisorOptions {
  count: number;
  natsUrl: string;
  /** The runners' credentials and TLS files (`MODELWATCH_NATS_CREDS`, `MODELWATCH_NATS_TLS_*` of the runner process). */
  natsSecurity?: NatsSecurity;
  concurrency: number;
  /** Windows of one plugin a runner works on at once. @default concurrency - 1, at least 1 */
  appConcurrency?: number;
  /**
   * Memory bound of each runner, in MiB: its heap limit (`--max-old-space-size`) and the resident
   * size past which it stops (reporting the window it ran) and is restarted. @default none
   */
  memoryMb?: number;
  windowAttempts: number;
  logLevel: string;
  logger: Logger;
  /** Where the runners' log lines (JSON) go. @default process.stderr */
  logStream?: NodeJS.WritableStream;
  /** Called when a runner reports, before dying, that a plugin crashed V8 on a window. */
  onCrash?: (report: CrashReport) => Promise<void>;
  /** Runner restarts. */
  metrics?: HostMetrics;
  /** The module each runner process runs. @default the host's runner (`runner-main.js`) */
  entry?: string;
}

/** How long a stop waits, after a runner's exit, for the end of its output (its pipes closed). */
const OUTPUT_END_MS = 2_000;

/** Path of the compiled runner entry (the host runs from dist; tests may import src). */
export function runnerEntry(): string {
  return compiledWorker(import.meta.url, 'runner-main');
}

/** Keeps `count` runner processes alive: a runner that dies (a plugin that killed V8) is restarted. */
export class RunnerSupervisor {
  private readonly children = new Map<number, ChildProcess>();
  /** Where each slot's runner answers pings, once it said it is ready. */
  private readonly pings = new Map<number, string>();
  /** Crashes being recorded (`onCrash`): a stop waits for them, so one reported as the host stops is not lost. */
  private readonly recording = new Set<Promise<void>>();
  private stopping = false;
  private readonly log: Logger;
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.logger.child({ component: 'supervisor' });
  }

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.count }, (_, i) => this.spawn(i, 0)));
  }

  /** PIDs of the live runners. */
  pids(): number[] {
    return [...this.children.values()].map((c) => c.pid!).filter(Boolean);
  }

  /** Each runner slot: its process, and the subject it answers pings on once it is ready (connected to NATS, consuming). */
  runners(): Array<{ slot: number; pid: number | undefined; ping: string | undefined }> {
    return Array.from({ length: this.opts.count }, (_, slot) => ({ slot, pid: this.children.get(slot)?.pid, ping: this.pings.get(slot) }));
  }

  private spawn(slot: number, failures: number): Promise<void> {
    const sec = this.opts.natsSecurity ?? {};
    const env: NodeJS.ProcessEnv = { ...process.env };
    // the runner's own files only: never credentials this process was given for itself
    for (const [name, file] of [
      ['MODELWATCH_NATS_CREDS', sec.credsFile],
      ['MODELWATCH_NATS_TLS_CA', sec.tlsCaFile],
      ['MODELWATCH_NATS_TLS_CERT', sec.tlsCertFile],
      ['MODELWATCH_NATS_TLS_KEY', sec.tlsKeyFile],
    ] as const) {
      if (file) env[name] = file;
      else delete env[name];
    }
    const memoryMb = this.opts.memoryMb;
    const child = fork(this.opts.entry ?? runnerEntry(), [], {
      // the runner's own heap is bounded too (the isolates' are by their plugins' limits)
      execArgv: ['--no-node-snapshot', ...(memoryMb ? [`--max-old-space-size=${memoryMb}`] : [])],
      env: {
        ...env,
        MODELWATCH_NATS_URL: this.opts.natsUrl,
        MODELWATCH_RUNNER_CONCURRENCY: String(this.opts.concurrency),
        ...(this.opts.appConcurrency ? { MODELWATCH_RUNNER_APP_CONCURRENCY: String(this.opts.appConcurrency) } : {}),
        ...(memoryMb ? { MODELWATCH_RUNNER_MEMORY_MB: String(memoryMb) } : {}),
        MODELWATCH_WINDOW_ATTEMPTS: String(this.opts.windowAttempts),
        MODELWATCH_LOG_LEVEL: this.opts.logLevel,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const sink = this.opts.logStream ?? process.stderr;
    child.stdout?.pipe(sink, { end: false });
    const crashes: CrashReport[] = [];
    if (child.stderr) {
      createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
        if (line.startsWith(CRASH_MARKER)) {
          try {
            crashes.push(JSON.parse(line.slice(CRASH_MARKER.length)) as CrashReport);
          } catch {
            /* not ours */
          }
        }
        sink.write(`${line}\n`);
      });
    }
    this.children.set(slot, child);
    const startedAt = Date.now();
    const ready = new Promise<void>((resolve) => {
      child.on('message', (m: { type?: string; ping?: string }) => {
        if (m?.type !== 'ready') return;
        if (typeof m.ping === 'string' && this.children.get(slot) === child) this.pings.set(slot, m.ping);
        resolve();
      });
      child.once('exit', () => {
        if (this.children.get(slot) === child) this.pings.delete(slot);
        resolve();
      });
    });
    // 'close' comes after the last stderr line was read ('exit' may come before)
    child.once('close', (code, signal) => {
      if (this.children.get(slot) === child) {
        this.children.delete(slot);
        this.pings.delete(slot);
      }
      for (const c of crashes) {
        this.log.error({ slot, plugin: `${c.app}@${c.version}`, window: c.window, message: c.message }, 'a plugin crashed its runner');
        const onCrash = this.opts.onCrash;
        if (!onCrash) continue;
        const recorded = onCrash(c)
          .catch((err: unknown) => this.log.error({ err }, 'could not record a crash'))
          .finally(() => this.recording.delete(recorded));
        this.recording.add(recorded);
      }
      if (this.stopping) return;
      const quick = Date.now() - startedAt < 30_000;
      const next = quick ? failures + 1 : 0;
      const delay = Math.min(10_000, 200 * 2 ** Math.min(next, 6));
      this.restarts++;
      this.opts.metrics?.runnerRestarted();
      this.log.error({ slot, code, signal, restartInMs: delay }, 'runner process died; restarting');
      setTimeout(() => {
        if (!this.stopping) void this.spawn(slot, next);
      }, delay).unref();
    });
    return ready;
  }

  /**
   * Stop every runner (SIGTERM, SIGKILL after `graceMs`), wait until each one's output is read to
   * its end (at most {@link OUTPUT_END_MS} after its exit: a pipe held by something else is then
   * let go), and until the crashes they reported are recorded (`onCrash`), so none is lost to the stop.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      // a runner is in `children` until its 'close' (its exit, and its output read to the end: a crash it reported is known by then)
      [...this.children.values()].map(async (child) => {
        const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.kill('SIGTERM');
          await exited;
          clearTimeout(t);
        }
        if (await settledWithin(closed, OUTPUT_END_MS)) return;
        // a process the runner started holds its pipes: what was read of them is all there is
        child.stdout?.destroy();
        child.stderr?.destroy();
        await closed;
      }),
    );
    this.children.clear();
    await Promise.all([...this.recording]);
  }
}

/**
 * Count the lost delivery of each window a crash took down with its runner (`CrashReport.bystanders`,
 * the crashed window aside: `crashedKey`) as not an attempt (nats/unrun.ts): without it, a window
 * next to plugins that crash their runner window after window ran out of attempts for nothing of
 * its own and was recorded `WINDOW_FAILED`. A count that fails costs the window one attempt: logged.
 */
export async function recordBystanders(kv: KV, c: CrashReport, crashedKey: string | undefined, log: Logger): Promise<void> {
  const keys = new Set((c.bystanders ?? []).map((w) => outputKey(w)));
  if (crashedKey) keys.delete(crashedKey);
  await Promise.all(
    [...keys].map((key) =>
      countUnrunDelivery(kv, key).catch((err: unknown) =>
        log.warn({ err, window: key }, "could not count a crash's bystander; its lost delivery counts as an attempt"),
      ),
    ),
  );
}

/**
 * The error recorded for a window whose plugin crashed its runner: V8 ran out of memory beyond
 * recovery, or could not stop a long builtin operation (a huge BigInt power, say) at the deadline.
 */
export function crashError(c: CrashReport, window: NonNullable<CrashReport['window']>): { code: 'APP_TIMEOUT' | 'APP_MEMORY_LIMIT'; message: string } {
  const where = `${c.app}@${c.version} on endpoint ${window.endpointName}, window ${new Date(window.windowStart).toISOString()}`;
  if (c.message.startsWith(RUNNER_MEMORY_BOUND)) {
    return { code: 'APP_MEMORY_LIMIT', message: `${where}: ${c.message}; the runner was stopped and restarted` };
  }
  if (/failed to terminate/i.test(c.message)) {
    return {
      code: 'APP_TIMEOUT',
      message: `${where}: ran past its time limit in an operation V8 could not interrupt (${c.message}) and crashed its runner, which was restarted`,
    };
  }
  return { code: 'APP_MEMORY_LIMIT', message: `${where}: exhausted V8's memory beyond recovery (${c.message}) and crashed its runner, which was restarted` };
}
