import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Buckets, Consumers, Streams } from '@modelwatch/protocol';
import type { Alert, AlertNotification } from '../host/src/alerts/contract.js';
import { seriesKey } from '../host/src/alerts/evaluate.js';
import { ModelwatchClient } from '../host/src/client/client.js';
import { bindingKeyObject } from '../host/src/domain/binding.js';
import { createHost, type Host } from '../host/src/host.js';
import { outputBindingKey } from '../host/src/nats/auth.js';
import type { SeriesState } from '../host/src/store/alert-store.js';
import { TEST_TOKEN } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { outputPublisher } from './helpers/outputs.js';
import { deliveredKeys, startReceiver, type Receiver } from './helpers/receiver.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const APP = 'synthetic-drift';
const PERIOD = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const RULE = 'drift-3';
const EP = 'ep-kv';
const RESULT = 'general_drift';
const at = (n: number) => T0 + n * PERIOD;

const RULES = `rules:
  - name: ${RULE}
    severity: high
    endpoints: { names: [${EP}] }
    results: { app: ${APP}, name: ${RESULT} }
    when: { status: detected }
    for: { consecutive: 3 }
    channels: [hook]
`;

// The series bucket refuses every write while its values may be at most a few bytes: NATS KV
// failing for real, mid-batch, while windows of the endpoint keep arriving. A "3 consecutive" rule
// must still count each window once, in order: it fires at the third breach with 3 windows.
describe('alert evaluation while NATS KV fails', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: Host;
  let client: ModelwatchClient;
  let rx: Receiver;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const log: Array<Record<string, unknown>> = [];

  /** A host on the test's nats-server and data dir, its log lines in `log`. */
  const startHost = async () => {
    const logStream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    host = createHost(
      {
        httpPort: 0,
        runners: 0,
        logLevel: 'warn',
        adminToken: TEST_TOKEN,
        natsUrl: nats.url,
        dataDir: join(dir.path, 'host'),
        alertsFile: join(dir.path, 'alerts.yaml'),
        alertAllowedHosts: ['127.0.0.1'],
        publicUrl: 'https://mw.example.com',
        alertDelivery: { timeout: '2s', backoff: '100ms', backoffMax: '500ms', groupInterval: '1s' },
      },
      undefined,
      logStream,
    );
    await host.start();
    client = new ModelwatchClient({ url: host.apiUrl, token: TEST_TOKEN });
  };

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-alert-kv-');
    rx = await startReceiver();
    await writeFile(join(dir.path, 'alerts.yaml'), RULES);
    await startHost();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await host?.stop();
    await rx?.close();
    await nats?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  /** Cap (or uncap: -1) the size of a value the series bucket takes. */
  const seriesValueLimit = async (bytes: number) => {
    const stream = `KV_${Buckets.alertSeries}`;
    const { config } = await jsm.streams.info(stream);
    await jsm.streams.update(stream, { ...config, max_msg_size: bytes });
  };
  /** The evaluator's consumer has been handed every output up to `seq` and acked them all. */
  const settled = (seq: number) =>
    waitFor(`the evaluator to ack every output through ${seq}`, async () => {
      const c = await jsm.consumers.info(Streams.outputs, Consumers.alerts);
      return c.delivered.stream_seq >= seq && c.num_pending === 0 && c.num_ack_pending === 0 && c.num_redelivered === 0 ? c : undefined;
    });
  const failures = (endpoint = EP) =>
    log.filter((l) => l.component === 'alerts' && l.endpoint === endpoint && String(l.msg).startsWith('could not evaluate the alert rules'));
  const detected = [{ name: RESULT, value: 0.9, status: 2 }];
  const normal = [{ name: RESULT, value: 0.1, status: 0 }];
  const publisher = async () => outputPublisher(jetstream(nc), bindingKeyObject(await outputBindingKey(nc)), { app: APP, periodMs: PERIOD, t0: T0 });

  it('a "3 consecutive" rule counts every window once, in order, and notifies once, though the series bucket refused writes while windows arrived', async () => {
    await client.createAlertChannel({ name: 'hook', type: 'webhook', url: `${rx.url}/hook`, secret: 'kv-failure-secret' });
    const publish = await publisher();

    await settled(await publish(EP, 0, normal));
    await seriesValueLimit(8);
    // window 1 breaches: its series is refused; windows 2 and 3 arrive while it fails
    await publish(EP, 1, detected);
    await waitFor('window 1 to fail', () => failures().find((l) => l.windowStart === at(1)));
    const third = (await publish(EP, 2, detected), await publish(EP, 3, detected));
    await waitFor('windows 2 and 3 to reach the evaluator', async () => {
      const c = await jsm.consumers.info(Streams.outputs, Consumers.alerts);
      return c.delivered.stream_seq >= third ? true : undefined;
    });
    // KV takes writes again; window 4 arrives at once, before any retry of window 1
    await seriesValueLimit(-1);
    const fourth = await publish(EP, 4, detected);
    await settled(fourth);

    // one alert, fired at window 3 with windows 1-3, updated by window 4
    const series = seriesKey(RULE, EP, APP, RESULT);
    const alerts = (await client.listAlerts()) as Alert[];
    const mine = alerts.filter((a) => a.rule === RULE && a.endpoint === EP);
    expect(mine).toHaveLength(1);
    const alert = mine[0]!;
    expect(alert.state).toBe('firing');
    expect(alert.startsAt).toBe(at(4)); // the end of window 3
    expect(alert.windows).toEqual([at(1), at(2), at(3), at(4)]);
    expect(alert.windowStart).toBe(at(4));
    // the series counted each breach once
    const kv = await new Kvm(nc).open(Buckets.alertSeries);
    const state = (await kv.get(series))!.json<SeriesState>();
    expect(state).toMatchObject({ breaches: 4, normals: 0, alertId: alert.id });
    // the windows were evaluated again (not given up) after the failures
    expect(failures().length).toBeGreaterThanOrEqual(1);
    expect(failures().every((l) => l.windowStart === at(1))).toBe(true);

    // exactly one notification: the firing at window 3, with its 3 windows
    const key = `${alert.id}:firing:1`;
    await waitFor('the firing notification at the receiver', () => (deliveredKeys(rx.requests).includes(key) ? true : undefined));
    expect(deliveredKeys(rx.requests)).toEqual([key]);
    const sent = JSON.parse(rx.requests.find((q) => q.status === 200)!.body) as { notifications?: AlertNotification[] } & Partial<AlertNotification>;
    const n = sent.notifications?.[0] ?? (sent as AlertNotification);
    expect(n.alert.windows).toEqual([at(1), at(2), at(3)]);
    expect(n.alert.windowStart).toBe(at(3));
    expect(n.alert.summary).toMatch(/in 3 windows$/);
  });
});
