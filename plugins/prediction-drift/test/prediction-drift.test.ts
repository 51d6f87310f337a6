import { ResultKind, ResultStatus } from '@modelwatch/sdk';
import { describe, expect, it } from 'vitest';
// the same scipy reference numbers as data-drift: the engine is shared, here it runs on outputs
import reference from '../../data-drift/test/evidently-reference.json' with { type: 'json' };
import { binomialUpperBound, createContext, resultOf, rng, runApp, type Column } from '../../test-utils/context.js';
import PredictionDrift, { type PredictionDriftConfig } from '../src/index.js';

interface ExpectedFeature {
  method: string;
  score: number;
  pValue: number | null;
  statistic: number | string | null;
  drifted: boolean;
  threshold: number;
}
interface Case {
  name: string;
  config: Record<string, unknown>;
  reference: string;
  window: string;
  expected: { features: Record<string, ExpectedFeature> };
}
const DOC = reference as unknown as { datasets: Record<string, Record<string, Column>>; cases: Case[] };

/** A data set's columns split into two features and the rest as outputs. */
function asOutputs(data: Record<string, Column>, outputs: string[]): Record<string, Column> {
  const out: Record<string, Column> = {};
  for (const [k, v] of Object.entries(data)) if (!outputs.includes(k)) out[k] = v;
  for (const o of outputs) out[o] = data[o]!;
  return out;
}

function rel(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.abs(b);
}

describe('prediction-drift', () => {
  for (const name of ['small_no_drift', 'small_drift', 'large_no_drift', 'large_drift']) {
    it(`${name}: each output drifts as scipy says (Evidently's choice of test), kind concept_drift`, () => {
      const c = DOC.cases.find((x) => x.name === name)!;
      const outputs = name.startsWith('small') ? ['income', 'segment', 'is_member'] : ['income', 'region', 'visits'];
      const { ctx } = createContext<PredictionDriftConfig>({
        sample: asOutputs(DOC.datasets[c.window]!, outputs),
        reference: asOutputs(DOC.datasets[c.reference]!, outputs),
        labelNames: outputs,
      });
      const out = runApp(new PredictionDrift(), ctx);
      expect(out.results.map((r) => r.name)).toEqual(['prediction_drift', ...outputs.map((o) => `drift_${o}`)]);
      let drifted = 0;
      for (const o of outputs) {
        const e = c.expected.features[o]!;
        const r = resultOf(out, `drift_${o}`);
        expect(r.kind).toBe(ResultKind.ConceptDrift);
        expect(r.extraData!.method).toBe(e.method);
        expect(rel(r.value, e.score)).toBeLessThanOrEqual(1e-9);
        expect(r.extraData!.drifted).toBe(e.drifted);
        expect(r.status).toBe(e.drifted ? ResultStatus.Detected : ResultStatus.NoDetection);
        if (e.drifted) drifted++;
      }
      const s = resultOf(out, 'prediction_drift');
      expect(s.kind).toBe(ResultKind.ConceptDrift);
      expect(s.value).toBe(drifted / outputs.length);
      expect(s.extraData!.compared).toBe(outputs.length);
    });
  }

  it('config: outputs list, methods and thresholds per output', () => {
    const c = DOC.cases.find((x) => x.name === 'small_drift')!;
    const outputs = ['income', 'segment'];
    const { ctx } = createContext<PredictionDriftConfig>({
      sample: asOutputs(DOC.datasets[c.window]!, outputs),
      reference: asOutputs(DOC.datasets[c.reference]!, outputs),
      labelNames: outputs,
      config: { outputs: ['income'], outputMethods: { income: 'wasserstein' }, outputThresholds: { income: 5 } },
    });
    const out = runApp(new PredictionDrift(), ctx);
    expect(out.results.map((r) => r.name)).toEqual(['prediction_drift', 'drift_income']);
    expect(resultOf(out, 'drift_income').extraData).toMatchObject({ method: 'wasserstein', threshold: 5, drifted: false });
  });

  it('empty window, no reference, no outputs, outputs missing from the reference: Irrelevant with the reason', () => {
    const app = new PredictionDrift();
    const empty = runApp(app, createContext({ sample: { x: [], y: [] }, labelNames: ['y'], reference: { x: [1, 2], y: [0, 1] } }).ctx);
    expect(empty.results).toEqual([
      { name: 'prediction_drift', value: 0, kind: ResultKind.ConceptDrift, status: ResultStatus.Irrelevant, extraData: { reason: 'window has no rows' } },
    ]);
    const noRef = runApp(app, createContext({ sample: { x: [1], y: [1] }, labelNames: ['y'] }).ctx);
    expect(noRef.results[0]!.extraData!.reason).toMatch(/no reference rows/);
    const noOutputs = runApp(app, createContext({ sample: { x: [1] }, reference: { x: [1] } }).ctx);
    expect(noOutputs.results[0]!.extraData!.reason).toBe('the endpoint has no output names and the config lists none');
    // the training data has no prediction column: every output is skipped
    const noRefOutputs = runApp(app, createContext({ sample: { x: [1, 2], y: [0, 1] }, labelNames: ['y'], reference: { x: [1, 2] } }).ctx);
    expect(resultOf(noRefOutputs, 'prediction_drift')).toMatchObject({
      status: ResultStatus.Irrelevant,
      extraData: { skipped: { missing_from_reference: ['y'] } },
    });
    expect(resultOf(noRefOutputs, 'drift_y').status).toBe(ResultStatus.Irrelevant);
    // outputs missing in every row (failed predictions)
    const allNull = runApp(app, createContext({ sample: { x: [1, 2], y: [null, null] }, labelNames: ['y'], reference: { x: [1, 2], y: [0, 1] } }).ctx);
    expect(resultOf(allNull, 'drift_y').extraData!.skipped).toBe('no_window_values');
  });
});

describe('prediction-drift: false alarms at no shift, detection at a known shift', () => {
  const WINDOWS = 150;
  const run = (seed: number, make: (r: ReturnType<typeof rng>) => { reference: Record<string, Column>; window: Record<string, Column> }) => {
    const r = rng(seed);
    const alarms: Record<string, number> = {};
    for (let w = 0; w < WINDOWS; w++) {
      const { reference: ref, window } = make(r);
      const out = runApp(new PredictionDrift(), createContext<PredictionDriftConfig>({ sample: window, reference: ref, labelNames: Object.keys(window) }).ctx);
      for (const res of out.results) if (res.status === ResultStatus.Detected) alarms[res.name] = (alarms[res.name] ?? 0) + 1;
    }
    return alarms;
  };
  // a score output (KS) and a predicted class (z-test), reference 800 rows, windows of 400
  const make = (scoreShift: number, positive: number) => (r: ReturnType<typeof rng>) => {
    const gen = (n: number, s: number, p: number) => ({
      score: Float64Array.from({ length: n }, () => 1 / (1 + Math.exp(-r.normal(s, 1)))),
      label: Array.from({ length: n }, () => (r.uniform() < p ? 'churn' : 'stay')),
    });
    return { reference: gen(800, 0, 0.2), window: gen(400, scoreShift, positive) };
  };

  it(`KS on a score and z on a class: false alarms within the binomial margin at alpha 0.05 over ${WINDOWS} windows; shifts detected in >= 95 %`, async ({
    annotate,
  }) => {
    const none = run(21, make(0, 0.2));
    const shifted = run(22, make(0.5, 0.3));
    const bound = binomialUpperBound(WINDOWS, 0.05, 0.001);
    await annotate(
      `no shift: score ${none.drift_score ?? 0}/${WINDOWS}, label ${none.drift_label ?? 0}/${WINDOWS} alarms (bound ${bound}); logit shift 0.5 sigma: ${shifted.drift_score}/${WINDOWS}; class share 0.2 -> 0.3: ${shifted.drift_label}/${WINDOWS}`,
    );
    expect(none.drift_score ?? 0).toBeLessThanOrEqual(bound);
    expect(none.drift_label ?? 0).toBeLessThanOrEqual(bound);
    expect(shifted.drift_score! / WINDOWS).toBeGreaterThanOrEqual(0.95);
    expect(shifted.drift_label! / WINDOWS).toBeGreaterThanOrEqual(0.95);
  });
});
