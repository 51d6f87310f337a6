import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Buckets, Consumers, Streams, type AppOutputMessage } from '@modelwatch/protocol';
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
const RULE_2 = 'drift-2';
const BAD = 'ep-bad';
const GOOD = 'ep-good';
const at = (n: number) => T0 + n * PERIOD;

const RULES = `rules:
  - name: ${RULE}
    severity: high
    endpoints: { names: [${EP}] }
    results: { app: ${APP}, name: ${RESULT} }
    when: { status: detected }
    for: { consecutive: 3 }
    channels: [hook]
  - name: ${RULE_2}
    severity: high
    endpoints: { names: [${BAD}, ${GOOD}] }
    results: { app: ${APP}, name: ${RESULT} }
    when: { status: detected }
    for: { consecutive: 2 }
`;

// The series bucket's stream stops listening on its subjects, so every write gets no responders:
// NATS KV failing for real (and for a while: trouble that passes, retried in place for as long as
// it lasts, never given up in the test's time), mid-batch, while windows of the endpoint keep
// arriving. A "3 consecutive" rule must still count each window once, in order: it fires at the
// third breach with 3 windows.
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
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  /**
   * Take the series bucket's stream off its subjects (its writes get no responders: `isTransient`),
   * or put it back on them. Its values are kept.
   */
  const seriesUnserved = async (unserved: boolean, butKey?: string) => {
    const stream = `KV_${Buckets.alertSeries}`;
    const { config } = await jsm.streams.info(stream);
    const subjects = [`${unserved ? '$KV_OFF' : '$KV'}.${Buckets.alertSeries}.>`];
    if (unserved && butKey) subjects.push(`$KV.${Buckets.alertSeries}.${butKey}`);
    await jsm.streams.update(stream, { ...config, subjects });
  };
  /** The evaluator's consumer has been handed every output up to `seq` and acked them all. */
  const settled = (seq: number, timeoutMs?: number) =>
    waitFor(
      `the evaluator to ack every output through ${seq}`,
      async () => {
        const c = await jsm.consumers.info(Streams.outputs, Consumers.alerts);
        return c.delivered.stream_seq >= seq && c.num_pending === 0 && c.num_ack_pending === 0 && c.num_redelivered === 0 ? c : undefined;
      },
      timeoutMs,
    );
  const failures = (endpoint = EP) =>
    log.filter((l) => l.component === 'alerts' && l.endpoint === endpoint && String(l.msg).startsWith('could not evaluate the alert rules'));
  const detected = [{ name: RESULT, value: 0.9, status: 2 }];
  const normal = [{ name: RESULT, value: 0.1, status: 0 }];
  const publisher = async () => outputPublisher(jetstream(nc), bindingKeyObject(await outputBindingKey(nc)), { app: APP, periodMs: PERIOD, t0: T0 });

  it('a "3 consecutive" rule counts every window once, in order, and notifies once, though the series bucket refused writes while windows arrived', async () => {
    await client.createAlertChannel({ name: 'hook', type: 'webhook', url: `${rx.url}/hook`, secret: 'kv-failure-secret' });
    const publish = await publisher();

    await settled(await publish(EP, 0, normal));
    await seriesUnserved(true);
    // window 1 breaches: its series is refused; windows 2 and 3 arrive while it fails
    await publish(EP, 1, detected);
    await waitFor('window 1 to fail', () => failures().find((l) => l.windowStart === at(1)));
    const third = (await publish(EP, 2, detected), await publish(EP, 3, detected));
    await waitFor('windows 2 and 3 to reach the evaluator', async () => {
      const c = await jsm.consumers.info(Streams.outputs, Consumers.alerts);
      return c.delivered.stream_seq >= third ? true : undefined;
    });
    // KV takes writes again; window 4 arrives at once, before any retry of window 1
    await seriesUnserved(false);
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
    expect(failures().every((l) => l.windowStart === at(1) && l.transient === true)).toBe(true);

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

  // One endpoint is held up by NATS trouble of its own (its series' writes get no responders: retried
  // in place for as long as it lasts) with more outputs taken than the evaluator's 512 in flight:
  // another endpoint's alert still fires meanwhile (an endpoint counts 64 of the 512). Then its
  // windows 2 and 3 fail at every attempt for a reason of their own (malformed results): they are
  // given up, not tried for an hour and a half, window 3 after one attempt (the one before it was
  // given up so), and the endpoint's later windows are evaluated each once, in order.
  it("an endpoint held up, then failing for good, holds back neither another endpoint's alerts nor its own later windows", async () => {
    const publish = await publisher();
    const malformed = { results: [null] as unknown as AppOutputMessage['results'] };
    const givenUp = () =>
      log.filter(
        (l) => l.component === 'alerts' && l.endpoint === BAD && String(l.msg).startsWith('could not evaluate the alert rules on a window; it is given up'),
      );

    // the series bucket serves the other endpoint's series alone: window 1 fails, and keeps failing
    await seriesUnserved(true, seriesKey(RULE_2, GOOD, APP, RESULT));
    await publish(BAD, 1, detected);
    await waitFor('window 1 of the held endpoint to fail', () => failures(BAD).find((l) => l.windowStart === at(1)));
    const LAST = 600;
    const seqs = await Promise.all(Array.from({ length: LAST - 1 }, (_, i) => publish(BAD, i + 2, i < 2 ? [] : detected, i < 2 ? malformed : {})));
    const lastBad = Math.max(...seqs);
    await waitFor("the held endpoint's outputs to reach the evaluator", async () => {
      const c = await jsm.consumers.info(Streams.outputs, Consumers.alerts);
      return c.delivered.stream_seq >= lastBad ? true : undefined;
    });

    // another endpoint's rule fires while they are held
    await publish(GOOD, 1, detected);
    await publish(GOOD, 2, detected);
    const good = await waitFor("the other endpoint's alert", async () =>
      ((await client.listAlerts()) as Alert[]).find((a) => a.rule === RULE_2 && a.endpoint === GOOD),
    );
    expect(good).toMatchObject({ state: 'firing', windows: [at(1), at(2)] });
    expect(givenUp()).toEqual([]);
    expect(failures(BAD).every((l) => l.windowStart === at(1) && l.transient === true)).toBe(true);

    // the trouble passes: window 1 is evaluated, windows 2 and 3 given up, 4 to 600 evaluated
    await seriesUnserved(false);
    await settled(lastBad, 150_000);
    await waitFor('windows 2 and 3 to be given up', () => (givenUp().length >= 2 ? true : undefined));
    expect(givenUp().map((l) => l.windowStart)).toEqual([at(2), at(3)]);
    // window 2: 4 attempts in its batch, 4 alone; window 3, after it: one
    const tries = (n: number) => failures(BAD).filter((l) => l.windowStart === at(n) && l.attempt !== undefined).length;
    expect(tries(2)).toBe(8);
    expect(tries(3)).toBe(1);
    const mine = ((await client.listAlerts()) as Alert[]).filter((a) => a.rule === RULE_2 && a.endpoint === BAD);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ state: 'firing', startsAt: at(5), windowStart: at(LAST) });
    const kv = await new Kvm(nc).open(Buckets.alertSeries);
    const state = (await kv.get(seriesKey(RULE_2, BAD, APP, RESULT)))!.json<SeriesState>();
    expect(state).toMatchObject({ breaches: LAST - 2, normals: 0, alertId: mine[0]!.id });
  }, 200_000);
});
