import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import { publishDir, REPO, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';
import { waitForWindows } from './helpers/events.js';

const CLIENT = join(REPO, 'clients/python');
/** nats-py, installed by `make python-deps` (part of `make test`'s setup). */
const PYTHON_TOOLS = join(REPO, '.tools/python');
const SEND = join(REPO, 'test/fixtures/python/send_windows.py');
const ROW_COUNT = join(REPO, 'test/fixtures/plugins/row-count');

/** Run the system's python3; resolves with its exit code and output (killed after 120 s). */
async function python3(args: string[], opts: { cwd?: string; pythonPath?: string[] } = {}) {
  const env = { ...process.env, PYTHONPATH: [...(opts.pythonPath ?? [CLIENT]), process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' };
  const child = spawn('python3', args, { cwd: opts.cwd ?? REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(t);
  return { code, stdout, stderr };
}

interface SendReport {
  counts: Record<string, number>;
  stats: { tracked: number; sampled_rows: number; delivered: number; batches: number; dropped: number; rejected: number; buffered: number; failures: number };
  errors: string[];
}

/**
 * A TCP proxy in front of the host that loses the replies of the first `lose` requests it sees
 * with a new idempotency key: each is forwarded whole to the host, which stores it and answers,
 * and the connection is cut as the answer comes back, so the client never learns it was stored.
 * It records the idempotency key of every request it forwards.
 */
async function lossyProxy(target: URL, lose: number): Promise<{ url: string; keys: string[]; lost: number; close(): Promise<void> }> {
  const keys: string[] = [];
  const sockets = new Set<Socket>();
  const state = { lost: 0 };
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let key: string | undefined;
    client.on('data', (d: Buffer) => {
      for (const m of d.toString('latin1').matchAll(/^idempotency-key:\s*(\S+)/gim)) keys.push((key = m[1]!));
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (state.lost < lose && key !== undefined && keys.indexOf(key) === keys.length - 1) {
        state.lost++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    keys,
    get lost() {
      return state.lost;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The Python client's own unit tests (unittest, a local HTTP server), run by the suite. */
describe('Python client: unit tests', () => {
  it('pass with the system python3 (python3 -m unittest)', async () => {
    const r = await python3(['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], { cwd: CLIENT });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Ran \d+ tests in /m);
    expect(r.stderr).toMatch(/^OK$/m);
    expect(r.stderr).not.toMatch(/skipped/);
  });
});

/** `clients/python` against a real host: events sent from Python are analysed in their windows exactly once. */
describe('Python client against a host', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;

  beforeAll(async () => {
    nats = await startTestNats();
    // a lateness well above the sender's flush interval (0.1 s): a loaded machine delays a batch, and a late row would not be analysed
    // the lossy proxy forwards requests as they are, naming its own port in Host: 127.0.0.1 on any port
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 1500, allowedHosts: ['127.0.0.1'] });
    await publishDir(env.client, ROW_COUNT);
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  /** Every window the sender tracked requests in holds exactly those rows, and no window holds more. */
  async function expectAnalysedOnce(endpoint: string, report: SendReport): Promise<WindowRecord[]> {
    const starts = Object.keys(report.counts)
      .map(Number)
      .sort((a, b) => a - b);
    expect(starts.length, 'the sender spanned several windows').toBeGreaterThanOrEqual(3);
    const windows = await waitForWindows(
      `the windows of ${endpoint}`,
      () => env.client.results({ endpoint, app: 'row-count', limit: 1000 }),
      starts[0]!,
      starts.at(-1)!,
    );
    for (const ws of starts) {
      const w = windows.filter((x) => x.windowStart === ws);
      expect(w, `window ${new Date(ws).toISOString()}`).toHaveLength(1);
      expect(w[0]!.rows, `rows of window ${new Date(ws).toISOString()}`).toBe(report.counts[ws]);
    }
    expect(windows.reduce((n, w) => n + w.rows, 0)).toBe(report.stats.tracked);
    // every request counted once in the serving statistics too
    const stats = await waitFor('every request counted', async () => {
      const s = await env.client.endpointStats(endpoint);
      return s.requests >= report.stats.tracked ? s : undefined;
    });
    expect(stats.requests).toBe(report.stats.tracked);
    expect(stats.predictions).toBe(report.stats.tracked);
    return windows;
  }

  it('sends events over several windows: each window analysed with exactly the rows sent in it', async () => {
    await env.client.createEndpoint({ name: 'py', featureNames: ['a', 'b'], labelNames: ['y'] });
    const r = await python3([SEND, '--url', env.host.apiUrl, '--endpoint', 'py', '--seconds', '3.2']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as SendReport;
    expect(report.errors).toEqual([]);
    expect(report.stats).toMatchObject({
      delivered: report.stats.tracked,
      sampled_rows: report.stats.tracked,
      dropped: 0,
      rejected: 0,
      buffered: 0,
      failures: 0,
    });
    expect(report.stats.tracked).toBe(Object.values(report.counts).reduce((a, b) => a + b, 0));
    await expectAnalysedOnce('py', report);
  });

  it('retries a request whose reply was lost under its idempotency key: the host stores it once', async () => {
    await env.client.createEndpoint({ name: 'py-lossy', featureNames: ['a', 'b'], labelNames: ['y'] });
    const proxy = await lossyProxy(new URL(env.host.apiUrl), 3);
    try {
      const r = await python3([SEND, '--url', proxy.url, '--endpoint', 'py-lossy', '--seconds', '3.2']);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as SendReport;
      // three replies lost, each request sent again with the same key, every request delivered
      expect(proxy.lost).toBe(3);
      expect(report.stats).toMatchObject({ delivered: report.stats.tracked, dropped: 0, rejected: 0, buffered: 0, failures: 3 });
      expect(report.errors).toHaveLength(3);
      expect(report.errors.every((e) => e.startsWith('SEND_FAILED: '))).toBe(true);
      const sentTwice = [...new Set(proxy.keys.filter((k, i) => proxy.keys.indexOf(k) !== i))];
      expect(sentTwice).toHaveLength(3);
      expect(proxy.keys).toHaveLength(report.stats.batches + 3);
      await expectAnalysedOnce('py-lossy', report);
    } finally {
      await proxy.close();
    }
  });

  it('sampled: every request counted, also of batches whose rows were all sampled out; the kept rows analysed', async () => {
    await env.client.createEndpoint({ name: 'py-sampled', featureNames: ['a', 'b'], labelNames: ['y'] });
    const r = await python3([SEND, '--url', env.host.apiUrl, '--endpoint', 'py-sampled', '--seconds', '1.5', '--sampling', '2', '--batch-size', '10']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as SendReport;
    const { tracked, sampled_rows: rows, batches } = report.stats;
    expect(report.stats).toMatchObject({ delivered: tracked, dropped: 0, rejected: 0, failures: 0 });
    // about one row in fifty kept, so most batches of ten carry no row at all
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(batches / 2);
    const stats = await waitFor('every request counted', async () => {
      const s = await env.client.endpointStats('py-sampled');
      return s.requests >= tracked ? s : undefined;
    });
    expect(stats).toMatchObject({ requests: tracked, predictions: rows, estimatedPredictions: rows * 50, latencyCount: tracked });
    await waitFor('the kept rows analysed', async () => {
      const ws = await env.client.results({ endpoint: 'py-sampled', app: 'row-count', limit: 1000 });
      return ws.reduce((n, w) => n + w.rows, 0) === rows ? true : undefined;
    });
  });

  it("runs the nats-py example (clients/python/examples/nats_publish.py) against the host's nats-server: its events are stored, its retry once", async () => {
    expect(existsSync(join(PYTHON_TOOLS, 'nats')), 'nats-py in .tools/python: run make python-deps').toBe(true);
    await env.client.createEndpoint({ name: 'py-nats', featureNames: ['age', 'income', 'tenure'], labelNames: ['churned'] });
    const r = await python3([join(CLIENT, 'examples/nats_publish.py'), '--nats', nats.url, '--endpoint', 'py-nats', '--requests', '50'], {
      pythonPath: [PYTHON_TOOLS],
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ rows: 150, messages: 51, duplicates: 1 });
    await waitFor('the example rows analysed', async () => {
      const ws = await env.client.results({ endpoint: 'py-nats', app: 'row-count', limit: 1000 });
      return ws.reduce((n, w) => n + w.rows, 0) >= 150 ? ws : undefined;
    });
    const stats = await waitFor('the example requests counted', async () => {
      const s = await env.client.endpointStats('py-nats');
      return s.requests >= 150 ? s : undefined;
    });
    expect(stats.requests).toBe(150);
    expect((await env.client.results({ endpoint: 'py-nats', app: 'row-count', limit: 1000 })).reduce((n, w) => n + w.rows, 0)).toBe(150);
    expect((await env.client.deadLetters({ endpoint: 'py-nats' })).letters).toEqual([]);
  });
});
