import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../host/src/nats/server.js';
import { REPO, TEST_TOKEN } from './host.js';
import { waitFor } from './tmp.js';
import type { ExportedSeries } from './tsdb.js';

export const CLI = join(REPO, 'host/bin/modelwatch.js');

/** A VictoriaMetrics server on a fixed port and data folder, so it can be stopped and come back. */
export interface RestartableTsdb {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
  exportSeries(nameRegex: string, startSec?: number): Promise<ExportedSeries[]>;
}

export async function restartableTsdb(dataDir: string, opts: { dedup?: boolean } = {}): Promise<RestartableTsdb> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'victoria-metrics',
      [
        `-storageDataPath=${dataDir}`,
        `-httpListenAddr=127.0.0.1:${port}`,
        '-retentionPeriod=100y',
        // InfluxDB's semantics: a point with the same series and timestamp replaces the old one
        ...(opts.dedup === false ? [] : ['-dedup.minScrapeInterval=1ms']),
        '-loggerLevel=ERROR',
      ],
      { stdio: 'ignore' },
    );
    await waitFor('victoria-metrics to listen', async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : undefined), 20_000, 50);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
  };
  await start();
  return {
    url,
    start,
    stop,
    running: () => child !== undefined,
    async exportSeries(nameRegex, startSec = 0) {
      await fetch(`${url}/internal/force_flush`);
      const q = new URLSearchParams({ 'match[]': `{__name__=~"${nameRegex}"}`, start: String(startSec) });
      const res = await fetch(`${url}/api/v1/export?${q}`);
      if (!res.ok) throw new Error(`export failed: ${res.status} ${await res.text()}`);
      return (await res.text())
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as ExportedSeries);
    },
  };
}

/** `modelwatch host start` as a child process, so a test can SIGKILL it. */
export interface HostProcess {
  url: string;
  pid(): number | undefined;
  /** The last 200,000 characters the host wrote (stdout and stderr, across restarts). */
  output(): string;
  start(): Promise<void>;
  /** SIGKILL, no shutdown of any kind. */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop (SIGKILL after 20 s); how it exited (`code` 0, no `signal`: it stopped by itself), or undefined if it was not running. */
  stop(): Promise<HostExit | undefined>;
  /** Wait for it to exit by itself (no signal sent): how it exited, or undefined if it was not running. */
  exited(): Promise<HostExit | undefined>;
  /** PIDs of its runner processes. */
  runnerPids(): number[];
  log(): string;
}

/** How a host process ended: its exit code, or the signal that ended it. */
export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The flags of a test host on loopback with a data folder of its own, one-second windows, 300 ms
 * of lateness, one runner and warnings only; `extra` adds flags.
 */
export function testHostArgs(dataDir: string, ...extra: string[]): string[] {
  return [
    '--http-host',
    '127.0.0.1',
    '--data-dir',
    dataDir,
    '--base-period',
    '1s',
    '--allowed-lateness',
    '300ms',
    '--runners',
    '1',
    '--log-level',
    'warn',
    ...extra,
  ];
}

/**
 * The flags of an API-only host (`--roles api`) on an external nats-server, on loopback with a
 * data folder of its own and warnings only; `extra` adds flags.
 */
export function apiHostArgs(natsUrl: string, dataDir: string, ...extra: string[]): string[] {
  return ['--nats', natsUrl, '--roles', 'api', '--http-host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'warn', ...extra];
}

export interface HostProcessOptions {
  /** The CLI to start: another checkout's `host/bin/modelwatch.js` (`previousVersion().cli`). @default this checkout's ({@link CLI}) */
  cli?: string;
  /** The HTTP port (another process's, to share it with `--reuse-port`). @default a free port */
  port?: number;
}

export async function hostProcess(args: string[], env: Record<string, string> = {}, opts: HostProcessOptions = {}): Promise<HostProcess> {
  const cli = opts.cli ?? CLI;
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log = '';
  const exit = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  return {
    url,
    pid: () => child?.pid,
    output: () => log,
    async start() {
      const c = spawn(process.execPath, ['--no-node-snapshot', cli, 'host', 'start', '--http-port', String(port), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        // the test process's admin token, unless the test gives the host another (or none: '')
        env: { MODELWATCH_ADMIN_TOKEN: TEST_TOKEN, ...process.env, ...env },
      });
      child = c;
      c.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-200_000)));
      c.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-200_000)));
      await waitFor(
        'the host to answer',
        async () => {
          if (c.exitCode !== null) throw new Error(`the host exited with ${c.exitCode}: ${log.slice(-2000)}`);
          return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok ? true : undefined;
        },
        60_000,
        50,
      );
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await exit(c);
      child = undefined;
    },
    async stop() {
      const c = child;
      if (!c) return undefined;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
      await exit(c);
      clearTimeout(t);
      child = undefined;
      return { code: c.exitCode, signal: c.signalCode };
    },
    async exited() {
      const c = child;
      if (!c) return undefined;
      await exit(c);
      child = undefined;
      return { code: c.exitCode, signal: c.signalCode };
    },
    runnerPids() {
      const pid = child?.pid;
      if (!pid) return [];
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    log: () => log,
  };
}
