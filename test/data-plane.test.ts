import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderNames, Streams, Subjects, type StoredDeadLetter } from '@modelwatch/protocol';
import type { EndpointSummary } from '../host/src/client/client.js';
import { endpointId } from '../host/src/domain/names.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { waitUntilDrained } from './helpers/events.js';
import { authHeaders, publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';
import { startTestTsdb, type TestTsdb } from './helpers/tsdb.js';

const run = promisify(execFile);
const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const WINDOW_FLAG = new URL('./fixtures/plugins/window-flag', import.meta.url).pathname;
const PERIOD = 1000;
const INTERVAL = 2000;

/** MLRun's `str(datetime)` of a time: "2026-11-27 10:00:00.123000+00:00". */
const mlrunTime = (ms: number) => `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}000+00:00`;

/**
 * The data plane on real components: every event format on the same subject and route,
 * serving metrics per endpoint and interval, late rows, dead letters and replay through the CLI,
 * batches of historical events in their own windows.
 */
describe('data plane', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let tsdb: TestTsdb;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let nc: NatsConnection;
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.client.url, ...args], { timeout: 60_000 })).stdout;
  const rowsOf = async (endpoint: string, batch?: string) =>
    (await env.client.results({ endpoint, app: 'row-count', ...(batch ? { batch } : {}) })).reduce((n, w) => n + w.rows, 0);
  const publish = (endpoint: string, body: unknown, headers?: Record<string, string>) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers ?? {})) h.set(k, v);
    return jetstream(nc).publish(
      Subjects.events(endpoint),
      typeof body === 'string' ? new TextEncoder().encode(body) : jsonCodec.encode(body),
      headers ? { headers: h } : undefined,
    );
  };

  beforeAll(async () => {
    // one after the other: both are in hand for afterAll, whichever fails to start
    nats = await startTestNats();
    tsdb = await startTestTsdb();
    env = await startTestHost({
      natsUrl: nats.url,
      basePeriod: PERIOD,
      allowedLateness: 500,
      servingInterval: INTERVAL,
      influx: { url: tsdb.url, org: 'test', bucket: 'modelwatch' },
    });
    nc = await connect({ servers: nats.url });
    await publishDir(env.client, ROW_COUNT);
    await publishDir(env.client, WINDOW_FLAG);
  });

  afterAll(async () => {
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await tsdb?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("takes MLRun's inference events as its serving functions push them, on the same subject and route, naming features f0..fn", async () => {
    await env.client.createEndpoint({ name: 'mlrun-model' });
    const now = Date.now();
    const event = (id: string, inputs: number[][], outputs: unknown) => ({
      class: 'ClassifierModel',
      worker: 0,
      model: 'churn:latest',
      host: 'serving-1',
      function_uri: 'proj/serving',
      request: { id, inputs },
      op: 'infer',
      resp: { id, model_name: 'churn', outputs },
      when: mlrunTime(now),
      microsec: 1500,
    });
    await publish(
      'mlrun-model',
      event(
        'a',
        [
          [1, 2],
          [3, 4],
        ],
        [0, 1],
      ),
    ); // a list as long as the inputs: one prediction per row
    await publish('mlrun-model', event('b', [[5, 6]], 1)); // a scalar: the prediction of the one row
    // MLRun's batched form (stream_batch > 1)
    await publish('mlrun-model', {
      class: 'ClassifierModel',
      model: 'churn:latest',
      headers: ['request', 'op', 'resp', 'when', 'microsec', 'metrics'],
      values: [
        [{ id: 'c', inputs: [[7, 8]] }, 'infer', { id: 'c', outputs: [0] }, mlrunTime(now), 900, {}],
        [{ id: 'd', inputs: [[9, 10]] }, 'infer', { id: 'd', outputs: [1] }, mlrunTime(now), 1100, {}],
      ],
    });
    // an error: MLRun pushes it without resp and microsec
    await publish('mlrun-model', {
      class: 'ClassifierModel',
      model: 'churn:latest',
      request: { id: 'e', inputs: [[1, 1]] },
      op: 'infer',
      when: mlrunTime(now),
      error: 'ValueError: boom',
    });
    // over HTTP, the same event unchanged
    expect(await env.client.sendEvents('mlrun-model', event('f', [[11, 12]], [1]))).toEqual({ accepted: 1, rejected: [] });
    // a required field missing: dead-lettered with the reason
    await publish('mlrun-model', { ...event('g', [[1, 1]], [0]), microsec: undefined });

    await waitFor('six rows analysed', async () => ((await rowsOf('mlrun-model')) === 6 ? true : undefined));
    const ep = await env.client.getEndpoint('mlrun-model');
    expect(ep.featureNames).toEqual(['f0', 'f1']);
    expect(ep.labelNames).toEqual(['p0']);
    const stats = await waitFor('the requests counted', async () => {
      const s = await env.client.endpointStats('mlrun-model');
      return s.requests === 6 ? s : undefined;
    });
    expect(stats).toMatchObject({ requests: 6, errors: 1, predictions: 6, latencyCount: 5 });
    expect(stats.latencyAvg).toBeCloseTo((1500 + 1500 + 900 + 1100 + 1500) / 5, 6);
    const letters = (await env.client.deadLetters({ endpoint: 'mlrun-model' })).letters;
    expect(letters.map((l) => `${l.reason.code}: ${l.reason.message}`)).toEqual([expect.stringMatching(/^INVALID_EVENT: microsec: missing/)]);
  });

  it('takes columnar micro-batches, each row analysed in the window of its own time', async () => {
    await env.client.createEndpoint({ name: 'columns', featureNames: ['a', 'b'], labelNames: ['y'] });
    const ws = Math.ceil((Date.now() + 1200) / PERIOD) * PERIOD;
    await untilWallClock(ws + 10);
    const n = 300;
    const when = Array.from({ length: n }, (_, i) => (i < 200 ? ws + i : ws + PERIOD + (i - 200)));
    await publish('columns', {
      format: 'columnar',
      when,
      inputs: { a: Array.from({ length: n }, (_, i) => i), b: Array.from({ length: n }, () => 1) },
      outputs: { y: Array.from({ length: n }, (_, i) => i % 2) },
      requestIds: Array.from({ length: n }, (_, i) => `r${i}`),
    });
    const windows = await waitFor('both windows', async () => {
      const w = await env.client.results({ endpoint: 'columns', app: 'window-flag' });
      const byStart = new Map(w.map((x) => [x.windowStart, x]));
      return byStart.has(ws) && byStart.has(ws + PERIOD) ? byStart : undefined;
    });
    expect(windows.get(ws)!.rows).toBe(200);
    expect(windows.get(ws + PERIOD)!.rows).toBe(100);
    // the first feature's mean in each window: rows 0..199, then 200..299
    expect(windows.get(ws)!.metrics.find((m) => m.name === 'first_feature_mean')!.value).toBeCloseTo(99.5, 10);
    expect(windows.get(ws + PERIOD)!.metrics.find((m) => m.name === 'first_feature_mean')!.value).toBeCloseTo(249.5, 10);
  });

  it('keeps serving metrics per endpoint and interval (requests, errors, latency average, p50, p99, estimated predictions) once in LevelDB and once in the TSDB, live on the endpoint, shown by the CLI', async () => {
    await env.client.createEndpoint({ name: 'serve', featureNames: ['x'], labelNames: ['y'] });
    // start just after an interval boundary so every request falls in one interval
    await untilWallClock(Math.ceil((Date.now() + 1) / INTERVAL) * INTERVAL + 30);
    const t0 = Date.now();
    const latencies: number[] = [];
    const js = jetstream(nc);
    const pubs: Array<Promise<unknown>> = [];
    for (let i = 1; i <= 200; i++) {
      const latencyMicros = i * 10 + (i % 7) * 3;
      latencies.push(latencyMicros);
      pubs.push(js.publish(Subjects.events('serve'), jsonCodec.encode({ when: t0, inputs: [[i]], outputs: [i % 2], latencyMicros })));
    }
    for (let i = 0; i < 10; i++) pubs.push(js.publish(Subjects.events('serve'), jsonCodec.encode({ when: t0, error: 'model failed' })));
    // a sampled micro-batch: 40 rows kept of a quarter of the traffic, each a request of 5 ms
    pubs.push(
      js.publish(
        Subjects.events('serve'),
        jsonCodec.encode({ format: 'columnar', when: t0, samplingPercentage: 25, inputs: { x: Array.from({ length: 40 }, (_, i) => i) }, latencyMicros: 5000 }),
      ),
    );
    await Promise.all(pubs);
    for (let i = 0; i < 40; i++) latencies.push(5000);
    expect(Date.now() - t0).toBeLessThan(INTERVAL - 100);

    // live, before the interval closes: the open interval counts
    const live = await waitFor('the requests counted live', async () => {
      const s = await env.client.endpointStats('serve');
      return s.requests === 250 ? s : undefined;
    });
    expect(live).toMatchObject({ requests: 250, errors: 10, predictions: 240, estimatedPredictions: 200 + 40 * 4, latencyCount: 240 });

    const [interval] = await waitFor('the interval closed and stored', async () => {
      const iv = await env.client.servingIntervals('serve');
      return iv.length > 0 ? iv : undefined;
    });
    const sorted = [...latencies].sort((a, b) => a - b);
    const rank = (q: number) => sorted[Math.ceil(q * sorted.length) - 1]!;
    expect(interval).toMatchObject({
      start: Math.floor(t0 / INTERVAL) * INTERVAL,
      intervalMs: INTERVAL,
      requests: 250,
      errors: 10,
      predictions: 240,
      estimatedPredictions: 360,
    });
    expect(interval!.latencyAvg).toBeCloseTo(latencies.reduce((a, b) => a + b, 0) / latencies.length, 3);
    expect(Math.abs(interval!.latencyP50! - rank(0.5)) / rank(0.5)).toBeLessThan(0.01);
    expect(Math.abs(interval!.latencyP99! - rank(0.99)) / rank(0.99)).toBeLessThan(0.01);
    expect(interval!.firstRequest).toBe(t0);

    // the TSDB: one serving_metrics point per series and interval, equal to LevelDB's
    // the fields looked at below, each (not a count of series, which may be reached without them)
    const points = await waitFor('serving_metrics points', async () => {
      const s = await tsdb.exportSeries('serving_metrics_.*', Math.floor(t0 / 1000) - 5);
      const mine = s.filter((x) => x.metric.endpoint_name === 'serve');
      const names = new Set(mine.map((x) => x.metric.__name__));
      return ['requests', 'errors', 'estimated_predictions', 'latency_p99'].every((f) => names.has(`serving_metrics_${f}`)) ? mine : undefined;
    });
    const field = (name: string) => points.find((p) => p.metric.__name__ === `serving_metrics_${name}`)!;
    for (const p of points) {
      expect(p.metric.endpoint_id).toBe(endpointId('serve'));
      expect(new Set(p.timestamps).size).toBe(p.timestamps.length);
    }
    expect(field('requests')).toMatchObject({ values: [250], timestamps: [interval!.start] });
    expect(field('errors').values).toEqual([10]);
    expect(field('estimated_predictions').values).toEqual([360]);
    expect(field('latency_p99').values[0]).toBeCloseTo(interval!.latencyP99!, 6);

    // the endpoint: totals, drift status (window-flag: windows of 100 rows or more are "detected"), in the CLI
    const eps = JSON.parse(await cli('endpoint', 'list', '--json')) as EndpointSummary[];
    const serve = eps.find((e) => e.name === 'serve')!;
    expect(serve.stats).toMatchObject({ requests: 250, errors: 10, firstRequest: t0, lastRequest: t0 });
    const flagged = await waitFor('the drift status', async () => {
      const s = await env.client.endpointStats('serve');
      return s.driftStatus !== null ? s : undefined;
    });
    expect(flagged.driftStatus).toBe(2);
    const table = await cli('endpoint', 'list');
    expect(table).toMatch(/serve .*│ 250 +│ 10 +│/);
    const get = await cli('endpoint', 'get', 'serve');
    expect(get).toMatch(/requests: +250 \(errors 10\)/);
    expect(get).toMatch(/drift status: +detected/);
    expect(get).toMatch(/predictions: +240 received, 360 estimated/);
  });

  it('over HTTP: a retried request with the same Idempotency-Key counts once, concurrent small requests each count, an unknown endpoint is a 404 and a dead letter', async () => {
    await env.client.createEndpoint({ name: 'http-in', featureNames: ['x'], labelNames: ['y'] });
    const url = `${env.client.url}/api/v1/endpoints/http-in/events`;
    const post = (body: unknown, key?: string) =>
      fetch(url, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }),
        body: JSON.stringify(body),
      });
    const first = await post([{ inputs: [[1]] }, { inputs: [[2]] }], 'k-1');
    const retry = await post([{ inputs: [[1]] }, { inputs: [[2]] }], 'k-1');
    expect([first.status, retry.status]).toEqual([202, 202]);
    // the client's option sends the same header
    for (let i = 0; i < 2; i++) expect((await env.client.sendEvents('http-in', [{ inputs: [[3]] }], { idempotencyKey: 'k-2' })).accepted).toBe(1);
    // a key the host would ignore, or a header could not carry, is refused before anything is sent
    for (const bad of ['', ' k-3', 'k\n3', 'clé'])
      await expect(env.client.sendEvents('http-in', [{ inputs: [[4]] }], { idempotencyKey: bad })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => post({ inputs: [[i]], latencyMicros: 10 })));
    expect(many.every((r) => r.status === 202)).toBe(true);
    await waitFor('53 rows', async () => ((await rowsOf('http-in')) === 53 ? true : undefined));
    // the serving aggregator counts requests on its own path: rows analysed do not mean they are counted
    const counted = await waitFor('53 requests counted', async () => {
      const s = await env.client.endpointStats('http-in');
      return s.requests >= 53 ? s : undefined;
    });
    expect(counted.requests).toBe(53);
    const gone = await fetch(`${env.client.url}/api/v1/endpoints/no-such/events`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: '{"inputs": [[1]]}',
    });
    expect(gone.status).toBe(404);
    const letters = await env.client.deadLetters({ endpoint: 'no-such' });
    expect(letters.letters.map((l) => [l.reason.code, l.source, l.payload])).toEqual([['UNKNOWN_ENDPOINT', 'http', '{"inputs": [[1]]}']]);
    const bad = await fetch(url, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"inputs": [[NaN]]}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { rejected: Array<{ error: string }> }).rejected[0]!.error).toMatch(/NaN and Infinity are not JSON numbers/);
  });

  it('over HTTP: an Idempotency-Key given again with another body is refused (422 naming the key), nothing of that body stored or dead-lettered; the same body again is a retry', async () => {
    await env.client.createEndpoint({ name: 'http-key', featureNames: ['x'], labelNames: ['y'] });
    const post = async (body: string, key: string) => {
      const r = await fetch(`${env.client.url}/api/v1/endpoints/http-key/events`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json', 'idempotency-key': key }),
        body,
      });
      return { status: r.status, body: (await r.json()) as unknown };
    };
    const stored = async () => {
      const subject = Subjects.events('http-key');
      const info = await (await jetstreamManager(nc)).streams.info(Streams.events, { subjects_filter: subject });
      return info.state.subjects?.[subject] ?? 0;
    };
    // a good event and a bad one (two values for one feature)
    const body = '[{"inputs": [[1]]}, {"inputs": [[1, 2]]}]';
    const answer = { accepted: 1, rejected: [{ index: 1, error: expect.stringMatching(/^inputs\[0\]: 2 values, but the endpoint has 1 features/) }] };
    expect(await post(body, 'k-1')).toEqual({ status: 202, body: answer });
    expect(await post(body, 'k-1')).toEqual({ status: 202, body: answer });
    expect(await stored()).toBe(1);
    // other events under the same key (JetStream dropped them as duplicates, and the answer said 202 {accepted: 3})
    const reused = await post('[{"inputs": [[2]]}, {"inputs": [[3]]}, {"inputs": [[4]]}]', 'k-1');
    expect(reused).toEqual({
      status: 422,
      body: {
        error: {
          code: 'IDEMPOTENCY_KEY_REUSED',
          message:
            "Idempotency-Key 'k-1' was used within the last 2 minutes for a request with another body: a retry sends the same body, other events take a new key",
        },
      },
    });
    // one with events refused: refused whole as well, its letters not written
    expect(await post('[{"inputs": [[5]]}, {"inputs": [[]]}]', 'k-1')).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
    expect(await stored()).toBe(1);
    const letters = (await env.client.deadLetters({ endpoint: 'http-key' })).letters;
    expect(letters.map((l) => l.payload)).toEqual(['{"inputs":[[1,2]]}', '{"inputs":[[1,2]]}']);
    // the stored message carries its body's hash; a new key takes the other events
    const m = await (await jetstreamManager(nc)).streams.getMessage(Streams.events, { last_by_subj: Subjects.events('http-key') });
    expect(m?.header.get(HeaderNames.bodyHash)).toMatch(/^[0-9a-f]{64}$/);
    expect(await post('[{"inputs": [[2]]}, {"inputs": [[3]]}, {"inputs": [[4]]}]', 'k-2')).toEqual({ status: 202, body: { accepted: 3, rejected: [] } });
    await waitFor('4 rows', async () => ((await rowsOf('http-key')) === 4 ? true : undefined));
  });

  it('over HTTP: a request batch whose rows were all sampled out still counts its requests and reports its drops', async () => {
    await env.client.createEndpoint({ name: 'http-sampled', featureNames: ['x'], labelNames: ['y'] });
    const post = (body: unknown) =>
      fetch(`${env.client.url}/api/v1/endpoints/http-sampled/events`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
    const empty = await post({ format: 'batch', samplingPercentage: 1, requests: { count: 7, errors: 1, latencyMicros: [10, 20], dropped: 3 }, events: [] });
    expect(empty.status).toBe(202);
    expect(await empty.json()).toEqual({ accepted: 0, rejected: [] });
    const counted = await waitFor('7 requests counted', async () => {
      const s = await env.client.endpointStats('http-sampled');
      return s.requests >= 7 ? s : undefined;
    });
    expect(counted).toMatchObject({ requests: 7, errors: 1, predictions: 0, latencyCount: 2, dropped: 3 });
  });

  it('dead-letters late rows and counts them per endpoint', async () => {
    await env.client.createEndpoint({ name: 'tardy', featureNames: ['x'], labelNames: ['y'] });
    const hourAgo = Date.now() - 3_600_000;
    await publish('tardy', [
      { when: hourAgo, inputs: [[1], [2], [3]] },
      { when: Date.now(), inputs: [[4]] },
    ]);
    // a micro-batch with some rows late: only those are dead-lettered
    await publish('tardy', { format: 'columnar', when: [hourAgo, Date.now(), hourAgo], inputs: { x: [5, 6, 7] } });
    const stats = await waitFor('late rows counted', async () => {
      const s = await env.client.endpointStats('tardy');
      return s.lateRows === 5 && s.requests === 5 ? s : undefined;
    });
    expect(stats.deadLetters).toEqual({ total: 2, byReason: { LATE_EVENT: 2 } });
    await waitFor('the two timely rows analysed', async () => ((await rowsOf('tardy')) === 2 ? true : undefined));
    const letters = (await env.client.deadLetters({ endpoint: 'tardy' })).letters;
    const partial = letters.find((l) => l.payloadScope === 'event')!;
    expect(partial.rows).toBe(2);
    expect(JSON.parse(partial.payload)).toMatchObject({ format: 'columnar', when: [hourAgo, hourAgo], inputs: { x: [5, 7] } });
    expect((await cli('endpoint', 'get', 'tardy')).match(/late rows: +(\d+)/)?.[1]).toBe('5');
  });

  it('a late event, accepted over HTTP then dead-lettered, moves neither the first nor the last request', async () => {
    const post = (name: string, body: unknown) =>
      fetch(`${env.client.url}/api/v1/endpoints/${name}/events`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
    await env.client.createEndpoint({ name: 'late-first', featureNames: ['x'], labelNames: ['y'] });
    const t0 = Date.now();
    expect((await post('late-first', { when: t0, inputs: [[1]] })).status).toBe(202);
    expect(
      await waitFor('the timely request counted', async () => {
        const s = await env.client.endpointStats('late-first');
        return s.requests === 1 ? s : undefined;
      }),
    ).toMatchObject({ firstRequest: t0, lastRequest: t0 });
    expect((await post('late-first', { when: '2020-01-01T00:00:00Z', inputs: [[2]] })).status).toBe(202);
    const after = await waitFor('the late event counted', async () => {
      const s = await env.client.endpointStats('late-first');
      return s.lateRows === 1 ? s : undefined;
    });
    // counted as a request and a late row, dead-lettered, at no time
    expect(after).toMatchObject({ requests: 2, lateRows: 1, firstRequest: t0, lastRequest: t0, deadLetters: { total: 1, byReason: { LATE_EVENT: 1 } } });
    expect(await cli('endpoint', 'get', 'late-first')).toMatch(new RegExp(`first request: +${new Date(t0).toISOString()}`));
    // an endpoint whose only request was late has none
    await env.client.createEndpoint({ name: 'late-only', featureNames: ['x'], labelNames: ['y'] });
    expect((await post('late-only', { when: '2020-01-01T00:00:00Z', inputs: [[2]] })).status).toBe(202);
    expect(
      await waitFor('the late event counted', async () => {
        const s = await env.client.endpointStats('late-only');
        return s.lateRows === 1 ? s : undefined;
      }),
    ).toMatchObject({ requests: 1, firstRequest: null, lastRequest: null });
    // and so they stay once the intervals are closed and stored
    const [first, only] = await waitFor('the intervals stored', async () => {
      const [a, b] = await Promise.all([env.client.servingIntervals('late-first'), env.client.servingIntervals('late-only')]);
      return a.reduce((n, iv) => n + iv.requests, 0) === 2 && b.length === 1 ? [a, b] : undefined;
    });
    for (const iv of first) expect([t0, null]).toContain(iv.firstRequest);
    expect(only).toMatchObject([{ requests: 1, lateRows: 1, firstRequest: null, lastRequest: null }]);
    expect(await env.client.endpointStats('late-first')).toMatchObject({ firstRequest: t0, lastRequest: t0 });
    expect(await env.client.endpointStats('late-only')).toMatchObject({ firstRequest: null, lastRequest: null });
  });

  it('lists, shows and replays dead letters with the CLI; a replayed letter is gone, so a replay is never repeated', async () => {
    // events for an endpoint that does not exist yet
    for (let i = 0; i < 3; i++) await publish('later', { inputs: [[i, i]], outputs: [0] });
    const listed = await waitFor('three letters', async () => {
      const r = JSON.parse(await cli('dlq', 'list', '--endpoint', 'later', '--json')) as { total: number; letters: StoredDeadLetter[] };
      return r.total === 3 ? r : undefined;
    });
    expect(listed.letters.map((l) => l.reason.code)).toEqual(['UNKNOWN_ENDPOINT', 'UNKNOWN_ENDPOINT', 'UNKNOWN_ENDPOINT']);
    expect(listed.letters.map((l) => l.seq)).toEqual([...listed.letters.map((l) => l.seq)].sort((a, b) => b - a)); // newest first
    // the three events may be processed in concurrent batches: their letters' order is not theirs
    expect(listed.letters.map((l) => l.payload).sort()).toEqual([0, 1, 2].map((i) => `{"inputs":[[${i},${i}]],"outputs":[0]}`));
    const shown = await cli('dlq', 'show', String(listed.letters[0]!.seq));
    expect(shown).toMatch(/reason: +UNKNOWN_ENDPOINT: no endpoint named 'later'/);
    expect(shown).toContain(listed.letters[0]!.payload);
    const table = await cli('dlq', 'list');
    expect(table).toMatch(/later +│ UNKNOWN_ENDPOINT +│ 3/);

    // fix the cause, then replay
    await env.client.createEndpoint({ name: 'later', featureNames: ['a', 'b'], labelNames: ['y'] });
    expect(await cli('dlq', 'replay', '--endpoint', 'later')).toMatch(/replayed 3 dead letter/);
    await waitFor('the replayed events analysed', async () => ((await rowsOf('later')) === 3 ? true : undefined));
    expect((await env.client.deadLetters({ endpoint: 'later' })).total).toBe(0);
    expect(await cli('dlq', 'replay', '--endpoint', 'later')).toMatch(/replayed 0 dead letter/);
    // the positive marker: an event sent after the second replay, analysed with everything before it
    await publish('later', { inputs: [[9, 9]], outputs: [0] });
    await waitFor('the marker analysed', async () => ((await rowsOf('later')) >= 4 ? true : undefined));
    await waitUntilDrained(nats.url);
    expect(await rowsOf('later')).toBe(4);

    // one bad event of three: replaying its letter sends that event alone (here it is bad again)
    await env.client.createEndpoint({ name: 'partial', featureNames: ['a', 'b'], labelNames: ['y'] });
    await publish('partial', [{ inputs: [[1, 2]] }, { inputs: [[1, 2, 3]] }, { inputs: [[3, 4]] }]);
    const [letter] = await waitFor('the letter', async () => {
      const l = (await env.client.deadLetters({ endpoint: 'partial' })).letters;
      return l.length ? l : undefined;
    });
    expect(letter).toMatchObject({ index: 1, payloadScope: 'message' });
    expect(JSON.parse((await env.client.deadLetter(letter!.seq)).payload)).toHaveLength(3);
    expect(await cli('dlq', 'replay', String(letter!.seq))).toMatch(/replayed 1 dead letter/);
    const again = await waitFor('a new letter for the replayed event', async () => {
      const l = (await env.client.deadLetters({ endpoint: 'partial' })).letters;
      return l.length === 1 && l[0]!.seq !== letter!.seq ? l[0] : undefined;
    });
    expect(JSON.parse((await env.client.deadLetter(again!.seq)).payload)).toEqual({ inputs: [[1, 2, 3]] });
    await waitFor('the two good rows', async () => ((await rowsOf('partial')) === 2 ? true : undefined));
    // the replay sent the bad event alone, not its good neighbours again: a marker sent after it
    // is analysed, and with it everything before it
    await publish('partial', { inputs: [[5, 6]] });
    await waitFor('the marker analysed', async () => ((await rowsOf('partial')) >= 3 ? true : undefined));
    await waitUntilDrained(nats.url);
    expect(await rowsOf('partial')).toBe(3);
    await expect(cli('dlq', 'show', '999999')).rejects.toMatchObject({ stderr: expect.stringMatching(/no dead letter 999999/) });
  });

  it('analyses a batch of historical events in its own windows, once, after the batch is in; a batch id is used once', async () => {
    await env.client.createEndpoint({ name: 'history', featureNames: ['x'], labelNames: ['y'] });
    const day = Math.floor((Date.now() - 86_400_000) / PERIOD) * PERIOD;
    const events = [
      ...Array.from({ length: 150 }, (_, i) => ({ when: day + i, inputs: [[i]], outputs: [0] })),
      ...Array.from({ length: 30 }, (_, i) => ({ when: day + 5 * PERIOD + i, inputs: [[i]], outputs: [1] })),
    ];
    const sent = await env.client.sendBatch('history', events, { id: 'october' });
    expect(sent).toEqual({ batchId: 'october', accepted: 180, rejected: [] });
    const windows = await waitFor('the batch windows', async () => {
      const w = await env.client.results({ endpoint: 'history', batch: 'october', app: 'window-flag' });
      return w.length === 2 ? w : undefined;
    });
    expect(windows.map((w) => [w.windowStart, w.rows, w.results[0]!.status]).sort()).toEqual(
      [
        [day, 150, 2],
        [day + 5 * PERIOD, 30, 0],
      ].sort(),
    );
    expect(windows[0]!.endpointId).toBe(`${endpointId('history')}-october`);
    // live windows of the endpoint have none of it; no late rows
    expect((await env.client.results({ endpoint: 'history' })).some((w) => w.windowStart < Date.now() - 3_600_000)).toBe(false);
    expect((await env.client.endpointStats('history')).lateRows).toBe(0);
    // marked dispatched after its tasks are published, so possibly after their results are stored
    const b = await waitFor('the batch marked dispatched', async () => (await env.client.listBatches('history')).find((x) => x.status === 'dispatched'));
    expect(b).toMatchObject({ batchId: 'october', status: 'dispatched', windows: 2 });
    await expect(env.client.sendBatch('history', events, { id: 'october' })).rejects.toThrow(/batch 'october' of endpoint history exists already/);
    // the TSDB points of a batch carry its id
    const s = await waitFor('batch points', async () => {
      const x = (await tsdb.exportSeries('app_results_value', Math.floor(day / 1000) - 5)).filter((p) => p.metric.batch_id === 'october');
      return x.length ? x : undefined;
    });
    expect(s[0]!.metric.endpoint_id).toBe(endpointId('history'));

    // over NATS: events with the Mw-Batch header, then an end marker
    const now = Date.now() - 2 * 86_400_000;
    for (let i = 0; i < 5; i++) await publish('history', { when: now + i, inputs: [[i]] }, { 'Mw-Batch': 'nats-1' });
    await publish('history', '', { 'Mw-Batch-End': 'nats-1' });
    await waitFor('the NATS batch analysed', async () => ((await rowsOf('history', 'nats-1')) === 5 ? true : undefined));
    // more for a batch after its end: refused, its windows are analysed already
    await publish('history', { when: now, inputs: [[9]] }, { 'Mw-Batch': 'nats-1' });
    const refused = await waitFor('the refusal', async () => (await env.client.deadLetters({ endpoint: 'history', reason: 'INVALID_BATCH' })).letters[0]);
    expect(refused.reason.message).toMatch(/batch 'nats-1' of endpoint history is complete/);
    expect(refused.batch).toBe('nats-1');
    expect(
      JSON.parse(await cli('batch', 'list', 'history', '--json'))
        .map((x: { batchId: string }) => x.batchId)
        .sort(),
    ).toEqual(['nats-1', 'october']);
    // the CLI shows a batch's results
    const rows = JSON.parse(await cli('results', '--endpoint', 'history', '--batch', 'nats-1', '--app', 'row-count', '--json')) as Array<{
      windowStart: string;
      rows: number;
    }>;
    const perWindow = new Map(rows.map((r) => [r.windowStart, r.rows]));
    expect([...perWindow.values()].reduce((n, x) => n + x, 0)).toBe(5);
    await expect(cli('results', '--batch', 'nats-1')).rejects.toThrow(/--batch needs --endpoint/);
  });
});
