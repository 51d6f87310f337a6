import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage, type PluginRecord, type TaskMessage } from '@modelwatch/protocol';
import { windowKey } from '../host/src/domain/keys.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { ensureTopology, openBuckets } from '../host/src/nats/topology.js';
import { AppRunner } from '../host/src/runner/runner.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

const PERIOD = 60_000;

/**
 * A runner takes tasks only for its free slots: a task behind a long window is not held unstarted
 * past its ack wait (it would be redelivered, run twice and counted as an attempt more).
 */
describe('a runner with every slot busy', () => {
  it('leaves the next task with the server: it runs once, at its first delivery', async () => {
    await using server = await startTestNats();
    const nc = await connect({ servers: server.url });
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      // an ack wait of 2 s: a running window is kept alive every second, a task held unstarted is not
      await ensureTopology(nc, jsm, { retentionMs: 3_600_000, taskAckWaitMs: 2_000 });
      const buckets = await openBuckets(nc);
      const endpoints = new EndpointStore(buckets.endpoints);
      const { record: slow } = await endpoints.create({ name: 'slow', featureNames: ['x'], labelNames: [], monitoring: true });
      const { record: slow2 } = await endpoints.create({ name: 'slow2', featureNames: ['x'], labelNames: [], monitoring: true });
      const { record: next } = await endpoints.create({ name: 'next', featureNames: ['x'], labelNames: [], monitoring: true });
      const version = {
        version: '1.0.0',
        description: '',
        digest: 'none',
        publishedAt: 0,
        limits: {},
        config: {},
        runOnEmptyWindows: false,
        referenceRows: false,
      };
      const plugin = { name: 'idle', activeVersion: '1.0.0', status: 'active', createdAt: 0, updatedAt: 0, versions: [version] } as unknown as PluginRecord;
      await buckets.plugins.put('idle', jsonCodec.encode(plugin));
      const windowStart = Math.floor(Date.now() / PERIOD) * PERIOD - 10 * PERIOD;
      const task = (endpoint: typeof slow, rowParts: number[]): TaskMessage => ({
        v: 1,
        endpointId: endpoint.id,
        endpointName: endpoint.name,
        app: 'idle',
        version: '1.0.0',
        windowStart,
        windowEnd: windowStart + PERIOD,
        dispatchedAt: Date.now(),
        rowParts,
      });
      // the slow windows (one a slot): one part said to be there and none stored, so its read waits the fetch's
      // 10 s (kept alive all along); the next one has no rows to read
      for (const [endpoint, parts] of [
        [slow, [1]],
        [slow2, [1]],
        [next, [0]],
      ] as const) {
        await js.publish(Subjects.tasks('idle'), jsonCodec.encode(task(endpoint, [...parts])), { msgID: windowKey(endpoint.id, 'idle', windowStart) });
      }
      const runner = new AppRunner({ nc, logger: createLogger('warn'), concurrency: 2, appConcurrency: 2, windowAttempts: 3 });
      await runner.start();
      try {
        const output = (id: string) =>
          waitFor(
            `the output of ${id}`,
            async () => (await jsm.streams.getMessage(Streams.outputs, { last_by_subj: Subjects.outputs(id) }).catch(() => null))?.json<AppOutputMessage>(),
            20_000,
          );
        const [slowOut, slow2Out, nextOut] = await Promise.all([output(slow.id), output(slow2.id), output(next.id)]);
        expect(slowOut).toMatchObject({ outcome: 'empty', attempts: 1 });
        expect(slow2Out).toMatchObject({ outcome: 'empty', attempts: 1 });
        // run once, at its first delivery (held unstarted it was delivered again every 2 s of the slow window)
        expect(nextOut).toMatchObject({ outcome: 'empty', attempts: 1 });
        // every task acknowledged: three tasks, three deliveries (none held unstarted past its ack wait and delivered again)
        const consumer = await waitFor('every task acknowledged', async () => {
          const info = await jsm.consumers.info(Streams.tasks, Consumers.runners);
          return info.num_ack_pending === 0 && info.num_pending === 0 ? info : undefined;
        });
        expect(consumer.delivered.consumer_seq).toBe(3);
      } finally {
        await runner.stop();
      }
    } finally {
      await nc.close();
    }
  }, 90_000);
});
