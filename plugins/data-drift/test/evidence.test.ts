/**
 * Evidence: false-alarm rates without a shift and detection rates with a known shift, on
 * synthetic data, through the app itself (in process).
 *
 * Every window draws a fresh reference and a fresh window, so the windows are independent
 * trials and the number of alarms is Binomial(windows, rate). A test that holds its nominal
 * level alpha gives more than `binomialUpperBound(windows, alpha, 0.001)` alarms with
 * probability below 0.1 %: that bound is the margin (21 of 200 windows for alpha = 0.05, i.e. a
 * rate of 0.105). The seeds are fixed, so the runs are deterministic; the margin is what
 * makes the assertion independent of the seed.
 */
import { ResultStatus } from '@modelwatch/sdk';
import { chi2Sf } from '@modelwatch/sdk/stats';
import { describe, expect, it } from 'vitest';
import { binomialLowerBound, binomialUpperBound, createContext, rng, runApp, type Column } from '../../test-utils/context.js';
import DataDrift, { type DataDriftConfig } from '../src/index.js';

const WINDOWS = 200;
const ALPHA = 0.05;
const TAIL = 0.001;
const MAX_FALSE_ALARMS = binomialUpperBound(WINDOWS, ALPHA, TAIL);

interface Rates {
  feature: number;
  dataset: number;
  methods: Set<string>;
}

/** Run the app on `windows` independent (reference, window) pairs; alarm rates per feature result and for data_drift. */
function alarmRates(
  windows: number,
  seed: number,
  make: (r: ReturnType<typeof rng>) => { reference: Record<string, Column>; window: Record<string, Column> },
  config: DataDriftConfig = {},
): Rates {
  const r = rng(seed);
  let featureAlarms = 0;
  let featureTotal = 0;
  let datasetAlarms = 0;
  const methods = new Set<string>();
  for (let w = 0; w < windows; w++) {
    const { reference, window } = make(r);
    const out = runApp(new DataDrift(), createContext<DataDriftConfig>({ sample: window, reference, config }).ctx);
    for (const res of out.results) {
      if (res.name === 'data_drift') {
        if (res.status === ResultStatus.Detected) datasetAlarms++;
        continue;
      }
      featureTotal++;
      methods.add(res.extraData!.method as string);
      if (res.status === ResultStatus.Detected) featureAlarms++;
    }
  }
  return { feature: featureAlarms / featureTotal, dataset: datasetAlarms / windows, methods };
}

const normals = (r: ReturnType<typeof rng>, n: number, mu = 0, sigma = 1) => Float64Array.from({ length: n }, () => r.normal(mu, sigma));
const draws = <T>(r: ReturnType<typeof rng>, n: number, values: readonly T[], probs: readonly number[]) =>
  Array.from({ length: n }, () => r.choice(values, probs));

describe('data-drift: false alarms at no shift, detection at a known shift', () => {
  it(`KS (reference 1000, windows of 500): false alarms <= ${MAX_FALSE_ALARMS}/${WINDOWS} at alpha 0.05; a 0.5 sigma mean shift detected in >= 95 %`, async ({
    annotate,
  }) => {
    const noShift = alarmRates(WINDOWS, 1, (r) => ({ reference: { x: normals(r, 1000) }, window: { x: normals(r, 500) } }));
    const shift = alarmRates(WINDOWS, 2, (r) => ({ reference: { x: normals(r, 1000) }, window: { x: normals(r, 500, 0.5) } }));
    await annotate(`KS: false alarm rate ${noShift.feature}, detection rate ${shift.feature}`);
    expect(noShift.methods).toEqual(new Set(['ks']));
    expect(noShift.feature * WINDOWS).toBeLessThanOrEqual(MAX_FALSE_ALARMS);
    expect(shift.feature).toBeGreaterThanOrEqual(0.95);
  });

  it('KS on 4 features: per-feature false alarms within the margin; data_drift (share >= 0.5) almost never', async ({ annotate }) => {
    const make = (shift: number) => (r: ReturnType<typeof rng>) => {
      const reference: Record<string, Column> = {};
      const window: Record<string, Column> = {};
      for (const f of ['a', 'b', 'c', 'd']) {
        reference[f] = normals(r, 600, 10, 3);
        window[f] = normals(r, 300, 10 + shift * 3, 3);
      }
      return { reference, window };
    };
    const noShift = alarmRates(100, 3, make(0));
    const shift = alarmRates(100, 4, make(0.5));
    await annotate(
      `4 features, KS: per-feature false alarm rate ${noShift.feature}, data_drift false alarm rate ${noShift.dataset}; at 0.5 sigma: ${shift.feature} / ${shift.dataset}`,
    );
    expect(noShift.feature * 400).toBeLessThanOrEqual(binomialUpperBound(400, ALPHA, TAIL));
    // P(>= 2 of 4 at alpha 0.05) = 0.014: the dataset result needs half the features
    expect(noShift.dataset * 100).toBeLessThanOrEqual(binomialUpperBound(100, 0.014, TAIL));
    expect(shift.dataset).toBeGreaterThanOrEqual(0.95);
  });

  it('z-test (binary category, reference 1000, windows of 500): false alarms within the margin; 0.30 -> 0.42 detected in >= 95 %', async ({ annotate }) => {
    const make = (p: number) => (r: ReturnType<typeof rng>) => ({
      reference: { c: draws(r, 1000, ['no', 'yes'], [0.7, 0.3]) },
      window: { c: draws(r, 500, ['no', 'yes'], [1 - p, p]) },
    });
    const noShift = alarmRates(WINDOWS, 5, make(0.3));
    const shift = alarmRates(WINDOWS, 6, make(0.42));
    await annotate(`z: false alarm rate ${noShift.feature}, detection rate ${shift.feature}`);
    expect(noShift.methods).toEqual(new Set(['z']));
    expect(noShift.feature * WINDOWS).toBeLessThanOrEqual(MAX_FALSE_ALARMS);
    expect(shift.feature).toBeGreaterThanOrEqual(0.95);
  });

  it("chi-square: Evidently's goodness of fit exceeds its level by the factor 1 + n/N; the two-sample test (categoricalTest: 'chi2_contingency') holds it", async ({
    annotate,
  }) => {
    const cats = ['a', 'b', 'c', 'd'];
    const probs = [0.4, 0.3, 0.2, 0.1];
    const make = (shifted: boolean) => (r: ReturnType<typeof rng>) => ({
      reference: { c: draws(r, 1000, cats, probs) },
      window: { c: draws(r, 500, cats, shifted ? [0.3, 0.3, 0.2, 0.2] : probs) },
    });
    const gof = alarmRates(WINDOWS, 7, make(false));
    const homogeneity = alarmRates(WINDOWS, 7, make(false), { categoricalTest: 'chi2_contingency' });
    const shifted = alarmRates(WINDOWS, 8, make(true), { categoricalTest: 'chi2_contingency' });
    // the goodness-of-fit statistic treats the reference shares as exact; they carry sampling error too,
    // so under no shift it is about (1 + n_window / n_reference) chi2(k - 1): its real level is
    const inflated = chi2Sf(7.814727903251178 / (1 + 500 / 1000), 3); // ≈ 0.157
    await annotate(
      `chisquare (Evidently): false alarm rate ${gof.feature} (theory ${inflated.toFixed(3)}); chi2_contingency: ${homogeneity.feature}; detection of [.4 .3 .2 .1] -> [.3 .3 .2 .2]: ${shifted.feature}`,
    );
    expect(gof.methods).toEqual(new Set(['chisquare']));
    expect(homogeneity.methods).toEqual(new Set(['chi2_contingency']));
    expect(gof.feature * WINDOWS).toBeGreaterThan(MAX_FALSE_ALARMS);
    expect(gof.feature * WINDOWS).toBeGreaterThanOrEqual(binomialLowerBound(WINDOWS, inflated, TAIL));
    expect(gof.feature * WINDOWS).toBeLessThanOrEqual(binomialUpperBound(WINDOWS, inflated, TAIL));
    expect(homogeneity.feature * WINDOWS).toBeLessThanOrEqual(MAX_FALSE_ALARMS);
    expect(shifted.feature).toBeGreaterThanOrEqual(0.95);
  });

  it('normed Wasserstein (reference 3000, windows of 1000): false alarms within the margin at 0.1; a 0.5 sigma shift detected in >= 95 %', async ({
    annotate,
  }) => {
    const noShift = alarmRates(WINDOWS, 9, (r) => ({ reference: { x: normals(r, 3000, 5, 2) }, window: { x: normals(r, 1000, 5, 2) } }));
    const shift = alarmRates(WINDOWS, 10, (r) => ({ reference: { x: normals(r, 3000, 5, 2) }, window: { x: normals(r, 1000, 6, 2) } }));
    await annotate(`wasserstein: false alarm rate ${noShift.feature}, detection rate ${shift.feature}`);
    expect(noShift.methods).toEqual(new Set(['wasserstein']));
    expect(noShift.feature * WINDOWS).toBeLessThanOrEqual(MAX_FALSE_ALARMS);
    expect(shift.feature).toBeGreaterThanOrEqual(0.95);
  });

  it('Jensen-Shannon (category, reference 3000, windows of 500): false alarms within the margin at 0.1; [.4 .3 .2 .1] -> [.1 .2 .3 .4] detected in >= 95 %', async ({
    annotate,
  }) => {
    const cats = ['a', 'b', 'c', 'd'];
    const make = (probs: number[]) => (r: ReturnType<typeof rng>) => ({
      reference: { c: draws(r, 3000, cats, [0.4, 0.3, 0.2, 0.1]) },
      window: { c: draws(r, 500, cats, probs) },
    });
    const noShift = alarmRates(WINDOWS, 11, make([0.4, 0.3, 0.2, 0.1]));
    const shift = alarmRates(WINDOWS, 12, make([0.1, 0.2, 0.3, 0.4]));
    await annotate(`jensenshannon: false alarm rate ${noShift.feature}, detection rate ${shift.feature}`);
    expect(noShift.methods).toEqual(new Set(['jensenshannon']));
    expect(noShift.feature * WINDOWS).toBeLessThanOrEqual(MAX_FALSE_ALARMS);
    expect(shift.feature).toBeGreaterThanOrEqual(0.95);
  });

  it('small windows: the fixed Wasserstein threshold 0.1 alarms at no shift; adaptive thresholds hold the level and still detect a 1 sigma shift', async ({
    annotate,
  }) => {
    const windows = 100;
    const make = (mu: number) => (r: ReturnType<typeof rng>) => ({ reference: { x: normals(r, 2000, 0, 1) }, window: { x: normals(r, 60, mu, 1) } });
    const fixed = alarmRates(windows, 13, make(0));
    const adaptive = alarmRates(windows, 13, make(0), { thresholds: 'adaptive' });
    const adaptiveShift = alarmRates(windows, 14, make(1), { thresholds: 'adaptive' });
    await annotate(
      `windows of 60 rows: fixed 0.1 false alarm rate ${fixed.feature}; adaptive (mean + 3 sigma of 20 chunks) ${adaptive.feature}; adaptive detection at 1 sigma ${adaptiveShift.feature}`,
    );
    expect(fixed.feature).toBeGreaterThan(0.5);
    expect(adaptive.feature * windows).toBeLessThanOrEqual(binomialUpperBound(windows, ALPHA, TAIL));
    expect(adaptiveShift.feature).toBeGreaterThanOrEqual(0.95);
  });
});
