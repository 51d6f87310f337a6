/**
 * The writer stores the outputs of a fetch in one LevelDB batch (issue #13): an output refused
 * (its binding does not verify), one stored already (a crash after the batch and before its
 * acknowledgements), one twice in the batch, and one that is not an output are each handled
 * alone, and the others are stored exactly once, each noticed once and acknowledged. A store
 * rebuilt from MW_OUTPUTS (a new or emptied store, `recoverResults`) stores in batches too, with
 * the same checks, and holds what the live writer's store holds.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage, type EndpointPurgeMessage } from '@modelwatch/protocol';
import { newBindingKey, outputBinding } from '../host/src/domain/binding.js';
import { endpointId } from '../host/src/domain/names.js';
import { createLogger } from '../host/src/logger.js';
import { HostMetrics } from '../host/src/metrics.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { openBuckets, WRITER_ACK_WAIT_MS, WRITER_PROGRESS_MS } from '../host/src/nats/topology.js';
import { ResultsDb } from '../host/src/store/results-db.js';
import { openResultsDb, recoverResults } from '../host/src/writer/recovery.js';
import { Writer } from '../host/src/writer/writer.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';
import { countStoredNotices, windowKey } from './helpers/outputs.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const PERIOD = 1000;
const T0 = Math.floor(Date.now() / PERIOD) * PERIOD - 600_000;

function output(endpoint: string, app: string, w: number, value = 0.5): AppOutputMessage {
  return {
    v: 1,
    endpointId: endpointId(endpoint),
    endpointName: endpoint,
    app,
    version: '1.0.0',
    windowStart: T0 + w * PERIOD,
    windowEnd: T0 + (w + 1) * PERIOD,
    outcome: 'ok',
    rows: 10,
    results: [{ name: 'drift', value, kind: 0, status: 0 }],
    metrics: [],
    durationMs: 1,
    completedAt: Date.now(),
    runner: 'test',
    attempts: 1,
  };
}

describe('the writer stores a fetch of outputs in one batch', () => {
  let topology: TestTopology;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nc: NatsConnection;

  beforeAll(async () => {
    topology = await startTestTopology();
    dir = await tempDir('mw-writer-batch-');
    nc = topology.nc;
  });
  afterAll(async () => {
    await topology?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('ResultsDb.storeMany: a window twice in the batch or stored already is a duplicate; the others see what the batch stored before them', async () => {
    const db = new ResultsDb(join(dir.path, 'store-many'));
    await db.open();
    try {
      const before = output('m1', 'app-a', 0);
      expect(await db.store(before, false, 1)).toBe('stored');
      const a = output('m1', 'app-a', 1, 0.1);
      const b = output('m1', 'app-b', 1, 0.2);
      const later = output('m1', 'app-a', 2, 0.3);
      const outcomes = await db.storeMany(
        [
          { out: later, seq: 4 },
          { out: a, seq: 2 },
          { out: { ...a, results: [{ name: 'drift', value: 9, kind: 0, status: 2 }] }, seq: 5 },
          { out: before, seq: 6 },
          { out: b, seq: 3 },
        ],
        false,
      );
      expect(outcomes).toEqual(['stored', 'stored', 'duplicate', 'duplicate', 'stored']);
      const windows = await db.query({ endpointId: endpointId('m1') });
      expect(windows.map((w) => `${w.app}@${w.windowStart - T0}=${w.results[0]!.value}`).sort()).toEqual([
        'app-a@0=0.5',
        'app-a@1000=0.1',
        'app-a@2000=0.3',
        'app-b@1000=0.2',
      ]);
      // the latest value is the newest window's, though an older one came after it in the batch
      expect((await db.latestResults(endpointId('m1'))).map((r) => `${r.app}=${r.value}`).sort()).toEqual(['app-a=0.3', 'app-b=0.2']);
      // windows with rows: 0, 1 (two apps, counted once) and 2
      expect((await db.endpointStats([endpointId('m1')]))[0]!.windowsAnalysed).toBe(3);
      // the highest sequence stored is the applied one; the windows counted are the windows held
      expect(db.appliedSeq()).toBe(4);
      const count = await db.checkCount();
      expect(count).toEqual({ recorded: 4, held: 4 });
    } finally {
      await db.close();
    }
  });

  it('a refused, a stored-already, a repeated and an invalid message among them: the others stored, noticed and acknowledged once', async () => {
    const { js, jsm } = topology;
    const bindingKey = newBindingKey();
    const bound = (o: AppOutputMessage): AppOutputMessage => ({ ...o, binding: outputBinding(bindingKey, o) });
    const db = new ResultsDb(join(dir.path, 'writer'));
    await db.open();
    // stored by a writer that stopped before acknowledging it
    const crashed = bound(output('w1', 'app-a', 0));
    expect(await db.store(crashed, false)).toBe('stored');
    const good = [...['w1', 'w2', 'w3'].flatMap((e) => ['app-a', 'app-b'].map((app) => bound(output(e, app, 1)))), bound(output('w1', 'app-a', 2))];
    const forged = { ...output('w2', 'app-a', 2), binding: 'forged' };
    const publish = (o: AppOutputMessage) => js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o));
    // all in MW_OUTPUTS before the writer starts: its first fetch takes them together
    for (const o of [good[0]!, crashed, good[1]!, forged, good[2]!, good[3]!, good[0]!, good[4]!, good[5]!, good[6]!]) await publish(o);
    await js.publish(Subjects.outputs(endpointId('w3')), new TextEncoder().encode('not json'));
    const { counts: notices, stop: stopNotices } = await countStoredNotices(nc);
    const writer = new Writer({ nc, js, db, logger: createLogger('error'), bindingKey });
    await writer.start();
    try {
      // the event: every message acknowledged (the invalid one terminated once dead-lettered)
      await waitFor('every output acknowledged', async () => {
        const ci = await jsm.consumers.info(Streams.outputs, Consumers.writer);
        return ci.num_pending === 0 && ci.num_ack_pending === 0 && ci.ack_floor.stream_seq >= 11 ? true : undefined;
      });
      expect(writer.stored).toBe(good.length);
      expect(writer.duplicates).toBe(2);
      expect(writer.refused).toBe(1);
      expect(writer.deadLetters).toBe(1);
      const held = await db.query({});
      expect(held.map(windowKey).sort()).toEqual([crashed, ...good].map(windowKey).sort());
      expect(await db.checkCount()).toEqual({ recorded: good.length + 1, held: good.length + 1 });
      await waitFor('a notice of each stored window', async () => (good.every((o) => notices.get(windowKey(o)) === 1) ? true : undefined));
      // the window stored before the crash is not noticed again, the forged one never
      expect(notices.get(windowKey(crashed))).toBeUndefined();
      expect(notices.get(windowKey(forged))).toBeUndefined();
      expect(await db.getWindow(forged.endpointId, forged.app, forged.windowStart)).toBeUndefined();
      // two apps of a window with rows are one window analysed
      expect((await db.endpointStats([endpointId('w2')]))[0]!.windowsAnalysed).toBe(1);
      expect((await db.endpointStats([endpointId('w1')]))[0]!.windowsAnalysed).toBe(3);
    } finally {
      stopNotices();
      await writer.stop();
      await db.close();
    }
  });
  it('a batch whose handling fails unexpectedly is redelivered, not held: each output stored once, then acknowledged and held no more', async () => {
    await using own = await startTestTopology();
    const { nc: nc2, js, jsm } = own;
    const db = new ResultsDb(join(dir.path, 'writer-drain-fails'));
    await db.open();
    // the accounting of the batch's first output throws (a failure no output's own handling catches)
    class FailingOnce extends HostMetrics {
      failures = 0;
      override windowStored(out: AppOutputMessage, storedAt: number, live: boolean): void {
        if (this.failures++ === 0) throw new Error('accounting failed');
        super.windowStored(out, storedAt, live);
      }
    }
    const metrics = new FailingOnce();
    let writer: Writer | undefined;
    try {
      const outs = ['d1', 'd2'].flatMap((e) => [0, 1, 2].map((w) => output(e, 'app-a', w)));
      for (const o of outs) await js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o));
      writer = new Writer({ nc: nc2, js, db, logger: createLogger('silent'), metrics });
      await writer.start();
      // the event: every output acknowledged (without the nak, those of the failed batch stay held
      // and kept from redelivery for good)
      await waitFor('every output acknowledged', async () => {
        const ci = await jsm.consumers.info(Streams.outputs, Consumers.writer);
        return ci.num_pending === 0 && ci.num_ack_pending === 0 && ci.ack_floor.stream_seq >= outs.length ? ci : undefined;
      });
      // each window stored once; the outputs of the failed batch (stored, one of them counted before
      // the failure) were redelivered, and are duplicates
      expect((await db.query({})).map(windowKey).sort()).toEqual(outs.map(windowKey).sort());
      expect(writer.duplicates).toBeGreaterThan(0);
      expect(writer.stored + writer.duplicates).toBe(outs.length + 1);
      // released where acknowledged, not at the next progress tick
      expect((writer as unknown as { held: Map<unknown, number> }).held.size).toBe(0);
    } finally {
      await writer?.stop();
      await db.close();
    }
  });
  it('a batch failing after some of its outputs were handed on to be accounted nak-s only the others: those accounted are acknowledged once, not redelivered', async () => {
    await using own = await startTestTopology();
    const { nc: nc2, js, jsm } = own;
    const db = new ResultsDb(join(dir.path, 'writer-drain-fails-later'));
    await db.open();
    // the accounting of the batch's second output throws; the first's is under way (its streak
    // accounted in its bucket, a NATS round trip)
    class FailingSecond extends HostMetrics {
      calls = 0;
      override windowStored(out: AppOutputMessage, storedAt: number, live: boolean): void {
        if (this.calls++ === 1) throw new Error('accounting failed');
        super.windowStored(out, storedAt, live);
      }
    }
    const metrics = new FailingSecond();
    let writer: Writer | undefined;
    try {
      const buckets = await openBuckets(nc2);
      const outs = [0, 1, 2].map((w) => output('f1', 'app-a', w));
      for (const o of outs) await js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o));
      writer = new Writer({ nc: nc2, js, db, logger: createLogger('silent'), metrics, streaksKv: buckets.streaks, pluginsKv: buckets.plugins });
      await writer.start();
      await waitFor('every output acknowledged', async () => {
        const ci = await jsm.consumers.info(Streams.outputs, Consumers.writer);
        return ci.num_pending === 0 && ci.num_ack_pending === 0 && ci.ack_floor.stream_seq >= outs.length ? ci : undefined;
      });
      expect((await db.query({})).map(windowKey).sort()).toEqual(outs.map(windowKey).sort());
      // counted as stored: the first and the second (before its accounting threw); the first was
      // acknowledged by its accounting, not redelivered; the other two were (duplicates then)
      expect(writer.stored).toBe(2);
      expect(writer.duplicates).toBe(2);
    } finally {
      await writer?.stop();
      await db.close();
    }
  });
  it('outputs held past the cap while queued or being stored (a store that hangs) stay kept from redelivery, and are stored once it answers', async () => {
    await using own = await startTestTopology();
    const { nc: nc2, js, jsm } = own;
    // the first batch's store hangs until the test lets it go on
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    class HangingOnce extends ResultsDb {
      calls = 0;
      override async storeMany(...args: Parameters<ResultsDb['storeMany']>): ReturnType<ResultsDb['storeMany']> {
        if (this.calls++ === 0) await hung;
        return super.storeMany(...args);
      }
    }
    const db = new HangingOnce(join(dir.path, 'writer-hangs'));
    await db.open();
    // the progress signals the writer sends, by delivery (each has its own ack subject)
    const watcher = await connect({ servers: own.nats.url });
    const signals = new Map<string, number>();
    watcher.subscribe(`$JS.ACK.${Streams.outputs}.>`, {
      callback: (err, m) => {
        if (!err && m.string() === '+WPI') signals.set(m.subject, (signals.get(m.subject) ?? 0) + 1);
      },
    });
    await watcher.flush();
    let writer: Writer | undefined;
    try {
      const outs = [0, 1, 2, 3].map((w) => output('h1', 'app-a', w));
      for (const o of outs.slice(0, 3)) await js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o));
      // every message past the cap at once
      writer = new Writer({ nc: nc2, js, db, logger: createLogger('silent'), holdMaxMs: 1 });
      await writer.start();
      await waitFor('the first batch being stored', () => (db.calls === 1 ? true : undefined));
      // one more, queued behind the hung batch
      await js.publish(Subjects.outputs(outs[3]!.endpointId), jsonCodec.encode(outs[3]));
      await waitFor('every output delivered', async () =>
        (await jsm.consumers.info(Streams.outputs, Consumers.writer)).num_ack_pending === outs.length ? true : undefined,
      );
      // the event: each kept from redelivery past its ack wait (a signal every WRITER_PROGRESS_MS
      // of it, at least), the cap notwithstanding: neither redelivered nor left to pile up
      const past = Math.ceil(WRITER_ACK_WAIT_MS / WRITER_PROGRESS_MS) + 1;
      await waitFor(
        'progress signalled on each output past its ack wait',
        () => (signals.size === outs.length && [...signals.values()].every((n) => n >= past) ? true : undefined),
        60_000,
      );
      const ci = await jsm.consumers.info(Streams.outputs, Consumers.writer);
      expect(ci.num_redelivered).toBe(0);
      expect(ci.num_ack_pending).toBe(outs.length);
      expect(db.calls).toBe(1);
      release();
      await waitFor('every output acknowledged', async () => {
        const c = await jsm.consumers.info(Streams.outputs, Consumers.writer);
        return c.num_pending === 0 && c.num_ack_pending === 0 && c.ack_floor.stream_seq >= outs.length ? c : undefined;
      });
      expect((await db.query({})).map(windowKey).sort()).toEqual(outs.map(windowKey).sort());
      expect(writer.stored).toBe(outs.length);
      expect(writer.duplicates).toBe(0);
    } finally {
      release();
      await writer?.stop();
      await db.close();
      await watcher.close();
    }
  }, 90_000);
  it('a store rebuilt from MW_OUTPUTS, in batches of any size, holds what the live one holds: the same refused, duplicates, invalid message and purge', async () => {
    await using own = await startTestTopology();
    const { nc: nc2, js, jsm } = own;
    const bindingKey = newBindingKey();
    const bound = (o: AppOutputMessage): AppOutputMessage => ({ ...o, binding: outputBinding(bindingKey, o) });
    const publish = (o: AppOutputMessage) => js.publish(Subjects.outputs(o.endpointId), jsonCodec.encode(o));
    // more outputs than a batch (1024), some of them shadows, in an order that is not the windows'
    const endpoints = ['r1', 'r2', 'r3'];
    const all: AppOutputMessage[] = [];
    for (let w = 0; w < 400; w++) {
      for (const e of endpoints) {
        for (const app of ['app-a', 'app-b']) all.push(bound(output(e, app, (w * 7) % 400, (w % 10) / 10)));
        if (w % 20 === 0) all.push(bound({ ...output(e, 'app-a', w, 0.9), version: '2.0.0', shadow: true }));
      }
    }
    const half = all.length >> 1;
    for (const o of all.slice(0, half)) await publish(o);
    // a repeated output, a forged one, a message that is not an output, then r2's purge: what r2
    // had is removed, and what comes of it after the purge is stored
    await publish(all[5]!);
    await publish({ ...output('r1', 'app-c', 3), binding: 'forged' });
    await js.publish(Subjects.outputs(endpointId('r3')), new TextEncoder().encode('not json'));
    const purge: EndpointPurgeMessage = { v: 1, endpointId: endpointId('r2'), endpointName: 'r2', at: Date.now() };
    await js.publish(Subjects.purges(purge.endpointId), jsonCodec.encode(purge));
    for (const o of all.slice(half)) await publish(o);
    const last = (await jsm.streams.info(Streams.outputs)).state.last_seq;

    const livePath = join(dir.path, 'rebuild-live');
    const live = new ResultsDb(livePath);
    await live.open();
    const writer = new Writer({ nc: nc2, js, db: live, logger: createLogger('error'), bindingKey });
    await writer.start();
    try {
      await waitFor('every output acknowledged', async () => {
        const ci = await jsm.consumers.info(Streams.outputs, Consumers.writer);
        return ci.num_pending === 0 && ci.num_ack_pending === 0 && ci.ack_floor.stream_seq === last ? true : undefined;
      });
      expect(writer.refused).toBe(1);
      expect(writer.deadLetters).toBe(1);
    } finally {
      await writer.stop();
      await live.close();
    }
    const liveView = await dump(livePath);
    // r2's windows after its purge only, each endpoint's of both halves otherwise
    const r2 = Object.keys(liveView).filter((k) => k.startsWith(`!w!${endpointId('r2')}/`));
    expect(r2).toHaveLength(
      new Set(
        all
          .slice(half)
          .filter((o) => o.endpointId === endpointId('r2') && !o.shadow)
          .map(windowKey),
      ).size,
    );
    expect(Object.keys(liveView).filter((k) => k.startsWith('!w!'))).toHaveLength(
      new Set(all.filter((o, i) => !o.shadow && (o.endpointId !== endpointId('r2') || i >= half)).map(windowKey)).size,
    );

    for (const batchSize of [1024, 100, 1]) {
      const path = join(dir.path, `rebuilt-${batchSize}`);
      const rebuilt = new ResultsDb(path);
      await rebuilt.open();
      try {
        // an empty store, and the writer acknowledged everything: the whole stream is stored again
        const report = await recoverResults({ js, db: rebuilt, logger: createLogger('silent'), withOutbox: false, bindingKey, batchSize });
        expect(report, `batch ${batchSize}`).toMatchObject({ replayed: last, refused: 1 });
        expect(rebuilt.appliedSeq()).toBe(last);
      } finally {
        await rebuilt.close();
      }
      expect(await dump(path), `batch ${batchSize}`).toEqual(liveView);
    }
    // a store LevelDB cannot open (CURRENT names a manifest that is not there) is rebuilt the same way
    const damaged = join(dir.path, 'rebuild-damaged');
    await mkdir(damaged);
    await writeFile(join(damaged, 'CURRENT'), 'MANIFEST-999999\n');
    const reopened = await openResultsDb(damaged, { js, logger: createLogger('silent'), withOutbox: false, bindingKey, consumer: Consumers.writer });
    await reopened.close();
    expect(await dump(damaged)).toEqual(liveView);
  });
});

/**
 * Every key and value of a closed results store, as JSON where it is JSON, without the times of
 * storing (`storedAt`, `updatedAt`: when it was stored, not what).
 */
async function dump(path: string): Promise<Record<string, unknown>> {
  const db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' });
  const out: Record<string, unknown> = {};
  try {
    for await (const [k, v] of db.iterator()) {
      const text = Buffer.from(v).toString('utf8');
      try {
        out[k] = JSON.parse(text, (key, value: unknown) => (key === 'storedAt' || key === 'updatedAt' ? undefined : value));
      } catch {
        out[k] = Buffer.from(v).toString('base64');
      }
    }
  } finally {
    await db.close();
  }
  return out;
}
