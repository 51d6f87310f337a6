import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppOutputMessage } from '@modelwatch/protocol';
import type { NumericFeatureStats } from '@modelwatch/sdk';
import { referenceStats, windowStats } from '@modelwatch/sdk/stats';
import { endpointId } from '../host/src/domain/names.js';
import { ResultsDb } from '../host/src/store/results-db.js';
import { tempDir } from './helpers/tmp.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1);
const ID = endpointId('prof');
const ref = referenceStats(Float64Array.from({ length: 100 }, (_, i) => i)) as NumericFeatureStats;

/** An output of window `start` (10 minutes) with `xs` as its rows' values of x, and the app's `drift` result. */
function output(start: number, xs: number[], app = 'drift', status: 0 | 2 = 0): AppOutputMessage {
  return {
    v: 1,
    endpointId: ID,
    endpointName: 'prof',
    app,
    version: '1.0.0',
    windowStart: start,
    windowEnd: start + 600_000,
    outcome: 'ok',
    rows: xs.length,
    results: [{ name: 'drift', value: xs.length, kind: 0, status }],
    metrics: [],
    durationMs: 1,
    completedAt: start + 600_500,
    runner: 'test',
    profile: { x: windowStats(Float64Array.from(xs), ref) },
  };
}

/** The writer's LevelDB on a real store: profiles once per window, roll-ups, and retention by window, hour and day. */
describe('ResultsDb: window profiles, roll-ups and retention', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: ResultsDb;

  beforeAll(async () => {
    dir = await tempDir('mw-profiles-');
    db = new ResultsDb(join(dir.path, 'results'));
    await db.open();
    // day 1: two windows in hour 0, one in hour 1; day 2: one window
    await db.store(output(T0, [1, 2, 3]), false, 1);
    await db.store(output(T0, [1, 2, 3], 'other-app', 2), false, 2);
    await db.store(output(T0 + 600_000, [10, 20]), false, 3);
    await db.store(output(T0 + HOUR, [5]), false, 4);
    await db.store(output(T0 + DAY, [7, 7]), false, 5);
  });

  afterAll(async () => {
    await db?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("stores one profile per window, whichever app's output brings it, and not in the window records", async () => {
    const profiles = await db.profilesOf({ endpointId: ID });
    expect(profiles.map((p) => [p.windowStart, p.rows])).toEqual([
      [T0, 3],
      [T0 + 600_000, 2],
      [T0 + HOUR, 1],
      [T0 + DAY, 2],
    ]);
    expect(profiles[0]).toMatchObject({ v: 1, endpoint: 'prof', endpointId: ID, windowEnd: T0 + 600_000 });
    expect(profiles[0]!.features.x).toEqual(windowStats(Float64Array.from([1, 2, 3]), ref));
    expect(await db.profileOf(ID, T0 + HOUR)).toMatchObject({ rows: 1 });
    expect((await db.query({ endpointId: ID })).every((w) => !('profile' in w))).toBe(true);
  });

  it('rolls profiles and results up by hour and day, counts and means exact', async () => {
    const hours = await db.profilesOf({ endpointId: ID, resolution: 'hour' });
    expect(hours.map((p) => [p.windowStart, p.windowEnd, p.rows, p.windows])).toEqual([
      [T0, T0 + HOUR, 5, 2],
      [T0 + HOUR, T0 + 2 * HOUR, 1, 1],
      [T0 + DAY, T0 + DAY + HOUR, 2, 1],
    ]);
    const x = hours[0]!.features.x as NumericFeatureStats;
    const whole = windowStats(Float64Array.from([1, 2, 3, 10, 20]), ref) as NumericFeatureStats;
    expect(x.count).toBe(5);
    expect(x.mean).toBeCloseTo(whole.mean, 12);
    expect(x.std).toBeCloseTo(whole.std, 12);
    expect(x.hist.counts).toEqual(whole.hist.counts);
    const days = await db.profilesOf({ endpointId: ID, resolution: 'day' });
    expect(days.map((p) => [p.windowStart, p.rows, p.windows])).toEqual([
      [T0, 6, 3],
      [T0 + DAY, 2, 1],
    ]);
    const rollups = await db.rollupsOf({ endpointId: ID, resolution: 'day', app: 'drift' });
    expect(rollups.map((r) => [r.start, r.windows])).toEqual([
      [T0, 3],
      [T0 + DAY, 1],
    ]);
    expect(rollups[0]!.results[0]).toMatchObject({ name: 'drift', status: 0, min: 1, max: 3, mean: 2, windows: 3 });
    const other = await db.rollupsOf({ endpointId: ID, resolution: 'hour', app: 'other-app' });
    expect(other[0]!.results[0]).toMatchObject({ status: 2, windows: 1 });
  });

  it("counts the windows analysed of the endpoint once per window (whichever apps), keeps each app's newest outcome, and finds a window's outputs by its start", async () => {
    const [stats] = await db.endpointStats([ID]);
    // T0 (two apps), T0 + 10 min, T0 + 1 h, T0 + 1 day
    expect(stats!.windowsAnalysed).toBe(4);
    expect(stats!.lastOutcomes).toEqual({ drift: { windowStart: T0 + DAY, outcome: 'ok' }, 'other-app': { windowStart: T0, outcome: 'ok' } });
    expect((await db.windowsAt(ID, T0)).map((w) => w.app)).toEqual(['drift', 'other-app']);
    expect(await db.windowsAt(ID, T0 + 1)).toEqual([]);
  });

  it('expires windows and profiles past the results retention, and roll-ups past theirs; an expired window is not stored again', async () => {
    const now = T0 + DAY + 30 * 60_000;
    // windows older than 1 h, hourly roll-ups older than 12 h, no daily ones
    const expired = await db.expire(now, { windowMs: HOUR, hourMs: 12 * HOUR, dayMs: 10 * DAY });
    // profiles: 3 windows' and 2 hourly roll-ups; roll-ups: the results' of 2 hours of 'drift' and 1 of 'other-app'
    expect(expired).toEqual({ windows: 4, profiles: 5, rollups: 3 });
    expect((await db.profilesOf({ endpointId: ID })).map((p) => p.windowStart)).toEqual([T0 + DAY]);
    expect((await db.query({ endpointId: ID })).map((w) => w.windowStart)).toEqual([T0 + DAY]);
    expect((await db.profilesOf({ endpointId: ID, resolution: 'hour' })).map((p) => p.windowStart)).toEqual([T0 + DAY]);
    expect((await db.profilesOf({ endpointId: ID, resolution: 'day' })).map((p) => p.windowStart)).toEqual([T0, T0 + DAY]);
    expect(await db.checkCount()).toEqual({ recorded: 1, held: 1 });
    // three windows expired (one of them with two apps' outputs): one left analysed
    expect((await db.endpointStats([ID]))[0]!.windowsAnalysed).toBe(1);
    // a redelivered output of an expired window
    expect(await db.store(output(T0, [1, 2, 3]), false, 6)).toBe('duplicate');
    expect(await db.profileOf(ID, T0)).toBeUndefined();
    // nothing more to expire
    expect(await db.expire(now, { windowMs: HOUR, hourMs: 12 * HOUR, dayMs: 10 * DAY })).toEqual({ windows: 0, profiles: 0, rollups: 0 });
  });
});

/**
 * Whether an output is its window's first, as the store opened (the time index) and since (what the
 * store remembers of the windows it stored): the same count either way, across reopens, batches
 * and retention.
 */
describe('ResultsDb: windows analysed, counted once a window across reopens', () => {
  it('counts each window once, whichever app comes first, before and after the store is reopened', async () => {
    await using dir = await tempDir('mw-analysed-');
    const path = join(dir.path, 'results');
    const analysed = async (d: ResultsDb) => (await d.endpointStats([ID]))[0]!.windowsAnalysed;
    let db = new ResultsDb(path);
    await db.open();
    let seq = 0;
    const nextSeq = () => ++seq;
    // an empty store: a window is first unless stored since
    await db.store(output(T0, [1]), false, nextSeq());
    await db.store(output(T0, [1], 'other-app'), false, nextSeq());
    await db.storeMany([{ out: output(T0 + 600_000, [1]) }, { out: output(T0 + 600_000, [1], 'other-app') }], false);
    expect(await analysed(db)).toBe(2);
    await db.close();
    // reopened: the windows stored before are found in the time index, later ones remembered
    db = new ResultsDb(path);
    await db.open();
    await db.store(output(T0 + 600_000, [1], 'third-app'), false, nextSeq());
    await db.store(output(T0, [1], 'third-app'), false, nextSeq());
    expect(await analysed(db)).toBe(2);
    await db.store(output(T0 + 2 * 600_000, [1], 'third-app'), false, nextSeq());
    await db.store(output(T0 + 2 * 600_000, [1]), false, nextSeq());
    // a late window, older than the newest stored when opened: asked of the time index
    await db.store(output(T0 - 600_000, [1], 'other-app'), false, nextSeq());
    await db.store(output(T0 - 600_000, [1]), false, nextSeq());
    expect(await analysed(db)).toBe(4);
    // retention takes the windows before T0 + 10 min (three of them): a redelivered output of one is a duplicate
    await db.expire(T0 + 600_000 + DAY, { windowMs: DAY, hourMs: 30 * DAY, dayMs: 365 * DAY });
    expect(await analysed(db)).toBe(2);
    expect(await db.store(output(T0, [1], 'fourth-app'), false, nextSeq())).toBe('duplicate');
    await db.store(output(T0 + 600_000, [1], 'fourth-app'), false, nextSeq());
    await db.store(output(T0 + 3 * 600_000, [1], 'fourth-app'), false, nextSeq());
    expect(await analysed(db)).toBe(3);
    await db.close();
  });
});
