import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppOutputMessage, MetricPoint } from '@modelwatch/protocol';
import { ResultsDb } from '../host/src/store/results-db.js';
import { testOutput } from './helpers/outputs.js';
import { tempDir } from './helpers/tmp.js';

const EP = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);

function output(endpointId: string, app: string, windowStart: number, value: number): AppOutputMessage {
  return testOutput(
    { endpointId, endpointName: endpointId === EP ? 'ep' : 'other', app, windowStart, windowEnd: windowStart + 1000 },
    {
      rows: 10,
      results: [
        { name: 'drift', value, kind: 0, status: 0 },
        { name: 'psi', value: value * 2, kind: 0, status: 1 },
      ],
      metrics: [{ name: 'rows', value: 10 }],
    },
  );
}

/** The writer's answers to metric names, metric values (paged) and an endpoint's purge, on a real LevelDB. */
describe('ResultsDb: metric names, values and purge', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: ResultsDb;

  beforeAll(async () => {
    dir = await tempDir('mw-results-metrics-');
    db = new ResultsDb(join(dir.path, 'results'));
    await db.open();
    for (const [i, start] of [1000, 2000, 3000].entries()) {
      await db.store(output(EP, 'app-a', start, i), false);
      await db.store(output(EP, 'app-b', start, 10 + i), false);
    }
    await db.store(output(`${EP}-batch1`, 'app-a', 1000, 99), false);
    await db.store(output(OTHER, 'app-a', 1000, 7), false);
  });
  afterAll(async () => {
    await db?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it('lists the results and metrics of the endpoint, by full name, with their windows (not its batches)', async () => {
    const names = await db.metricNames(EP);
    expect(names.map((n) => n.fullName)).toEqual([
      'app-a.metric.rows',
      'app-a.result.drift',
      'app-a.result.psi',
      'app-b.metric.rows',
      'app-b.result.drift',
      'app-b.result.psi',
    ]);
    expect(names[1]).toEqual({ fullName: 'app-a.result.drift', app: 'app-a', type: 'result', name: 'drift', windows: 3, first: 1000, last: 3000 });
    expect(await db.metricNames('c'.repeat(40))).toEqual([]);
  });

  it('pages values by app then window time, resuming inside a window, with names and a range', async () => {
    const q = { endpointId: EP, names: ['app-a.result.drift', 'app-a.result.psi', 'app-b.metric.rows'], from: 2000, to: 4000, limit: 3 };
    const seen: MetricPoint[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await db.metricValues({ ...q, ...(after !== undefined && { after }) });
      expect(page.points.length).toBeLessThanOrEqual(3);
      seen.push(...page.points);
      after = page.next;
      pages++;
    } while (after);
    expect(pages).toBe(2);
    expect(seen.map((p) => `${p.fullName}@${p.windowStart}=${p.value}`)).toEqual([
      'app-a.result.drift@2000=1',
      'app-a.result.psi@2000=2',
      'app-a.result.drift@3000=2',
      'app-a.result.psi@3000=4',
      'app-b.metric.rows@2000=10',
      'app-b.metric.rows@3000=10',
    ]);
    expect(seen[0]).toMatchObject({ windowEnd: 3000, kind: 0, status: 0 });
    expect(seen[4]).not.toHaveProperty('status');
    // a page of exactly what is left has no next
    expect(await db.metricValues({ ...q, limit: 6 })).toEqual({ points: seen });
    await expect(db.metricValues({ ...q, after: 'not-a-cursor' })).rejects.toThrow("'not-a-cursor' is not the 'next' of a page");
  });

  it("purge removes the endpoint's windows (its batches' too) and latest values, and nothing of another endpoint", async () => {
    // roll-ups: the results of the live endpoint's windows by hour and by day
    expect(await db.purgeEndpoint(EP)).toEqual({ windows: 7, latest: 6, servingIntervals: 0, profiles: 0, rollups: 4 });
    expect(await db.query({ endpointId: EP })).toEqual([]);
    expect(await db.query({ endpointId: `${EP}-batch1` })).toEqual([]);
    expect(await db.latestResults(EP)).toEqual([]);
    expect(await db.metricNames(EP)).toEqual([]);
    expect(await db.query({ endpointId: OTHER })).toHaveLength(1);
    expect(await db.latestResults(OTHER)).toHaveLength(2);
    expect(await db.purgeEndpoint(EP)).toEqual({ windows: 0, latest: 0, servingIntervals: 0, profiles: 0, rollups: 0 });
  });

  it('a purge applied when asked is not applied again at its message, unless something of the endpoint was stored since', async () => {
    const none = { windows: 0, latest: 0, servingIntervals: 0, profiles: 0, rollups: 0 };
    await db.store(output(OTHER, 'app-a', 2000, 8), false);
    expect((await db.purgeEndpoint(OTHER, { ahead: true })).windows).toBe(2);
    // nothing of it stored since: the message finds the purge done (another endpoint's output changes nothing)
    await db.store(output(EP, 'app-a', 5000, 1), false);
    expect(await db.purgeInOrder(OTHER)).toBeUndefined();
    // read again (a redelivery): applied, and finds nothing
    expect(await db.purgeInOrder(OTHER)).toEqual(none);
    // a batch's output stored between the two: the message removes it
    expect((await db.purgeEndpoint(EP, { ahead: true })).windows).toBe(1);
    await db.store(output(`${EP}-batch2`, 'app-a', 6000, 2), false);
    expect(await db.purgeInOrder(EP)).toMatchObject({ windows: 1 });
    expect(await db.query({ endpointId: `${EP}-batch2` })).toEqual([]);
    expect(await db.query({ endpointId: OTHER })).toEqual([]);
  });
});
