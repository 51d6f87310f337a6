import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '@modelwatch/protocol';
import { writerProbe, type Readiness } from '../host/src/api/health.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { startNatsServer, type NatsServerHandle } from '../host/src/nats/server.js';
import { startTestHost } from './helpers/host.js';
import { startTestTopology } from './helpers/nats.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/** GET a path of the host with the headers given (node:http, so the Host header is ours to set). */
function get(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `/healthz` and `/readyz`, as Kubernetes probes call them. */
describe('health probes', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nats: NatsServerHandle;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  const readyz = async () => (await get(env.client.url, '/readyz')) as { status: number; body: Readiness };

  beforeAll(async () => {
    dir = await tempDir('mw-health-');
    nats = await startNatsServer({ dataDir: join(dir.path, 'nats') });
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 300 });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('/readyz answers 200 when NATS, the streams, the runners and the writer are ready; /healthz answers 200', async () => {
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ready: true, failed: [] });
    expect(r.body.checks.map((c) => [c.name, c.ok])).toEqual([
      ['nats', true],
      ['streams', true],
      ['runners', true],
      ['writer', true],
      ['controller', true],
    ]);
    expect(r.body.checks.find((c) => c.name === 'runners')!.message).toBe('1 of 1 runner(s) answer');
    expect(await get(env.client.url, '/healthz')).toEqual({ status: 200, body: { ok: true, version: expect.any(String) as string } });
  });

  it('both answer without credentials and whatever the Host header', async () => {
    const odd = { host: 'probe.invalid:1', authorization: 'Bearer not-a-token' };
    expect((await get(env.client.url, '/healthz', odd)).status).toBe(200);
    expect((await get(env.client.url, '/readyz', odd)).status).toBe(200);
  });

  it('/readyz answers 503 naming the runners while a runner does not answer, and 200 once it does; /healthz answers meanwhile', async () => {
    const [pid] = env.host.runnerPids();
    process.kill(pid!, 'SIGSTOP');
    try {
      const r = await waitFor('a 503 naming the runners', async () => {
        const x = await readyz();
        return x.status === 503 ? x : undefined;
      });
      expect(r.body).toMatchObject({ ready: false, failed: ['runners'] });
      expect(r.body.checks.find((c) => c.name === 'runners')!.message).toBe(
        `0 of 1 runner(s) answer: runner 1 (pid ${pid}) did not answer over NATS within 500 ms`,
      );
      expect((await get(env.client.url, '/healthz')).status).toBe(200);
    } finally {
      process.kill(pid!, 'SIGCONT');
    }
    await waitFor('ready again', async () => ((await readyz()).status === 200 ? true : undefined));
  });

  it('/readyz answers 503 naming NATS (and runners that cannot start) while NATS is down, /healthz still answers, and it is ready again once NATS is back', async () => {
    const port = nats.port;
    await nats.stop();
    const down = await waitFor('a 503 naming nats', async () => {
      const x = await readyz();
      return x.body.failed?.includes('nats') ? x : undefined;
    });
    expect(down.status).toBe(503);
    expect(down.body.ready).toBe(false);
    expect(down.body.checks.find((c) => c.name === 'nats')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^not connected to NATS at 127\.0\.0\.1:\d+: /) as string,
    });
    expect(await get(env.client.url, '/healthz')).toMatchObject({ status: 200, body: { ok: true } });
    // a runner that dies now cannot come back up without NATS: the check says so
    const [pid] = env.host.runnerPids();
    process.kill(pid!, 'SIGKILL');
    const noRunner = await waitFor('a 503 naming the runners too', async () => {
      const x = await readyz();
      const m = x.body.checks.find((c) => c.name === 'runners')?.message ?? '';
      return /runner 1 (\(pid \d+\) )?is (not running|starting)/.test(m) ? x : undefined;
    });
    expect(noRunner.body.failed).toEqual(expect.arrayContaining(['nats', 'streams', 'runners']));
    nats = await startNatsServer({ dataDir: join(dir.path, 'nats'), port });
    const back = await waitFor(
      'ready again',
      async () => {
        const x = await readyz();
        return x.status === 200 ? x : undefined;
      },
      30_000,
    );
    expect(back.body.failed).toEqual([]);
  });
});

describe('the writer check', () => {
  it('fails when app outputs wait longer than allowed, naming how many and for how long', async () => {
    await using topology = await startTestTopology();
    const { js, jsm } = topology;
    expect(await writerProbe(jsm, 0)()).toEqual({ ok: true, message: 'no output waiting' });
    // an output nobody stores (no writer runs here)
    await js.publish(Subjects.outputs('e1'), jsonCodec.encode({ v: 1 }));
    const stuck = await waitFor('the output to age', async () => {
      const r = await writerProbe(jsm, 0)();
      return r.ok ? undefined : r;
    });
    expect(stuck.message).toMatch(/^1 output\(s\) waiting, the oldest for \d+\.\d s \(more than 0 s behind\)$/);
    expect((await writerProbe(jsm, 60_000)()).ok).toBe(true);
  });
});
