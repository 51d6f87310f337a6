import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage, type PluginRecord, type TaskMessage } from '@modelwatch/protocol';
import { outputKey, windowKey } from '../host/src/domain/keys.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { openBuckets } from '../host/src/nats/topology.js';
import { AppRunner } from '../host/src/runner/runner.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { startTestTopology, type TestTopology } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

const PERIOD = 60_000;

/**
 * A test nats-server with a plugin whose windows here are slow or quick: the tasks, the runner's
 * connection and what it stored (`await using`: the server and the connection end with it).
 */
async function setup(taskAckWaitMs?: number) {
  const topology = await startTestTopology(taskAckWaitMs ? { taskAckWaitMs } : {});
  try {
    return { url: topology.nats.url, ...(await idlePlugin(topology)), [Symbol.asyncDispose]: () => topology[Symbol.asyncDispose]() };
  } catch (err) {
    await topology[Symbol.asyncDispose]();
    throw err;
  }
}

/** The plugin `idle` on a topology, and its tasks' and outputs' helpers. */
async function idlePlugin({ nc, js, jsm }: TestTopology) {
  const buckets = await openBuckets(nc);
  const endpoints = new EndpointStore(buckets.endpoints);
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
  const endpoint = async (name: string) => (await endpoints.create({ name, featureNames: ['x'], labelNames: [], monitoring: true })).record;
  const task = (endpoint: { id: string; name: string }, rowParts: number[]): TaskMessage => ({
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
  // a slow window: one part said to be there and none stored, so its read waits the fetch's 10 s
  // (kept alive all along); a quick one has no rows to read
  const publish = (endpoint: { id: string; name: string }, slow: boolean) =>
    js.publish(Subjects.tasks('idle'), jsonCodec.encode(task(endpoint, slow ? [1] : [0])), { msgID: windowKey(endpoint.id, 'idle', windowStart) });
  const output = (id: string) =>
    waitFor(
      `the output of ${id}`,
      async () => (await jsm.streams.getMessage(Streams.outputs, { last_by_subj: Subjects.outputs(id) }).catch(() => null))?.json<AppOutputMessage>(),
      40_000,
    );
  const deferrals = async (endpoint: { id: string }) => {
    const e = await buckets.deferrals.get(outputKey({ endpointId: endpoint.id, app: 'idle', version: '1.0.0', windowStart }));
    return e && e.operation === 'PUT' ? Number(e.string()) : 0;
  };
  return { nc, jsm, endpoint, publish, output, deferrals };
}

/**
 * A runner takes tasks only for its free slots: a task behind a long window is not held unstarted
 * past its ack wait (it would be redelivered, run twice and counted as an attempt more).
 */
describe('a runner with every slot busy', () => {
  it('leaves the next task with the server: it runs once, at its first delivery', async () => {
    // an ack wait of 2 s: a running window is kept alive every second, a task held unstarted is not
    await using env = await setup(2_000);
    const { nc, jsm, endpoint, publish, output } = env;
    const [slow, slow2, next] = [await endpoint('slow'), await endpoint('slow2'), await endpoint('next')];
    for (const [e, isSlow] of [
      [slow, true],
      [slow2, true],
      [next, false],
    ] as const) {
      await publish(e, isSlow);
    }
    const runner = new AppRunner({ nc, logger: createLogger('warn'), concurrency: 2, appConcurrency: 2, windowAttempts: 3 });
    await runner.start();
    try {
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
  }, 90_000);

  it('hands back a task a fetch delivers past its slots (the client asks for the whole batch again after a reconnect), counted as a deferral', async () => {
    await using env = await setup();
    const { nc, endpoint, publish, output, deferrals } = env;
    // the pull requests the runner sends, seen from another connection: for tasks, and for a window's rows
    const watcher = await connect({ servers: env.url });
    const batches: number[] = [];
    watcher.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${Streams.tasks}.${Consumers.runners}`, {
      callback: (err, m) => {
        if (!err) batches.push(m.json<{ batch: number }>().batch);
      },
    });
    let rowPulls = 0;
    watcher.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${Streams.rows}.>`, {
      callback: (err) => {
        if (!err) rowPulls++;
      },
    });
    await watcher.flush();
    try {
      const [first, second, third] = [await endpoint('first'), await endpoint('second'), await endpoint('third')];
      // two slots of one plugin, and its share is not what holds the third window back
      const runner = new AppRunner({ nc, logger: createLogger('warn'), concurrency: 2, appConcurrency: 3, windowAttempts: 3 });
      await runner.start();
      try {
        await waitFor('a fetch for both slots', () => (batches.includes(2) ? true : undefined));
        // one window running: the fetch waits for the one task more it asked for
        await publish(first, true);
        // in its read of rows, waiting (a request under way as the connection drops, such as the
        // consumer for its rows made, would fail the window, and free its slot)
        await waitFor('the first window reading its rows', () => (rowPulls > 0 ? true : undefined));
        const before = batches.length;
        await nc.reconnect();
        // the same fetch asks for two again, though one slot is left
        await waitFor('the fetch asking for its whole batch again', () => (batches.slice(before).includes(2) ? true : undefined));
        await publish(second, true);
        await publish(third, true);
        const outs = await Promise.all([output(first.id), output(second.id), output(third.id)]);
        for (const out of outs) expect(out).toMatchObject({ outcome: 'empty' });
        expect(outs[0]).toMatchObject({ attempts: 1 });
        // one of the two it delivered together was handed back unrun, counted as a deferral: not a
        // third window at once (its attempts are not asserted: its redelivery can go to the pull
        // request the server kept from before the reconnect, which nobody reads, and come back
        // after the ack wait as a delivery more)
        const counted = [await deferrals(second), await deferrals(third)];
        expect(counted.filter((n) => n > 0)).toEqual([1]);
      } finally {
        await runner.stop();
      }
    } finally {
      await watcher.close();
    }
  }, 120_000);
});
