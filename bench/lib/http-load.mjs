// The HTTP load of the ingest benches: POSTs of JSON bodies from a worker thread (a model server
// is another process; the worker is started, and its connections open, before the clock starts),
// `concurrency` requests at a time, each connection keep-alive with one request in flight.
//
// Two clients:
// - 'raw' (default): a minimal HTTP/1.1 client over node:net, as a load generator (wrk,
//   autocannon) is: it writes each request in one write and reads the status line, the
//   Content-Length and the body. It costs its thread a few µs a request, so on a small shared
//   machine the host, not the load generator, is what is measured.
// - 'node': node:http with a keep-alive agent, as a model server's Node client would post: 60 to
//   130 µs of its thread a request, taken from the same 2 cores as the host's.
// Each reply is checked: a status other than 202, or a reply naming rejected events, counts as rejected.
import { Worker } from 'node:worker_threads';

const WORKER = `
const net = require('node:net');
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { url, payloads, concurrency, token, client } = workerData;
const u = new URL(url);
const extra = token ? { authorization: 'Bearer ' + token } : {};

/** node:http, keep-alive: resolves { status, body }. */
function nodeHttp() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (body) => new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...extra, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return { open: async () => Array.from({ length: concurrency }, () => post), close: () => agent.destroy() };
}

/** One keep-alive connection over node:net, one request at a time: resolves { status, body }. */
function rawConnection() {
  const head = 'POST ' + u.pathname + ' HTTP/1.1\\r\\nhost: ' + u.host + '\\r\\ncontent-type: application/json\\r\\n' +
    Object.entries(extra).map(([k, v]) => k + ': ' + v + '\\r\\n').join('') + 'content-length: ';
  const socket = net.connect({ host: u.hostname, port: Number(u.port), noDelay: true });
  let buf = Buffer.alloc(0);
  let waiting;
  socket.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const end = buf.indexOf('\\r\\n\\r\\n');
    if (end < 0 || !waiting) return;
    const headers = buf.subarray(0, end).toString('latin1');
    const m = /\\r\\ncontent-length: *(\\d+)/i.exec(headers);
    if (!m) return waiting.reject(new Error('a reply without Content-Length: ' + headers));
    const total = end + 4 + Number(m[1]);
    if (buf.length < total) return;
    const w = waiting;
    waiting = undefined;
    const body = buf.subarray(end + 4, total).toString('utf8');
    buf = buf.subarray(total);
    w.resolve({ status: Number(headers.slice(9, 12)), body });
  });
  socket.on('error', (err) => waiting?.reject(err));
  const ready = new Promise((resolve, reject) => (socket.once('connect', resolve), socket.once('error', reject)));
  const post = (body) => new Promise((resolve, reject) => {
    waiting = { resolve, reject };
    socket.write(head + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body);
  });
  return { ready, post, socket };
}

function raw() {
  const conns = [];
  return {
    open: async () => {
      for (let i = 0; i < concurrency; i++) conns.push(rawConnection());
      await Promise.all(conns.map((c) => c.ready));
      return conns.map((c) => c.post);
    },
    close: () => conns.forEach((c) => c.socket.destroy()),
  };
}

const impl = client === 'node' ? nodeHttp() : raw();
impl.open().then((posts) => {
  parentPort.once('message', () => {
    let i = 0, rejected = 0, first;
    const c0 = process.threadCpuUsage();
    Promise.all(posts.map(async (post) => {
      while (i < payloads.length) {
        const { status, body } = await post(payloads[i++]);
        if (status !== 202 || JSON.parse(body).rejected.length) {
          rejected++;
          first ??= status + ' ' + body;
        }
      }
    })).then(() => {
      const c = process.threadCpuUsage(c0);
      impl.close();
      parentPort.postMessage({ rejected, first, cpuMs: (c.user + c.system) / 1000 });
    }, (err) => parentPort.postMessage({ error: String(err) }));
  });
  parentPort.postMessage('ready');
}, (err) => parentPort.postMessage({ error: String(err) }));
`;

/**
 * Start the load (a worker thread with its connections open) for `payloads` (strings or Buffers)
 * to `url`; `go()` sends them all and resolves `{ rejected, first, cpuMs }` (the worker's CPU time).
 */
export async function startHttpLoad({ url, payloads, concurrency, token, client = 'raw' }) {
  const w = new Worker(WORKER, { eval: true, workerData: { url, payloads: payloads.map((p) => p.toString()), concurrency, token, client } });
  const next = () =>
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  const ready = await next();
  if (ready !== 'ready') throw new Error(`HTTP load failed to start: ${ready.error}`);
  return {
    async go() {
      const done = next();
      w.postMessage('go');
      const r = await done;
      await w.terminate();
      if (r.error) throw new Error(`HTTP load failed: ${r.error}`);
      return r;
    },
  };
}
