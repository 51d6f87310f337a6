import { describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type AppOutputMessage } from '@modelwatch/protocol';
import { outputKey } from '../host/src/domain/keys.js';
import { rowCountTask } from './helpers/outputs.js';
import { createLogger } from '../host/src/logger.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { openBuckets } from '../host/src/nats/topology.js';
import { AppRunner } from '../host/src/runner/runner.js';
import { storableOutput } from '../host/src/writer/messages.js';
import { startTestTopology } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

const PERIOD = 1000;

describe("a window's attempts", () => {
  it('a delivery run after later deliveries of its task were handed back is still an attempt: its output is valid, not dead-lettered', async () => {
    await using topology = await startTestTopology();
    const { nc, js, jsm } = topology;
    const task = rowCountTask('stale', PERIOD);
    const { endpointId: id, windowStart } = task;
    await js.publish(Subjects.tasks(task.app), jsonCodec.encode(task), { msgID: outputKey(task) });
    // delivery 1 handed back unrun (counted as a deferral, as a runner does)
    const tasks = await js.consumers.get(Streams.tasks, Consumers.runners);
    const first = await tasks.next({ expires: 10_000 });
    expect(first?.info.deliveryCount).toBe(1);
    // and a later delivery handed back too, while the one the runner gets next waited in a
    // runner's buffer past its ack wait: the count of deferrals reaches that delivery's number
    await (await openBuckets(nc)).deferrals.put(outputKey(task), '2');
    first!.nak();
    const runner = new AppRunner({ nc, logger: createLogger('warn'), windowAttempts: 3 });
    await runner.start();
    try {
      const m = await waitFor("the window's output", () =>
        jsm.streams
          .getMessage(Streams.outputs, { last_by_subj: Subjects.outputs(id) })
          .then((sm) => sm ?? undefined)
          .catch(() => undefined),
      );
      // the writer stores it: a valid output (attempts at least 1), not one it dead-letters
      const { out, refused } = storableOutput(m.data, m.subject, undefined);
      expect(refused).toBe(false);
      expect(out).toMatchObject<Partial<AppOutputMessage>>({ windowStart, attempts: 1 });
    } finally {
      await runner.stop();
    }
  });
});
