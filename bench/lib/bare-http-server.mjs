// A bare node:http server for bench/http-floor.mjs, in a process of its own (as the API apart):
// what the least an HTTP ingest of single events must do costs on this machine, without
// modelwatch. argv[2]: JSON { mode, natsUrl, subject }.
// - 'answer': read the body, answer 202 (no NATS): Node's HTTP server alone.
// - 'publish': read the body, publish it to JetStream, answer 202 after the ack.
// - 'coalesce': the same with the requests that arrive together in one publish (a group commit
//   with at most 2 publishes in flight, as the API's coalescer): the fewest messages for the
//   same durability.
// IPC: sends { url } when listening; 'cpu' -> { cpuMs } (this thread's CPU time); 'stop' exits.
import http from 'node:http';
import { setImmediate } from 'node:timers';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const { mode, natsUrl, subject } = JSON.parse(process.argv[2]);
const nc = mode === 'answer' ? undefined : await connect({ servers: natsUrl, noAsyncTraces: true });
const js = nc ? jetstream(nc) : undefined;
const reply = '{"accepted":1,"rejected":[]}';

/** Group commit: bodies gathered while 2 publishes are in flight go out together. */
let pending;
let inFlight = 0;
function coalesced(body) {
  const fresh = !pending;
  pending ??= { parts: [], waiters: [] };
  pending.parts.push(body);
  const p = pending;
  if (fresh && inFlight < 2) setImmediate(() => flush(p));
  return new Promise((resolve, reject) => p.waiters.push({ resolve, reject }));
}
function flush(p) {
  if (pending !== p) return;
  pending = undefined;
  inFlight++;
  js.publish(subject, Buffer.from(`[${p.parts.join(',')}]`))
    .then(
      () => p.waiters.forEach((w) => w.resolve()),
      (err) => p.waiters.forEach((w) => w.reject(err)),
    )
    .finally(() => {
      inFlight--;
      if (pending) flush(pending);
    });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const done = mode === 'answer' ? Promise.resolve() : mode === 'publish' ? js.publish(subject, body) : coalesced(body.toString('utf8'));
    done.then(
      () => res.writeHead(202, { 'content-type': 'application/json', 'content-length': reply.length }).end(reply),
      (err) => res.writeHead(503, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(String(err)) }).end(String(err)),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ url: `http://127.0.0.1:${server.address().port}` }));
process.on('message', async (m) => {
  if (m === 'cpu') {
    const c = process.threadCpuUsage();
    process.send({ cpuMs: (c.user + c.system) / 1000 });
  } else if (m === 'stop') {
    server.close();
    server.closeAllConnections();
    await nc?.close();
    process.exit(0);
  }
});
