import { readFile, stat } from 'node:fs/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Buckets, Consumers, OUTPUT_BINDING_KEY, Streams, Subjects, type AppOutputMessage } from '@modelwatch/protocol';
import { createTracker } from '@modelwatch/tracker';
import { ModelwatchClient } from '../../host/src/client/client.js';
import { windowKey } from '../../host/src/domain/keys.js';
import { endpointId } from '../../host/src/domain/names.js';
import { createHost, type Host } from '../../host/src/host.js';
import { createLogger } from '../../host/src/logger.js';
import { credentialsFile, natsConnectOptions, type NatsRole } from '../../host/src/nats/auth.js';
import { jsonCodec } from '../../host/src/nats/codec.js';
import { HISTOGRAM_PLUGIN, publishDir, rng, TEST_TOKEN } from '../helpers/host.js';
import { tempDir, untilWallClock, waitFor } from '../helpers/tmp.js';

const PROBE = new URL('../fixtures/plugins/truth-probe', import.meta.url).pathname;
const ARTIFACTS = new URL('../fixtures/plugins/artifact-maker', import.meta.url).pathname;

/**
 * The host's own nats-server (no --nats URL) lets no one in without credentials, and each role
 * may do only its part; an output is stored only when it is bound to a task the controller
 * dispatched (issue 10, finding 1).
 */
describe('NATS: authentication, role permissions and output binding on the owned nats-server', () => {
  const PERIOD = 1000;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: Host;
  let client: ModelwatchClient;
  const open: NatsConnection[] = [];

  const as = async (role: NatsRole): Promise<NatsConnection> => {
    const nc = await connect({
      servers: host.natsUrl,
      maxReconnectAttempts: 0,
      ...(await natsConnectOptions({ credsFile: credentialsFile(dir.path, role) }, role)),
    });
    open.push(nc);
    return nc;
  };

  beforeAll(async () => {
    dir = await tempDir('mw-sec-nats-');
    host = createHost(
      { dataDir: dir.path, httpPort: 0, runners: 1, basePeriod: PERIOD, allowedLateness: 200, logLevel: 'warn', adminToken: TEST_TOKEN },
      createLogger(process.env.MW_TEST_LOG ?? 'warn'),
    );
    await host.start();
    client = new ModelwatchClient({ url: host.apiUrl, token: TEST_TOKEN });
  });

  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await host?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('keeps each role its credentials in the data folder, readable by the owner alone', async () => {
    for (const role of ['host', 'runner', 'ingest'] as const) {
      const s = await stat(credentialsFile(dir.path, role));
      expect(s.mode & 0o777).toBe(0o600);
      expect((await readFile(credentialsFile(dir.path, role), 'utf8')).trim()).toMatch(/^SU[A-Z2-7]+$/);
    }
  });

  it('refuses an anonymous connection (nats-server 2.9.10 predates the fix of GHSA-fr2g-9hjm-wr23)', async () => {
    await expect(connect({ servers: host.natsUrl, maxReconnectAttempts: 0 })).rejects.toThrow(/authorization/i);
  });

  it('a runner identity cannot read events, the outputs, the writer consumer or the host secrets', async () => {
    const nc = await as('runner');
    const denied = new Promise<Error>((resolve) => {
      nc.subscribe(Subjects.eventsAll, {
        callback: (err) => {
          if (err) resolve(err);
        },
      });
    });
    expect((await denied).message).toMatch(/permissions violation/i);
    const js = jetstream(nc, { timeout: 2000 });
    await expect(js.consumers.get(Streams.outputs, Consumers.writer)).rejects.toThrow();
    await expect(
      nc.request(`$JS.API.CONSUMER.MSG.NEXT.${Streams.outputs}.${Consumers.writer}`, JSON.stringify({ batch: 1 }), { timeout: 2000 }),
    ).rejects.toThrow();
    await expect(js.consumers.get(Streams.events, { filter_subjects: Subjects.eventsAll })).rejects.toThrow();
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    await expect(jsm.streams.getMessage(Streams.events, { seq: 1 })).rejects.toThrow();
    await expect(new Kvm(nc).open(Buckets.secrets).then((kv) => kv.get(OUTPUT_BINDING_KEY))).rejects.toThrow();
    // what it is for stays allowed: the task consumer
    expect((await (await js.consumers.get(Streams.tasks, Consumers.runners)).info()).name).toBe(Consumers.runners);
  });

  it('ingest credentials publish events (the tracker with credsFile) but not outputs, and read nothing', async () => {
    await client.createEndpoint({ name: 'ingest-ok', featureNames: ['x'] });
    const errors: Error[] = [];
    const tracker = createTracker({
      servers: host.natsUrl,
      credsFile: credentialsFile(dir.path, 'ingest'),
      endpoint: 'ingest-ok',
      onError: (e) => errors.push(e),
    });
    tracker.track({ inputs: [[1]], outputs: [0] });
    await tracker.flush();
    await tracker.close();
    expect(tracker.stats().delivered).toBe(1);
    expect(errors).toEqual([]);

    const nc = await as('ingest');
    const js = jetstream(nc, { timeout: 2000 });
    await expect(js.publish(Subjects.outputs(endpointId('ingest-ok')), jsonCodec.encode({ v: 1 }))).rejects.toThrow();
    const denied = new Promise<Error>((resolve) => {
      nc.subscribe(Subjects.outputsAll, {
        callback: (err) => {
          if (err) resolve(err);
        },
      });
    });
    expect((await denied).message).toMatch(/permissions violation/i);
  });

  it('a runner under its credentials does the rest of its job: reference rows, ground truth (labels by the ingest role), artifacts, deferrals', async () => {
    await publishDir(client, PROBE);
    await publishDir(client, ARTIFACTS);
    await client.createEndpoint({ name: 'duties', featureNames: ['x'], labelNames: ['y'] });
    await client.setReference('duties', 'x,y\n1,0\n2,1\n3,0\n4,1', 'csv');
    const ws = Math.ceil((Date.now() + 1000) / PERIOD) * PERIOD;
    const events = Array.from({ length: 10 }, (_, i) => ({ when: ws + i * 10, inputs: [[i]], outputs: [i % 2], requestId: `r${i}`, latencyMicros: 100 }));
    expect((await client.sendEvents('duties', events)).accepted).toBe(10);
    await untilWallClock(ws + 1300);
    // labels straight on NATS, as a labelling system with the ingest credentials sends them
    const ingest = await as('ingest');
    await jetstream(ingest).publish(Subjects.labels('duties'), jsonCodec.encode([0, 1, 2, 3].map((i) => ({ requestId: `r${i}`, label: i % 2 }))));
    const stored = await waitFor('both apps stored for the window', async () => {
      const w = (await client.results({ endpoint: 'duties' })).filter((x) => x.windowStart === ws);
      return w.length === 2 ? w : undefined;
    });
    const probe = stored.find((w) => w.app === 'truth-probe')!;
    expect(probe.outcome).toBe('ok');
    expect(Object.fromEntries([...probe.metrics, ...probe.results].map((x) => [x.name, x.value]))).toMatchObject({ matched: 4, correct: 4, reference_rows: 4 });
    const maker = stored.find((w) => w.app === 'artifact-maker')!;
    expect(maker.outcome).toBe('ok');
    expect(maker.artifacts?.map((a) => a.name).sort()).toEqual(['plot.svg', 'rows.csv']);
    // a task handed back unrun (its plugin at its share of the runner's slots) is counted in mw_deferrals
    const deferrals = await new Kvm(await as('runner')).open(Buckets.deferrals);
    await deferrals.put('probe.app.1', '1');
    expect((await deferrals.get('probe.app.1'))?.string()).toBe('1');
  });

  it('refuses and counts forged outputs for future windows, even under the runner identity with the old message id, and stores the real results', async () => {
    const r = rng(11);
    const normalRow = () => [r.normal(0, 1), r.normal(10, 2)];
    const driftRow = () => [r.normal(3, 1), r.normal(4, 2)];
    await publishDir(client, HISTOGRAM_PLUGIN);
    await client.createEndpoint({ name: 'forged', featureNames: ['a', 'b'] });
    await client.setReference('forged', ['a,b', ...Array.from({ length: 2000 }, () => normalRow().join(','))].join('\n'), 'csv');
    const eid = endpointId('forged');
    const first = Math.floor(Date.now() / PERIOD) * PERIOD + 3 * PERIOD;
    const driftWindows = [first, first + PERIOD];

    // the attack of finding 1: "no drift" for windows not yet seen, under the message id the
    // runner would use, published before the runner's outputs
    const nc = await as('runner');
    const js = jetstream(nc);
    for (const ws of driftWindows) {
      const forged: AppOutputMessage = {
        v: 1,
        endpointId: eid,
        endpointName: 'forged',
        app: 'histogram-data-drift',
        version: '1.0.0',
        windowStart: ws,
        windowEnd: ws + PERIOD,
        outcome: 'ok',
        rows: 300,
        results: [{ name: 'general_drift', value: 0, kind: 0, status: 0, extraData: {} }],
        metrics: [],
        durationMs: 1,
        completedAt: Date.now(),
        runner: 'forger',
        binding: 'not-the-binding',
      };
      await js.publish(Subjects.outputs(eid), jsonCodec.encode(forged), { msgID: windowKey(eid, forged.app, ws) });
    }
    // counted, and told by the writer's readiness check
    await waitFor('the writer to refuse both forgeries', async () => {
      const res = await fetch(`${host.apiUrl}/readyz`);
      const body = (await res.json()) as { checks: Array<{ name: string; message: string }> };
      const m = /(\d+) output\(s\) refused/.exec(body.checks.find((c) => c.name === 'writer')?.message ?? '');
      return m && Number(m[1]) >= 2 ? true : undefined;
    });

    for (const ws of driftWindows) {
      await untilWallClock(ws);
      const events = Array.from({ length: 300 }, (_, i) => ({ when: ws + (i * (PERIOD - 10)) / 300, inputs: [driftRow()], outputs: [0] }));
      expect(await client.sendEvents('forged', events)).toEqual({ accepted: 300, rejected: [] });
    }
    const stored = await waitFor('both drifted windows stored', async () => {
      const w = (await client.results({ endpoint: 'forged' })).filter((x) => driftWindows.includes(x.windowStart));
      return w.length === 2 ? w : undefined;
    });
    for (const w of stored) {
      expect(w.runner).not.toBe('forger');
      expect(w.rows).toBe(300);
      expect(w.results.find((x) => x.name === 'general_drift')!.status).toBe(2);
      expect(w).not.toHaveProperty('binding');
    }
  });
});
