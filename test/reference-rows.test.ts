import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import { publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

const SAMPLE_STATS = new URL('./fixtures/plugins/sample-stats', import.meta.url).pathname;
const PERIOD = 1000;

/**
 * The reference rows an app reads (`referenceRows`) on a real host: the runner keeps an endpoint's
 * reference from window to window, and a new reference reaches the next window.
 */
describe('the reference rows of an app', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  /** The next window boundary at least `aheadMs` from now: events for it are neither late nor analysed before they are in. */
  const nextWindow = (aheadMs: number) => Math.ceil((Date.now() + aheadMs) / PERIOD) * PERIOD;
  /** How many reference rows sample-stats saw in window `ws` (its metric `ref__x`), once the window is stored. */
  const referenceRowsIn = async (endpoint: string, ws: number) => {
    await env.client.sendEvents(endpoint, [{ when: ws + 1, inputs: [[5]], outputs: [1] }]);
    const w = await waitFor<WindowRecord>(`window ${ws} of ${endpoint} analysed`, async () =>
      (await env.client.results({ endpoint, limit: 100 })).find((r) => r.windowStart === ws && r.app === 'sample-stats'),
    );
    expect(w.outcome, JSON.stringify(w.error)).toBe('ok');
    return w.metrics.find((m) => m.name === 'ref__x')?.value;
  };
  const reference = (rows: number) => ['x,y', ...Array.from({ length: rows }, (_, i) => `${i},${i % 2}`)].join('\n');

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 300 });
    await publishDir(env.client, SAMPLE_STATS);
  });

  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('are the endpoint reference of the window: kept across windows, and a new reference in the next window', async () => {
    await env.client.createEndpoint({ name: 'refs', featureNames: ['x'], labelNames: ['y'] });
    await env.client.setReference('refs', reference(3), 'csv');
    expect(await referenceRowsIn('refs', nextWindow(1500))).toBe(3);
    expect(await referenceRowsIn('refs', nextWindow(1500))).toBe(3);
    await env.client.setReference('refs', reference(5), 'csv');
    expect(await referenceRowsIn('refs', nextWindow(1500))).toBe(5);
    expect(await referenceRowsIn('refs', nextWindow(1500))).toBe(5);
  });
});
