import { fileURLToPath } from 'node:url';
import type { CategoricalFeatureStats, NumericFeatureStats } from '@modelwatch/sdk';
import { referenceStatsMap } from '@modelwatch/sdk/stats';
import { seededRandom } from '@modelwatch/sdk/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundlePlugin, type PluginBundle } from '../src/plugins/bundle.js';
import { DRY_RUN_ROWS, dryRunDeadlineMs, dryRunInput, syntheticReference, type DryRunEndpoint } from '../src/runner/dry-run.js';
import { dryRunLocal } from '../src/runner/local.js';
import type { SampleData } from '../src/runner/sandbox.js';

const READS_AGE = fileURLToPath(new URL('./fixtures/plugins/reads-age/', import.meta.url));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** An endpoint whose reference statistics come from these training columns. */
function endpoint(
  name: string,
  features: Record<string, Array<number | string | null>>,
  labels: Record<string, Array<number | string | null>> = {},
): DryRunEndpoint {
  return {
    id: 'c0ffee00'.padEnd(40, '0'),
    name,
    featureNames: Object.keys(features),
    labelNames: Object.keys(labels),
    featureStats: referenceStatsMap({ ...features, ...labels }),
  };
}

/** A column of a sample as plain values (NaN and null as null). */
function column(s: SampleData, name: string): Array<number | string | null> {
  if (name in s.strings) return s.strings[name]!;
  const i = s.numeric.indexOf(name);
  return Array.from(s.packed.subarray(i * s.length, (i + 1) * s.length), (v) => (Number.isNaN(v) ? null : v));
}

const r = seededRandom(7);
const TRAIN = {
  // two clusters: nothing in between
  age: Array.from({ length: 500 }, (_, i) => (i % 2 ? r.normal(25, 1) : r.normal(60, 1))),
  // integers 0..3 with a missing value in four
  visits: Array.from({ length: 500 }, (_, i) => (i % 4 === 0 ? null : i % 4)),
  plan: Array.from({ length: 500 }, (_, i) => (['basic', 'pro', 'basic', 'team'] as const)[i % 4]!),
};
const LABELS = { churned: Array.from({ length: 500 }, (_, i) => (i % 3 === 0 ? 1 : 0)) };

describe('the synthetic window of a dry run', () => {
  const ep = endpoint('churn', TRAIN, LABELS);
  const input = dryRunInput(ep, { applicationName: 'app', config: { k: 1 }, windowStart: T0, windowEnd: T0 + 10_000 });

  it("has the endpoint's features and outputs, in order, and the window's timestamps and request ids", () => {
    expect(input.sample.columns).toEqual(['age', 'visits', 'plan', 'churned']);
    expect(input.sample.length).toBe(DRY_RUN_ROWS);
    expect(input.endpoint).toEqual({ id: ep.id, name: 'churn', featureNames: ['age', 'visits', 'plan'], labelNames: ['churned'] });
    expect(input.featureStats).toBe(ep.featureStats);
    expect(input.config).toEqual({ k: 1 });
    const k = input.sample.numeric.length;
    const ts = input.sample.packed.subarray(k * DRY_RUN_ROWS, (k + 1) * DRY_RUN_ROWS);
    for (const t of ts) expect(t >= T0 && t < T0 + 10_000).toBe(true);
    expect(input.sample.requestIds[0]).toBe('dry-run-0');
  });

  it('draws numbers from the reference histogram: inside [min, max] and only in bins the reference fills', () => {
    const ref = ep.featureStats.age as NumericFeatureStats;
    const age = column(input.sample, 'age') as number[];
    expect(age.every((v) => v >= ref.min && v <= ref.max)).toBe(true);
    // the reference has nothing between its two clusters, so neither has the window
    expect(age.filter((v) => v > 30 && v < 55)).toEqual([]);
    expect(age.filter((v) => v < 30).length).toBeGreaterThan(30);
    expect(age.filter((v) => v > 55).length).toBeGreaterThan(30);
  });

  it('keeps whole numbers whole, and leaves values missing about as often as the reference', () => {
    const visits = column(input.sample, 'visits');
    const present = visits.filter((v) => v !== null);
    expect(new Set(present).size).toBeGreaterThan(1);
    expect(present.every((v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 3)).toBe(true);
    // a quarter of the reference is missing
    expect(visits.length - present.length).toBeGreaterThan(10);
    expect(visits.length - present.length).toBeLessThan(45);
    expect(new Set(column(input.sample, 'churned'))).toEqual(new Set([0, 1]));
  });

  it("draws categories from the reference's frequencies only", () => {
    const plan = column(input.sample, 'plan');
    const freq = (ep.featureStats.plan as CategoricalFeatureStats).frequencies;
    expect(new Set(plan)).toEqual(new Set(Object.keys(freq)));
    expect(plan.filter((v) => v === 'basic').length).toBeGreaterThan(plan.filter((v) => v === 'team').length);
  });

  it("comes with the window's statistics on the reference's bins, as the host computes them", () => {
    const stats = input.sampleStats as Record<string, NumericFeatureStats>;
    expect(stats.age!.count).toBe(DRY_RUN_ROWS);
    expect(stats.age!.hist.edges).toEqual((ep.featureStats.age as NumericFeatureStats).hist.edges);
    expect(stats.visits!.missing).toBe(column(input.sample, 'visits').filter((v) => v === null).length);
  });

  it('is the same every time (a dry run is repeatable)', () => {
    const again = dryRunInput(ep, { applicationName: 'app', config: {}, windowStart: T0, windowEnd: T0 + 10_000 });
    expect(again.sample.packed).toEqual(input.sample.packed);
    expect(again.sample.strings).toEqual(input.sample.strings);
  });

  it('gives numbers to columns without reference statistics', () => {
    const bare: DryRunEndpoint = { id: '1'.repeat(40), name: 'bare', featureNames: ['x', 'y'], labelNames: ['p'], featureStats: {} };
    const s = dryRunInput(bare, { applicationName: 'app', config: {}, windowStart: T0, windowEnd: T0 + 1000 }).sample;
    expect(s.numeric).toEqual(['x', 'y', 'p']);
    expect(column(s, 'x').every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
    expect(syntheticReference(bare)).toBeUndefined();
  });

  it('joins a true value to every row for apps with groundTruth, and passes the reference for apps with referenceRows', () => {
    const reference = syntheticReference(ep)!;
    expect(reference.columns).toEqual(['age', 'visits', 'plan', 'churned']);
    expect(reference.timed).toBe(false);
    const gt = dryRunInput(ep, {
      applicationName: 'app',
      config: {},
      windowStart: T0,
      windowEnd: T0 + 1000,
      groundTruth: true,
      referenceRows: true,
      reference,
    });
    expect(gt.groundTruth).toMatchObject({ matched: DRY_RUN_ROWS, numeric: ['churned'] });
    expect(gt.reference).toBe(reference);
    // no reference rows for an app that did not ask
    expect(dryRunInput(ep, { applicationName: 'app', config: {}, windowStart: T0, windowEnd: T0 + 1000, reference }).reference).toBeUndefined();
  });

  it('bounds its duration by the time limit, at most 30 s a window, and its budget', () => {
    const limits = { memoryMb: 32, timeoutMs: 1000, extraDataBytes: 65536 };
    expect(dryRunDeadlineMs(limits, 1)).toBe(3000);
    expect(dryRunDeadlineMs({ ...limits, timeoutMs: 600_000 }, 1)).toBe(60_000);
    expect(dryRunDeadlineMs(limits, 100)).toBe(23_000);
  });
});

describe('dryRunLocal: the dry run of plugin build --endpoint, without a host', () => {
  let bundle: PluginBundle;
  beforeAll(async () => {
    bundle = await bundlePlugin(READS_AGE);
  });
  const window = { windowStart: T0, windowEnd: T0 + 60_000 };

  it("runs the app on a synthetic window with the endpoint's columns", async () => {
    const r = await dryRunLocal(bundle, endpoint('churn-eu', TRAIN, LABELS), window);
    expect(r).toMatchObject({ endpoint: 'churn-eu', outcome: 'ok', rows: DRY_RUN_ROWS, results: 0, metrics: 2 });
  });

  it('reports a missing column as an error naming the column and the file and line in the plugin, never throwing', async () => {
    const r = await dryRunLocal(bundle, endpoint('churn-us', { x: [1, 2, 3], z: [4, 5, 6] }), window);
    expect(r.outcome).toBe('error');
    expect(r.error!.code).toBe('APP_ERROR');
    expect(r.error!.message).toMatch(/^reads-age@1\.0\.0 threw: the window has no column 'age' \(it has: x, z\) \(at src\/index\.ts:6:\d+\)$/);
    expect(r.error!.stack).toMatch(/at ReadsAge\.doTracking \(src\/index\.ts:6:\d+\)/);
  });

  it('does not run on an endpoint the app does not apply to', async () => {
    const r = await dryRunLocal(bundle, endpoint('fraud', { x: [1, 2, 3] }), window);
    expect(r).toMatchObject({ outcome: 'skipped', reason: "not run: reads-age does not apply to endpoint 'fraud' (its endpoints: churn*)" });
  });
});
