/**
 * Issue #10, the writer and its consumers: malformed outputs (finding 5), names and subject
 * tokens used as object keys (finding 10), a reply over NATS' max payload (issue #13), and the
 * InfluxDB line protocol with hostile names (finding 13).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, DEAD_LETTER_STAGES, Streams, Subjects, type AppOutputMessage } from '@modelwatch/protocol';
import { join } from 'node:path';
import { endpointId } from '../../host/src/domain/names.js';
import { jsonCodec } from '../../host/src/nats/codec.js';
import { resolveManifest } from '../../host/src/plugins/manifest.js';
import { InfluxWriter, lineOf } from '../../host/src/store/influx.js';
import { ResultsDb, type OutboxPoint } from '../../host/src/store/results-db.js';
import { trickle, waitForWindows } from '../helpers/events.js';
import { publishDir, startTestHost } from '../helpers/host.js';
import { startTestNats } from '../helpers/nats.js';
import { tempDir, waitFor } from '../helpers/tmp.js';
import { startTestTsdb } from '../helpers/tsdb.js';

const ROW_COUNT = new URL('../fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;

describe('the writer and its consumers against hostile messages', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let t: ReturnType<typeof trickle>;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 500 });
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'steady', featureNames: ['i'], labelNames: ['y'] });
    t = trickle(nats.url, ['steady'], 50);
  });
  afterAll(async () => {
    await t?.stop();
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('finding 5: 1,100 malformed outputs do not hold back a real window, and each is dead-lettered once with its reason', async () => {
    const nc = await connect({ servers: nats.url });
    const id = endpointId('steady');
    try {
      const js = jetstream(nc);
      const bad: Array<Uint8Array> = [];
      for (let i = 0; i < 1100; i++) {
        if (i % 3 === 0) bad.push(new TextEncoder().encode(`{not json ${i}`));
        else if (i % 3 === 1) bad.push(jsonCodec.encode({ v: 1, endpointId: id, junk: i }));
        // a whole output, but of another endpoint than its subject names
        else bad.push(jsonCodec.encode({ ...validOutput(endpointId('other'), 'other', 1_000 + i * PERIOD), app: 'row-count' }));
      }
      await Promise.all(bad.map((data) => js.publish(Subjects.outputs(id), data)));
      // a real window that begins after the malformed outputs are all queued is stored
      const after = Math.ceil(Date.now() / PERIOD) * PERIOD;
      await waitFor('a window after the malformed outputs', async () => {
        const ws = await env.client.results({ endpoint: 'steady' });
        return ws.some((w) => w.windowStart >= after) ? true : undefined;
      });
      // each malformed output is one dead letter of the writer's stage, with its reason
      const letters = await waitFor('1,100 dead letters of the writer', async () => {
        const r = await env.client.deadLetters({ endpoint: DEAD_LETTER_STAGES.outputs, limit: 2000 });
        return r.total >= 1100 ? r : undefined;
      });
      expect(letters.counts[DEAD_LETTER_STAGES.outputs]).toEqual({ INVALID_OUTPUT: 1100 });
      const reasons = letters.letters.map((l) => l.reason.message);
      expect(reasons.some((m) => m.startsWith('the output is not JSON'))).toBe(true);
      expect(reasons.some((m) => m.startsWith('not an app output: '))).toBe(true);
      expect(reasons.some((m) => m.startsWith(`an output of endpoint id ${endpointId('other')} published on mw.outputs.${id}`))).toBe(true);
      expect(letters.letters[0]!.origin).toMatchObject({ stream: Streams.outputs, consumer: Consumers.writer, subject: Subjects.outputs(id) });
      // once: none is redelivered (they were terminated), none is waiting
      const jsm = await jetstreamManager(nc);
      const ci = await waitFor('the writer caught up', async () => {
        const c = await jsm.consumers.info(Streams.outputs, Consumers.writer);
        return c.num_pending === 0 && c.num_ack_pending === 0 ? c : undefined;
      });
      expect(ci.num_redelivered).toBe(0);
      expect(ci.config.max_deliver).toBeGreaterThan(0);
      expect((await env.client.deadLetters({ endpoint: DEAD_LETTER_STAGES.outputs })).total).toBe(1100);
      // a writer's letter is read, never replayed as an event
      const replay = await env.client.replayDeadLetters({ seqs: [letters.letters[0]!.seq] });
      expect(replay.replayed).toEqual([]);
      expect(replay.skipped[0]!.reason).toMatch(/is not an event: it is kept to be read, never replayed/);
    } finally {
      await nc.close();
    }
  });

  it('every durable consumer has a bounded max deliveries', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      for (const [stream, consumer] of [
        [Streams.events, Consumers.stream],
        [Streams.tasks, Consumers.runners],
        [Streams.serving, Consumers.serving],
        [Streams.serving, Consumers.writerServing],
        [Streams.outputs, Consumers.writer],
      ] as const) {
        const max = (await jsm.consumers.info(stream, consumer)).config.max_deliver;
        expect(max, consumer).toBeGreaterThan(0);
        expect(max, consumer).toBeLessThanOrEqual(100);
      }
      // and MW_OUTPUTS is kept as long as the results: the writer's store is rebuilt from it
      expect((await jsm.streams.info(Streams.outputs)).config.max_age).toBe(0);
    } finally {
      await nc.close();
    }
  });

  it('finding 10: a letter on mw.dlq.__proto__.limit pollutes nothing, and /results still returns every window', async () => {
    const first = Math.floor(Date.now() / PERIOD) * PERIOD;
    await waitForWindows('three windows', () => env.client.results({ endpoint: 'steady' }), first, first + 2 * PERIOD);
    const nc = await connect({ servers: nats.url });
    try {
      const js = jetstream(nc);
      await js.publish('mw.dlq.__proto__.limit', jsonCodec.encode({ endpoint: '__proto__', reason: { code: 'limit', message: 'x' } }));
      await js.publish('mw.dlq.constructor.INVALID_JSON', jsonCodec.encode({ endpoint: 'constructor', reason: { code: 'INVALID_JSON', message: 'x' } }));
      await js.publish('mw.dlq.constructor.INVALID_JSON', jsonCodec.encode({ endpoint: 'constructor', reason: { code: 'INVALID_JSON', message: 'y' } }));
    } finally {
      await nc.close();
    }
    const a = await env.client.deadLetters();
    const b = await env.client.deadLetters();
    expect(Object.hasOwn(Object.prototype, 'limit')).toBe(false);
    expect(({} as Record<string, unknown>).limit).toBeUndefined();
    expect(Object.hasOwn(Object, 'INVALID_JSON')).toBe(false);
    // the tokens are ordinary keys, and the counts are the same at every read
    expect(a.counts['__proto__']).toEqual({ limit: 1 });
    expect(a.counts['constructor']).toEqual({ INVALID_JSON: 2 });
    expect(b.counts).toEqual(a.counts);
    expect(b.total).toBe(a.total);
    // every window stored since the first of the three (the pollution made it one)
    const all = await env.client.results({ endpoint: 'steady' });
    expect(all.filter((w) => w.windowStart >= first).length).toBeGreaterThanOrEqual(3);
  });

  it('names that are properties of every object are refused: endpoints, features, labels, apps', async () => {
    for (const name of ['constructor', '__proto__', 'prototype', 'toString']) {
      await expect(env.client.createEndpoint({ name })).rejects.toThrow(
        name === '__proto__' ? /is not valid/ : /is reserved \(it is a property of every JavaScript object/,
      );
    }
    await expect(env.client.createEndpoint({ name: 'fine', featureNames: ['a', '__proto__'] })).rejects.toThrow(
      /featureNames: "__proto__" is reserved \(it is a property of every JavaScript object/,
    );
    await expect(env.client.createEndpoint({ name: 'fine', labelNames: ['constructor'] })).rejects.toThrow(/labelNames: "constructor" is reserved/);
    expect(() => resolveManifest({ name: 'constructor', version: '1.0.0', entry: 'src/index.ts', description: 'x' })).toThrow(
      /plugin\.json: the app name "constructor" is reserved/,
    );
  });
});

describe('a results reply over NATS max payload (issue #13)', () => {
  it('is paged under the max payload: the API returns every window and the host stays up', async () => {
    await using nats = await startTestNats();
    await using dir = await tempDir('mw-pages-');
    const dataDir = join(dir.path, 'host');
    // 3,000 windows of about 1.5 KB each: 4.5 MB of windows, over the 1 MB a NATS message carries
    const db = new ResultsDb(join(dataDir, 'results'));
    await db.open();
    const id = endpointId('big');
    const padding = 'x'.repeat(1200);
    for (let i = 0; i < 3000; i++) {
      const out = validOutput(id, 'big', 1_000_000 + i * PERIOD);
      await db.store({ ...out, error: { code: 'APP_ERROR', message: padding }, outcome: 'error' }, false);
    }
    await db.close();
    await using env = await startTestHost({ natsUrl: nats.url, dataDir, runners: 0 });
    const windows = await env.client.results({ endpoint: 'big', limit: 100_000 });
    expect(windows.length).toBe(3000);
    expect(new Set(windows.map((w) => w.windowStart)).size).toBe(3000);
    expect(windows[0]!.windowStart).toBe(1_000_000 + 2999 * PERIOD);
    expect(env.host.state).toBe('RUNNING');
    expect((await fetch(`${env.host.apiUrl}/healthz`)).status).toBe(200);
  });
});

describe('InfluxDB line protocol with hostile names (finding 13)', () => {
  it('escapes every tag key and value and field key: the TSDB reads back the exact names', async () => {
    await using tsdb = await startTestTsdb();
    const hostile = ['ends\\', 'two\\\\', 'sp ace', 'com,ma', 'eq=uals', 'quo"te', "apo'strophe", 'a\\,b', 'x\\ y', '=', ',', ' lead', 'é ü'];
    const points: OutboxPoint[] = hostile.map((name, i) => ({
      measurement: 'app_results',
      tags: { endpoint_name: name, application: `app ${name}`, [`k${name}`]: 'v', result_name: 'r' },
      fields: { value: i, status: 1 },
      time: 1_700_000_000_000 + i * 1000,
    }));
    // a tag value ending in a backslash swallowed the next tag (the client's Point leaves it as it is)
    expect(lineOf(points[0]!)).toBe('app_results,application=app\\ ends\\\\,endpoint_name=ends\\\\,kends\\\\=v,result_name=r value=0,status=1i 1700000000000');
    // a newline cannot start a second point
    expect(lineOf({ ...points[0]!, tags: { endpoint_name: 'a\nb value=9 1' } })).toBe(
      'app_results,endpoint_name=a\\nb\\ value\\=9\\ 1 value=0,status=1i 1700000000000',
    );
    const writer = new InfluxWriter({ url: tsdb.url, token: 't', org: 'o', bucket: 'b' });
    try {
      await writer.write(points);
    } finally {
      await writer.close();
    }
    const series = await waitFor('every point readable', async () => {
      const s = await tsdb.exportSeries('app_results_value', 1_699_999_000);
      return s.length === hostile.length ? s : undefined;
    });
    for (const [i, name] of hostile.entries()) {
      const s = series.find((x) => x.metric.endpoint_name === name);
      expect(s, JSON.stringify(name)).toBeDefined();
      expect(s!.metric).toEqual({ __name__: 'app_results_value', endpoint_name: name, application: `app ${name}`, [`k${name}`]: 'v', result_name: 'r' });
      expect(s!.values).toEqual([i]);
    }
  });
});

function validOutput(id: string, name: string, windowStart: number): AppOutputMessage {
  return {
    v: 1,
    endpointId: id,
    endpointName: name,
    app: 'row-count',
    version: '1.0.0',
    windowStart,
    windowEnd: windowStart + PERIOD,
    outcome: 'ok',
    rows: 1,
    results: [{ name: 'rows', value: 1, kind: 0, status: 0 }],
    metrics: [],
    durationMs: 1,
    completedAt: Date.now(),
    runner: 'test',
    attempts: 1,
  };
}
