import { createHmac } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams } from '@modelwatch/protocol';
import { sampleNotification } from '../host/src/alerts/notify/index.js';
import { HISTOGRAM_PLUGIN, publishDir, rng, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { deliveredKeys, startReceiver, type Receiver } from './helpers/receiver.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';

/**
 * Alerting end to end on real components: events sent to a host with a runner, windows analysed
 * by the real histogram-data-drift app, stored by the writer, evaluated by the alert evaluator and
 * delivered by the notifier to a local HTTP receiver through a signed webhook channel.
 */
describe('alerts end to end: drifted events -> detected windows -> one firing and one resolved webhook delivery', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let rx: Receiver;
  let nc: NatsConnection;
  const PERIOD = 1000;
  const SECRET = 'whsec-e2e-0123456789';
  const r = rng(11);
  const normalRow = () => [r.normal(0, 1), r.normal(10, 2), r.uniform()];
  const driftRow = () => [r.normal(3, 1), r.normal(4, 2), r.uniform() ** 4];

  beforeAll(async () => {
    nats = await startTestNats();
    rx = await startReceiver();
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 200,
      alertAllowedHosts: ['127.0.0.1'],
      // a notification at a time, never grouped into a digest
      alertDelivery: { groupThreshold: 1000 },
    });
    nc = await connect({ servers: nats.url });
    await publishDir(env.client, HISTOGRAM_PLUGIN);
    await env.client.createEndpoint({ name: 'e2e', featureNames: ['a', 'b', 'c'], labelNames: ['y'] });
    const reference = ['a,b,c,y', ...Array.from({ length: 3000 }, () => [...normalRow(), 0].join(','))].join('\n');
    await env.client.setReference('e2e', reference, 'csv');
    await env.client.createAlertChannel({ name: 'hook', type: 'webhook', url: `${rx.url}/hook`, secret: SECRET });
    await env.client.putAlertRule({
      name: 'drift-2-consecutive',
      severity: 'high',
      endpoints: { names: ['e2e'] },
      results: { app: 'histogram-data-drift', name: 'general_drift' },
      when: { status: 'detected' },
      for: { consecutive: 2 },
      reset: { auto: 1 },
      channels: ['hook'],
    });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await rx?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  it('drift for 3 windows fires once, recovery resolves once; both signed', async () => {
    // one normal window, three drifted, two normal, by event time from the next window on
    const start = Math.floor(Date.now() / PERIOD) * PERIOD + PERIOD;
    const plan = [normalRow, driftRow, driftRow, driftRow, normalRow, normalRow];
    const starts = plan.map((_, i) => start + i * PERIOD);
    for (const [i, gen] of plan.entries()) {
      const ws = starts[i]!;
      await untilWallClock(ws);
      const events = Array.from({ length: 300 }, (_, k) => ({
        when: ws + (k * (PERIOD - 10)) / 300,
        inputs: [gen()],
        outputs: [r.uniform()],
        requestId: `${ws}-${k}`,
      }));
      expect(await env.client.sendEvents('e2e', events)).toEqual({ accepted: 300, rejected: [] });
    }

    const bodyOf = (q: Receiver['requests'][number]) =>
      JSON.parse(q.body) as { type: string; key: string; kind: string; alert: { id: string; state: string; windows: number[] } };
    const firing = await waitFor('the firing delivery', () => rx.requests.find((q) => bodyOf(q).kind === 'firing'), 30_000);
    const resolved = await waitFor('the resolved delivery', () => rx.requests.find((q) => bodyOf(q).kind === 'resolved'), 30_000);

    // every window analysed and stored, and the evaluator through all of them
    const windows = await waitFor(
      'six analysed windows',
      async () => {
        const w = await env.client.results({ endpoint: 'e2e' });
        return starts.every((s) => w.some((x) => x.windowStart === s && x.outcome === 'ok')) ? w : undefined;
      },
      30_000,
    );
    const statusOf = (ws: number) => windows.find((w) => w.windowStart === ws)!.results.find((x) => x.name === 'general_drift')!.status;
    expect(starts.map(statusOf)).toEqual([0, 2, 2, 2, 0, 0]);
    const jsm = await jetstreamManager(nc);
    await waitFor('the evaluator through every output', async () => {
      const info = await jsm.consumers.info(Streams.outputs, Consumers.alerts);
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq >= starts.length ? true : undefined;
    });
    // a notification enqueued now reaches the channel after anything enqueued before it
    const sentinel = sampleNotification({ key: 'e2e-sentinel', channels: ['hook'] });
    await env.host.notifier!.enqueue(sentinel);
    await waitFor('the sentinel', () => (deliveredKeys(rx.requests).includes(sentinel.key) ? true : undefined));

    const alertDeliveries = rx.requests.filter((q) => bodyOf(q).key !== sentinel.key);
    expect(alertDeliveries.map((q) => bodyOf(q).kind)).toEqual(['firing', 'resolved']);
    expect(alertDeliveries.every((q) => q.status === 200)).toBe(true);
    const fired = bodyOf(firing);
    expect(fired.alert.windows).toEqual([starts[1], starts[2]]);
    expect(bodyOf(resolved).alert.id).toBe(fired.alert.id);
    expect(bodyOf(resolved).alert.state).toBe('resolved');
    for (const q of alertDeliveries) {
      const ts = q.headers['modelwatch-timestamp'] as string;
      expect(q.headers['modelwatch-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${q.body}`).digest('hex')}`);
      expect(q.headers['idempotency-key']).toBe(bodyOf(q).key);
    }
    const alerts = await env.client.listAlerts();
    expect(alerts.filter((a) => a.rule === 'drift-2-consecutive').map((a) => [a.id, a.state])).toEqual([[fired.alert.id, 'resolved']]);
  }, 90_000);
});
