import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ModelwatchError } from '../errors.js';

export interface NatsServerOptions {
  /** Folder for the JetStream store and the config file. */
  dataDir: string;
  /** @default a free port */
  port?: number;
  /** @default 'nats-server' (on PATH) */
  binary?: string;
  /** Largest message the server accepts. @default 16 MiB */
  maxPayloadBytes?: number;
  /**
   * Authentication: the server's `accounts` block (`accountsConfig` in `auth.ts`). Without it the
   * server lets anyone in (tests of the components use such a server).
   */
  accounts?: string;
  /** TLS for clients: the server's certificate and key, and with `caFile` clients must present a certificate it signed. */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /**
   * A node of a nats-server cluster: its name, its cluster port on 127.0.0.1, and the other nodes'
   * routes (`nats-route://127.0.0.1:<port>`). JetStream replicates across the nodes.
   */
  cluster?: { name: string; serverName: string; port: number; routes: readonly string[] };
}

/** A nats-server child process with JetStream, owned by whoever started it. */
export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** SIGTERM, then SIGKILL if it has not exited after `killAfterMs` (default 5000); resolves once it has exited. */
  stop(killAfterMs?: number): Promise<void>;
  /** Kill it without letting it flush (for fault tests). */
  kill(signal?: NodeJS.Signals): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * How to get nats-server, for whoever lacks it: the host's error when it cannot start one and
 * `modelwatch doctor`'s advice.
 */
export const NATS_SERVER_INSTALL_HINT = [
  'install nats-server, then try again:',
  '  Debian/Ubuntu:   sudo apt-get install nats-server',
  '  macOS:           brew install nats-server',
  '  other systems:   a release binary from https://github.com/nats-io/nats-server/releases, put on PATH',
  'or run it in a container and give its URL instead of starting one:',
  '  docker run -d -p 4222:4222 nats:2 -js   then   modelwatch host start --nats nats://127.0.0.1:4222',
].join('\n');

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Start nats-server with JetStream on 127.0.0.1, storing in `dataDir`, and wait until it
 * accepts connections.
 */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServerHandle> {
  const port = options.port ?? (await freePort());
  const storeDir = join(options.dataDir, 'jetstream');
  await mkdir(storeDir, { recursive: true });
  const conf = join(options.dataDir, 'nats-server.conf');
  await writeFile(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      `max_payload: ${options.maxPayloadBytes ?? 16 * 1024 * 1024}`,
      ...(options.cluster ? [`server_name: ${options.cluster.serverName}`] : []),
      `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
      ...(options.cluster
        ? [
            `cluster { name: ${options.cluster.name}, listen: 127.0.0.1:${options.cluster.port}, routes: [${options.cluster.routes.map((r) => JSON.stringify(r)).join(', ')}] }`,
          ]
        : []),
      ...(options.accounts ? [options.accounts] : []),
      ...(options.tls
        ? [
            `tls ${JSON.stringify({
              cert_file: options.tls.certFile,
              key_file: options.tls.keyFile,
              ...(options.tls.caFile ? { ca_file: options.tls.caFile, verify: true } : {}),
            })}`,
          ]
        : []),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const binary = options.binary ?? 'nats-server';
  const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  endsWithThisProcess(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new ModelwatchError(
              'NATS_SERVER_NOT_FOUND',
              `${binary} not found on PATH: the host starts its own nats-server unless given --nats URL; ${NATS_SERVER_INSTALL_HINT}`,
            )
          : new ModelwatchError('NATS_SERVER_FAILED', `could not start ${binary}: ${err.message}`, { cause: err }),
      );
    };
    child.once('error', onError);
    const onExit = (code: number | null) => reject(new ModelwatchError('NATS_SERVER_FAILED', `${binary} exited with code ${code} at start: ${stderr.trim()}`));
    child.once('exit', onExit);
    const deadline = Date.now() + 15_000;
    const poll = async () => {
      if (child.exitCode !== null) return;
      if (await canConnect(port)) {
        // (only its own: the one that forgets it once it has exited stays)
        child.removeListener('exit', onExit);
        child.removeListener('error', onError);
        resolve();
      } else if (Date.now() > deadline) {
        // rejected once it has exited: a caller that then removes its store does not race the dying server
        child.removeListener('exit', onExit);
        child.once('exit', () => reject(new ModelwatchError('NATS_SERVER_FAILED', `${binary} did not listen on port ${port} within 15 s: ${stderr.trim()}`)));
        child.kill('SIGKILL');
      } else setTimeout(() => void poll(), 25);
    };
    void poll();
  });
  return handle(child, port);
}

/** The nats-servers this process started and that still run. */
const running = new Set<ChildProcess>();

/**
 * Kill `child` (SIGKILL) if this process exits while it runs: an uncaught error, `process.exit()`,
 * a signal the process turns into an exit. Nothing else ties a nats-server to the process that
 * started it: left running, it would hold its port and its store's lock. (A SIGKILL of this
 * process still leaves it: no code runs then.)
 */
function endsWithThisProcess(child: ChildProcess): void {
  if (running.size === 0) process.on('exit', killRunning);
  running.add(child);
  const forget = () => {
    running.delete(child);
    if (running.size === 0) process.off('exit', killRunning);
  };
  // (a child that could not start emits 'error', and maybe no 'exit')
  child.once('exit', forget).once('error', forget);
}

function killRunning(): void {
  for (const child of running) child.kill('SIGKILL');
}

function handle(child: ChildProcess, port: number): NatsServerHandle {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const stop = async (killAfterMs = 5_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
    }
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop,
    kill: (signal = 'SIGKILL') => child.kill(signal),
    [Symbol.asyncDispose]: () => stop(),
  };
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return await new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
