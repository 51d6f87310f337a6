import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects } from '@modelwatch/protocol';
import { createHostMetrics, METRIC_PREFIX } from '../host/src/metrics.js';
import { freePort } from '../host/src/nats/server.js';
import { authHeaders, publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { parseExposition, type Exposition } from './helpers/prometheus.js';
import { untilWallClock, waitFor } from './helpers/tmp.js';
import { waitForWindows } from './helpers/events.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const ALWAYS_THROWS = new URL('./fixtures/plugins/always-throws', import.meta.url).pathname;
const PERIOD = 1000;
const LATENESS = 200;
const m = (name: string) => `${METRIC_PREFIX}${name}`;

describe('operator metrics (GET /metrics)', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    // a TSDB nobody listens on: every write fails, and the points wait in the outbox
    const influx = { url: `http://127.0.0.1:${await freePort()}`, org: 'mw', bucket: 'mw', token: 'x' };
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: LATENESS, quarantineAfter: 1, windowAttempts: 1, influx });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${env.host.apiUrl}/metrics`, { headers: authHeaders() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  }

  it('counts events, rows, dead letters, windows, their latency and sandbox time, quarantines and TSDB errors after real traffic', async () => {
    await publishDir(env.client, ROW_COUNT);
    await publishDir(env.client, ALWAYS_THROWS);
    await env.client.createEndpoint({ name: 'scraped', featureNames: ['x'], labelNames: ['y'] });
    const first = Math.ceil((Date.now() + 300) / PERIOD) * PERIOD;
    await untilWallClock(first);
    // straight on NATS, a message that is not JSON: the stream processor dead-letters it
    await jetstream(nc).publish(Subjects.events('scraped'), new TextEncoder().encode('{not json'));
    // over HTTP, five good events and one bad one: the API dead-letters the bad one
    const sent = await env.client.sendEvents('scraped', [
      ...Array.from({ length: 5 }, (_, i) => ({ when: first + i, inputs: [[i]], outputs: [0] })),
      { when: first + 5, inputs: 'not a row' },
    ]);
    expect(sent.accepted).toBe(5);
    expect(sent.rejected).toHaveLength(1);
    // the window is stored (so every event that arrived in it was processed), and the app that throws is quarantined
    await waitForWindows(
      'the window of the traffic stored',
      () => env.client.results({ endpoint: 'scraped', app: 'row-count', limit: 100 }),
      first,
      first,
      60_000,
    );
    await waitFor(
      'always-throws quarantined',
      async () => (await env.client.listPlugins()).find((p) => p.name === 'always-throws' && p.status === 'quarantined'),
      60_000,
    );
    // the TSDB's failure is the shipping loop's, which tries as soon as a point waits
    const x = await waitFor(
      'a failed TSDB write counted',
      async () => {
        const s = await scrape();
        return (s.value(m('tsdb_errors_total')) ?? 0) >= 1 ? s : undefined;
      },
      60_000,
    );

    expect(x.types.get(m('events_accepted_total'))).toBe('counter');
    expect(x.value(m('events_accepted_total'))).toBe(5);
    expect(x.value(m('ingest_rows_total'))).toBe(5);
    expect(x.value(m('events_rejected_total'), { reason: 'INVALID_EVENT' })).toBe(1);
    expect(x.value(m('events_rejected_total'), { reason: 'INVALID_JSON' })).toBe(1);
    expect(x.value(m('dead_letters_total'), { reason: 'INVALID_EVENT' })).toBe(1);
    expect(x.value(m('dead_letters_total'), { reason: 'INVALID_JSON' })).toBe(1);
    expect(
      x
        .find(m('events_rejected_total'))
        .map((s) => s.labels.reason)
        .sort(),
    ).toEqual(['INVALID_EVENT', 'INVALID_JSON']);

    // one window with rows: row-count's ok, always-throws's error (then quarantined); the others empty
    expect(x.value(m('windows_stored_total'), { app: 'row-count', outcome: 'ok' })).toBe(1);
    expect(x.value(m('windows_stored_total'), { app: 'always-throws', outcome: 'error' })).toBe(1);
    expect(x.value(m('windows_failed_total'), { app: 'always-throws' })).toBe(1);
    expect(x.value(m('windows_failed_total'), { app: 'row-count' })).toBeUndefined();
    expect(x.value(m('quarantines_total'), { app: 'always-throws' })).toBe(1);
    for (const app of ['row-count', 'always-throws']) {
      // (empty windows of an app not called on them are stored without a task)
      const stored = x
        .find(m('windows_stored_total'), { app })
        .filter((s) => s.labels.outcome !== 'empty')
        .reduce((n, s) => n + s.value, 0);
      expect(x.value(m('windows_dispatched_total'), { app })).toBeGreaterThanOrEqual(stored);
      // every window is stored after its end plus the allowed lateness
      const count = x.value(m('window_latency_seconds_count'), { app })!;
      expect(count).toBeGreaterThanOrEqual(1);
      expect(x.value(m('window_latency_seconds_sum'), { app })).toBeGreaterThanOrEqual((count * LATENESS) / 1000);
      expect(x.value(m('window_latency_seconds_bucket'), { app, le: '+Inf' })).toBe(count);
    }
    expect(x.types.get(m('window_latency_seconds'))).toBe('histogram');
    expect(x.value(m('sandbox_seconds_total'), { app: 'row-count' })).toBeGreaterThan(0);

    // the TSDB is down, LevelDB is not
    expect(x.value(m('tsdb_points_total'))).toBe(0);
    expect(x.find(m('writer_errors_total'))).toEqual([]);

    // one runner, never restarted (yet)
    expect(x.value(m('runners'))).toBe(1);
    expect(x.value(m('runner_restarts_total'))).toBe(0);

    // the backlog of every durable consumer, read from JetStream at the scrape (the alert
    // evaluator's is there only while a rule evaluates outputs: this host has none)
    const lag = x.find(m('stream_lag'));
    expect(lag.map((s) => `${s.labels.stream}/${s.labels.consumer}`).sort()).toEqual(
      [
        `${Streams.events}/${Consumers.stream}`,
        `${Streams.tasks}/${Consumers.runners}`,
        `${Streams.outputs}/${Consumers.writer}`,
        `${Streams.serving}/${Consumers.serving}`,
        `${Streams.serving}/${Consumers.writerServing}`,
        `${Streams.alerts}/${Consumers.alertRouter}`,
      ].sort(),
    );
    for (const s of lag) expect(s.value).toBeGreaterThanOrEqual(0);

    // no metric has an endpoint label
    expect(x.samples.filter((s) => Object.values(s.labels).includes('scraped') || 'endpoint' in s.labels)).toEqual([]);
    // the process metrics, with the prefix
    expect(x.value(m('process_cpu_user_seconds_total'))).toBeGreaterThan(0);
  });

  it('answers only a token with the read scope', async () => {
    expect((await fetch(`${env.host.apiUrl}/metrics`)).status).toBe(401);
  });

  it('counts a runner restarted after it died, and the runners alive', async () => {
    const [pid] = env.host.runnerPids();
    process.kill(pid!, 'SIGKILL');
    const next = await waitFor('a new runner', () => env.host.runnerPids().find((p) => p !== pid));
    expect(next).not.toBe(pid);
    const x = await scrape();
    expect(x.value(m('runner_restarts_total'))).toBe(1);
    expect(x.value(m('runners'))).toBe(1);
  });

  it('keeps each host its own registry: what one records, another does not see', async () => {
    const a = createHostMetrics();
    const b = createHostMetrics();
    a.eventsFiled(3, 30);
    expect(parseExposition(await a.scrape()).value(m('events_accepted_total'))).toBe(3);
    expect(parseExposition(await b.scrape()).value(m('events_accepted_total'))).toBe(0);
  });
});
