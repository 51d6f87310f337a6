import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Buckets, Streams, Subjects } from '@modelwatch/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryConsumer, sampleNotification, sentMarkKey, type SentMark } from '../host/src/alerts/notify/notifier.js';
import type { ModelwatchClient } from '../host/src/client/client.js';
import { startAlertTestEnv, type AlertTestEnv } from './helpers/alerts.js';
import { startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { deliveredKeys, startReceiver, type Receiver } from './helpers/receiver.js';
import { waitFor } from './helpers/tmp.js';

// A delivery NATS hands out again after the notifier settled it (nats-server before 2.10.14 does,
// as new, after a redelivery to a client that died: nats-server#5305) is settled again, never sent
// again. The copy here is the same delivery published once more, which reaches the same check.
describe('a delivery handed out again', () => {
  let env: AlertTestEnv;
  let client: ModelwatchClient;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let rx: Receiver;

  beforeAll(async () => {
    env = await startAlertTestEnv(5, {
      components: ['api', 'controller'],
      alertDelivery: { timeout: '2s', backoff: '100ms', backoffMax: '200ms', groupInterval: '1s', groupThreshold: 5, maxAttempts: 2 },
    });
    client = env.client;
    js = jetstream(env.nc);
    jsm = await jetstreamManager(env.nc);
    // /dead always fails; every other path takes the notification
    rx = await startReceiver((_n, req) => (req.path === '/dead' ? 500 : 200));
  }, 60_000);

  afterAll(async () => {
    await rx?.close();
    await env?.[Symbol.asyncDispose]();
  });

  const okAttempts = async (key: string) => (await client.alertHistory({ key })).filter((a) => a.ok);

  /** Publish the channel's last delivery once more (no message id: stored again) and wait until the notifier settled it. */
  async function handOutAgain(channel: string): Promise<void> {
    const last = await jsm.streams.getMessage(Streams.alerts, { last_by_subj: Subjects.alertDeliver(channel) });
    const { seq } = await js.publish(Subjects.alertDeliver(channel), last!.data);
    await waitFor(`the copy (stream sequence ${seq}) settled`, async () => {
      const c = await jsm.consumers.info(Streams.alerts, deliveryConsumer(channel));
      return c.ack_floor.stream_seq >= seq && c.num_ack_pending === 0 ? true : undefined;
    });
  }

  it('a copy of a delivery sent is acked, not sent again', async () => {
    await client.createAlertChannel({ name: 'dup', type: 'webhook', url: `${rx.url}/dup` });
    await client.sendTestNotification({ key: 'dup-sent', channels: ['dup'] });
    await waitFor('the delivery', async () => ((await okAttempts('dup-sent')).length === 1 ? true : undefined));
    await handOutAgain('dup');
    expect(rx.requests.filter((q) => q.path === '/dup')).toHaveLength(1);
    expect(await okAttempts('dup-sent')).toHaveLength(1);
  });

  it('a copy of a delivery given up is terminated, not attempted again', async () => {
    await client.createAlertChannel({ name: 'dead', type: 'webhook', url: `${rx.url}/dead` });
    await client.sendTestNotification({ key: 'dup-dead', channels: ['dead'] });
    const given = await waitFor('the delivery given up', async () => {
      const h = await client.alertHistory({ key: 'dup-dead' });
      return h.some((a) => a.gaveUp) ? h : undefined;
    });
    expect(given.map((a) => [a.attempt, a.ok])).toEqual([
      [1, false],
      [2, false],
    ]);
    await handOutAgain('dead');
    expect(rx.requests.filter((q) => q.path === '/dead')).toHaveLength(2);
    expect(await client.alertHistory({ key: 'dup-dead' })).toHaveLength(2);
  });

  it('a storm of copies of deliveries sent and of new ones sends only the new, each once', async () => {
    await client.createAlertChannel({ name: 'storm', type: 'webhook', url: `${rx.url}/storm` });
    const sent = Array.from({ length: 6 }, (_, i) => `storm-sent-${i}`);
    for (const key of sent) await client.sendTestNotification({ key, channels: ['storm'] });
    await waitFor('the first six delivered', () => (sent.every((k) => deliveredKeys(rx.requests).includes(k)) ? true : undefined));
    const before = rx.requests.filter((q) => q.path === '/storm').length;
    // within one group interval: the first 5 go out at once, the rest as a digest (copies left out of it)
    const fresh = ['storm-new-0', 'storm-new-1'];
    let last = 0;
    for (const key of [...sent, ...fresh]) {
      const body = { channel: 'storm', notification: sampleNotification({ key, channels: ['storm'] }) };
      ({ seq: last } = await js.publish(Subjects.alertDeliver('storm'), JSON.stringify(body)));
    }
    await waitFor('every copy and new delivery settled', async () => {
      const c = await jsm.consumers.info(Streams.alerts, deliveryConsumer('storm'));
      return c.ack_floor.stream_seq >= last && c.num_ack_pending === 0 ? true : undefined;
    });
    const after = rx.requests.filter((q) => q.path === '/storm').slice(before);
    expect(deliveredKeys(after).sort()).toEqual(fresh);
    for (const key of sent) expect(await okAttempts(key)).toHaveLength(1);
  });

  it('a channel deleted and made again under its name starts without marks: a copy is sent', async () => {
    await client.createAlertChannel({ name: 'again', type: 'webhook', url: `${rx.url}/again` });
    await client.sendTestNotification({ key: 'again-1', channels: ['again'] });
    await waitFor('the delivery', async () => ((await okAttempts('again-1')).length === 1 ? true : undefined));
    const copy = await jsm.streams.getMessage(Streams.alerts, { last_by_subj: Subjects.alertDeliver('again') });
    await client.deleteAlertChannel('again');
    await client.createAlertChannel({ name: 'again', type: 'webhook', url: `${rx.url}/again` });
    await js.publish(Subjects.alertDeliver('again'), copy!.data);
    await waitFor('the copy sent to the channel made again', async () => ((await okAttempts('again-1')).length === 2 ? true : undefined));
    expect(deliveredKeys(rx.requests.filter((q) => q.path === '/again'))).toEqual(['again-1', 'again-1']);
  });

  it("a mark written late for the deleted channel (another process's attempt ending after the delete's purge) does not settle a delivery to the channel made again", async () => {
    const kv = await new Kvm(env.nc).open(Buckets.alertSent);
    await client.createAlertChannel({ name: 'late', type: 'webhook', url: `${rx.url}/late` });
    await client.sendTestNotification({ key: 'late-1', channels: ['late'] });
    await waitFor('the delivery', async () => ((await okAttempts('late-1')).length === 1 ? true : undefined));
    const mark = await waitFor('its mark', async () => (await kv.get(sentMarkKey('late', 'late-1')))?.string());
    expect(JSON.parse(mark)).toMatchObject({ key: 'late-1', outcome: 'sent', gen: expect.any(String) });
    const copy = await jsm.streams.getMessage(Streams.alerts, { last_by_subj: Subjects.alertDeliver('late') });
    await client.deleteAlertChannel('late');
    expect(await kv.get(sentMarkKey('late', 'late-1'))).toBeNull();
    await client.createAlertChannel({ name: 'late', type: 'webhook', url: `${rx.url}/late` });
    // the old generation's mark, as another process would write it after the purge
    await kv.put(sentMarkKey('late', 'late-1'), mark);
    await js.publish(Subjects.alertDeliver('late'), copy!.data);
    await waitFor('the copy sent to the channel made again', async () => ((await okAttempts('late-1')).length === 2 ? true : undefined));
    // the new generation's mark replaces the stale one, and a replace keeps the generation: a copy now is settled
    const fresh = JSON.parse((await kv.get(sentMarkKey('late', 'late-1')))!.string()) as SentMark;
    expect(fresh.gen).not.toBe(JSON.parse(mark).gen);
    await client.createAlertChannel({ name: 'late', type: 'webhook', url: `${rx.url}/late` }, { replace: true });
    await handOutAgain('late');
    expect(deliveredKeys(rx.requests.filter((q) => q.path === '/late'))).toEqual(['late-1', 'late-1']);
  });
});

// The API and the deliveries in two processes (here two hosts in one): the API's process drops a
// deleted channel's consumer; the delivering one must go on with the channel made again.
describe('a channel deleted and made again through the API of another process', () => {
  it('the delivering process delivers to the channel made again', async () => {
    await using nats = await startTestNats();
    const delivery = { timeout: '2s', backoff: '100ms', backoffMax: '200ms', groupInterval: '1s', groupThreshold: 5, maxAttempts: 2 } as const;
    const common = { natsUrl: nats.url, runners: 0, alertAllowedHosts: ['127.0.0.1'], alertDelivery: delivery };
    // the process that routes and delivers; the API's only stores and manages channels
    await using _deliverer = await startTestHost({ ...common, components: ['controller'] });
    await using api = await startTestHost({ ...common, components: ['api'] });
    await using rx2 = await startReceiver();
    const ok = async (key: string) => (await api.client.alertHistory({ key })).filter((a) => a.ok).length;
    for (const round of [1, 2, 3]) {
      await api.client.createAlertChannel({ name: 'remote', type: 'webhook', url: `${rx2.url}/remote` });
      await api.client.sendTestNotification({ key: `remote-${round}`, channels: ['remote'] });
      await waitFor(`round ${round}'s delivery`, async () => ((await ok(`remote-${round}`)) === 1 ? true : undefined));
      await api.client.deleteAlertChannel('remote');
    }
    expect(deliveredKeys(rx2.requests)).toEqual(['remote-1', 'remote-2', 'remote-3']);
  });
});
