import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppOutputMessage, SeriesPoint } from '@modelwatch/protocol';
import type { ResultStatus } from '@modelwatch/sdk';
import { ResultsDb } from '../host/src/store/results-db.js';
import { testOutput } from './helpers/outputs.js';
import { tempDir } from './helpers/tmp.js';

const EP = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const PERIOD = 60_000;
const T0 = 1_700_000_000_000;
const N = 5000;

let seed = 11;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;

function output(endpointId: string, app: string, i: number, value: number, status: ResultStatus): AppOutputMessage {
  const windowStart = T0 + i * PERIOD;
  return testOutput(
    { endpointId, endpointName: endpointId === EP ? 'ep' : 'other', app, windowStart, windowEnd: windowStart + PERIOD },
    {
      rows: 10,
      results: [
        { name: 'drift', value, kind: 0, status },
        { name: 'drift_b', value: -value, kind: 0, status: 0 },
      ],
      metrics: [{ name: 'rows', value: i * 0.5 }],
    },
  );
}

/** The plain computation: `target / 3` buckets of equal count, each its min, max and first detected point, in time order. */
function expected(points: SeriesPoint[], target: number): SeriesPoint[] {
  if (points.length <= target) return points;
  const buckets = Math.floor(target / 3);
  const out: SeriesPoint[] = [];
  for (let b = 0; b < buckets; b++) {
    const bucket = points.slice(Math.floor((b * points.length) / buckets), Math.floor(((b + 1) * points.length) / buckets));
    if (bucket.length === 0) continue;
    const values = bucket.map((p) => p[1]);
    const keep = new Set([values.indexOf(Math.min(...values)), values.indexOf(Math.max(...values))]);
    const detected = bucket.findIndex((p) => p[2] === 2);
    if (detected >= 0) keep.add(detected);
    out.push(...[...keep].sort((x, y) => x - y).map((i) => bucket[i]!));
  }
  return out;
}

/** The writer's series: one result's or metric's values over a range, downsampled in the store, on a real LevelDB. */
describe('ResultsDb: series (range read of the series index, downsampled)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: ResultsDb;
  /** What was stored of EP / app-a / drift, in time order. */
  const drift: SeriesPoint[] = [];

  beforeAll(async () => {
    dir = await tempDir('mw-series-');
    db = new ResultsDb(join(dir.path, 'results'));
    await db.open();
    const pending: Array<Promise<unknown>> = [];
    // stored out of time order: the index orders them
    const order = Array.from({ length: N }, (_, i) => i).sort(() => uniform() - 0.5);
    for (const i of order) {
      const value = i === 1234 ? 50 : i === 4321 ? -50 : uniform();
      const status: ResultStatus = i === 2500 ? 2 : value > 0.9 ? 1 : 0;
      drift[i] = [T0 + i * PERIOD, value, status];
      pending.push(db.store(output(EP, 'app-a', i, value, status), false));
      if (i % 10 === 0) pending.push(db.store(output(EP, 'app-b', i, 7, 0), false));
    }
    pending.push(db.store(output(`${EP}-batch1`, 'app-a', 10, 99, 2), false));
    pending.push(db.store(output(OTHER, 'app-a', 10, 98, 2), false));
    await Promise.all(pending);
  });
  afterAll(async () => {
    await db?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it('gives every point of a range shorter than the target, exactly, oldest first', async () => {
    const from = T0 + 100 * PERIOD;
    const to = T0 + 400 * PERIOD;
    const got = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', from, to, points: 1000 });
    expect(got).toEqual({ total: 300, points: drift.slice(100, 400) });
    const rows = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'metric', name: 'rows', from, to: from + 3 * PERIOD, points: 10 });
    expect(rows).toEqual({
      total: 3,
      points: [
        [from, 50, null],
        [from + PERIOD, 50.5, null],
        [from + 2 * PERIOD, 51, null],
      ],
    });
  });

  it('cuts the whole series to min/max per bucket and the detected windows, as the plain computation does', async () => {
    for (const target of [10, 999, 1000, 4999]) {
      const got = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', points: target });
      expect(got.total).toBe(N);
      expect(got.points).toEqual(expected(drift, target));
      expect(got.points.length).toBeLessThanOrEqual(target);
    }
    const all = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', points: 1000 });
    expect(all.points.some((p) => p[1] === 50) && all.points.some((p) => p[1] === -50)).toBe(true);
    expect(all.points.filter((p) => p[2] === 2).map((p) => p[0])).toEqual([T0 + 2500 * PERIOD]);
    // a range: [from, to) by window start
    const ranged = await db.seriesOf({
      endpointId: EP,
      app: 'app-a',
      type: 'result',
      name: 'drift',
      from: T0 + 1000 * PERIOD,
      to: T0 + 3000 * PERIOD,
      points: 300,
    });
    expect(ranged).toEqual({ total: 2000, points: expected(drift.slice(1000, 3000), 300) });
  });

  it("keeps apart names that share a prefix, apps, endpoints and an endpoint's batches", async () => {
    const b = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift_b', from: T0, to: T0 + 2 * PERIOD, points: 10 });
    expect(b.points).toEqual([
      [T0, -drift[0]![1], 0],
      [T0 + PERIOD, -drift[1]![1], 0],
    ]);
    expect((await db.seriesOf({ endpointId: EP, app: 'app-b', type: 'result', name: 'drift', points: 1000 })).total).toBe(N / 10);
    expect((await db.seriesOf({ endpointId: OTHER, app: 'app-a', type: 'result', name: 'drift', points: 10 })).points).toEqual([[T0 + 10 * PERIOD, 98, 2]]);
    expect((await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'metric', name: 'drift', points: 10 })).total).toBe(0);
    const names = await db.metricNames(EP);
    expect(names.find((n) => n.fullName === 'app-b.result.drift')).toEqual({
      fullName: 'app-b.result.drift',
      app: 'app-b',
      type: 'result',
      name: 'drift',
      windows: N / 10,
      first: T0,
      last: T0 + (N - 10) * PERIOD,
    });
  });

  it('builds the index of a store older than it when it opens, and expiry and purge remove its entries', async () => {
    const before = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', points: 1000 });
    await db.close();
    // a store written before the series index: its entries and its mark removed
    const raw = new Level<string, string>(join(dir.path, 'results'));
    const old: string[] = [];
    for await (const k of raw.keys({ gte: '!v!', lt: '!v!\uffff' })) old.push(k);
    expect(old.length).toBeGreaterThan(N);
    await raw.batch([...old, '!m!series'].map((key) => ({ type: 'del' as const, key })));
    await raw.close();
    db = new ResultsDb(join(dir.path, 'results'));
    await db.open();
    expect(await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', points: 1000 })).toEqual(before);

    // windows starting before T0 + 1000 periods expire, with their series entries
    await db.expire(T0 + 1000 * PERIOD + 1000, { windowMs: 1000, hourMs: 1e15, dayMs: 1e15 });
    const after = await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', points: 10_000 });
    expect(after).toEqual({ total: N - 1000, points: drift.slice(1000) });

    await db.store(output(OTHER, 'app-a', N, 97, 0), false);
    await db.purgeEndpoint(EP);
    expect((await db.seriesOf({ endpointId: EP, app: 'app-a', type: 'result', name: 'drift', points: 10 })).total).toBe(0);
    expect(await db.metricNames(EP)).toEqual([]);
    expect((await db.seriesOf({ endpointId: OTHER, app: 'app-a', type: 'result', name: 'drift', points: 10 })).points).toEqual([[T0 + N * PERIOD, 97, 0]]);
  });
});
