/**
 * model-performance: the model's performance on each window, from ground truth that arrives
 * after the predictions (joined by request id by the host, `groundTruth` in plugin.json).
 * Classification: accuracy, precision, recall, F1, ROC AUC; regression: MAE, RMSE, MAPE;
 * computed as scikit-learn computes them. Status from the drop against a baseline (the
 * reference's performance or a configured one), or from a band learned on reference chunks.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import {
  describeValue,
  MonitoringApplication,
  ResultKind,
  ResultStatus,
  type JsonValue,
  type MonitoringContext,
  type MonitoringMetric,
  type MonitoringResult,
  type Sample,
} from '@modelwatch/sdk';
import { classificationMetrics, classKey, regressionMetrics, rocAuc, type ClassLabel } from '@modelwatch/sdk/stats';
import { DEFAULT_BAND_MULTIPLIER, DEFAULT_MAX_CHUNKS, bandStatus, referenceBand } from '@modelwatch/sdk/thresholds';

export type ClassificationMetric = 'accuracy' | 'precision' | 'recall' | 'f1' | 'roc_auc';
export type RegressionMetric = 'mae' | 'rmse' | 'mape';
export type PerformanceMetric = ClassificationMetric | RegressionMetric;

export const CLASSIFICATION_METRICS: readonly ClassificationMetric[] = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc'];
export const REGRESSION_METRICS: readonly RegressionMetric[] = ['mae', 'rmse', 'mape'];
/** Metrics where lower is better (errors); the others are scores where higher is better. */
const LOWER_IS_BETTER = new Set<PerformanceMetric>(['mae', 'rmse', 'mape']);

/** The app's configuration (`config` in plugin.json); see the README. */
export interface ModelPerformanceConfig {
  /** @default 'classification' */
  task?: 'classification' | 'regression';
  /** The output holding the prediction; its ground truth is the label sent for it. @default the endpoint's first output */
  predictionColumn?: string;
  /** Classification: the class precision, recall, F1 and ROC AUC are about. @default 1 */
  positiveClass?: number | string;
  /** Classification: an output holding the score (probability) of the positive class, for ROC AUC. */
  scoreColumn?: string;
  /** Metrics to report (default: all of the task's; roc_auc only with scoreColumn). */
  metrics?: PerformanceMetric[];
  /** A reference column with the true target: with it the reference's own performance is the baseline. */
  referenceTargetColumn?: string;
  /** The reference column with the model's predictions. @default predictionColumn */
  referencePredictionColumn?: string;
  /** The reference column with the scores. @default scoreColumn */
  referenceScoreColumn?: string;
  /** Baseline per metric, e.g. `{ "accuracy": 0.9 }`; wins over the reference's performance. */
  baseline?: Partial<Record<PerformanceMetric, number>>;
  /** A metric worse than its baseline by more than this is potential_detection. @default 0.05 */
  warnDrop?: number;
  /** ... and by more than this, detected. @default 0.1 */
  alertDrop?: number;
  /** `absolute`: drop = baseline - value (scores) or value - baseline (errors); `relative`: that over |baseline|. @default absolute for classification, relative for regression */
  dropMode?: 'absolute' | 'relative';
  /** `'adaptive'`: detected when the metric leaves mean ± sigmas·std of the metric on reference chunks (needs referenceTargetColumn). @default 'fixed' */
  thresholds?: 'fixed' | 'adaptive';
  /** Adaptive: rows per reference chunk. @default the number of labelled rows in the window */
  chunkSize?: number;
  /** Adaptive: k in mean ± k·sigma. @default 3 */
  sigmas?: number;
  /** Adaptive: at most this many reference chunks. @default 20 */
  maxChunks?: number;
  /** Adaptive: fewest chunks for a band. @default 3 */
  minChunks?: number;
  /** Fewest labelled rows for a judgement; below it the results are irrelevant. @default 1 */
  minMatched?: number;
}

const APP = 'model-performance';
/** The configuration after validation, with defaults. */
export interface ResolvedConfig {
  task: 'classification' | 'regression';
  predictionColumn: string | undefined;
  positiveClass: ClassLabel;
  scoreColumn: string | undefined;
  metrics: PerformanceMetric[];
  referenceTargetColumn: string | undefined;
  referencePredictionColumn: string | undefined;
  referenceScoreColumn: string | undefined;
  baseline: Partial<Record<PerformanceMetric, number>>;
  warnDrop: number;
  alertDrop: number;
  dropMode: 'absolute' | 'relative';
  thresholds: 'fixed' | 'adaptive';
  chunkSize: number | undefined;
  sigmas: number;
  maxChunks: number;
  minChunks: number;
  minMatched: number;
}

/**
 * The configuration with defaults. Its keys and values are checked by `configSchema` in
 * plugin.json, once, when the plugin is published or configured; what depends on another key
 * (the task's metrics, roc_auc's score column, the order of the drops) is checked here.
 * @throws {Error} naming the keys that do not go together
 */
export function resolveConfig(config: ModelPerformanceConfig | undefined): ResolvedConfig {
  const cfg = config ?? {};
  const fail = (message: string): never => {
    throw new Error(`${APP}: ${message}`);
  };
  const task = cfg.task ?? 'classification';
  const allowed: readonly PerformanceMetric[] = task === 'classification' ? CLASSIFICATION_METRICS : REGRESSION_METRICS;
  const scoreColumn = cfg.scoreColumn;
  if (scoreColumn && task === 'regression') fail('config scoreColumn is for classification (ROC AUC)');
  let metrics: PerformanceMetric[];
  if (cfg.metrics === undefined) metrics = allowed.filter((m) => m !== 'roc_auc' || scoreColumn !== undefined);
  else {
    for (const m of cfg.metrics) if (!allowed.includes(m)) fail(`config metrics: ${describeValue(m)} is not a ${task} metric (${allowed.join(', ')})`);
    metrics = [...new Set(cfg.metrics)];
    if (metrics.includes('roc_auc') && !scoreColumn) fail('config metrics has roc_auc: set scoreColumn (the output with the score of the positive class)');
  }
  const baseline: Partial<Record<PerformanceMetric, number>> = {};
  for (const [k, v] of Object.entries(cfg.baseline ?? {})) {
    if (!(allowed as string[]).includes(k)) fail(`config baseline: '${k}' is not a ${task} metric (${allowed.join(', ')})`);
    baseline[k as PerformanceMetric] = v;
  }
  const warnDrop = cfg.warnDrop ?? 0.05;
  const alertDrop = cfg.alertDrop ?? 0.1;
  if (!(warnDrop < alertDrop)) fail(`config warnDrop (${warnDrop}) must be below alertDrop (${alertDrop})`);
  return {
    task,
    predictionColumn: cfg.predictionColumn,
    positiveClass: cfg.positiveClass ?? 1,
    scoreColumn,
    metrics,
    referenceTargetColumn: cfg.referenceTargetColumn,
    referencePredictionColumn: cfg.referencePredictionColumn,
    referenceScoreColumn: cfg.referenceScoreColumn,
    baseline,
    warnDrop,
    alertDrop,
    dropMode: cfg.dropMode ?? (task === 'classification' ? 'absolute' : 'relative'),
    thresholds: cfg.thresholds ?? 'fixed',
    chunkSize: cfg.chunkSize,
    sigmas: cfg.sigmas ?? DEFAULT_BAND_MULTIPLIER,
    maxChunks: cfg.maxChunks ?? DEFAULT_MAX_CHUNKS,
    minChunks: cfg.minChunks ?? 3,
    minMatched: cfg.minMatched ?? 1,
  };
}

/** Rows where prediction (and score) and truth are all present, as metric inputs. */
interface Pairs {
  labels: ClassLabel[] | Float64Array;
  predictions: ClassLabel[] | Float64Array;
  count: number;
}

type Col = Float64Array | ReadonlyArray<string | null>;

function present(v: number | string | null | undefined): v is number | string {
  return v !== null && v !== undefined && !(typeof v === 'number' && Number.isNaN(v));
}

function toNumber(v: number | string): number {
  return typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v);
}

/** The metric values on rows `[start, end)` of truth / prediction / score columns. */
export function computeMetrics(
  cfg: Pick<ResolvedConfig, 'task' | 'positiveClass' | 'metrics'>,
  truth: Col,
  prediction: Col,
  score: Col | undefined,
  start = 0,
  end = truth.length,
): { values: Partial<Record<PerformanceMetric, number>>; reasons: Partial<Record<PerformanceMetric, string>>; used: number; extra: Record<string, JsonValue> } {
  const values: Partial<Record<PerformanceMetric, number>> = {};
  const reasons: Partial<Record<PerformanceMetric, string>> = {};
  const extra: Record<string, JsonValue> = {};
  const pairs = collect(cfg.task, truth, prediction, start, end);
  if (cfg.task === 'classification') {
    if (pairs.count > 0) {
      const m = classificationMetrics(pairs.labels as ClassLabel[], pairs.predictions as ClassLabel[], cfg.positiveClass);
      for (const k of ['accuracy', 'precision', 'recall', 'f1'] as const) values[k] = m[k];
      extra.confusion = { tp: m.tp, fp: m.fp, fn: m.fn, tn: m.tn };
    }
    if (cfg.metrics.includes('roc_auc') && score) {
      const pos: number[] = [];
      const s: number[] = [];
      for (let i = start; i < end; i++) {
        const t = truth[i];
        const v = score[i];
        if (!present(t) || !present(v)) continue;
        const sv = toNumber(v);
        if (!Number.isFinite(sv)) continue;
        pos.push(classKey(t) === classKey(cfg.positiveClass) ? 1 : 0);
        s.push(sv);
      }
      const positives = pos.reduce((a, b) => a + b, 0);
      if (s.length === 0) reasons.roc_auc = 'no labelled row has a score';
      else if (positives === 0 || positives === s.length) {
        reasons.roc_auc = `only one class in the labels (${positives === 0 ? 'no' : 'all'} ${String(cfg.positiveClass)}): ROC AUC is not defined`;
      } else values.roc_auc = rocAuc(pos, s);
    }
  } else if (pairs.count > 0) {
    const m = regressionMetrics(pairs.labels as Float64Array, pairs.predictions as Float64Array);
    values.mae = m.mae;
    values.rmse = m.rmse;
    values.mape = m.mape;
  }
  return { values, reasons, used: pairs.count, extra };
}

function collect(task: ResolvedConfig['task'], truth: Col, prediction: Col, start: number, end: number): Pairs {
  if (task === 'classification') {
    const labels: ClassLabel[] = [];
    const predictions: ClassLabel[] = [];
    for (let i = start; i < end; i++) {
      const t = truth[i];
      const p = prediction[i];
      if (present(t) && present(p)) {
        labels.push(t);
        predictions.push(p);
      }
    }
    return { labels, predictions, count: labels.length };
  }
  const labels = new Float64Array(end - start);
  const predictions = new Float64Array(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const t = truth[i];
    const p = prediction[i];
    if (!present(t) || !present(p)) continue;
    const tv = toNumber(t);
    const pv = toNumber(p);
    if (!Number.isFinite(tv) || !Number.isFinite(pv)) continue;
    labels[n] = tv;
    predictions[n] = pv;
    n++;
  }
  return { labels: labels.subarray(0, n), predictions: predictions.subarray(0, n), count: n };
}

/** How much worse `value` is than `baseline` (positive = worse), absolute or relative to |baseline|. */
export function degradation(metric: PerformanceMetric, value: number, baseline: number, mode: 'absolute' | 'relative'): number {
  const worse = LOWER_IS_BETTER.has(metric) ? value - baseline : baseline - value;
  if (mode === 'absolute') return worse;
  if (baseline === 0) return worse > 0 ? Infinity : 0;
  return worse / Math.abs(baseline);
}

/** Status from the degradation: detected above alertDrop, potential above warnDrop. */
export function dropStatus(drop: number, cfg: Pick<ResolvedConfig, 'warnDrop' | 'alertDrop'>): ResultStatus {
  if (drop > cfg.alertDrop) return ResultStatus.Detected;
  if (drop > cfg.warnDrop) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

/**
 * Output per window: a result per metric (kind model_performance) and the metric `matched`
 * (rows of the window with ground truth). With no labelled row, every result is irrelevant.
 */
export default class ModelPerformance extends MonitoringApplication<ModelPerformanceConfig> {
  doTracking(ctx: MonitoringContext<ModelPerformanceConfig>): Array<MonitoringResult | MonitoringMetric> {
    const cfg = resolveConfig(ctx.config);
    const matched = ctx.groundTruth?.matched ?? 0;
    const out: Array<MonitoringResult | MonitoringMetric> = [];
    const irrelevant = (reason: string, extra: Record<string, JsonValue> = {}) => [
      ...cfg.metrics.map((m) => ({
        name: m,
        value: 0,
        kind: ResultKind.ModelPerformance,
        status: ResultStatus.Irrelevant,
        extraData: { reason, matched, ...extra },
      })),
      { name: 'matched', value: matched },
    ];

    const predictionColumn = cfg.predictionColumn ?? ctx.endpoint.labelNames[0];
    if (!predictionColumn) return irrelevant('the endpoint has no outputs and the config sets no predictionColumn');
    if (!ctx.groundTruth) return irrelevant('no ground truth: the plugin needs "groundTruth": {"delay": ...} in plugin.json');
    if (ctx.sample.length === 0) return irrelevant('window has no rows');
    if (!ctx.sample.has(predictionColumn)) return irrelevant(`the window has no column '${predictionColumn}'`);
    if (!ctx.groundTruth.has(predictionColumn)) {
      return irrelevant(`no ground truth for '${predictionColumn}' (ground truth columns: ${ctx.groundTruth.columns.join(', ') || 'none'})`);
    }
    if (cfg.scoreColumn && !ctx.sample.has(cfg.scoreColumn)) return irrelevant(`the window has no score column '${cfg.scoreColumn}'`);
    const truth = ctx.groundTruth.column(predictionColumn);
    const prediction = ctx.sample.column(predictionColumn);
    const score = cfg.scoreColumn ? ctx.sample.column(cfg.scoreColumn) : undefined;
    const current = computeMetrics(cfg, truth, prediction, score);
    if (current.used === 0 && Object.keys(current.values).length === 0) {
      return irrelevant(matched === 0 ? "no ground truth matched the window's predictions yet" : 'no row has both a prediction and its ground truth', {
        rows: ctx.sample.length,
      });
    }
    if (current.used < cfg.minMatched) {
      return irrelevant(`only ${current.used} labelled rows, fewer than minMatched (${cfg.minMatched})`, { used: current.used });
    }

    // the baseline: configured, or the reference's own performance
    const fromReference = this.referencePerformance(ctx, cfg, predictionColumn);
    const chunkSize = cfg.chunkSize ?? Math.max(current.used, 2);
    const band = cfg.thresholds === 'adaptive' ? this.referenceBands(ctx, cfg, predictionColumn, chunkSize) : undefined;

    for (const m of cfg.metrics) {
      const value = current.values[m];
      const common: Record<string, JsonValue> = { matched, used: current.used, rows: ctx.sample.length };
      if (value === undefined) {
        out.push({
          name: m,
          value: 0,
          kind: ResultKind.ModelPerformance,
          status: ResultStatus.Irrelevant,
          extraData: { reason: current.reasons[m] ?? 'no labelled rows', ...common },
        });
        continue;
      }
      const configured = cfg.baseline[m];
      const refValue = fromReference.values?.[m];
      const baseline = configured ?? refValue;
      const baselineSource = configured !== undefined ? 'config' : refValue !== undefined ? 'reference' : null;
      const extra: Record<string, JsonValue> = {
        ...common,
        baseline: baseline ?? null,
        baselineSource,
        ...(m === 'accuracy' ? current.extra : {}),
      };
      let status: ResultStatus = ResultStatus.NoDetection;
      const learned = band?.[m];
      if (learned && 'band' in learned && learned.band) {
        const b = learned.band;
        status = bandStatus(value, b, LOWER_IS_BETTER.has(m) ? 'above' : 'below');
        Object.assign(extra, {
          thresholdMode: 'adaptive',
          band: { mean: b.mean, std: b.std, lower: b.lower, upper: b.upper, sigmas: b.multiplier, chunks: b.count, chunkSize },
        });
      } else {
        if (learned && 'reason' in learned) extra.adaptiveFallback = learned.reason;
        extra.thresholdMode = 'fixed';
        if (baseline !== undefined) {
          const drop = degradation(m, value, baseline, cfg.dropMode);
          status = dropStatus(drop, cfg);
          Object.assign(extra, { drop: Number.isFinite(drop) ? drop : null, dropMode: cfg.dropMode, warnDrop: cfg.warnDrop, alertDrop: cfg.alertDrop });
        } else {
          extra.reason = `no baseline: set baseline in the config, or referenceTargetColumn (${fromReference.reason ?? 'the reference gave no value'})`;
        }
      }
      out.push({ name: m, value, kind: ResultKind.ModelPerformance, status, extraData: extra });
    }
    out.push({ name: 'matched', value: matched });
    return out;
  }

  /** The reference's performance, when it has the true target and the predictions. */
  private referencePerformance(
    ctx: MonitoringContext<ModelPerformanceConfig>,
    cfg: ResolvedConfig,
    predictionColumn: string,
  ): { values?: Partial<Record<PerformanceMetric, number>>; reason?: string } {
    const cols = referenceColumns(ctx.reference, cfg, predictionColumn);
    if ('reason' in cols) return { reason: cols.reason };
    const r = computeMetrics(cfg, cols.truth, cols.prediction, cols.score);
    if (r.used === 0) return { reason: 'the reference has no row with both a prediction and a target' };
    return { values: r.values };
  }

  /** Per metric, the band of the metric over reference chunks (or why there is none). */
  private referenceBands(ctx: MonitoringContext<ModelPerformanceConfig>, cfg: ResolvedConfig, predictionColumn: string, chunkSize: number) {
    const out: Partial<Record<PerformanceMetric, ReturnType<typeof referenceBand> | { reason: string }>> = {};
    const cols = referenceColumns(ctx.reference, cfg, predictionColumn);
    for (const m of cfg.metrics) {
      if ('reason' in cols) {
        out[m] = { reason: `adaptive thresholds need the reference's performance: ${cols.reason}` };
        continue;
      }
      const limits = LOWER_IS_BETTER.has(m) ? { lowerLimit: 0 } : { lowerLimit: 0, upperLimit: 1 };
      out[m] = referenceBand(
        ctx.reference!,
        chunkSize,
        (_chunk, range) => computeMetrics({ ...cfg, metrics: [m] }, cols.truth, cols.prediction, cols.score, range.start, range.end).values[m] ?? NaN,
        { multiplier: cfg.sigmas, maxChunks: cfg.maxChunks, minChunks: cfg.minChunks, ...limits },
      );
    }
    return out;
  }
}

function referenceColumns(
  reference: Sample | undefined,
  cfg: ResolvedConfig,
  predictionColumn: string,
): { truth: Col; prediction: Col; score: Col | undefined } | { reason: string } {
  if (!reference) return { reason: 'no reference rows' };
  const target = cfg.referenceTargetColumn;
  if (!target) return { reason: 'no referenceTargetColumn in the config' };
  const predCol = cfg.referencePredictionColumn ?? predictionColumn;
  const scoreCol = cfg.referenceScoreColumn ?? cfg.scoreColumn;
  const missing = [target, predCol, ...(cfg.metrics.includes('roc_auc') && scoreCol ? [scoreCol] : [])].filter((c) => !reference.has(c));
  if (missing.length) {
    return {
      reason: `the reference rows have no column ${missing.map((c) => `'${c}'`).join(', ')} (they have: ${reference.columns.join(', ')})`,
    };
  }
  return {
    truth: reference.column(target),
    prediction: reference.column(predCol),
    score: scoreCol && reference.has(scoreCol) ? reference.column(scoreCol) : undefined,
  };
}
