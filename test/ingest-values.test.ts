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
import type { IngestResult } from '../host/src/api/contract.js';
import { authHeaders, publishDir, REPO, startTestHost } from './helpers/host.js';
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
  /** Publish JSON text as it is (JSON.stringify cannot write what is nested 5000 deep). */
  const publishText = (endpoint: string, text: string) => jetstream(nc).publish(Subjects.events(endpoint), new TextEncoder().encode(text));
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

  it('nested too deep, at a time out of range, or skewing serving statistics, are refused at once naming the field, over HTTP and NATS; the good events with them are stored and counted alone', async () => {
    await env.client.createEndpoint({ name: 'bounds', featureNames: ['x'], labelNames: ['y'] });
    const ws = nextWindow(1500);
    const post = async (path: string, body: string) => {
      const r = await fetch(`${env.client.url}/api/v1/endpoints/bounds/${path}`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body,
      });
      return { status: r.status, body: (await r.json()) as IngestResult };
    };
    const rejected = (...errors: Array<[number, RegExp]>) => errors.map(([index, error]) => ({ index, error: expect.stringMatching(error) }));
    const brackets = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const good = (x: number) => JSON.stringify({ when: ws + x, inputs: [[x]], outputs: [0], latencyMicros: 100 });
    const deepLabels = (x: number) => `{"when": ${ws + x}, "inputs": [[${x}]], "labels": {"a": ${brackets}}}`;
    const skewing = (x: number) => [
      `{"when": 1e300, "inputs": [[${x}]]}`,
      `{"when": ${ws + x}, "inputs": [[${x}]], "samplingPercentage": 1e-300}`,
      `{"when": ${ws + x}, "inputs": [[${x}]], "latencyMicros": 1e308}`,
    ];
    const deep = /^the event: lists and objects nested more than 16 deep/;
    const labels = /^labels: lists and objects nested more than 16 deep in the event/;
    const when = /^when: 1e\+300 is out of range: a time in ms since the epoch is at most 8640000000000000/;
    const sampling = /^samplingPercentage: expected a percentage, 0\.001 <= p <= 100, got number 1e-300/;
    const latency = /^latencyMicros: 1e\+308 µs is over the limit of 3600000000 µs/;

    // over HTTP: a body nested 5000 deep is a 400 naming it (it was a 500), on both routes
    expect(await post('events', brackets)).toEqual({ status: 400, body: { accepted: 0, rejected: rejected([0, deep]) } });
    expect(await post('batches?id=deep', brackets)).toEqual({ status: 400, body: { batchId: 'deep', accepted: 0, rejected: rejected([0, deep]) } });
    // a good event next to one nested 5000 deep, next to ones that would skew the serving statistics: the good ones are stored
    expect(await post('events', `[${good(1)}, ${deepLabels(2)}]`)).toEqual({ status: 202, body: { accepted: 1, rejected: rejected([1, labels]) } });
    expect(await post('events', `[${good(3)}, ${skewing(4).join(', ')}]`)).toEqual({
      status: 202,
      body: { accepted: 1, rejected: rejected([1, when], [2, sampling], [3, latency]) },
    });
    expect(await post('events', skewing(5)[0]!)).toEqual({ status: 400, body: { accepted: 0, rejected: rejected([0, when]) } });
    // a list of no events: 400, as the README says of a request nothing of which is accepted
    expect(await post('events', '[]')).toEqual({ status: 400, body: { accepted: 0, rejected: [{ index: 0, error: 'no events: an empty list' }] } });

    // over NATS: the same, dead-lettered at once (a time out of range was redelivered every second, 50 times)
    await publishText('bounds', `[${good(6)}, ${deepLabels(7)}]`);
    await publishText('bounds', brackets);
    await publishText('bounds', `[${good(8)}, ${skewing(9).join(', ')}]`);
    await publishText('bounds', JSON.stringify({ format: 'batch', requests: { count: 5, lastWhen: 1e300 }, events: [JSON.parse(good(10))] }));
    await publishText('bounds', '[]');

    const w = await windowsOf('bounds', ws, ['sample-stats']);
    expect(metrics(w.get('sample-stats'))).toMatchObject({ rows: 4, count__x: 4, mean__x: (1 + 3 + 6 + 8) / 4 });
    const letters = await waitFor('15 dead letters', async () => {
      const l = (await env.client.deadLetters({ endpoint: 'bounds', limit: 100 })).letters;
      return l.length >= 15 ? l : undefined;
    });
    // each refused with what is wrong, at its index (none: the whole message)
    const messages: Record<string, RegExp> = {
      'the event': deep,
      labels,
      when,
      samplingPercentage: sampling,
      latencyMicros: latency,
      'requests.lastWhen': /^requests\.lastWhen: 1e\+300 is out of range/,
      'no events': /^no events: an empty list$/,
    };
    for (const l of letters) {
      expect(l.reason.code).toBe('INVALID_EVENT');
      expect(l.reason.message).toMatch(messages[l.reason.message.split(':')[0]!]!);
    }
    expect(letters.map((l) => `${l.source} ${l.index ?? '-'} ${l.reason.message.split(':')[0]}`).sort()).toEqual(
      [
        ...['http 0', 'http 0', 'nats 0'].map((at) => `${at} the event`),
        ...['http 1', 'nats 1'].map((at) => `${at} labels`),
        ...['http 1', 'http 0', 'nats 1'].map((at) => `${at} when`),
        ...['http 2', 'nats 2'].map((at) => `${at} samplingPercentage`),
        ...['http 3', 'nats 3'].map((at) => `${at} latencyMicros`),
        'nats - requests.lastWhen',
        'http - no events',
        'nats - no events',
      ].sort(),
    );
    // the letter of an event nested too deep keeps it (a listing cuts payloads: the letter itself)
    const kept = await env.client.deadLetter(letters.find((l) => l.source === 'http' && l.reason.message.startsWith('labels'))!.seq);
    expect(kept.payload).toBe(JSON.stringify({ when: ws + 2, inputs: [[2]], labels: { a: 0 } }).replace('"a":0', `"a":${brackets}`));
    // serving statistics of the good events alone: no estimate of 1e302 predictions, no latency of 1e308
    const stats = await waitFor('4 requests counted', async () => {
      const s = await env.client.endpointStats('bounds');
      return s.requests >= 4 ? s : undefined;
    });
    expect(stats).toMatchObject({ requests: 4, predictions: 4, estimatedPredictions: 4, latencyCount: 4, latencySum: 400 });
  });
});
