import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import type { AlertNotification, Notifier } from '../host/src/alerts/contract.js';
import { trickle, waitForWindows, waitUntilDrained } from './helpers/events.js';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;

const sorted = (ws: WindowRecord[]) => [...ws].sort((a, b) => a.windowStart - b.windowStart);
/** Every window once, back to back. */
function expectContiguous(ws: WindowRecord[]): void {
  const s = sorted(ws);
  expect(new Set(s.map((w) => w.windowStart)).size).toBe(s.length);
  for (let i = 1; i < s.length; i++) expect(s[i]!.windowStart).toBe(s[i - 1]!.windowEnd);
}

/** Keeps the alert notifications it is handed (in memory: the channels are not this test's subject). */
class RecordingNotifier implements Notifier {
  readonly calls: AlertNotification[] = [];
  enqueue(n: AlertNotification): Promise<void> {
    this.calls.push(n);
    return Promise.resolve();
  }
}

/** The controller: catch-up after downtime oldest first, live period changes, monitoring on and off. */
describe('controller', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    nats = await startTestNats();
    dir = await tempDir('mw-controller-');
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it('after downtime catches up over the retained event log, oldest window first, every event counted', async () => {
    const opts = { natsUrl: nats.url, dataDir: join(dir.path, 'catchup'), basePeriod: 1000, allowedLateness: 300, runnerConcurrency: 1 };
    let env = await startTestHost(opts);
    let t: ReturnType<typeof trickle> | undefined;
    try {
      await publishDir(env.client, ROW_COUNT);
      await env.client.createEndpoint({ name: 'down', featureNames: ['i'], labelNames: ['y'] });
      const firstWindow = Math.floor(Date.now() / 1000) * 1000;
      t = trickle(nats.url, ['down'], 40);
      // the host analyses the first two windows
      await waitForWindows('the first two windows', () => env.client.results({ endpoint: 'down' }), firstWindow, firstWindow + 1000);
      await env.host.stop();
      const downFrom = Date.now();
      await t.through(downFrom + 4000); // four windows end while nothing runs; events keep arriving in JetStream
      env = await startTestHost(opts);
      const restartedAt = Date.now();
      // the restarted host has caught up and analyses live windows again
      await waitForWindows('a window begun after the restart', () => env.client.results({ endpoint: 'down' }), firstWindow, restartedAt);
      const sent = (await t.stop()).get('down')!;
      const last = Math.ceil((Date.now() + 1) / 1000) * 1000;
      // every window between, not only the last
      const windows = await waitForWindows('every window through the last event', () => env.client.results({ endpoint: 'down' }), firstWindow, last);
      await env.host.stop();
      expectContiguous(windows);
      expect(windows.reduce((n, w) => n + w.rows, 0)).toBe(sent);
      // the windows of the downtime were analysed after the restart, in window order
      const caughtUp = sorted(windows).filter((w) => w.windowEnd > downFrom && w.windowEnd + 300 < restartedAt);
      expect(caughtUp.length).toBeGreaterThanOrEqual(3);
      for (const w of caughtUp) expect(w.completedAt).toBeGreaterThanOrEqual(restartedAt);
      // in window order: each window's first try ends after the window before it (a window tried
      // again, e.g. redelivered when a loaded runner missed its ack deadline, ends when it ends)
      const firstTries = caughtUp.filter((w) => w.attempts === 1);
      expect(firstTries.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < firstTries.length; i++) {
        expect(firstTries[i]!.completedAt, `window ${firstTries[i]!.windowStart} ended before the window before it`).toBeGreaterThanOrEqual(
          firstTries[i - 1]!.completedAt,
        );
      }
      expect(caughtUp.every((w) => w.rows > 0)).toBe(true);
    } finally {
      // stopped already when all went well; when not, they do not outlive the test
      await t?.stop().catch(() => undefined);
      await env.host.stop();
    }
  });

  it('changes the base period live, switches monitoring off and on globally and per endpoint, and catches up what was off', async () => {
    await using env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 300 });
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'p-a', featureNames: ['i'], labelNames: ['y'] });
    await env.client.createEndpoint({ name: 'p-b', featureNames: ['i'], labelNames: ['y'] });
    const firstWindow = Math.floor(Date.now() / 1000) * 1000;
    const t = trickle(nats.url, ['p-a', 'p-b'], 40);
    // one-second windows analysed before the change
    for (const name of ['p-a', 'p-b']) await waitForWindows(`${name}: a first window`, () => env.client.results({ endpoint: name }), firstWindow, firstWindow);

    // a new period takes effect at the next window boundary: the window open now keeps its length
    // out of bounds: refused, nothing changed (a period of 99999999999d was taken, stopped every
    // window and made each later change of the monitoring a 500)
    for (const [basePeriod, message] of [
      ['500ms', 'basePeriod: 500 ms is below the minimum of 1s'],
      ['2d', 'basePeriod: 2d is above the maximum of 1d'],
      ['99999999999d', "basePeriod: '99999999999d' is longer than 100 years"],
    ]) {
      await expect(env.client.setMonitoring({ basePeriod })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message });
    }
    expect(await env.client.monitoring()).toMatchObject({ basePeriodMs: 1000 });
    const asked = Date.now();
    const changed = await env.client.setMonitoring({ basePeriod: '2s' });
    expect(changed).toMatchObject({ basePeriodMs: 1000, pending: { basePeriodMs: 2000 } });
    const from = Date.parse(changed.pending!.effectiveFrom);
    expect(from).toBeGreaterThan(asked);
    expect(from).toBeLessThanOrEqual(Math.ceil((Date.now() + 1) / 1000) * 1000);

    // endpoint p-a off once the first two-second window is analysed, then everything off for a while
    await waitFor('the first two-second window of p-a', async () => (await env.client.results({ endpoint: 'p-a' })).find((w) => w.windowStart === from));
    await env.client.setEndpointMonitoring('p-a', false);
    const aOffAt = Date.now();
    // the positive marker: p-b's window that began after p-a was switched off is stored (p-a's
    // would have been dispatched with it), and what was dispatched is stored: a window of p-a
    // dispatched while it was off would show now
    await waitFor('a window of p-b begun after p-a was off', async () => (await env.client.results({ endpoint: 'p-b' })).find((w) => w.windowStart >= aOffAt));
    await waitUntilDrained(nats.url);
    const aDuringOff = await env.client.results({ endpoint: 'p-a' });
    const bDuringOff = await env.client.results({ endpoint: 'p-b' });
    expect(aDuringOff.every((w) => w.windowEnd <= aOffAt + 300)).toBe(true);
    expect(bDuringOff.some((w) => w.windowEnd > aOffAt + 1000)).toBe(true);

    await env.client.setMonitoring({ enabled: false });
    const allOffAt = Date.now();
    // with everything off no later window can be the marker: the wall clock past the end of a
    // window begun after the switch, its lateness and a controller tick (at most a second) is
    await untilWallClock(Math.ceil(allOffAt / 2000) * 2000 + 2000 + 300 + 1000);
    await waitUntilDrained(nats.url);
    const bAll = await env.client.results({ endpoint: 'p-b' });
    expect(bAll.every((w) => w.windowEnd <= allOffAt + 300)).toBe(true);
    expect((await env.client.monitoring()).enabled).toBe(false);

    await env.client.setMonitoring({ enabled: true });
    await env.client.setEndpointMonitoring('p-a', true);
    const onAt = Date.now();
    // monitoring is back: both endpoints have a window analysed after it was on again
    for (const name of ['p-a', 'p-b'])
      await waitFor(`${name}: a window analysed after monitoring is on again`, async () =>
        (await env.client.results({ endpoint: name })).find((w) => w.completedAt > onAt),
      );
    const sent = await t.stop();
    const last = Math.ceil((Date.now() + 1) / 2000) * 2000;
    for (const name of ['p-a', 'p-b']) {
      // every window, not only the last: the windows of the time monitoring was off are analysed
      // after it is on again, by two runner slots, so possibly after later ones
      const windows = await waitForWindows(`${name} caught up`, () => env.client.results({ endpoint: name }), firstWindow, last);
      expectContiguous(windows);
      expect(windows.reduce((n, w) => n + w.rows, 0)).toBe(sent.get(name));
      // one-second windows before the change, two-second windows from it
      for (const w of windows) expect(w.windowEnd - w.windowStart).toBe(w.windowStart < from ? 1000 : 2000);
      expect(windows.some((w) => w.windowStart === from)).toBe(true);
      // windows of the time monitoring was off were analysed once it was on again
      expect(windows.filter((w) => w.windowStart > allOffAt && w.windowEnd < allOffAt + 3000).every((w) => w.rows > 0)).toBe(true);
    }
  });

  it('records a window without rows as empty itself, without a task, and data-absence alerts still fire', async () => {
    const notifier = new RecordingNotifier();
    // a rule of the alerts file: loaded before the evaluator starts
    const alertsFile = join(dir.path, 'quiet-alerts.yaml');
    await writeFile(alertsFile, 'rules:\n  - name: quiet\n    endpoints: { names: [e-quiet] }\n    when: { noDataFor: 2s }\n');
    await using env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 300, alertsFile, alertNotifier: notifier });
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'e-rows', featureNames: ['i'], labelNames: ['y'] });
    await env.client.createEndpoint({ name: 'e-quiet', featureNames: ['i'], labelNames: ['y'] });
    const firstWindow = Math.floor(Date.now() / 1000) * 1000 + 1000;
    const t = trickle(nats.url, ['e-rows'], 50);
    const quiet = await waitForWindows(
      'three windows of the quiet endpoint',
      () => env.client.results({ endpoint: 'e-quiet' }),
      firstWindow,
      firstWindow + 2000,
    );
    const busy = await waitForWindows('three windows of the busy one', () => env.client.results({ endpoint: 'e-rows' }), firstWindow, firstWindow + 2000);
    await t.stop();
    // the quiet endpoint's windows: stored as empty, by the controller (no runner read them)
    expectContiguous(quiet);
    for (const w of quiet) expect(w).toMatchObject({ outcome: 'empty', rows: 0, runner: 'controller' });
    // the busy one's windows with rows went to a runner
    const withRows = busy.filter((w) => w.windowStart >= firstWindow && w.windowEnd <= firstWindow + 3000);
    for (const w of withRows) expect(w).toMatchObject({ outcome: 'ok' });
    expect(withRows.every((w) => w.rows > 0 && w.runner !== 'controller')).toBe(true);
    // the stored empty windows are what the no-data rule counts
    const fired = await waitFor('the no-data alert of the quiet endpoint', () =>
      notifier.calls.find((n) => n.kind === 'firing' && n.alert.endpoint === 'e-quiet'),
    );
    expect(fired.alert).toMatchObject({ rule: 'quiet', endpoint: 'e-quiet' });
    expect(notifier.calls.some((n) => n.alert.endpoint === 'e-rows')).toBe(false);
  });
});
