import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects } from '@modelwatch/protocol';
import { ModelwatchClient } from '../host/src/client/client.js';
import { createHost, type Host } from '../host/src/host.js';
import { createLogger } from '../host/src/logger.js';
import { natsConnectOptions } from '../host/src/nats/auth.js';
import { openBuckets, SLOT_KINDS, slotConsumerName } from '../host/src/nats/topology.js';
import { publishDir, REPO, startTestHost, TEST_TOKEN } from './helpers/host.js';
import { startTestTopology } from './helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const FIXTURES = join(REPO, 'test/fixtures/plugins');
const CAP = 1;

describe("a plugin's windows in flight are capped across every runner (MW_SLOTS)", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: Host;
  let client: ModelwatchClient;
  let nc: NatsConnection;

  beforeAll(async () => {
    dir = await tempDir('mw-slots-');
    // the host's own nats-server: runners connect with the runner role's permissions
    host = createHost(
      {
        dataDir: dir.path,
        httpPort: 0,
        adminToken: TEST_TOKEN,
        logLevel: 'warn',
        basePeriod: 1000,
        allowedLateness: 200,
        // two runner processes, each of which would run 2 windows of one plugin: 4 without the cap
        runners: 2,
        runnerConcurrency: 2,
        runnerAppConcurrency: 2,
        pluginWindowsInFlight: CAP,
        windowAttempts: 1,
      },
      createLogger(process.env.MW_TEST_LOG ?? 'warn'),
    );
    await host.start();
    client = new ModelwatchClient({ url: host.apiUrl, token: TEST_TOKEN });
    nc = await connect({ servers: host.natsUrl, ...(await natsConnectOptions(host.natsSecurity, 'host')) });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await host?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it("a spinning plugin holds at most its cap of windows while a well-behaved plugin's windows keep being stored", async () => {
    await publishDir(client, join(FIXTURES, 'hostile-spinner'));
    await publishDir(client, join(FIXTURES, 'row-count'));
    const jsm = await jetstreamManager(nc);
    const slots = slotConsumerName('hostile-spinner', 'active');
    // the controller's process makes the plugin's slots when it sees the plugin
    await waitFor('the spinner plugin to have its slots', () => jsm.consumers.info(Streams.slots, slots).catch(() => undefined));
    for (const name of ['a', 'b', 'c']) await client.createEndpoint({ name, featureNames: ['x'] });
    let most = 0;
    let stop = false;
    // events over HTTP (the owned server lets no anonymous client in), one per endpoint every 100 ms
    const sending = (async () => {
      for (let i = 0; !stop; i++) {
        await untilWallClock(Date.now() + 100);
        await Promise.all(['a', 'b', 'c'].map((e) => client.sendEvents(e, { inputs: [[i]] })));
      }
    })();
    // the spinner's windows in flight, as the server counts them, all along
    const watching = (async () => {
      while (!stop) {
        const ci = await jsm.consumers.info(Streams.slots, slots);
        most = Math.max(most, ci.num_ack_pending);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      // the spinner holds its slot (a window spins to its 20 s limit) ...
      await waitFor(
        'the spinner to run a window',
        async () => ((await jsm.consumers.info(Streams.slots, slots)).num_ack_pending > 0 ? true : undefined),
        60_000,
      );
      // ... and the well-behaved plugin's windows are stored meanwhile, on every endpoint
      const GOOD_WINDOWS = 4;
      await waitFor(
        `${GOOD_WINDOWS} windows of row-count on each endpoint`,
        async () => {
          for (const e of ['a', 'b', 'c']) {
            const ws = await client.results({ endpoint: e, app: 'row-count', limit: 1000 });
            if (ws.filter((w) => w.outcome === 'ok').length < GOOD_WINDOWS) return undefined;
          }
          return true;
        },
        60_000,
        250,
      );
    } finally {
      stop = true;
      await watching;
      await sending;
    }
    expect(most).toBe(CAP);
  }, 120_000);
});

describe("a controller's start makes only the plugins' slots not made yet", () => {
  it('lists the slot consumers once and asks nothing of a plugin whose slots are made at the cap; a new cap makes them again', async () => {
    await using topology = await startTestTopology({ retentionMs: 86_400_000 });
    const { nats, nc, jsm } = topology;
    const buckets = await openBuckets(nc);
    const plugins = ['p1', 'p2', 'p3'];
    const now = Date.now();
    for (const name of plugins)
      await buckets.plugins.put(name, JSON.stringify({ name, activeVersion: '1.0.0', status: 'active', createdAt: now, updatedAt: now, versions: [] }));
    /** The JetStream API requests about MW_SLOTS while a controller process starts (and stops) with `cap`. */
    const startWith = async (cap: number) => {
      const seen: string[] = [];
      const sub = nc.subscribe('$JS.API.>', { callback: (_err, m) => void (m.subject.includes('MW_SLOTS') && seen.push(m.subject)) });
      await nc.flush();
      const t = await startTestHost({ natsUrl: nats.url, runners: 0, components: ['controller'], pluginWindowsInFlight: cap });
      await t[Symbol.asyncDispose]();
      await nc.flush();
      sub.unsubscribe();
      return seen;
    };
    const perPlugin = (seen: string[]) => seen.filter((s) => s.includes('slots-'));
    // the first start makes every plugin's slots
    expect(perPlugin(await startWith(2)).length).toBeGreaterThanOrEqual(plugins.length * 2);
    for (const p of plugins) expect((await jsm.consumers.info(Streams.slots, slotConsumerName(p, 'shadow'))).config.max_ack_pending).toBe(2);
    // the next start finds them made: one listing, no request per plugin
    const again = await startWith(2);
    expect(perPlugin(again)).toEqual([]);
    expect(again.filter((s) => s.startsWith('$JS.API.CONSUMER.LIST.MW_SLOTS'))).toHaveLength(1);
    // a new cap: every plugin's slots made again, at it
    const capped = await startWith(3);
    for (const p of plugins) for (const kind of SLOT_KINDS) expect(capped.some((s) => s.endsWith(`.${slotConsumerName(p, kind)}`))).toBe(true);
    for (const p of plugins) {
      expect((await jsm.consumers.info(Streams.slots, slotConsumerName(p, 'active'))).config.max_ack_pending).toBe(3);
      const subject = Subjects.slots(p, 'active');
      expect((await jsm.streams.info(Streams.slots, { subjects_filter: subject })).state.subjects?.[subject]).toBe(3);
    }
  }, 120_000);
});
