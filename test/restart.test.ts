import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonCodec } from '../host/src/nats/codec.js';
import { Subjects } from '../host/src/nats/subjects.js';
import type { WindowRecord } from '../host/src/store/results-db.js';
import { publishDir, sleep, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { waitForWindows } from './helpers/events.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;
const PERIOD = 1000;

/** Every window from the first to the last exactly once, back to back. */
function expectContiguous(ws: WindowRecord[]): void {
  const sorted = [...ws].sort((a, b) => a.windowStart - b.windowStart);
  expect(new Set(sorted.map((w) => w.windowStart)).size).toBe(sorted.length);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.windowStart).toBe(sorted[i - 1]!.windowEnd);
}

/** A steady stream of events published straight to NATS (the host may be down meanwhile). */
function trickle(natsUrl: string, endpoint: string) {
  let sent = 0;
  let stop = false;
  const done = (async () => {
    const nc = await connect({ servers: natsUrl });
    const js = jetstream(nc);
    while (!stop) {
      await js.publish(Subjects.events(endpoint), jsonCodec.encode({ inputs: [[sent]], outputs: [0] }));
      sent++;
      await sleep(50);
    }
    await nc.close();
  })();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stop = true;
      await done;
      return sent;
    },
  };
}

describe('restarts and crashes', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-restart-');
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('a restarted host neither skips nor repeats a window, and loses no event', async () => {
    const dataDir = join(dir.path, 'host');
    const opts = { natsUrl: nats.url, dataDir, basePeriod: PERIOD, allowedLateness: 1000 };
    let env = await startTestHost(opts);
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'steady', featureNames: ['i'], labelNames: ['y'] });
    const firstWindow = Math.floor(Date.now() / PERIOD) * PERIOD;
    const t = trickle(nats.url, 'steady');
    await sleep(3000);
    await env.host.stop();
    await sleep(2500); // windows end while the host is down; events keep arriving in JetStream
    env = await startTestHost(opts);
    await sleep(2000);
    const sent = await t.stop();
    const lastEventWindowEnd = Math.ceil((Date.now() + 1) / PERIOD) * PERIOD;
    // every window between, not only the first and the last: those of the downtime are analysed
    // after the restart, possibly after later ones
    const windows = await waitForWindows(
      'every window through the last event',
      () => env.client.results({ endpoint: 'steady' }),
      firstWindow,
      lastEventWindowEnd,
    );
    await env.host.stop();
    expectContiguous(windows);
    const counted = windows.reduce((n, w) => n + w.rows, 0);
    expect(counted).toBe(sent);
    for (const w of windows) {
      if (w.outcome === 'ok') expect(w.results.find((r) => r.name === 'rows')!.value).toBe(w.rows);
    }
  });

  it('a runner process killed with SIGKILL is restarted, and windows keep being analysed', async () => {
    const env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 1000 });
    try {
      await env.client.createEndpoint({ name: 'crashy', featureNames: ['i'], labelNames: ['y'] });
      const firstWindow = Math.floor(Date.now() / PERIOD) * PERIOD;
      const t = trickle(nats.url, 'crashy');
      await sleep(1500);
      const [pid] = env.host.runnerPids();
      expect(pid).toBeGreaterThan(0);
      process.kill(pid!, 'SIGKILL');
      await waitFor('a new runner', () => {
        const pids = env.host.runnerPids();
        return pids.length === 1 && pids[0] !== pid ? true : undefined;
      });
      await sleep(1500);
      const sent = await t.stop();
      const end = Math.ceil((Date.now() + 1) / PERIOD) * PERIOD;
      // every window from the first event's through the last: the one the killed runner was on
      // comes back only after the ack wait, possibly after later ones
      const windows = await waitForWindows('every window through the last event', () => env.client.results({ endpoint: 'crashy' }), firstWindow, end);
      expectContiguous(windows);
      expect(windows.reduce((n, w) => n + w.rows, 0)).toBe(sent);
      expect(windows.every((w) => w.outcome !== 'error')).toBe(true);
    } finally {
      await env[Symbol.asyncDispose]();
    }
  });
});
