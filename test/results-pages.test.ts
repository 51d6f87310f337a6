/**
 * A results query larger than a NATS message comes in pages (`mw.svc.results.query`). Writers
 * with their own consumers each hold a complete store, but not always the same one (one behind
 * the other): the later pages of a query are asked of the writer that answered its first, and
 * each page starts after the last window of the one before, so windows stored between two pages
 * neither repeat nor push others out.
 */
import { join } from 'node:path';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects, type AppOutputMessage, type ResultsQuery, type ResultsRequest, type WindowRecord } from '@modelwatch/protocol';
import { askWriter } from '../host/src/api/routes/endpoints.js';
import { endpointId } from '../host/src/domain/names.js';
import { windowCursor, windowOrder } from '../host/src/domain/results-order.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { ensureWriterConsumer, writerConsumerName } from '../host/src/nats/topology.js';
import { ResultsDb } from '../host/src/store/results-db.js';
import { Writer } from '../host/src/writer/writer.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';
import { testOutput, windowKey } from './helpers/outputs.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const PERIOD = 1000;
const T0 = Math.floor(Date.now() / PERIOD) * PERIOD - 3_600_000;
/** About 4 KB of JSON a window: 400 windows take two pages of NATS' default 1 MB. */
const PAD = 'x'.repeat(4000);

function output(endpoint: string, w: number): AppOutputMessage {
  const window = { endpointId: endpointId(endpoint), endpointName: endpoint, app: 'paged', windowStart: T0 + w * PERIOD, windowEnd: T0 + (w + 1) * PERIOD };
  return testOutput(window, { rows: 10, results: [{ name: 'drift', value: w, kind: 0, status: 0, extraData: { pad: PAD } }] });
}

const keys = (ws: readonly WindowRecord[]) => ws.map(windowKey);

describe('pages of a results query', () => {
  let nats: TestTopology;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    // NATS' default max payload (the host's own server allows 16 MB): a reply of 1 MB at most
    nats = await startTestTopology({ maxPayloadBytes: 1024 * 1024, retentionMs: 24 * 3_600_000 });
    dir = await tempDir('mw-results-pages-');
    ({ nc, js, jsm } = nats);
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('ResultsDb.query after a window: the windows after it in the query order, though newer ones were stored meanwhile', async () => {
    const db = new ResultsDb(join(dir.path, 'after'));
    await db.open();
    try {
      for (let w = 0; w < 10; w++) await db.store(output('cursor', w), false);
      const first = await db.query({ limit: 4 });
      expect(first.map((w) => w.windowStart)).toEqual([9, 8, 7, 6].map((w) => T0 + w * PERIOD));
      // two newer windows stored between the pages: first in the order, not in the next page
      await db.store(output('cursor', 10), false);
      await db.store(output('cursor', 11), false);
      const second = await db.query({ limit: 4, after: first.at(-1)! });
      expect(second.map((w) => w.windowStart)).toEqual([5, 4, 3, 2].map((w) => T0 + w * PERIOD));
      // a cursor compares by the whole order: another endpoint's window of the same start comes after it by name
      await db.store(output('cursos', 5), false);
      expect((await db.query({ limit: 2, after: second[0]! })).map((w) => `${w.endpointName}@${(w.windowStart - T0) / PERIOD}`)).toEqual([
        'cursos@5',
        'cursor@4',
      ]);
    } finally {
      await db.close();
    }
  });

  it('a writer gone between two pages: another goes on from the last window of the page before', async () => {
    // a stand-in for writers on the queue subject: its first page names a writer no longer there
    const all = Array.from({ length: 5 }, (_, w) => ({ ...output('gone', w), storedAt: 0 }) as WindowRecord).sort(windowOrder);
    const asked: ResultsQuery[] = [];
    const peer = nc.subscribe(Subjects.resultsQuery, {
      queue: 'writers',
      callback: (_err, m) => {
        const q = jsonCodec.decode<ResultsRequest>(m.data) as ResultsQuery;
        asked.push(q);
        const rest = q.after ? all.filter((w) => windowOrder(w, q.after!) > 0) : all;
        const page = rest.slice(0, 2);
        m.respond(jsonCodec.encode(page.length < rest.length ? { windows: page, next: windowCursor(page.at(-1)!), writer: 'gone' } : { windows: page }));
      },
    });
    await nc.flush();
    try {
      const r = await askWriter(nc, { endpointId: endpointId('gone') });
      expect('windows' in r && r.windows).toEqual(all);
      // the first page, then each later page asked of 'gone' (no one answers) and again of any writer
      expect(asked.map((q) => (q.after ? (q.after.windowStart - T0) / PERIOD : 'first'))).toEqual(['first', 3, 1]);
    } finally {
      peer.unsubscribe();
    }
  });

  it('a writer slow to answer a later page: after a few seconds another goes on from the last window of the page before', async () => {
    // stand-ins for writers: the one on the queue subject names 'slow' in its first page (and
    // 'quick', which has no subject of its own, after); 'slow' gets the next page's request and
    // holds it until another writer has answered that page
    const all = Array.from({ length: 5 }, (_, w) => ({ ...output('slow', w), storedAt: 0 }) as WindowRecord).sort(windowOrder);
    const asked: string[] = [];
    const at = (q: ResultsQuery) => (q.after ? (q.after.windowStart - T0) / PERIOD : 'first');
    let answeredElsewhere!: () => void;
    const elsewhere = new Promise<void>((r) => (answeredElsewhere = r));
    const peer = nc.subscribe(Subjects.resultsQuery, {
      queue: 'writers',
      callback: (_err, m) => {
        const q = jsonCodec.decode<ResultsRequest>(m.data) as ResultsQuery;
        asked.push(`any ${at(q)}`);
        const rest = q.after ? all.filter((w) => windowOrder(w, q.after!) > 0) : all;
        const page = rest.slice(0, 2);
        m.respond(
          jsonCodec.encode(
            page.length < rest.length ? { windows: page, next: windowCursor(page.at(-1)!), writer: q.after ? 'quick' : 'slow' } : { windows: page },
          ),
        );
        if (q.after) answeredElsewhere();
      },
    });
    const slow = nc.subscribe(Subjects.resultsQueryOf('slow'), {
      callback: (_err, m) => {
        asked.push(`slow ${at(jsonCodec.decode<ResultsRequest>(m.data) as ResultsQuery)}`);
        // its answer comes too late: the query has gone on without it
        void elsewhere.then(() => m.respond(jsonCodec.encode({ windows: [] })));
      },
    });
    await nc.flush();
    try {
      const r = await askWriter(nc, { endpointId: endpointId('slow') });
      expect('windows' in r && r.windows).toEqual(all);
      expect(asked).toEqual(['any first', 'slow 3', 'any 3', 'any 1']);
    } finally {
      peer.unsubscribe();
      slow.unsubscribe();
    }
    // a page waits 5 s for the writer of the first (the whole query's 30 s would run past this test's time)
  }, 20_000);

  it('two writers holding different windows: every page of a query from the writer that answered its first, each window once', async () => {
    const outs = Array.from({ length: 400 }, (_, w) => output('paged', w));
    for (const o of outs) await js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o));
    const writers: Array<{ writer: Writer; db: ResultsDb }> = [];
    try {
      for (const node of ['a', 'b']) {
        const consumer = writerConsumerName(node);
        await ensureWriterConsumer(jsm, consumer);
        const db = new ResultsDb(join(dir.path, `writer-${node}`));
        await db.open();
        const writer = new Writer({ nc, js, db, logger: createLogger('silent'), consumer });
        await writer.start();
        writers.push({ writer, db });
      }
      for (const { writer } of writers) await writer.caughtUp;
      await waitFor('both writers hold every output', async () => {
        for (const { db } of writers) if ((await db.query({ endpointId: endpointId('paged') })).length < outs.length) return undefined;
        return true;
      });
      // b holds a window a does not (as a writer behind or ahead would): the newest, so every
      // later window stands one place further in b's order than in a's
      const extra = output('paged', 400);
      await writers[1]!.db.store(extra, false);
      const held = await Promise.all(writers.map(({ db }) => db.query({ endpointId: endpointId('paged') })));
      expect(held.map((h) => h.length)).toEqual([400, 401]);

      // the later pages' requests, as any subscriber of the writers' own subjects sees them
      const later: string[] = [];
      const spy = nc.subscribe(Subjects.resultsQueryOf('*'), { callback: (_err, m) => void later.push(m.subject) });
      await nc.flush();
      const answeredBy = new Set<number>();
      try {
        for (let i = 0; i < 8; i++) {
          later.length = 0;
          const r = await askWriter(nc, { endpointId: endpointId('paged') });
          if (!('windows' in r)) throw new Error('not windows');
          await nc.flush();
          // at least two pages, all of the later ones from one writer
          expect(later.length).toBeGreaterThan(0);
          expect(new Set(later).size).toBe(1);
          // exactly one writer's windows, in order, each once
          const which = held.findIndex((h) => JSON.stringify(keys(h)) === JSON.stringify(keys(r.windows)));
          expect(which, `query ${i}: ${r.windows.length} windows, ${new Set(keys(r.windows)).size} distinct`).toBeGreaterThanOrEqual(0);
          answeredBy.add(which);
          expect([...r.windows].sort(windowOrder)).toEqual(r.windows);
        }
      } finally {
        spy.unsubscribe();
      }
      // a limit is the whole query's, not a page's
      const limited = await askWriter(nc, { endpointId: endpointId('paged'), limit: 300 });
      expect('windows' in limited && limited.windows.length).toBe(300);
      expect(answeredBy.size).toBeGreaterThan(0);
    } finally {
      for (const { writer, db } of writers) {
        await writer.stop();
        await db.close();
      }
    }
  });
});
