import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a {@link Receiver} took, and the status it answered. */
export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  status: number;
}

/**
 * A real HTTP receiver of alert notifications on 127.0.0.1: it answers what `respond` says (200
 * by default; `'hold'` keeps the request open until `release()`), can go down (stops listening)
 * and come back on the same port, and records every request.
 */
export interface Receiver {
  url: string;
  requests: Received[];
  respond: (n: number, req: Received) => number | 'hold';
  down(): Promise<void>;
  up(): Promise<void>;
  /** Answer the held requests (their connection may be gone). */
  release(status?: number): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startReceiver(respond: Receiver['respond'] = () => 200): Promise<Receiver> {
  let server: Server | undefined;
  let port = 0;
  const held: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  const r: Receiver = {
    url: '',
    requests: [],
    respond,
    async up() {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const rec: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: 0 };
          const what = r.respond(r.requests.length, rec);
          r.requests.push(rec);
          if (what === 'hold') {
            rec.status = -1;
            held.push(res);
            return;
          }
          rec.status = what;
          res.writeHead(what, { 'content-type': 'text/plain' }).end(what >= 400 ? 'SECRET-RECEIVER-BODY' : 'ok');
        });
      });
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      await new Promise<void>((res) => server!.listen(port, '127.0.0.1', () => res()));
      port = (server.address() as AddressInfo).port;
      r.url = `http://127.0.0.1:${port}`;
    },
    async down() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((res) => s.close(() => res()));
    },
    release(status = 200) {
      for (const res of held.splice(0)) if (!res.writableEnded) res.writeHead(status).end();
    },
    async close() {
      r.release();
      await r.down();
    },
    [Symbol.asyncDispose]() {
      return r.close();
    },
  };
  await r.up();
  return r;
}

/** The notification keys a receiver took with a 2xx: a notification's key, or each key of a digest. */
export function deliveredKeys(requests: readonly Received[]): string[] {
  const keys: string[] = [];
  for (const q of requests) {
    if (q.status < 200 || q.status >= 300) continue;
    const b = JSON.parse(q.body) as { type: string; key: string; notifications?: Array<{ key: string }> };
    if (b.type === 'digest') keys.push(...b.notifications!.map((n) => n.key));
    else keys.push(b.key);
  }
  return keys;
}
