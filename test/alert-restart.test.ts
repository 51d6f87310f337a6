import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelwatchClient } from '../host/src/client/client.js';
import { freePort, startNatsServer, type NatsServerHandle } from '../host/src/nats/server.js';
import { TEST_TOKEN } from './helpers/host.js';
import { hostProcess, testHostArgs, type HostProcess } from './helpers/processes.js';
import { deliveredKeys, startReceiver, type Receiver } from './helpers/receiver.js';
import { tempDir, waitFor } from './helpers/tmp.js';

// A host killed (SIGKILL) while it sends a stored notification delivers it after its restart,
// exactly once as the receiver counts idempotency keys.
describe('alert delivery across a host crash', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nats: NatsServerHandle;
  let host: HostProcess;
  let client: ModelwatchClient;
  let rx: Receiver;

  beforeAll(async () => {
    dir = await tempDir('mw-alert-restart-');
    nats = await startNatsServer({ dataDir: join(dir.path, 'nats'), port: await freePort() });
    rx = await startReceiver();
    host = await hostProcess(
      [...testHostArgs(join(dir.path, 'host')), '--nats', nats.url, '--alert-allowed-hosts', '127.0.0.1', '--public-url', 'https://mw.example.com'],
      // short attempts and ack waits, so the crashed attempt comes back within seconds
      { MODELWATCH_ALERT_TIMEOUT: '1s', MODELWATCH_ALERT_BACKOFF: '100ms', MODELWATCH_ALERT_GROUP_INTERVAL: '1s' },
    );
    await host.start();
    client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
  }, 90_000);

  afterAll(async () => {
    await host?.stop();
    await rx?.close();
    await nats?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('a SIGKILL while the notification is being sent still delivers it exactly once', async () => {
    await client.createAlertChannel({ name: 'crash', type: 'webhook', url: `${rx.url}/crash`, secret: 's3cret' });
    // the first request is held open: the host is in the middle of sending when it dies
    rx.respond = (n) => (n === 0 ? 'hold' : 200);
    const { key } = await client.sendTestNotification({ key: 'crash-1', channels: ['crash'] });
    await waitFor('the first attempt to reach the receiver', () => (rx.requests.length >= 1 ? true : undefined));
    await host.kill();
    rx.release(200); // its connection is gone with the host: the answer reaches no one
    await host.start();
    await waitFor('the delivery after the restart', () => (deliveredKeys(rx.requests).includes(key) ? true : undefined), 60_000);
    expect(deliveredKeys(rx.requests)).toEqual([key]);
    expect(rx.requests.length).toBeGreaterThanOrEqual(2);
    for (const q of rx.requests) expect(q.headers['idempotency-key']).toBe(key);
    const h = await waitFor('the attempt in the history', async () => {
      const attempts = await client.alertHistory({ key });
      return attempts.some((a) => a.ok) ? attempts : undefined;
    });
    expect(h.filter((a) => a.ok)).toHaveLength(1);
    expect(h.find((a) => a.ok)!.attempt).toBeGreaterThanOrEqual(2);
  });

  it('notifications stored before a SIGKILL are delivered after the restart', async () => {
    await host.kill();
    // a host with a notifier that stores but whose receiver is unreachable until after the restart
    await rx.down();
    await host.start();
    rx.respond = () => 200;
    const keys = ['stored-1', 'stored-2'];
    for (const k of keys) await client.sendTestNotification({ key: k, channels: ['crash'] });
    await host.kill();
    await rx.up();
    await host.start();
    await waitFor('both delivered', () => (keys.every((k) => deliveredKeys(rx.requests).includes(k)) ? true : undefined), 60_000);
    // receivers dedupe by the idempotency key: each key reached the receiver, and each has exactly
    // one successful attempt (an attempt that timed out on a loaded machine may have reached it too)
    for (const k of keys) {
      const h = await waitFor(`${k}'s successful attempt in the history`, async () => {
        const attempts = await client.alertHistory({ key: k });
        return attempts.some((a) => a.ok) ? attempts : undefined;
      });
      expect(
        h.filter((a) => a.ok),
        JSON.stringify(h),
      ).toHaveLength(1);
    }
    expect([...new Set(deliveredKeys(rx.requests).filter((k) => keys.includes(k)))].sort()).toEqual(keys);
  });
});
