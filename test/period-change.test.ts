import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeriodSegment, WindowRecord } from '@modelwatch/protocol';
import { windowAt } from '../host/src/domain/windows.js';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;

/**
 * `monitoring enable --base-period` takes effect at the next window boundary, with no window lost
 * or cut twice, although rows of the new windows may already be filed under the old layout's:
 * events timed ahead of their arrival (up to the allowed future skew) sent before the change.
 */
describe('a new base period', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  const cli = async (...args: string[]) =>
    (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', env.client.url, ...args], { timeout: 60_000 })).stdout;

  beforeAll(async () => {
    nats = await startTestNats();
    // the default future skew (5 minutes): rows filed by the old layout reach far past the change
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 300 });
    await publishDir(env.client, ROW_COUNT);
    await env.client.createEndpoint({ name: 'pc', featureNames: ['i'], labelNames: ['y'] });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const sent: number[] = [];
  /** Events (one row each) timed `from` to `to` every `step` ms; all of them at least 1.5 s ahead, so none is late. */
  const send = async (from: number, to: number, step: number) => {
    const times: number[] = [];
    for (let t = from; t < to; t += step) times.push(t);
    const r = await env.client.sendEvents(
      'pc',
      times.map((t, i) => ({ when: t, inputs: [[i]], outputs: [0], requestId: `r-${t}` })),
    );
    expect(r).toEqual({ accepted: times.length, rejected: [] });
    sent.push(...times);
  };

  it('applies from the next boundary of the current period; every event, sent before, around or after the change, is counted in exactly one window', async () => {
    // events timed up to 9 s ahead, sent while windows are 1 s long: the stream processor files
    // them under 1 s windows, also those past the boundary where 3 s windows will begin
    let now = Date.now();
    await send(now + 1500, now + 9000, 37);

    const asked = Date.now();
    const first = await env.client.setMonitoring({ basePeriod: '3s' });
    const b1 = Date.parse(first.pending!.effectiveFrom);
    // the next boundary of the 1 s windows: the window open when it was asked finishes at 1 s
    expect(b1 % 1000).toBe(0);
    expect(b1).toBeGreaterThan(asked);
    expect(b1).toBeLessThanOrEqual(Math.ceil((Date.now() + 1) / 1000) * 1000);
    expect(first).toMatchObject({ enabled: true, basePeriod: '1s', pending: { basePeriod: '3s', basePeriodMs: 3000 } });
    // the same over HTTP and in the CLI: pending until the boundary, in force from it
    const at = first.pending!.effectiveFrom;
    const status = await env.client.monitoring();
    if (status.pending) expect(status).toMatchObject({ basePeriod: '1s', pending: first.pending });
    else expect(status).toMatchObject({ basePeriod: '3s', effectiveFrom: at });
    const text = await cli('monitoring', 'status');
    expect(text).toMatch(new RegExp(`base period: 1s .*\\nnext base period: 3s from ${at} |base period: 3s \\(since ${at}\\)`));
    // events sent right after the change (the processor takes them in while it switches)
    now = Date.now();
    await send(now + 1500, now + 4000, 29);

    // once the 3 s windows are in force, events timed ahead again, then the next change
    const current = await waitFor('the 3 s windows to be in force', async () => {
      const s = await env.client.monitoring();
      return s.basePeriod === '3s' ? s : undefined;
    });
    expect(current).toMatchObject({ pending: null, effectiveFrom: first.pending!.effectiveFrom });
    now = Date.now();
    await send(now + 1500, now + 10_000, 41);
    const second = await env.client.setMonitoring({ basePeriod: '2s' });
    const b2 = Date.parse(second.pending!.effectiveFrom);
    expect(second).toMatchObject({ basePeriod: '3s', pending: { basePeriod: '2s' } });
    expect((b2 - b1) % 3000).toBe(0);
    expect(b2 - Date.now()).toBeLessThanOrEqual(3000);
    now = Date.now();
    await send(now + 1500, now + 5000, 31);

    // every window from the first event through the last (runners may store them out of order:
    // wait until none is missing in between)
    const earliest = Math.min(...sent);
    const latest = Math.max(...sent);
    const ours = await waitFor(
      'every window from the first event through the last',
      async () => {
        const ws = (await env.client.results({ endpoint: 'pc' })).filter((w) => w.windowEnd > earliest).sort((a, b) => a.windowStart - b.windowStart);
        const complete =
          ws.length > 0 &&
          ws[0]!.windowStart <= earliest &&
          ws[ws.length - 1]!.windowEnd > latest &&
          ws.every((w, i) => i === 0 || w.windowStart <= ws[i - 1]!.windowEnd);
        return complete ? ws : undefined;
      },
      60_000,
      200,
    );
    expectContiguous(ours);
    // 1 s windows before the first boundary, 3 s windows to the second, 2 s windows after
    for (const w of ours) expect(w.windowEnd - w.windowStart, `window at ${w.windowStart}`).toBe(w.windowStart < b1 ? 1000 : w.windowStart < b2 ? 3000 : 2000);
    expect(ours.some((w) => w.windowStart === b1)).toBe(true);
    expect(ours.some((w) => w.windowStart === b2)).toBe(true);

    // each event in the window that holds its time, once
    const { periods } = await env.client.monitoring();
    expect(periods.slice(-2)).toEqual([
      { fromMs: b1, periodMs: 3000 },
      { fromMs: b2, periodMs: 2000 },
    ] satisfies PeriodSegment[]);
    const expected = new Map<number, number>();
    for (const t of sent) {
      const w = windowAt(t, periods);
      expected.set(w.start, (expected.get(w.start) ?? 0) + 1);
    }
    for (const w of ours) expect(w.rows, `rows of window ${new Date(w.windowStart).toISOString()}`).toBe(expected.get(w.windowStart) ?? 0);
    expect(ours.reduce((n, w) => n + w.rows, 0)).toBe(sent.length);
  });
});

function expectContiguous(ws: WindowRecord[]): void {
  expect(new Set(ws.map((w) => w.windowStart)).size).toBe(ws.length);
  for (let i = 1; i < ws.length; i++) expect(ws[i]!.windowStart, `window ${i} starts where window ${i - 1} ends`).toBe(ws[i - 1]!.windowEnd);
}
