/**
 * Model performance metrics, computed as scikit-learn computes them (to the last digit where
 * the operations are the same). See `sdk/docs/stats.md#model-performance`.
 */
import { pairwiseSum } from './summary.js';
import { checkedSample, invalid } from './validate.js';

/**
 * Area under the ROC curve of binary labels and scores, as `sklearn.metrics.roc_auc_score`
 * (binary case, no weights, `max_fpr=None`):
 *
 * scores sorted in decreasing order; one ROC point per distinct score (tied scores move the
 * curve diagonally, which counts a tied positive/negative pair as one half); collinear points
 * dropped (`drop_intermediate=True`); a point (0, 0) prepended; `fpr = fps / fps[-1]`,
 * `tpr = tps / tps[-1]`; area by the trapezoidal rule (`np.trapezoid`, summed pairwise).
 *
 * @param positive 1 (or true) where the label is the positive class, 0 (false) elsewhere
 * @param scores the score of the positive class, same length, finite
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` when the lengths differ, a score is not finite,
 *   or only one class is present (scikit-learn: "ROC AUC score is not defined in that case")
 *
 * @example
 * ```ts
 * rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); // 0.75
 * rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]);  // 0.875 (the tie counts one half)
 * ```
 */
export function rocAuc(positive: ArrayLike<number | boolean>, scores: ArrayLike<number>): number {
  const fn = 'rocAuc';
  const y = Float64Array.from({ length: positive.length }, (_, i) => {
    const v = positive[i];
    if (v === true || v === 1) return 1;
    if (v === false || v === 0) return 0;
    throw invalid(`${fn}: positive[${i}] must be 0, 1, true or false, got ${String(v)}`);
  });
  const s = checkedSample(fn, 'scores', scores);
  if (s.length !== y.length) throw invalid(`${fn}: positive and scores must have the same length (${y.length} != ${s.length})`);
  let nPos = 0;
  for (const v of y) nPos += v;
  if (nPos === 0 || nPos === y.length) {
    throw invalid(`${fn}: only one class is present in the labels; ROC AUC is not defined in that case`);
  }
  const n = y.length;
  // np.argsort(y_score, kind="mergesort")[::-1]: decreasing scores (the order within ties does not matter)
  const order = Uint32Array.from({ length: n }, (_, i) => i)
    .sort((a, b) => s[a]! - s[b]! || a - b)
    .reverse();
  // _binary_clf_curve: cumulative true positives at the last index of each distinct score
  const tpsAll: number[] = [];
  const fpsAll: number[] = [];
  let tp = 0;
  for (let i = 0; i < n; i++) {
    tp += y[order[i]!]!;
    const last = i === n - 1 || s[order[i + 1]!]! !== s[order[i]!]!;
    if (last) {
      tpsAll.push(tp);
      fpsAll.push(1 + i - tp);
    }
  }
  // roc_curve(drop_intermediate=True): keep the first, last and every point where the curve bends
  const m = tpsAll.length;
  const tps: number[] = [0];
  const fps: number[] = [0];
  for (let i = 0; i < m; i++) {
    const keep = i === 0 || i === m - 1 || fpsAll[i + 1]! - 2 * fpsAll[i]! + fpsAll[i - 1]! !== 0 || tpsAll[i + 1]! - 2 * tpsAll[i]! + tpsAll[i - 1]! !== 0;
    if (keep) {
      tps.push(tpsAll[i]!);
      fps.push(fpsAll[i]!);
    }
  }
  const fpTotal = fps[fps.length - 1]!;
  const tpTotal = tps[tps.length - 1]!;
  const fpr = fps.map((v) => v / fpTotal);
  const tpr = tps.map((v) => v / tpTotal);
  // auc(fpr, tpr): fpr is increasing, so the direction is 1; np.trapezoid(tpr, fpr)
  const terms = new Float64Array(fpr.length - 1);
  for (let i = 0; i < terms.length; i++) terms[i] = ((fpr[i + 1]! - fpr[i]!) * (tpr[i + 1]! + tpr[i]!)) / 2.0;
  return pairwiseSum(terms);
}

/** A class label: numbers and strings; `1` and `"1"` are the same class. */
export type ClassLabel = number | string;

/** Result of {@link classificationMetrics}. */
export interface ClassificationMetrics {
  /** Rows compared. */
  count: number;
  /** Share of rows whose prediction equals the label (all classes). */
  accuracy: number;
  /** `tp / (tp + fp)` for the positive class; 0 when nothing is predicted positive. */
  precision: number;
  /** `tp / (tp + fn)` for the positive class; 0 when no label is positive. */
  recall: number;
  /** `2 tp / (2 tp + fp + fn)`; 0 when that is 0 / 0. */
  f1: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** The class a label stands for: numbers by their shortest text (`1` and `1.0` are `"1"`). */
export function classKey(v: ClassLabel): string {
  return typeof v === 'number' ? String(v) : v;
}

/**
 * Accuracy, and precision, recall and F1 of one positive class, as scikit-learn's
 * `accuracy_score` and `precision_recall_fscore_support(average='binary', pos_label=...)`
 * with the default `zero_division` (an undefined ratio is 0). F1 is computed from the counts,
 * `2 tp / (2 tp + fp + fn)`, as scikit-learn >= 1.3 does. Labels and predictions may be numbers
 * or strings: `1`, `1.0` and `"1"` are the same class.
 *
 * @param labels the true classes
 * @param predictions the predicted classes, same length, at least one
 * @param positiveClass the class precision, recall and F1 are about
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` on empty or mismatched arrays, or a NaN label
 */
export function classificationMetrics(labels: ArrayLike<ClassLabel>, predictions: ArrayLike<ClassLabel>, positiveClass: ClassLabel): ClassificationMetrics {
  const fn = 'classificationMetrics';
  const n = labels.length;
  if (n === 0) throw invalid(`${fn}: labels must not be empty`);
  if (predictions.length !== n) throw invalid(`${fn}: labels and predictions must have the same length (${n} != ${predictions.length})`);
  const pos = classKey(positiveClass);
  let correct = 0;
  let tp = 0;
  let fp = 0;
  let fnCount = 0;
  for (let i = 0; i < n; i++) {
    const a = labels[i]!;
    const b = predictions[i]!;
    if (typeof a === 'number' && Number.isNaN(a)) throw invalid(`${fn}: labels[${i}] is NaN`);
    if (typeof b === 'number' && Number.isNaN(b)) throw invalid(`${fn}: predictions[${i}] is NaN`);
    const ka = classKey(a);
    const kb = classKey(b);
    if (ka === kb) correct++;
    const truePos = ka === pos;
    const predPos = kb === pos;
    if (truePos && predPos) tp++;
    else if (predPos) fp++;
    else if (truePos) fnCount++;
  }
  const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
  return {
    count: n,
    accuracy: correct / n,
    precision: div(tp, tp + fp),
    recall: div(tp, tp + fnCount),
    f1: div(2 * tp, tp + fnCount + (tp + fp)),
    tp,
    fp,
    fn: fnCount,
    tn: n - tp - fp - fnCount,
  };
}

/** Result of {@link regressionMetrics}. */
export interface RegressionMetrics {
  count: number;
  /** Mean absolute error. */
  mae: number;
  /** Root mean squared error. */
  rmse: number;
  /** Mean absolute percentage error, as a fraction (0.05 = 5 %), with |y| floored at machine epsilon. */
  mape: number;
}

/** `np.finfo(np.float64).eps`, scikit-learn's floor of |y| in MAPE. */
export const FLOAT64_EPSILON = 2.220446049250313e-16;

/**
 * MAE, RMSE and MAPE, as scikit-learn's `mean_absolute_error`, `root_mean_squared_error` and
 * `mean_absolute_percentage_error` (no weights): means summed pairwise like numpy,
 * `MAPE = mean(|y - ŷ| / max(|y|, eps))` (a fraction, not a percentage).
 *
 * @param labels true values, finite, at least one
 * @param predictions predicted values, finite, same length
 * @throws ModelwatchSdkError `INVALID_ARGUMENT` on empty or mismatched arrays, or non-finite values
 */
export function regressionMetrics(labels: ArrayLike<number>, predictions: ArrayLike<number>): RegressionMetrics {
  const fn = 'regressionMetrics';
  const y = checkedSample(fn, 'labels', labels);
  const p = checkedSample(fn, 'predictions', predictions);
  if (y.length !== p.length) throw invalid(`${fn}: labels and predictions must have the same length (${y.length} != ${p.length})`);
  const n = y.length;
  const abs = new Float64Array(n);
  const sq = new Float64Array(n);
  const pct = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = y[i]! - p[i]!;
    abs[i] = Math.abs(d);
    sq[i] = d * d;
    pct[i] = Math.abs(p[i]! - y[i]!) / Math.max(Math.abs(y[i]!), FLOAT64_EPSILON);
  }
  return { count: n, mae: pairwiseSum(abs) / n, rmse: Math.sqrt(pairwiseSum(sq) / n), mape: pairwiseSum(pct) / n };
}
