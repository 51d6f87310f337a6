import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, Streams, Subjects, type WindowStoredMessage } from '@modelwatch/protocol';
import type { LiveWindow } from '../host/src/api/ui.js';
import { endpointId } from '../host/src/domain/names.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { writerConsumerName } from '../host/src/nats/topology.js';
import { trickle, waitForWindows, type Trickle } from './helpers/events.js';
import { authHeaders, publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { countStoredNotices, testOutput, windowKey } from './helpers/outputs.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;

type Env = Awaited<ReturnType<typeof startTestHost>>;

/** The events of `GET /api/v1/live` as they come. */
async function liveFeed(apiUrl: string) {
  const ctl = new AbortController();
  const res = await fetch(`${apiUrl}/api/v1/live`, { headers: authHeaders(), signal: ctl.signal });
  expect(res.status).toBe(200);
  const events: LiveWindow[] = [];
  const reading = (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += dec.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (block.includes('event: window') && data) events.push(JSON.parse(data.slice(6)) as LiveWindow);
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    async close() {
      ctl.abort();
      await reading;
    },
  };
}

describe('two writers on one NATS, each with its own consumer and store', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let a: Env;
  let b: Env | undefined;
  let t: Trickle | undefined;
  let nc: NatsConnection;
  const bOptions = () => ({
    natsUrl: nats.url,
    dataDir: join(dir.path, 'b'),
    nodeId: 'b',
    roles: ['api', 'writer'] as const,
    runners: 0,
    basePeriod: PERIOD,
    allowedLateness: 300,
  });

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-writers-');
    nc = await connect({ servers: nats.url });
    a = await startTestHost({ natsUrl: nats.url, dataDir: join(dir.path, 'a'), nodeId: 'a', basePeriod: PERIOD, allowedLateness: 300 });
    b = await startTestHost(bOptions());
    await publishDir(a.client, ROW_COUNT);
    for (const name of ['one', 'two', 'kept']) await a.client.createEndpoint({ name, featureNames: ['i'], labelNames: ['y'] });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await nc?.close();
    await b?.host.stop();
    await a?.host.stop();
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('the live feed tells each stored window once, though both writers store it and say so', async () => {
    // every notice of both writers, as the API hears them
    const { counts: notices, stop: stopNotices } = await countStoredNotices(nc);
    const feed = await liveFeed(b!.host.apiUrl);
    const first = Math.floor(Date.now() / PERIOD) * PERIOD;
    t = trickle(nats.url, ['one', 'two', 'kept'], 50);
    for (const name of ['one', 'two', 'kept'])
      await waitForWindows(`windows of ${name}`, () => a.client.results({ endpoint: name }), first, first + 2 * PERIOD);
    await t.stop();
    t = undefined;
    // every window told by both writers (what the feed must send once)
    const windows = await waitFor('every window told by both writers', async () => {
      const all = [];
      for (const name of ['one', 'two', 'kept']) all.push(...(await a.client.results({ endpoint: name })));
      return all.every((w) => notices.get(windowKey(w)) === 2) ? all : undefined;
    });
    // a last notice after them: once the feed sends it, it has sent what came before
    const marker = testOutput(
      { endpointId: endpointId('kept'), endpointName: 'kept', app: 'marker', windowStart: 0, windowEnd: 1 },
      { completedAt: Date.now() },
    );
    nc.publish(
      Subjects.stored(marker.endpointId),
      jsonCodec.encode({ v: PROTOCOL_VERSION, storedAt: Date.now(), output: marker } satisfies WindowStoredMessage),
    );
    await waitFor('the feed to pass the last notice', () => (feed.events.some((e) => e.app === 'marker') ? true : undefined));
    await feed.close();
    stopNotices();
    const told = feed.events.filter((e) => e.app !== 'marker').map(windowKey);
    expect(new Set(told).size).toBe(told.length);
    for (const w of windows) expect(told).toContain(windowKey(w));
  }, 90_000);

  it('a purge reaches every writer, one that was down at the time at its catch-up', async () => {
    const jsm = await jetstreamManager(nc);
    /** Both writers have read MW_OUTPUTS through its last message (the purge among them). */
    const readThrough = async (names: string[]) => {
      const last = (await jsm.streams.info(Streams.outputs)).state.last_seq;
      for (const n of names) {
        const ci = await jsm.consumers.info(Streams.outputs, writerConsumerName(n));
        if (ci.ack_floor.stream_seq < last || ci.num_pending > 0 || ci.num_ack_pending > 0) return undefined;
      }
      return true;
    };
    expect((await a.client.results({ endpoint: 'one' })).length).toBeGreaterThan(0);
    /**
     * What a store holds of the endpoint from before the purge: none may be left. A task dispatched
     * just before the purge may still be stored after it (its endpoint gone, as an error): that
     * window comes after the purge in MW_OUTPUTS, so every writer stores it, later than `since`.
     * Nothing stored at all: the purged endpoint does not exist (404, no endpoint named it).
     */
    const before = async (env: Env, name: string, since: number) =>
      (
        await env.client.results({ endpoint: name }).catch((err: Error) => {
          if (err.message.startsWith(`no endpoint named '${name}'`)) return [];
          throw err;
        })
      ).filter((w) => w.storedAt < since);
    // both up: the purge goes among the outputs and each writer applies it
    const purgedOne = Date.now();
    const one = await a.client.deleteEndpoint('one', { purge: true });
    expect(one.purged?.results.windows).toBeGreaterThan(0);
    await waitFor('both writers to read the purge', () => readThrough(['a', 'b']));
    // writer b down at the time of the next purge
    await b!.host.stop();
    b = undefined;
    const purgedTwo = Date.now();
    await a.client.deleteEndpoint('two', { purge: true });
    await waitFor('writer a to read the purge', () => readThrough(['a']));
    expect(await before(a, 'one', purgedOne)).toEqual([]);
    expect(await before(a, 'two', purgedTwo)).toEqual([]);
    // b comes back and catches up; with a gone, only b's store answers
    b = await startTestHost(bOptions());
    await waitFor('writer b to catch up', () => readThrough(['b']));
    await a.host.stop();
    expect(await before(b, 'one', purgedOne)).toEqual([]);
    expect(await before(b, 'two', purgedTwo)).toEqual([]);
    expect((await b.client.results({ endpoint: 'kept' })).length).toBeGreaterThan(0);
  }, 90_000);
});
