/**
 * The writer stores the outputs of a fetch in one LevelDB batch (issue #13): an output refused
 * (its binding does not verify), one stored already (a crash after the batch and before its
 * acknowledgements), one twice in the batch, and one that is not an output are each handled
 * alone, and the others are stored exactly once, each noticed once and acknowledged.
 */
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage } from '@modelwatch/protocol';
import { newBindingKey, outputBinding } from '../host/src/domain/binding.js';
import { endpointId } from '../host/src/domain/names.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { ensureTopology } from '../host/src/nats/topology.js';
import { ResultsDb } from '../host/src/store/results-db.js';
import { Writer } from '../host/src/writer/writer.js';
import { startTestNats } from './helpers/nats.js';
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
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-writer-batch-');
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
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
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureTopology(nc, jsm, { retentionMs: 3_600_000 });
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
});
