import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects, type WindowRecord } from '@modelwatch/protocol';
import { endpointId } from '../host/src/domain/names.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { RowsChunk } from '../host/src/nats/rows.js';
import { bundlePlugin } from '../host/src/plugins/bundle.js';
import { parseEvent } from '../host/src/stream/events.js';
import { publishDir, REPO, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

const SAMPLE_STATS = new URL('./fixtures/plugins/sample-stats', import.meta.url).pathname;
const PERIOD = 1000;
const IRIS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** MLRun's `str(datetime)` of a time: "2026-11-27 10:00:00.123000+00:00". */
const mlrunTime = (ms: number) => `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}000+00:00`;

/** An MLRun inference event as its serving functions push it. */
const mlrunEvent = (id: string, inputs: unknown[], outputs: unknown, when: number) => ({
  class: 'ClassifierModel',
  model: 'm:latest',
  function_uri: 'proj/serving',
  request: { id, inputs },
  op: 'infer',
  resp: { id, model_name: 'm', outputs },
  when: mlrunTime(when),
  microsec: 900,
});

/**
 * What becomes of the values of an event on a real host (nats-server, stream processor, runner,
 * LevelDB): values whose type differs from the reference's are missing and counted, once, in
 * `ctx.sampleStats` and in system-performance's `data_quality`; a flat list of values is one row,
 * as MLRun reads it, over HTTP and NATS.
 */
describe('the values of an event', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const publish = (endpoint: string, body: unknown) => jetstream(nc).publish(Subjects.events(endpoint), jsonCodec.encode(body));
  /** The next window boundary at least `aheadMs` from now: events for it are neither late nor analysed before they are in. */
  const nextWindow = (aheadMs: number) => Math.ceil((Date.now() + aheadMs) / PERIOD) * PERIOD;
  /** The stored window `ws` of an endpoint, for each of `apps`. */
  const windowsOf = (endpoint: string, ws: number, apps: string[]) =>
    waitFor(`window ${ws} of ${endpoint} analysed by ${apps.join(', ')}`, async () => {
      const mine = (await env.client.results({ endpoint, limit: 100 })).filter((w) => w.windowStart === ws);
      return apps.every((a) => mine.some((w) => w.app === a)) ? new Map(mine.map((w) => [w.app, w])) : undefined;
    });
  const metrics = (w: WindowRecord | undefined) => {
    expect(w?.outcome, JSON.stringify(w?.error)).toBe('ok');
    return Object.fromEntries(w!.metrics.map((m) => [m.name, m.value]));
  };
  const result = (w: WindowRecord | undefined, name: string) => {
    expect(w?.outcome, JSON.stringify(w?.error)).toBe('ok');
    return w!.results.find((r) => r.name === name)!;
  };
  /** An endpoint whose reference makes `age` numeric, `plan` text and the output `y` numeric. */
  const typedEndpoint = async (name: string) => {
    await env.client.createEndpoint({ name, featureNames: ['age', 'plan'], labelNames: ['y'] });
    const rows = ['age,plan,y', '31,free,0', '45,pro,1', '52,pro,1', '28,team,0', '39,free,0', ',pro,1'];
    await env.client.setReference(name, rows.join('\n'), 'csv');
  };

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 300 });
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await publishDir(env.client, SAMPLE_STATS);
    const b = await bundlePlugin(join(REPO, 'plugins', 'system-performance'));
    await env.client.publishPlugin({ manifest: b.manifest, code: b.code, map: b.map });
  });

  afterAll(async () => {
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('of the wrong type for the reference, over HTTP and NATS in every format, are missing and counted in ctx.sampleStats and in data_quality', async () => {
    await typedEndpoint('quality');
    const ws = nextWindow(1500);
    // over HTTP: a native event (age 'a'), an MLRun event (plan 7), a columnar batch (age 'x', y 'bad', plan null)
    const answer = await env.client.sendEvents('quality', [
      {
        when: ws + 1,
        inputs: [
          ['a', 'pro'],
          [41, 'free'],
        ],
        outputs: [1, 0],
      },
      mlrunEvent('h2', [[40, 7]], [1], ws + 2),
      { format: 'columnar', when: ws + 3, inputs: { age: ['x', 5], plan: ['pro', null] }, outputs: { y: ['bad', 1] } },
    ]);
    expect(answer).toEqual({ accepted: 3, rejected: [], wrongType: { age: 2, plan: 1, y: 1 } });
    // over NATS: a native event with an object row (age 'b'), an MLRun event with one flat row (plan true, a number)
    await publish('quality', { when: ws + 4, inputs: [{ age: 'b', plan: 'team' }], outputs: 0 });
    await publish('quality', mlrunEvent('n2', [39, true], 1, ws + 5));

    const w = await windowsOf('quality', ws, ['sample-stats', 'system-performance']);
    // 7 rows; age: 'a', 'x', 'b' of the wrong type; plan: 7 and true, and one null; y: 'bad'
    expect(metrics(w.get('sample-stats'))).toMatchObject({
      rows: 7,
      wrong__age: 3,
      missing__age: 3,
      count__age: 4,
      mean__age: (41 + 40 + 5 + 39) / 4,
      wrong__plan: 2,
      missing__plan: 3,
      count__plan: 4,
      wrong__y: 1,
      missing__y: 1,
    });
    const quality = result(w.get('system-performance'), 'data_quality');
    expect(quality).toMatchObject({
      kind: 3,
      value: 6 / 14,
      status: 2,
      extraData: { rows: 7, features: 2, values: 14, missingValues: 6, wrongTypeValues: 5 },
    });
    expect(quality.extraData!.columns).toMatchObject({ age: { missing: 3, wrongType: 3 }, plan: { missing: 3, wrongType: 2 } });
    expect(metrics(w.get('system-performance'))).toMatchObject({ missing_values: 6, wrong_type_values: 5 });
  });

  it('of the wrong type count once when the event is stored twice (redelivered to the stream processor)', async () => {
    await typedEndpoint('redelivered');
    const ws = nextWindow(2500);
    const first = { when: ws + 1, inputs: [['a', 'pro']], outputs: [1] };
    const ack = await publish('redelivered', first);
    const subject = Subjects.rows(endpointId('redelivered'), ws);
    const stored = async () => (await jsm.streams.info(Streams.rows, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    await waitFor('the rows stored', async () => ((await stored()) === 1 ? true : undefined));
    // the processor redelivered the event after a crash between storing its rows and acknowledging
    // it, and batched it with an event it had not seen: one chunk holds the event's part again
    // (the same sequence and offset) and the new event's part
    const endpoint = await env.client.getEndpoint('redelivered');
    const again = new RowsChunk(2, 1);
    again.beginPart(ack.seq, 0);
    again.addRange(parseEvent(first, endpoint, ws), 0, 1, Infinity);
    again.beginPart(ack.seq + 1_000_000, 0);
    again.addRange(parseEvent({ when: ws + 2, inputs: [['b', 3]], outputs: [0] }, endpoint, ws), 0, 1, Infinity);
    await jetstream(nc).publish(subject, again.encode());
    expect(await stored()).toBe(2);
    // both are in before the window can be read (it is read after its end plus the lateness)
    expect(Date.now()).toBeLessThan(ws + PERIOD);

    const w = await windowsOf('redelivered', ws, ['sample-stats', 'system-performance']);
    // the first event once ('a'), the new one once ('b', and 3 for a plan)
    expect(metrics(w.get('sample-stats'))).toMatchObject({ rows: 2, wrong__age: 2, missing__age: 2, wrong__plan: 1, missing__plan: 1 });
    expect(result(w.get('system-performance'), 'data_quality').extraData).toMatchObject({ rows: 2, missingValues: 3, wrongTypeValues: 3 });
  });

  it("in a flat list are one row, as MLRun reads the single-row input its serving pushes: MLRun's forms and native events, over HTTP and NATS", async () => {
    await env.client.createEndpoint({ name: 'iris', featureNames: IRIS, labelNames: ['species'] });
    await env.client.createEndpoint({ name: 'iris-anon' });
    const ws = nextWindow(1500);
    // MLRun's own iris test data: a request made from one dict, a scalar output
    expect(await env.client.sendEvents('iris', mlrunEvent('h1', [5.1, 3.5, 1.4, 0.2], 0, ws + 1))).toEqual({ accepted: 1, rejected: [] });
    expect(await env.client.sendEvents('iris', { when: ws + 2, inputs: [4.9, 3.0, 1.4, 0.2], outputs: 0 })).toEqual({ accepted: 1, rejected: [] });
    await publish('iris', mlrunEvent('n1', [6.2, 2.9, 4.3, 1.3], 1, ws + 3));
    await publish('iris', { when: ws + 4, inputs: [5.9, 3.0, 5.1, 1.8], outputs: [2] });
    // MLRun's batched form (stream_batch > 1), each value a flat row
    await publish('iris', {
      class: 'ClassifierModel',
      model: 'iris:latest',
      headers: ['request', 'op', 'resp', 'when', 'microsec', 'metrics'],
      values: [
        [{ id: 'b1', inputs: [5.0, 3.6, 1.4, 0.2] }, 'infer', { id: 'b1', outputs: 0 }, mlrunTime(ws + 5), 800, {}],
        [{ id: 'b2', inputs: [6.7, 3.1, 4.4, 1.4] }, 'infer', { id: 'b2', outputs: [1] }, mlrunTime(ws + 6), 800, {}],
      ],
    });
    // an endpoint without names: MLRun's names from the flat row
    await publish('iris-anon', mlrunEvent('a1', [5.1, 3.5, 1.4, 0.2], 0, ws + 7));

    const w = await windowsOf('iris', ws, ['sample-stats']);
    expect(metrics(w.get('sample-stats'))).toMatchObject({
      rows: 6,
      count__sepal_length: 6,
      mean__sepal_length: (5.1 + 4.9 + 6.2 + 5.9 + 5.0 + 6.7) / 6,
      mean__petal_width: (0.2 + 0.2 + 1.3 + 1.8 + 0.2 + 1.4) / 6,
      mean__species: (0 + 0 + 1 + 2 + 0 + 1) / 6,
    });
    const anon = await windowsOf('iris-anon', ws, ['sample-stats']);
    expect(metrics(anon.get('sample-stats'))).toMatchObject({ rows: 1, mean__f0: 5.1, mean__f3: 0.2, mean__p0: 0 });
    expect(await env.client.getEndpoint('iris-anon')).toMatchObject({ featureNames: ['f0', 'f1', 'f2', 'f3'], labelNames: ['p0'] });
    expect((await env.client.deadLetters({ endpoint: 'iris' })).letters).toEqual([]);
  });

  it('in a flat list are one row for a one-feature endpoint too: [5.1] is one row, [[5.1], [4.9]] two, [5.1, 4.9] is refused', async () => {
    await env.client.createEndpoint({ name: 'single', featureNames: ['x'], labelNames: ['y'] });
    const ws = nextWindow(1500);
    expect(await env.client.sendEvents('single', { when: ws + 1, inputs: [5.1], outputs: 1 })).toEqual({ accepted: 1, rejected: [] });
    await publish('single', mlrunEvent('n1', [4.9], 0, ws + 2));
    await publish('single', { when: ws + 3, inputs: [[1.0], [2.0]], outputs: [0, 1] });
    // two values for one feature: one row of two values, refused with the reason
    await expect(env.client.sendEvents('single', { when: ws + 4, inputs: [5.1, 4.9], outputs: [1, 0] })).rejects.toThrow(
      /inputs: 2 values, but the endpoint has 1 features \(x\): a list of values is one row; rows of a one-feature model are written \[\[v\], \[v\], \.\.\.\]/,
    );
    await publish('single', mlrunEvent('n2', [5.1, 4.9], [1, 0], ws + 5));

    const w = await windowsOf('single', ws, ['sample-stats']);
    expect(metrics(w.get('sample-stats'))).toMatchObject({ rows: 4, mean__x: (5.1 + 4.9 + 1 + 2) / 4, mean__y: (1 + 0 + 0 + 1) / 4 });
    const letters = await waitFor('two dead letters', async () => {
      const l = (await env.client.deadLetters({ endpoint: 'single' })).letters;
      return l.length === 2 ? l : undefined;
    });
    expect(letters.map((l) => `${l.source} ${l.reason.code}: ${l.reason.message}`).sort()).toEqual([
      expect.stringMatching(/^http INVALID_EVENT: inputs: 2 values, but the endpoint has 1 features \(x\)/),
      expect.stringMatching(/^nats INVALID_EVENT: request\.inputs: 2 values, but the endpoint has 1 features \(x\)/),
    ]);
  });
});
