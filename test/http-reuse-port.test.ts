// Several API processes on one machine share one HTTP port (`host start --reuse-port`,
// SO_REUSEPORT): the kernel spreads the connections, and each process serves its share.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelwatchClient } from '../host/src/client/client.js';
import { authHeaders, TEST_TOKEN } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { apiHostArgs, hostProcess, type HostProcess } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';

/** One request on a connection of its own (no keep-alive: the kernel picks a process for each). */
function fresh(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { ...headers, connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('API processes sharing one port (--reuse-port)', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nc: NatsConnection;
  const procs: HostProcess[] = [];
  let url: string;
  /** A process's arguments: its data folder named `node`, and its `--node-id` unless `named` is false. */
  let args: (node: string, extra?: string[], named?: boolean) => string[];

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-reuse-port-');
    nc = await connect({ servers: nats.url });
    args = (node: string, extra: string[] = [], named = true) => apiHostArgs(nats.url, join(dir.path, node), ...(named ? ['--node-id', node] : []), ...extra);
    const a = await hostProcess([...args('api-a'), '--reuse-port']);
    procs.push(a);
    await a.start();
    url = a.url;
    // the second on the first one's port (its start returns once the port answers, which the first does already)
    // (without a node id: it names itself by an opaque id of its own)
    const b = await hostProcess(args('api-b', ['--reuse-port'], false), {}, { port: Number(new URL(a.url).port) });
    procs.push(b);
    await b.start();
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('both processes answer on the one port, each naming itself in /api/v1/health', async () => {
    const seen = new Map<string, number>();
    const other: string[] = [];
    // the second process's start returned once the port answered, which the first does already:
    // until it answers too (each try 8 requests, each on a new connection: the kernel spreads
    // connections by their addresses, so a listening process missed by 8 is a chance of 1 in 256)
    await waitFor(
      'the second API process to answer on the shared port',
      async () => {
        for (let i = 0; i < 8; i++) {
          const r = await fresh(`${url}/api/v1/health`, 'GET', authHeaders());
          if (r.status !== 200) other.push(`${r.status} ${r.body}`);
          else {
            const node = (JSON.parse(r.body) as { node: string }).node;
            seen.set(node, (seen.get(node) ?? 0) + 1);
          }
        }
        return seen.size >= 2 || other.length > 0 ? true : undefined;
      },
      60_000,
      250,
    );
    expect(other).toEqual([]);
    // the one by its node id, the other by an id drawn at its start: not its host name or pid
    const names = [...seen.keys()];
    expect(names).toHaveLength(2);
    expect(names).toContain('api-a');
    expect(names.find((n) => n !== 'api-a')).toMatch(/^[0-9a-f]{16}$/);
    for (const p of procs) expect(p.output()).not.toMatch(/EADDRINUSE/);
  });

  it('events posted over many connections to the shared port are all answered 202 and stored', async () => {
    const client = new ModelwatchClient({ url, token: TEST_TOKEN });
    await client.createEndpoint({ name: 'shared-port', featureNames: ['a'], labelNames: ['y'] });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fresh(
          `${url}/api/v1/endpoints/shared-port/events`,
          'POST',
          authHeaders({ 'content-type': 'application/json' }),
          JSON.stringify({ inputs: [[i]], outputs: [0] }),
        ),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 40 }, () => 202));
    // answered: stored, whichever process took the request (the endpoint, made through one, is seen by both)
    const jsm = await jetstreamManager(nc);
    let events = 0;
    const info = await jsm.streams.info('MW_EVENTS', { subjects_filter: 'mw.events.shared-port' });
    const msgs = info.state.subjects?.['mw.events.shared-port'] ?? 0;
    const consumer = await jetstream(nc).consumers.get('MW_EVENTS', { filter_subjects: 'mw.events.shared-port' });
    const it = await consumer.fetch({ max_messages: msgs, expires: 5000 });
    for await (const m of it) {
      const body = m.json<unknown>();
      events += Array.isArray(body) ? body.length : 1;
      if (m.info.pending === 0) break;
    }
    expect(events).toBe(40);
  });

  it('a process with --reuse-port on a port another process holds without it refuses to start, saying so', async () => {
    // a plain listener (no SO_REUSEPORT) on a port of its own
    const holder = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const c = await hostProcess(args('api-d', ['--reuse-port']), {}, { port });
      procs.push(c);
      // (its start returns at once, the holder answering on the port; or, on a slow machine, once it has exited)
      await c.start().catch((err: Error) => expect(err.message).toContain('the host exited with 1'));
      const message = `--http-port: 127.0.0.1:${port} is in use by another process that does not share it (started without --reuse-port, or by another user): stop it, or give another port`;
      await waitFor('the process to refuse the port', () => (c.output().includes(message) ? true : undefined), 60_000, 50);
      // it exits by itself (stopped meanwhile, it would not say how it ended)
      expect(await c.exited()).toEqual({ code: 1, signal: null });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('a process without --reuse-port on the port refuses to start, naming the port and the flag', async () => {
    const c = await hostProcess(args('api-c'), {}, { port: Number(new URL(url).port) });
    // (its start returns at once, the others answering on the port; or, on a slow machine, once it has exited)
    await c.start().catch((err: Error) => expect(err.message).toContain('the host exited with 1'));
    const message = `--http-port: 127.0.0.1:${new URL(url).port} is in use by another process: stop it, give another port, or start every API process of this machine on it with --reuse-port`;
    await waitFor('the third process to refuse the port', () => (c.output().includes(message) ? true : undefined), 60_000, 50);
    // it exits by itself (stopped meanwhile, it would not say how it ended)
    expect(await c.exited()).toEqual({ code: 1, signal: null });
  });
});
