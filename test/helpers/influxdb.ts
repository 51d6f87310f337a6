import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freePort } from '../../host/src/nats/server.js';
import { tempDir, waitFor } from './tmp.js';

/** One series of an InfluxQL answer. */
export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/**
 * A real InfluxDB 1.x (Debian's `influxdb`, 1.6) on free loopback ports with its meta, data and
 * WAL in a temp folder, nothing else enabled (no reporting, no collectd/graphite/UDP, no
 * continuous queries, no monitor store), and one database. It has InfluxDB's 1.x `/write` and
 * `/query` (InfluxQL) routes, not the v2 write API.
 */
export interface TestInfluxdb {
  url: string;
  database: string;
  /** POST line protocol to `/write`; `precision` as the 1.x API names it (n, u, ms, s). */
  write(lines: string, precision: string): Promise<void>;
  /** Run one InfluxQL statement (times in ms since the epoch); throws on an error in the answer. */
  query(q: string): Promise<InfluxSeries[]>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startTestInfluxdb(database = 'modelwatch'): Promise<TestInfluxdb> {
  const dir = await tempDir('mw-influxd-');
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = join(dir.path, 'influxdb.conf');
  await writeFile(
    config,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpcPort}"`,
      '[meta]',
      `  dir = "${join(dir.path, 'meta')}"`,
      '[data]',
      `  dir = "${join(dir.path, 'data')}"`,
      `  wal-dir = "${join(dir.path, 'wal')}"`,
      '  query-log-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${httpPort}"`,
      '  log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '[subscriber]',
      '  enabled = false',
      '[logging]',
      '  level = "error"',
      '',
    ].join('\n'),
  );
  let log = '';
  const child = spawn('influxd', ['run', '-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`influxd could not start (make system-deps, or apt-get install influxdb): ${err.message}`)));
  });
  await spawned;
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await dir[Symbol.asyncDispose]();
  };
  try {
    await waitFor(
      'influxd to answer /ping',
      async () => {
        if (child.exitCode !== null) throw new Error(`influxd exited with ${child.exitCode}: ${log}`);
        return (await fetch(`${url}/ping`).catch(() => undefined))?.status === 204 ? true : undefined;
      },
      30_000,
      50,
    );
    const created = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${database}"` }) });
    if (!created.ok) throw new Error(`CREATE DATABASE: ${created.status} ${await created.text()}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    database,
    async write(lines, precision) {
      const res = await fetch(`${url}/write?${new URLSearchParams({ db: database, precision })}`, { method: 'POST', body: lines });
      if (res.status !== 204) throw new Error(`influxd /write answered ${res.status}: ${await res.text()}`);
    },
    async query(q) {
      const res = await fetch(`${url}/query?${new URLSearchParams({ db: database, epoch: 'ms', q })}`);
      const body = (await res.json()) as { error?: string; results?: Array<{ error?: string; series?: InfluxSeries[] }> };
      const error = body.error ?? body.results?.[0]?.error;
      if (!res.ok || error) throw new Error(`influxd /query answered ${res.status}: ${error ?? JSON.stringify(body)}\n  query: ${q}`);
      return body.results?.[0]?.series ?? [];
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** One request the writer made to the v2 write API. */
export interface CapturedWrite {
  org: string;
  bucket: string;
  precision: string;
  /** The line protocol, un-gzipped. */
  body: string;
}

/**
 * A local HTTP server that stands where the host's InfluxDB would and keeps the body of every
 * `POST /api/v2/write` (answering 204, as InfluxDB does): the line protocol the writer sends,
 * byte for byte, to be loaded into a TSDB that has no v2 write API. It is a recorder, not an
 * InfluxDB: it answers nothing else (404).
 */
export async function startWriteCapture(): Promise<{ url: string; writes: CapturedWrite[]; lines(): string[]; close(): Promise<void> }> {
  const writes: CapturedWrite[] = [];
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://capture');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || u.pathname !== '/api/v2/write') {
        res.writeHead(404).end();
        return;
      }
      const raw = Buffer.concat(chunks);
      const body = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      writes.push({
        org: u.searchParams.get('org') ?? '',
        bucket: u.searchParams.get('bucket') ?? '',
        precision: u.searchParams.get('precision') ?? 'ns',
        body,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    writes,
    lines: () => writes.flatMap((w) => w.body.split('\n').filter((l) => l.trim())),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
