import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { apiHostArgs, hostProcess, type HostProcess } from '../helpers/processes.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

/** A raw TCP connection to a host: what it sent back, and its end. */
interface Conn {
  socket: Socket;
  received(): string;
  /** Resolves once the connection closed, whoever closed it. */
  closed: Promise<void>;
  isClosed(): boolean;
  /** Resolves once what the host sent contains `text`. */
  until(text: string): Promise<void>;
}

function open(url: string): Conn {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  let text = '';
  let isClosed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  // a write after the host closed (EPIPE, ECONNRESET): the close follows
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  const until = (want: string) =>
    new Promise<void>((resolve, reject) => {
      const look = () => {
        if (!text.includes(want)) return;
        socket.off('data', look);
        resolve();
      };
      socket.on('data', look);
      void closed.then(() => reject(new Error(`the host closed the connection before sending '${want}'; it sent: ${text}`)));
      look();
    });
  return { socket, received: () => text, closed, isClosed: () => isClosed, until };
}

/** Write `chunk` every 200 ms until the connection closes: a client that trickles a request in. */
function trickle(c: Conn, chunk: string): void {
  const timer = setInterval(() => {
    if (c.socket.writable) c.socket.write(chunk);
  }, 200);
  void c.closed.then(() => clearInterval(timer));
}

/** GET `path` over `agent` (keep-alive: the connection stays open for the next request); rejects when the host closes the connection unanswered. */
function get(url: string, path: string, agent: Agent, headers: Record<string, string> = {}): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * What a local user who may open any number of sockets cannot do to the host's HTTP API: keep
 * idle connections, trickle a request's headers or body in, or open so many connections that the
 * host runs out of file handles (a hostile probe reached the open-file limit with 27,000 sockets
 * that sent nothing; `/healthz` and event posts then failed). Two API processes on one nats-server:
 * one with timeouts of a second or two, one with a cap of four connections.
 */
describe('HTTP connections: idle and slow ones closed, open ones capped', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let quick: HostProcess;
  let capped: HostProcess;
  const agents: Agent[] = [];
  const conns: Conn[] = [];
  const keepAlive = () => {
    const a = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  };
  const conn = (url: string) => {
    const c = open(url);
    conns.push(c);
    return c;
  };

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-connections-');
    const common = (name: string) => apiHostArgs(nats.url, join(dir.path, name));
    quick = await hostProcess(['--http-idle-timeout', '1s', '--http-headers-timeout', '1s', '--http-request-timeout', '2s', ...common('quick')]);
    capped = await hostProcess(['--http-max-connections', '4', ...common('capped')]);
    await Promise.all([quick.start(), capped.start()]);
  }, 120_000);

  afterAll(async () => {
    for (const c of conns) c.socket.destroy();
    for (const a of agents) a.destroy();
    await quick?.stop();
    await capped?.stop();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('closes a connection that sends nothing, and a kept-alive one idle after its answer (--http-idle-timeout)', async () => {
    const silent = conn(quick.url);
    await silent.closed;
    expect(silent.received()).toBe('');

    const kept = conn(quick.url);
    kept.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await kept.closed;
    // answered, kept alive (and told for how long), then closed by the host
    expect(kept.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(kept.received()).toMatch(/\r\nkeep-alive: timeout=1\r\n/i);
  });

  it('closes a connection whose headers trickle in, though it sends more often than the idle timeout: 408 (--http-headers-timeout)', async () => {
    const c = conn(quick.url);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    trickle(c, 'X-Slow: a\r\n');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('closes an authenticated request whose body trickles in: 408 (--http-request-timeout)', async () => {
    const c = conn(quick.url);
    const headers = Object.entries(authHeaders({ host: `127.0.0.1:${new URL(quick.url).port}`, 'content-type': 'application/json', 'content-length': '1000' }))
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    c.socket.write(`POST /api/v1/endpoints HTTP/1.1\r\n${headers}\r\n{`);
    trickle(c, ' ');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('keeps a connection the host is working on though it is silent past the idle timeout: the live feed', async () => {
    const live = conn(quick.url);
    const headers = Object.entries(authHeaders({ host: `127.0.0.1:${new URL(quick.url).port}` }))
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    live.socket.write(`GET /api/v1/live HTTP/1.1\r\n${headers}\r\n`);
    await live.until(': modelwatch live');
    // a connection opened after the feed's last byte: when the host has closed it for idling, the
    // feed has been as silent for longer (its timer ran first)
    const later = conn(quick.url);
    await later.closed;
    // and a round trip more, so that a close of the feed would have reached this process
    expect((await get(quick.url, '/healthz', keepAlive())).status).toBe(200);
    expect(live.isClosed()).toBe(false);
    expect(live.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });

  it('refuses connections past --http-max-connections and counts them, serves the connections it has, and takes new ones once some close', async () => {
    // a keep-alive client of the host from before it is full
    const client = keepAlive();
    expect((await get(capped.url, '/healthz', client)).status).toBe(200);
    // connections kept open, each answered, until one is closed unanswered: the cap is reached
    // (the test process may hold one more: the keep-alive connection of the start's probe)
    const held: Agent[] = [];
    for (;;) {
      const a = keepAlive();
      const answered = await get(capped.url, '/healthz', a).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!answered) break;
      held.push(a);
      expect(held.length).toBeLessThan(4);
    }
    expect(held.length).toBeGreaterThanOrEqual(2);

    // the host keeps serving the clients it has: probes, and its metrics, over the same connection
    const health = await get(capped.url, '/healthz', client);
    expect(health).toMatchObject({ status: 200, reused: true });
    const metrics = await get(capped.url, '/metrics', client, authHeaders());
    expect(metrics).toMatchObject({ status: 200, reused: true });
    expect(metrics.body).toMatch(/^modelwatch_http_connections 4$/m);
    expect(metrics.body).toMatch(/^modelwatch_http_connections_refused_total 1$/m);
    expect(capped.output()).toContain('HTTP connections refused: 4 were open (--http-max-connections)');

    // two closed: a new connection is served again
    for (const a of held.splice(0, 2)) a.destroy();
    const fresh = await waitFor('a new connection to be served', async () => {
      const r = await get(capped.url, '/healthz', keepAlive()).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    expect(fresh.reused).toBe(false);
  });
});
