import { ResultKind, ResultStatus, type MonitoringResult } from '@modelwatch/sdk';
import { rocAuc } from '@modelwatch/sdk/stats';
import { describe, expect, it } from 'vitest';
import { createContext, metricOf, resultOf, runApp, type Column } from '../../test-utils/context.js';
import ModelPerformance, { degradation, dropStatus, resolveConfig, type ModelPerformanceConfig } from '../src/index.js';
import reference from './sklearn-reference.json' with { type: 'json' };

interface ExpectedMetric {
  value: number;
  baseline?: number;
  status?: number;
  band?: { mean: number; std: number; lower: number; upper: number; chunks: number };
  adaptiveStatus?: number;
}
interface Case {
  name: string;
  task: string;
  config: ModelPerformanceConfig;
  window: Record<string, Column>;
  groundTruth: Record<string, Column>;
  reference?: Record<string, Column>;
  expected: { metrics: Record<string, ExpectedMetric>; used: number; confusion?: Record<string, number> };
}
const DOC = reference as unknown as { cases: Case[]; rocAuc: Array<{ y: number[]; score: number[]; auc: number }> };
const TOLERANCE = 1e-12;

function rel(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.abs(b);
}

function contextOf(c: Case, config: ModelPerformanceConfig = c.config) {
  return createContext<ModelPerformanceConfig>({
    sample: { x: new Array(c.window[Object.keys(c.window)[0]!]!.length).fill(1), ...c.window },
    featureNames: ['x'],
    labelNames: Object.keys(c.window),
    groundTruth: c.groundTruth,
    ...(c.reference ? { reference: c.reference } : {}),
    config,
  });
}

describe('ROC AUC equals scikit-learn (numpy re-implementation in sklearn_reference.py)', () => {
  it('on ties, all-tied scores, perfect and inverted rankings, and 2000 rows with ties', () => {
    for (const c of DOC.rocAuc) {
      const got = rocAuc(c.y, c.score);
      expect(rel(got, c.auc), `auc of ${c.y.length} rows: got ${got}, sklearn ${c.auc}`).toBeLessThanOrEqual(TOLERANCE);
    }
    expect(DOC.rocAuc.map((c) => c.auc).slice(0, 5)).toEqual([0.75, 0.875, 0.5, 1, 0]);
  });

  it('the cases cover every status and both tasks', () => {
    const statuses = new Set(DOC.cases.flatMap((c) => Object.values(c.expected.metrics).map((m) => m.status)));
    expect(statuses).toEqual(new Set([0, 1, 2, undefined]));
    expect(new Set(DOC.cases.map((c) => c.task))).toEqual(new Set(['classification', 'regression']));
  });
});

describe('model-performance: metrics as scikit-learn, statuses from the baseline', () => {
  let worst = 0;
  for (const c of DOC.cases) {
    it(`${c.name}: every metric and status`, () => {
      const { ctx } = contextOf(c);
      const out = runApp(new ModelPerformance(), ctx);
      for (const [m, e] of Object.entries(c.expected.metrics)) {
        const r = resultOf(out, m);
        expect(r.kind).toBe(ResultKind.ModelPerformance);
        const d = rel(r.value, e.value);
        worst = Math.max(worst, d);
        expect(d, `${c.name} ${m}: got ${r.value}, sklearn ${e.value}`).toBeLessThanOrEqual(TOLERANCE);
        expect(r.extraData!.used).toBe(c.expected.used);
        if (e.baseline !== undefined) {
          expect(rel(r.extraData!.baseline as number, e.baseline), `${m} baseline`).toBeLessThanOrEqual(TOLERANCE);
          expect(r.status, `${c.name} ${m} status`).toBe(e.status);
        } else {
          expect(r.status).toBe(ResultStatus.NoDetection);
          expect(r.extraData!.baseline).toBeNull();
          expect(r.extraData!.reason).toMatch(/no baseline/);
        }
      }
      if (c.expected.confusion) expect(resultOf(out, 'accuracy').extraData!.confusion).toEqual(c.expected.confusion);
      expect(metricOf(out, 'matched').value).toBe(ctx.groundTruth!.matched);
    });
  }

  for (const name of ['binary_good', 'binary_degraded']) {
    it(`${name}: adaptive thresholds, the band of each metric on reference chunks of the window's labelled size`, () => {
      const c = DOC.cases.find((x) => x.name === name)!;
      const out = runApp(new ModelPerformance(), contextOf(c, { ...c.config, thresholds: 'adaptive' }).ctx);
      for (const [m, e] of Object.entries(c.expected.metrics)) {
        const r = resultOf(out, m);
        const band = r.extraData!.band as Record<string, number>;
        expect(r.extraData!.thresholdMode).toBe('adaptive');
        expect(band.chunkSize).toBe(c.expected.used);
        expect(band.chunks).toBe(e.band!.chunks);
        expect(rel(band.mean!, e.band!.mean)).toBeLessThanOrEqual(TOLERANCE);
        expect(rel(band.std!, e.band!.std)).toBeLessThanOrEqual(1e-10);
        expect(band.lower).toBeCloseTo(e.band!.lower, 12);
        expect(band.upper).toBeCloseTo(e.band!.upper, 12);
        expect(r.status, `${name} ${m}`).toBe(e.adaptiveStatus);
      }
    });
  }

  it('max relative difference from the scikit-learn numbers', async ({ annotate }) => {
    await annotate(`worst relative difference from sklearn: ${worst.toExponential(3)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('model-performance: statuses, labels that are missing, configuration', () => {
  const binary = DOC.cases.find((x) => x.name === 'binary_good')!;

  it('degradation: scores drop, errors rise; absolute or relative; detected > alertDrop > potential > warnDrop', () => {
    const cfg = { warnDrop: 0.05, alertDrop: 0.1 };
    expect(degradation('accuracy', 0.8, 0.9, 'absolute')).toBeCloseTo(0.1, 15);
    expect(degradation('mae', 12, 10, 'relative')).toBeCloseTo(0.2, 15);
    expect(degradation('mae', 8, 10, 'relative')).toBeCloseTo(-0.2, 15);
    expect(degradation('mae', 1, 0, 'relative')).toBe(Infinity);
    expect(dropStatus(0.1, cfg)).toBe(ResultStatus.PotentialDetection);
    expect(dropStatus(0.1000001, cfg)).toBe(ResultStatus.Detected);
    expect(dropStatus(0.05, cfg)).toBe(ResultStatus.NoDetection);
    expect(dropStatus(0.06, cfg)).toBe(ResultStatus.PotentialDetection);
    expect(dropStatus(-0.5, cfg)).toBe(ResultStatus.NoDetection);
  });

  it('a configured baseline wins over the reference; warnDrop and alertDrop are configurable', () => {
    const out = runApp(new ModelPerformance(), contextOf(binary, { ...binary.config, baseline: { accuracy: 0.99 }, warnDrop: 0.01, alertDrop: 0.2 }).ctx);
    const acc = resultOf(out, 'accuracy');
    expect(acc.extraData).toMatchObject({ baseline: 0.99, baselineSource: 'config', warnDrop: 0.01, alertDrop: 0.2, dropMode: 'absolute' });
    expect(acc.status).toBe(ResultStatus.PotentialDetection);
    expect(resultOf(out, 'f1').extraData!.baselineSource).toBe('reference');
  });

  it('no labels matched yet: every result Irrelevant with the reason, and matched = 0', () => {
    const n = binary.window.y!.length;
    const { ctx } = createContext<ModelPerformanceConfig>({
      sample: binary.window,
      labelNames: ['y', 'score'],
      groundTruth: { y: new Array(n).fill(null) },
      config: binary.config,
    });
    const out = runApp(new ModelPerformance(), ctx);
    expect(out.results.map((r) => r.name)).toEqual(['accuracy', 'precision', 'recall', 'f1', 'roc_auc']);
    for (const r of out.results) {
      expect(r).toMatchObject({ value: 0, status: ResultStatus.Irrelevant, extraData: { matched: 0 } });
      expect(r.extraData!.reason).toBe("no ground truth matched the window's predictions yet");
    }
    expect(metricOf(out, 'matched').value).toBe(0);
  });

  it('empty window, no ground truth at all, no outputs: Irrelevant, never an exception', () => {
    const app = new ModelPerformance();
    const empty = runApp(app, createContext<ModelPerformanceConfig>({ sample: { x: [], y: [] }, labelNames: ['y'], groundTruth: { y: [] } }).ctx);
    expect(empty.results.every((r) => r.status === ResultStatus.Irrelevant && r.extraData!.reason === 'window has no rows')).toBe(true);
    const noTruth = runApp(app, createContext<ModelPerformanceConfig>({ sample: { x: [1], y: [1] }, labelNames: ['y'] }).ctx);
    expect(noTruth.results[0]!.extraData!.reason).toMatch(/no ground truth: the plugin needs "groundTruth"/);
    const noOutputs = runApp(app, createContext<ModelPerformanceConfig>({ sample: { x: [1] }, groundTruth: { y: [1] } }).ctx);
    expect(noOutputs.results[0]!.extraData!.reason).toMatch(/no outputs/);
    const fewLabels = runApp(
      app,
      createContext<ModelPerformanceConfig>({ sample: { y: [1, 0, 1] }, labelNames: ['y'], groundTruth: { y: [1, null, null] }, config: { minMatched: 2 } })
        .ctx,
    );
    expect(fewLabels.results[0]!.extraData!.reason).toBe('only 1 labelled rows, fewer than minMatched (2)');
  });

  it('ROC AUC with one class in the labels is Irrelevant; the other metrics are computed', () => {
    const { ctx } = createContext<ModelPerformanceConfig>({
      sample: { y: [1, 1, 0], score: [0.9, 0.8, 0.4] },
      labelNames: ['y', 'score'],
      groundTruth: { y: [1, 1, null] },
      config: { scoreColumn: 'score', baseline: { accuracy: 1 } },
    });
    const out = runApp(new ModelPerformance(), ctx);
    expect(resultOf(out, 'roc_auc')).toMatchObject({ status: ResultStatus.Irrelevant, value: 0 });
    expect(resultOf(out, 'roc_auc').extraData!.reason).toMatch(/only one class in the labels/);
    expect(resultOf(out, 'accuracy')).toMatchObject({ value: 1, status: ResultStatus.NoDetection });
    expect(resultOf(out, 'recall').value).toBe(1);
  });

  it('labels sent as strings match numeric predictions ("1" is class 1)', () => {
    const { ctx } = createContext<ModelPerformanceConfig>({ sample: { y: [1, 0, 1, 0] }, labelNames: ['y'], groundTruth: { y: ['1', '0', '0', '0'] } });
    const out = runApp(new ModelPerformance(), ctx);
    expect(resultOf(out, 'accuracy').value).toBe(0.75);
    expect(resultOf(out, 'precision').value).toBe(0.5);
    expect(resultOf(out, 'recall').value).toBe(1);
  });

  it('adaptive without a reference target falls back to the fixed rule and says why', () => {
    const out = runApp(
      new ModelPerformance(),
      contextOf(binary, { task: 'classification', scoreColumn: 'score', thresholds: 'adaptive', baseline: { accuracy: 0.5 } }).ctx,
    );
    const acc = resultOf(out, 'accuracy');
    expect(acc.extraData).toMatchObject({ thresholdMode: 'fixed', baselineSource: 'config' });
    expect(acc.extraData!.adaptiveFallback).toMatch(/no referenceTargetColumn/);
  });

  it('a reference without the target column: no baseline, and the reason names the columns it has', () => {
    const out = runApp(new ModelPerformance(), contextOf(binary, { ...binary.config, referenceTargetColumn: 'y_true' }).ctx);
    const acc: MonitoringResult = resultOf(out, 'accuracy');
    expect(acc.status).toBe(ResultStatus.NoDetection);
    expect(acc.extraData!.reason).toBe(
      "no baseline: set baseline in the config, or referenceTargetColumn (the reference rows have no column 'y_true' (they have: y, score, target))",
    );
  });

  it('rejects keys that do not go together, naming them (each key alone is checked by configSchema at publish: host/test/builtin-config.test.ts)', () => {
    const bad = (config: ModelPerformanceConfig) => () => resolveConfig(config);
    expect(bad({ metrics: ['roc_auc'] })).toThrow(/set scoreColumn/);
    expect(bad({ task: 'regression', metrics: ['accuracy'] })).toThrow(/"accuracy" is not a regression metric/);
    expect(bad({ baseline: { mae: 1 } })).toThrow(/'mae' is not a classification metric/);
    expect(bad({ warnDrop: 0.2, alertDrop: 0.1 })).toThrow(/warnDrop \(0.2\) must be below alertDrop \(0.1\)/);
    expect(resolveConfig({ task: 'regression' })).toMatchObject({ metrics: ['mae', 'rmse', 'mape'], dropMode: 'relative' });
    expect(resolveConfig({})).toMatchObject({
      task: 'classification',
      metrics: ['accuracy', 'precision', 'recall', 'f1'],
      dropMode: 'absolute',
      positiveClass: 1,
    });
  });
});
