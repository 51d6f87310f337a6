/**
 * Evidence: the drift app's false-alarm rate without a shift, at small and large windows, and
 * its detection rate at known shifts, on synthetic data, through the app itself (in process).
 *
 * Every trial draws a fresh reference and a fresh window, so trials are independent and the
 * number of alarms is Binomial(trials, rate). A detector that holds its level alpha = 0.05
 * gives more than `binomialUpperBound(trials, 0.05, 0.001)` alarms with probability below
 * 0.1 %: that is the bound asserted. bench/power.mjs measures the same on real data sets with
 * thousands of trials (sdk/docs/drift-detection.md).
 */
import { ResultStatus } from '@modelwatch/sdk';
import { describe, expect, it } from 'vitest';
import { binomialUpperBound, createContext, rng, runApp, type Column } from '../../test-utils/context.js';
import Drift, { type DriftConfig } from '../src/index.js';

type Random = ReturnType<typeof rng>;
const TAIL = 0.001;
const REFERENCE_ROWS = 500;
// fewer replicates than the default keep the test fast; the level does not depend on them
const CONFIG: DriftConfig = { replicates: 200 };

/** Five correlated numeric features and a categorical one with a long tail (rare values the reference may lack). */
function rows(r: Random, n: number, shift: { mean?: number; scale?: number; plan?: boolean } = {}): Record<string, Column> {
  const cols: Record<string, number[] | string[]> = { a: [], b: [], c: [], d: [], e: [], plan: [] };
  const plans = Array.from({ length: 12 }, (_, k) => `p${k}`);
  const probs = plans.map((_, k) => 1 / (k + 1) ** 1.5);
  const total = probs.reduce((s, p) => s + p, 0);
  const weights = probs.map((p) => p / total);
  const shifted = weights.slice().reverse();
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    const s = shift.scale ?? 1;
    (cols.a as number[]).push((0.8 * z + 0.6 * r.normal()) * s + (shift.mean ?? 0));
    (cols.b as number[]).push((0.8 * z + 0.6 * r.normal()) * s);
    (cols.c as number[]).push(r.normal() * s);
    (cols.d as number[]).push(Math.exp(r.normal() * 0.5) * s);
    (cols.e as number[]).push(Math.floor(r.uniform() * 50));
    (cols.plan as string[]).push(r.choice(plans, shift.plan ? shifted : weights));
  }
  return Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, typeof v[0] === 'string' ? v : Float64Array.from(v as number[])]));
}

function alarmRate(seed: number, trials: number, n: number, shift: Parameters<typeof rows>[2] = {}): number {
  const r = rng(seed);
  let alarms = 0;
  for (let t = 0; t < trials; t++) {
    const { ctx } = createContext<DriftConfig>({ sample: rows(r, n, shift), reference: rows(r, REFERENCE_ROWS), config: CONFIG });
    const res = runApp(new Drift(), ctx).results[0]!;
    if (res.status === ResultStatus.Detected) alarms++;
  }
  return alarms / trials;
}

describe('drift: false alarms at no shift, detection at known shifts', () => {
  const trials = 100;
  const bound = binomialUpperBound(trials, 0.05, TAIL);

  for (const n of [10, 40, 150]) {
    it(`windows of ${n} rows: false alarms <= ${bound}/${trials} at alpha 0.05`, async ({ annotate }) => {
      const rate = alarmRate(100 + n, trials, n);
      await annotate(`false alarm rate ${rate} (${Math.round(rate * trials)}/${trials})`);
      expect(rate * trials).toBeLessThanOrEqual(bound);
    });
  }

  it('detects a 0.5 sigma mean shift of one feature of six, a doubled scale, a shifted category mix (windows of 150, >= 90 %)', async ({ annotate }) => {
    const mean = alarmRate(1, 50, 150, { mean: 0.5 });
    const scale = alarmRate(2, 50, 150, { scale: 2 });
    const plan = alarmRate(3, 50, 150, { plan: true });
    await annotate(`detection: mean ${mean}, scale ${scale}, category mix ${plan}`);
    expect(mean).toBeGreaterThanOrEqual(0.9);
    expect(scale).toBeGreaterThanOrEqual(0.9);
    expect(plan).toBeGreaterThanOrEqual(0.9);
  });
});
