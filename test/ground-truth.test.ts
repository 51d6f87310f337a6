import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '@modelwatch/protocol';
import { jsonCodec } from '../host/src/nats/codec.js';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';

const PROBE = new URL('./fixtures/plugins/truth-probe', import.meta.url).pathname;

/** Apps that ask for them get the reference rows and ground truth joined by request id, after the app's delay. */
describe('reference rows and delayed ground truth', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 200 });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('joins labels that arrive after the window closed, over HTTP and NATS', async () => {
    await publishDir(env.client, PROBE);
    await env.client.createEndpoint({ name: 'gt', featureNames: ['x'], labelNames: ['y'] });
    await env.client.setReference('gt', 'x,y\n1,0\n2,1\n3,0\n4,1', 'csv');
    const ws = Math.ceil((Date.now() + 1000) / 1000) * 1000;
    const events = Array.from({ length: 10 }, (_, i) => ({
      when: ws + i * 10,
      inputs: [[i]],
      outputs: [i % 2],
      requestId: `r${i}`,
      latencyMicros: 100 * (i + 1),
    }));
    expect((await env.client.sendEvents('gt', events)).accepted).toBe(10);
    await untilWallClock(ws + 1300); // the window has closed; its labels come now
    // 6 labels over HTTP (5 right, 1 wrong), 2 straight to NATS, 1 invalid, 1 for an unknown request
    const http = await env.client.sendLabels('gt', [
      ...[0, 1, 2, 3, 4].map((i) => ({ requestId: `r${i}`, labels: { y: i % 2 } })),
      { requestId: 'r5', label: 0 },
      { requestId: 'r6', labels: { nope: 1 } },
      { requestId: 'zzz', label: 1 },
    ]);
    expect(http.accepted).toBe(7);
    expect(http.rejected).toEqual([{ index: 6, error: "labels: unknown output 'nope' (the endpoint has y)" }]);
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish(
      Subjects.labels('gt'),
      jsonCodec.encode([
        { requestId: 'r7', label: 1 },
        { requestId: 'r8', labels: { y: 0 } },
      ]),
    );
    await nc.close();

    const w = await waitFor('the window analysed with its labels', async () =>
      (await env.client.results({ endpoint: 'gt' })).find((x) => x.windowStart === ws),
    );
    const m = Object.fromEntries([...w.metrics, ...w.results].map((x) => [x.name, x.value]));
    expect(w.outcome).toBe('ok');
    expect(m).toMatchObject({ matched: 8, correct: 7, reference_rows: 4, reference_x_sum: 10, latency_mean: 550 });
    expect(w.results[0]!.extraData).toEqual({ requestIds: ['r0', 'r1', 'r2'] });
    // dispatched only after the delay: the window ended at ws + 1000, its results came after ws + 1000 + 200 + 1500
    expect(w.completedAt).toBeGreaterThanOrEqual(ws + 2700);
  });
});
