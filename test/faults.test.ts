import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumers, Streams, Subjects, type DeadLetter, type ServingRecord, type WindowRecord } from '@modelwatch/protocol';
import { ModelwatchClient } from '../host/src/client/client.js';
import { endpointId } from '../host/src/domain/names.js';
import { jsonCodec } from '../host/src/nats/codec.js';
import { freePort, startNatsServer, type NatsServerHandle } from '../host/src/nats/server.js';
import { publishDir, rng, TEST_TOKEN } from './helpers/host.js';
import { hostProcess, restartableTsdb, type HostProcess, type RestartableTsdb } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const WINDOW_FLAG = new URL('./fixtures/plugins/window-flag', import.meta.url).pathname;
const ENDPOINTS = ['f-one', 'f-two', 'f-three'];
const APPS: Record<string, string[]> = { 'row-count': ['rows'], 'window-flag': ['big_window'] };
const PERIOD = 1000;
const INTERVAL = 5000;

/**
 * The random schedule of the faults (from the seed): how long traffic flows between two faults
 * and how long an outage lasts. Durations the scenario is made of, not waits for an outcome:
 * those are waits on the outcome itself (a new runner, the windows stored, the TSDB's points).
 */
const holdFor = (ms: number) => untilWallClock(Date.now() + ms);

/** Traffic over NATS, every event with its own message id, retried until JetStream accepts it, counted once. */
function traffic(url: string, seed: number) {
  const r = rng(seed);
  const accepted = new Map(ENDPOINTS.map((e) => [e, { events: 0, rows: 0 }]));
  let stop = false;
  let nc: NatsConnection | undefined;
  const one = async (endpoint: string, id: string, rows: number) => {
    const js = jetstream(nc!, { timeout: 3000 });
    for (;;) {
      try {
        const body = {
          when: Date.now(),
          inputs: Array.from({ length: rows }, () => [r.normal(0, 1)]),
          outputs: Array.from({ length: rows }, () => 0),
          requestId: id,
          latencyMicros: 100 + Math.floor(r.uniform() * 900),
        };
        await js.publish(Subjects.events(endpoint), jsonCodec.encode(body), { msgID: id });
        const a = accepted.get(endpoint)!;
        a.events++;
        a.rows += rows;
        return;
      } catch {
        await holdFor(200); // NATS is away: the producer's backoff before it tries again, same message id
      }
    }
  };
  const done = (async () => {
    nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    let n = 0;
    const inflight = new Set<Promise<void>>();
    while (!stop) {
      for (const e of ENDPOINTS) {
        const p = one(e, `ev-${e}-${n}`, 1 + Math.floor(r.uniform() * 3)).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      n++;
      await holdFor(25); // the traffic's rate
      while (inflight.size > 300) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    await nc.close();
  })();
  return {
    accepted,
    async stop() {
      stop = true;
      await done;
      return accepted;
    },
  };
}

/** Every letter of MW_DLQ. */
async function deadLetters(url: string): Promise<DeadLetter[]> {
  const nc = await connect({ servers: url });
  try {
    const letters: DeadLetter[] = [];
    const dlq = await (await jetstreamManager(nc)).streams.info(Streams.dlq);
    if (dlq.state.messages > 0) {
      const c = await jetstream(nc).consumers.get(Streams.dlq);
      for await (const m of await c.fetch({ max_messages: dlq.state.messages, expires: 5000 })) {
        letters.push(m.json<DeadLetter>());
        if (m.info.pending === 0) break;
      }
    }
    return letters;
  } finally {
    await nc.close();
  }
}

/**
 * The work queues' state, every second until stopped: per durable consumer, its messages not yet
 * delivered (p), delivered and not acknowledged (a: held by a process, or by one killed, until the
 * ack wait) and redelivered (r). Printed when the test fails: what a waiting step waits on.
 */
function consumerWatch(url: () => string) {
  const watched: Array<[string, string]> = [
    [Streams.events, Consumers.stream],
    [Streams.tasks, Consumers.runners],
    [Streams.outputs, Consumers.writer],
    [Streams.serving, Consumers.serving],
    [Streams.serving, Consumers.writerServing],
  ];
  const lines: string[] = [];
  let stop = false;
  const done = (async () => {
    const nc = await connect({ servers: url(), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    while (!stop) {
      const parts: string[] = [];
      for (const [stream, name] of watched) {
        const c = await jsm.consumers.info(stream, name).catch(() => undefined);
        parts.push(c ? `${name} p${c.num_pending} a${c.num_ack_pending} r${c.num_redelivered}` : `${name} ?`);
      }
      lines.push(`${new Date().toISOString().slice(11, 23)} ${parts.join(', ')}`);
      await holdFor(1000); // the watch's period
    }
    await nc.close();
  })();
  return {
    lines,
    async stop() {
      stop = true;
      await done;
    },
  };
}

/**
 * Exactly-once results through faults: the host SIGKILLed at random moments and restarted, a
 * runner SIGKILLed, nats-server restarted, the TSDB down for a while, all under steady traffic
 * to several endpoints and apps with one-second windows. Afterwards every window has exactly one
 * stored outcome per app, every TSDB series exactly one point per timestamp, and every accepted
 * event is counted (in the rows of the windows, or in a LATE_EVENT dead letter).
 */
describe('exactly-once results through faults', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let nats: NatsServerHandle;
  let tsdb: RestartableTsdb;
  let host: HostProcess;
  let client: ModelwatchClient;
  let watch: ReturnType<typeof consumerWatch> | undefined;
  const seed = Number(process.env.MW_FAULTS_SEED ?? Date.now() % 100_000);
  const r = rng(seed);
  const between = (a: number, b: number) => a + Math.floor(r.uniform() * (b - a));
  const events: string[] = [];
  const note = (what: string) => events.push(`${new Date().toISOString().slice(11, 23)} ${what}`);

  beforeAll(async () => {
    dir = await tempDir('mw-faults-');
    const port = await freePort();
    nats = await startNatsServer({ dataDir: join(dir.path, 'nats'), port });
    tsdb = await restartableTsdb(join(dir.path, 'vm'));
    host = await hostProcess([
      '--nats',
      nats.url,
      '--data-dir',
      join(dir.path, 'host'),
      '--base-period',
      '1s',
      '--allowed-lateness',
      '1s',
      '--runners',
      '1',
      '--influx-url',
      tsdb.url,
      '--influx-org',
      'test',
      '--influx-bucket',
      'modelwatch',
      '--serving-interval',
      `${INTERVAL}ms`,
      '--log-level',
      // MW_FAULTS_LOG=warn shows the host's warnings (retries, restarts) once the windows are in
      process.env.MW_FAULTS_LOG ?? 'error',
    ]);
    await host.start();
    client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
    await publishDir(client, ROW_COUNT);
    await publishDir(client, WINDOW_FLAG);
    for (const e of ENDPOINTS) await client.createEndpoint({ name: e, featureNames: ['x'], labelNames: ['y'] });
  });

  afterAll(async () => {
    await watch?.stop();
    await host?.kill();
    await tsdb?.stop();
    await nats?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('SIGKILLed host and runner, restarted nats-server, TSDB outage: one outcome per window and app, one TSDB point per series and time, no accepted event lost', async ({
    onTestFailed,
  }) => {
    // what happened when, and the host's last words, whichever step fails (a timeout too)
    // and, what a waiting step waits on: the queues (JetStream consumers) and the windows missing
    const queues = consumerWatch(() => nats.url);
    watch = queues;
    const missing = new Map<string, string>();
    // (a window missing with every queue empty was lost, or dead-lettered: the letters other than LATE_EVENT say)
    onTestFailed(async () => {
      const letters = await deadLetters(nats.url).then(
        (all) => all.filter((l) => l.reason.code !== 'LATE_EVENT').slice(-20),
        (err: unknown) => `could not read MW_DLQ: ${String(err)}`,
      );
      console.log(
        `faults test (seed ${seed}) failed:\n${events.join('\n')}\n---- windows missing: ${JSON.stringify(Object.fromEntries(missing))}\n---- JetStream consumers (last 60 s)\n${queues.lines.slice(-60).join('\n')}\n---- dead letters other than LATE_EVENT (the last 20)\n${JSON.stringify(letters, null, 1)}\n---- host output (last 6000 characters)\n${host.output().slice(-6000)}`,
      );
    });
    note(`seed ${seed}`);
    const t = traffic(nats.url, seed);
    const restartHost = async () => {
      await holdFor(between(300, 2000));
      await host.start();
      note('host restarted');
    };
    try {
      // traffic flows and is analysed before the first fault: the first windows of every endpoint stored by both apps
      const startedAt = Date.now();
      await waitFor(
        'the first windows of every endpoint stored by both apps',
        async () => {
          for (const e of ENDPOINTS) {
            const w = await client.results({ endpoint: e });
            if (!Object.keys(APPS).every((app) => w.some((x) => x.app === app && x.windowStart >= startedAt))) return undefined;
          }
          return true;
        },
        60_000,
        200,
      );
      // the host killed at random moments, three times
      for (let i = 0; i < 3; i++) {
        await holdFor(between(2000, 6000));
        await host.kill();
        note('host SIGKILLed');
        await restartHost();
      }
      // a runner killed mid-work
      await holdFor(between(1500, 4000));
      const [runner] = host.runnerPids();
      expect(runner).toBeGreaterThan(0);
      process.kill(runner!, 'SIGKILL');
      note(`runner ${runner} SIGKILLed`);
      await waitFor('a new runner', () => (host.runnerPids().some((p) => p !== runner) ? true : undefined), 30_000);
      // nats-server stopped and started again on the same port and store
      await holdFor(between(2000, 4000));
      await nats.stop();
      note('nats-server stopped');
      await holdFor(between(1000, 3000));
      nats = await startNatsServer({ dataDir: join(dir.path, 'nats'), port: nats.port });
      note('nats-server started');
      // the TSDB away for a while, the host killed while it is
      await holdFor(between(3000, 5000));
      await tsdb.stop();
      note('TSDB stopped');
      await holdFor(between(2000, 4000));
      await host.kill();
      note('host SIGKILLed (TSDB down)');
      await restartHost();
      await holdFor(between(3000, 5000));
      await tsdb.start();
      note('TSDB started');
      // after the last fault, the host analyses live windows again: a window begun after it, of every endpoint
      const recoveredFrom = Date.now();
      await waitFor(
        'a window begun after the last fault, of every endpoint',
        async () => {
          for (const e of ENDPOINTS) if (!(await client.results({ endpoint: e })).some((x) => x.windowStart >= recoveredFrom)) return undefined;
          return true;
        },
        90_000,
        200,
      );
    } finally {
      await t.stop();
      note('traffic stopped');
    }
    const accepted = t.accepted;
    const lastWindow = Math.floor(Date.now() / PERIOD) * PERIOD;

    // everything through the last event analysed and stored
    const windows = new Map<string, WindowRecord[]>();
    for (const e of ENDPOINTS) {
      windows.set(
        e,
        await waitFor(
          `${e}: every window through the last event, for both apps`,
          async () => {
            const w = await client.results({ endpoint: e });
            // through the last event, and no gap before it: a window retried or redelivered after
            // a fault may be stored after later ones (a gap that never closes fails the wait)
            const gaps = (app: string) => {
              const starts = [...new Set(w.filter((x) => x.app === app).map((x) => x.windowStart))].sort((a, b) => a - b);
              const holes = starts.filter((t, i) => i > 0 && t - starts[i - 1]! !== PERIOD).map((t) => `before ${new Date(t).toISOString().slice(11, 19)}`);
              const last = starts.at(-1) ?? 0;
              return last >= lastWindow ? holes : [...holes, `after ${new Date(last).toISOString().slice(11, 19)}`];
            };
            const open = Object.keys(APPS).flatMap((app) => gaps(app).map((g) => `${app} ${g}`));
            missing.set(e, open.join('; '));
            return open.length === 0 ? w : undefined;
          },
          90_000,
          500,
        ),
      );
    }
    note('all windows stored');
    if (process.env.MW_FAULTS_LOG) console.log(host.output());

    // dead letters: late rows are accepted events too
    const letters = await deadLetters(nats.url);
    // (each as a line: code, endpoint, origin and message, readable in a failure's first lines)
    const brief = (l: DeadLetter) =>
      `${l.reason.code} ${l.endpoint} ${l.origin ? `${l.origin.consumer}#${l.origin.seq}x${l.origin.deliveries} ` : ''}${l.reason.message.slice(0, 300)}`;
    const unexpected = letters.filter((l) => l.reason.code !== 'LATE_EVENT').map(brief);
    expect(unexpected, `(seed ${seed}) dead letters other than LATE_EVENT:\n${unexpected.join('\n')}\n`).toEqual([]);

    const report = events.join('\n');
    for (const e of ENDPOINTS) {
      const ws = windows.get(e)!;
      for (const [app, resultNames] of Object.entries(APPS)) {
        const mine = ws.filter((w) => w.app === app).sort((a, b) => a.windowStart - b.windowStart);
        // one outcome per window, back to back from the first to the last
        expect(new Set(mine.map((w) => w.windowStart)).size, `${e}/${app}: a window stored twice\n${report}`).toBe(mine.length);
        for (let i = 1; i < mine.length; i++) expect(mine[i]!.windowStart, `${e}/${app}: a window missing\n${report}`).toBe(mine[i - 1]!.windowEnd);
        expect(
          mine.filter((w) => w.outcome === 'error').map((w) => w.error?.message),
          `${e}/${app}`,
        ).toEqual([]);
        for (const w of mine.filter((x) => x.outcome === 'ok')) expect(w.results.map((x) => x.name)).toEqual(resultNames);
        // no accepted event lost: every row is in a window or in a LATE_EVENT letter
        const late = letters.filter((l) => l.endpoint === e).reduce((n, l) => n + (l.rows ?? 0), 0);
        expect(mine.reduce((n, w) => n + w.rows, 0) + late, `${e}/${app}: rows\n${report}`).toBe(accepted.get(e)!.rows);
      }
    }

    // the TSDB: one point per series and timestamp, the same values as LevelDB
    const since = Math.floor(Math.min(...[...windows.values()].flat().map((w) => w.windowStart)) / 1000) - 5;
    for (const e of ENDPOINTS) {
      const ok = windows.get(e)!.filter((w) => w.outcome === 'ok');
      const expected = ok.length;
      const series = await waitFor(
        `${e}: the TSDB has every result point`,
        async () => {
          const s = (await tsdb.exportSeries('app_results_value', since)).filter((x) => x.metric.endpoint_name === e);
          return s.reduce((n, x) => n + x.timestamps.length, 0) >= expected ? s : undefined;
        },
        60_000,
        1000,
      );
      expect(series).toHaveLength(2);
      for (const s of series) {
        expect(new Set(s.timestamps).size, `${e}: a TSDB point twice\n${report}`).toBe(s.timestamps.length);
        const mine = ok.filter((w) => w.app === s.metric.application);
        expect([...s.timestamps].sort()).toEqual(mine.map((w) => w.windowEnd).sort());
        const stored = new Map(mine.map((w) => [w.windowEnd, w.results[0]!.value]));
        s.timestamps.forEach((ts, i) => expect(s.values[i]).toBeCloseTo(stored.get(ts)!, 6));
      }
      expect(series.every((s) => s.metric.endpoint_id === endpointId(e))).toBe(true);
    }

    // serving metrics: every accepted event counted once, one interval record and one point per interval
    for (const e of ENDPOINTS) {
      const intervals: ServingRecord[] = await waitFor(
        `${e}: every request in a closed interval`,
        async () => {
          const iv = await client.servingIntervals(e);
          return iv.reduce((n, x) => n + x.requests, 0) === accepted.get(e)!.events ? iv : undefined;
        },
        60_000,
        500,
      );
      expect(new Set(intervals.map((x) => x.start)).size).toBe(intervals.length);
      const points = await waitFor(
        `${e}: serving points`,
        async () => {
          const s = (await tsdb.exportSeries('serving_metrics_requests', since)).filter((x) => x.metric.endpoint_name === e);
          return s[0] && s[0].timestamps.length >= intervals.length ? s[0] : undefined;
        },
        60_000,
        1000,
      );
      expect(new Set(points.timestamps).size).toBe(points.timestamps.length);
      expect([...points.timestamps].sort()).toEqual(intervals.map((x) => x.start).sort());
      expect(points.values.reduce((a, b) => a + b, 0)).toBe(accepted.get(e)!.events);
      const stats = await client.endpointStats(e);
      expect(stats.requests).toBe(accepted.get(e)!.events);
      expect(stats.lateRows).toBe(letters.filter((l) => l.endpoint === e).reduce((n, l) => n + (l.rows ?? 0), 0));
    }
    note('checked');
    console.log(
      `faults test (seed ${seed}):\n${events.join('\n')}\naccepted: ${JSON.stringify(Object.fromEntries(accepted))}, late letters: ${letters.length}`,
    );
    // above the sum of its bounded waits (60 + 30 + 90 + 3 x 90 s) and holds (about 50 s): a wait
    // that runs out fails by its own name, not as the test's timeout (which names nothing)
  }, 600_000);
});
