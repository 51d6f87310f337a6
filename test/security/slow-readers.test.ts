import { request } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Buckets, PROTOCOL_VERSION, Streams, Subjects, type PluginLogLine, type PluginRecord, type WindowStoredMessage } from '@modelwatch/protocol';
import type { LiveLagged } from '../../host/src/api/ui.js';
import { endpointId } from '../../host/src/domain/names.js';
import { jsonCodec } from '../../host/src/nats/codec.js';
import { authHeaders } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { testOutput } from '../helpers/outputs.js';
import { apiHostArgs, hostProcess, type HostProcess } from '../helpers/processes.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

/** A streaming GET over a raw TCP connection: what came back, counted as it comes. */
interface Stream {
  socket: Socket;
  /** How many times `token` (one of those given to {@link stream}) came so far. */
  count(token: string): number;
  /** Everything that came (kept only when asked). */
  text(): string;
  closed: Promise<void>;
  isClosed(): boolean;
  /** Resolves once `done()` holds (checked as data comes); rejects if the connection closes first. */
  until(what: string, done: () => boolean): Promise<void>;
}

function stream(url: string, path: string, tokens: string[], opts: { keep?: boolean } = {}): Stream {
  const port = Number(new URL(url).port);
  const socket = connectTcp(port, '127.0.0.1');
  // one character a byte: a token is never cut by a multi-byte character across chunks
  socket.setEncoding('latin1');
  const headers = Object.entries(authHeaders({ host: `127.0.0.1:${port}` }))
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(`GET ${path} HTTP/1.1\r\n${headers}\r\n`);
  const counts = new Map(tokens.map((t) => [t, 0]));
  // the end of the last chunk, per token: a token cut across two chunks is counted once
  const tails = new Map(tokens.map((t) => [t, '']));
  let text = '';
  let isClosed = false;
  socket.on('data', (d: string) => {
    if (opts.keep) text += d;
    for (const t of tokens) {
      const s = tails.get(t)! + d;
      counts.set(t, counts.get(t)! + s.split(t).length - 1);
      tails.set(t, s.slice(-(t.length - 1)));
    }
  });
  // a read after the host closed (ECONNRESET): the close follows
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  const until = (what: string, done: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const look = () => {
        if (!done()) return;
        socket.off('data', look);
        resolve();
      };
      socket.on('data', look);
      void closed.then(() => reject(new Error(`the host closed ${path} before ${what}`)));
      look();
    });
  return { socket, count: (t) => counts.get(t)!, text: () => text, closed, isClosed: () => isClosed, until };
}

/** The host's open HTTP connections (`modelwatch_http_connections`), asked on a connection of its own (counted) that the host closes once it answered. */
function openConnections(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/metrics', url), { agent: false, headers: authHeaders({ connection: 'close' }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const m = /^modelwatch_http_connections (\d+)$/m.exec(body);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`no modelwatch_http_connections in ${res.statusCode} ${body.slice(0, 500)}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Wait until the host has closed a connection of a client that reads nothing: the client does not
 * see it (it would have to read what the host sent first), the host's count of its connections
 * does; `others` are those the host should still have (this question's own among them).
 */
async function closedByHost(url: string, others: number): Promise<void> {
  await waitFor(
    'the host to close the connection of the client that reads nothing',
    async () => ((await openConnections(url)) === others ? true : undefined),
    20_000,
    200,
  );
}

const WINDOW = 'event: window\n';
const LAGGED = 'event: lagged\n';
const LINE = '"level":"info"';

/** Results enough that each stored window's live event is some 40 KB: a few hundred fill the buffers between host and client. */
const RESULTS = Array.from({ length: 1000 }, (_, i) => ({ name: `r${i}`, value: i / 7, kind: 0 as const, status: 0 as const, extraData: {} }));
/** A log line of some 16 KB. */
const LOG_MESSAGE = 'x'.repeat(16_000);

/**
 * A client that stops reading a streaming reply (the live feed, a log follow) but keeps its
 * connection: the host does not queue for it without bound. The live feed drops the windows
 * stored meanwhile for that client and tells it how many once it reads again (`lagged`); a log
 * follow stops reading its consumer until the client has read what was sent; and a client that
 * never reads again is closed once idle (`--http-idle-timeout`). Two API processes on one
 * nats-server: one with an idle timeout of a second, one with the default (72 s).
 */
describe('slow readers of streaming replies: bounded in the host, closed when they read nothing', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let quick: HostProcess;
  let patient: HostProcess;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const streams: Stream[] = [];
  const open = (url: string, path: string, tokens: string[], opts: { keep?: boolean } = {}) => {
    const s = stream(url, path, tokens, opts);
    streams.push(s);
    return s;
  };
  let windows = 0;

  /** Publish `n` stored-window notices of endpoint `name` as a writer does, then one of endpoint `mark`; resolves once `marks` (the live feed of `mark`) sent it: the host has handled the `n` before it. */
  const storeWindows = async (name: string, n: number, marks: Stream) => {
    for (let i = 0; i < n; i++) {
      const start = ++windows * 1000;
      const output = testOutput(
        { endpointId: endpointId(name), endpointName: name, app: 'flood', windowStart: start, windowEnd: start + 1000 },
        { results: RESULTS },
      );
      nc.publish(Subjects.stored(output.endpointId), jsonCodec.encode({ v: PROTOCOL_VERSION, storedAt: Date.now(), output } satisfies WindowStoredMessage));
    }
    const want = marks.count(WINDOW) + 1;
    const start = ++windows * 1000;
    const mark = testOutput({ endpointId: endpointId('mark'), endpointName: 'mark', app: 'mark', windowStart: start, windowEnd: start + 1000 });
    nc.publish(Subjects.stored(mark.endpointId), jsonCodec.encode({ v: PROTOCOL_VERSION, storedAt: Date.now(), output: mark } satisfies WindowStoredMessage));
    await marks.until('the mark', () => marks.count(WINDOW) >= want);
  };

  /** Log `n` lines of `plugin` as its runners do (16 KB each); resolves with the stream sequence of the last. */
  const log = async (plugin: string, n: number): Promise<number> => {
    let last = 0;
    for (let i = 0; i < n; i += 100) {
      const acks = [];
      for (let j = i; j < Math.min(n, i + 100); j++) {
        const line: PluginLogLine = { time: Date.now(), level: 'info', plugin, version: '1.0.0', endpoint: 'e', windowStart: 0, message: LOG_MESSAGE };
        acks.push(js.publish(Subjects.logs(plugin), jsonCodec.encode(line)));
      }
      for (const a of await Promise.all(acks)) last = Math.max(last, a.seq);
    }
    return last;
  };

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-slow-readers-');
    const common = (name: string) => apiHostArgs(nats.url, join(dir.path, name));
    quick = await hostProcess(['--http-idle-timeout', '1s', ...common('quick')]);
    patient = await hostProcess(common('patient'));
    await Promise.all([quick.start(), patient.start()]);
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    // the records of three plugins whose logs are read (API hosts only: nothing runs them)
    const records = await new Kvm(nc).open(Buckets.plugins);
    for (const name of ['chatty', 'chatty-too', 'tidy']) {
      const record: PluginRecord = { name, activeVersion: '1.0.0', status: 'active', createdAt: Date.now(), updatedAt: Date.now(), versions: [] };
      await records.put(name, jsonCodec.encode(record));
    }
  }, 120_000);

  afterEach(() => {
    for (const s of streams.splice(0)) s.socket.destroy();
  });

  afterAll(async () => {
    await nc?.close();
    await quick?.stop();
    await patient?.stop();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('live feed: the windows stored while a client does not read are dropped for it, and it is told how many once it reads again (lagged)', async () => {
    const feed = open(patient.url, '/api/v1/live?endpoint=flood', [WINDOW, LAGGED], { keep: true });
    const marks = open(patient.url, '/api/v1/live?endpoint=mark', [WINDOW]);
    await feed.until('the feed began', () => feed.text().includes(': modelwatch live'));
    feed.socket.pause();
    // some 60 MB of events: far more than the kernel's buffers of a connection hold
    const flood = 1500;
    for (let i = 0; i < flood; i += 100) await storeWindows('flood', 100, marks);
    feed.socket.resume();
    const dropped = () => [...feed.text().matchAll(/event: lagged\ndata: (\{[^\n]*\})\n/g)].reduce((n, m) => n + (JSON.parse(m[1]!) as LiveLagged).dropped, 0);
    // every window either sent or counted as dropped: the feed caught up
    await feed.until('every window sent or told as dropped', () => feed.count(WINDOW) + dropped() === flood);
    expect(feed.count(LAGGED)).toBeGreaterThanOrEqual(1);
    expect(dropped()).toBeGreaterThan(0);
    expect(feed.count(WINDOW)).toBeGreaterThan(0);
    // and it goes on: a window stored now is sent
    await storeWindows('flood', 1, marks);
    await feed.until('a window after the lag', () => feed.count(WINDOW) + dropped() === flood + 1);
    expect(feed.isClosed()).toBe(false);
  }, 60_000);

  it('live feed: a client that reads nothing is closed once idle, one that reads is kept', async () => {
    const feed = open(quick.url, '/api/v1/live?endpoint=flood', [WINDOW], { keep: true });
    const marks = open(quick.url, '/api/v1/live?endpoint=mark', [WINDOW]);
    await feed.until('the feed began', () => feed.text().includes(': modelwatch live'));
    feed.socket.pause();
    for (let i = 0; i < 1500; i += 100) await storeWindows('flood', 100, marks);
    // the feed that reads, as silent since, is kept (and the question's connection)
    await closedByHost(quick.url, 2);
    expect(marks.isClosed()).toBe(false);
    // the client reads again: what the host had sent, then the end
    feed.socket.resume();
    await feed.closed;
    expect(feed.count(WINDOW)).toBeGreaterThan(0);
  }, 60_000);

  it('logs follow: the host stops reading the logs while the client does not read, and sends every line once it does', async () => {
    const path = '/api/v1/plugins/chatty/logs?follow=1&limit=1';
    // (two lines: the follow starts at the second, its look back for where to start at the stream's first)
    const start = await log('chatty', 2);
    const slow = open(patient.url, path, [LINE]);
    await slow.until('the first line', () => slow.count(LINE) === 1);
    slow.socket.pause();
    // a client that reads, from the next line on
    await log('chatty', 1);
    const reader = open(patient.url, path, [LINE]);
    await reader.until('its first line', () => reader.count(LINE) === 1);
    // some 24 MB: far more than the kernel's buffers of a connection hold
    const lines = 1500;
    await log('chatty', lines);
    await reader.until('every line', () => reader.count(LINE) === lines + 1);
    // the consumer of the slow client's follow (the one that starts at its first line) has most of them still to deliver
    const consumers = [];
    for await (const c of jsm.consumers.list(Streams.logs)) if (c.config.opt_start_seq === start) consumers.push(c);
    expect(consumers).toHaveLength(1);
    expect(consumers[0]!.num_pending).toBeGreaterThan(lines / 2);
    // it reads again: every line, once
    slow.socket.resume();
    await slow.until('every line', () => slow.count(LINE) >= lines + 2);
    expect(slow.count(LINE)).toBe(lines + 2);
    expect(slow.isClosed()).toBe(false);
  }, 60_000);

  it('logs follow: a client that reads nothing is closed once idle', async () => {
    await log('chatty-too', 1);
    const slow = open(quick.url, '/api/v1/plugins/chatty-too/logs?follow=1&limit=1', [LINE]);
    await slow.until('the first line', () => slow.count(LINE) === 1);
    slow.socket.pause();
    await log('chatty-too', 1500);
    await closedByHost(quick.url, 1);
    slow.socket.resume();
    await slow.closed;
    expect(slow.count(LINE)).toBeLessThan(1501);
  }, 60_000);

  it('logs: a request leaves no consumer behind, its look back for where to start included', async () => {
    await log('tidy', 3);
    for (const limit of [1, 2, 5]) {
      const res = await fetch(new URL(`/api/v1/plugins/tidy/logs?limit=${limit}`, patient.url), { headers: authHeaders() });
      expect(res.status).toBe(200);
      expect((await res.text()).trim().split('\n')).toHaveLength(Math.min(limit, 3));
    }
    const follow = open(patient.url, '/api/v1/plugins/tidy/logs?follow=1&limit=2', [LINE]);
    await follow.until('two lines', () => follow.count(LINE) === 2);
    follow.socket.destroy();
    // (the follows of the tests before were closed with their sockets too)
    await waitFor('no consumer of the logs stream left', async () => ((await jsm.streams.info(Streams.logs)).state.consumer_count === 0 ? true : undefined));
  }, 60_000);
});
