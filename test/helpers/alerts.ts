import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ModelwatchClient } from '../../host/src/client/client.js';
import type { HostOptions } from '../../host/src/config/options.js';
import type { Host } from '../../host/src/host.js';
import { startTestHost } from './host.js';
import { startTestNats } from './nats.js';

export interface AlertTestEnv {
  nats: Awaited<ReturnType<typeof startTestNats>>;
  host: Host;
  client: ModelwatchClient;
  /** The test's own connection (to publish events, subscribe to a NATS channel's subject). */
  nc: NatsConnection;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A nats-server and a host on it without runners that delivers alerts to receivers on this
 * machine, retrying fast (2 s timeout, 100-500 ms backoff, 50 attempts) and grouping `groupThreshold`
 * notifications of a second into a digest; `options` add to (or override) that.
 */
export async function startAlertTestEnv(groupThreshold: number, options: Omit<HostOptions, 'natsUrl'> = {}): Promise<AlertTestEnv> {
  const nats = await startTestNats();
  let t: Awaited<ReturnType<typeof startTestHost>> | undefined;
  try {
    t = await startTestHost({
      natsUrl: nats.url,
      runners: 0,
      alertAllowedHosts: ['127.0.0.1'],
      alertDelivery: { timeout: '2s', backoff: '100ms', backoffMax: '500ms', groupInterval: '1s', groupThreshold, maxAttempts: 50 },
      ...options,
    });
    const started = t;
    const nc = await connect({ servers: nats.url });
    return {
      nats,
      host: started.host,
      client: started.client,
      nc,
      [Symbol.asyncDispose]: async () => {
        await nc.close();
        await started[Symbol.asyncDispose]();
        await nats[Symbol.asyncDispose]();
      },
    };
  } catch (e) {
    await t?.[Symbol.asyncDispose]();
    await nats[Symbol.asyncDispose]();
    throw e;
  }
}
