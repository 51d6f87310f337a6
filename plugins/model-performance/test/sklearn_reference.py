#!/usr/bin/env python3
"""Reference numbers for the model-performance tests.

scikit-learn is not needed (nor installed here): its metrics are re-implemented below with
numpy, following its code (sklearn 1.3 - 1.6):

- roc_auc_score (binary): `_binary_clf_curve` (scores sorted with a stable mergesort, one
  point per distinct score, `stable_cumsum`), `roc_curve(drop_intermediate=True)` (points
  where the second difference of fps and tps is zero are dropped), a (0, 0) point
  prepended, `fpr = fps / fps[-1]`, `tpr = tps / tps[-1]`, `auc = np.trapezoid(tpr, fpr)`.
  Ties: a tie between a positive and a negative counts one half. Checked below against the
  Mann-Whitney rank formula with midranks (equal to 1e-12).
- accuracy_score: mean of (y == y_pred).
- precision/recall/f1 (average='binary', pos_label, zero_division default): tp / (tp + fp),
  tp / (tp + fn), 2 tp / (2 tp + fp + fn) (sklearn >= 1.3 computes F1 from the counts); an
  undefined ratio is 0.
- mean_absolute_error, root_mean_squared_error, mean_absolute_percentage_error: np.average
  over axis 0 of (n, 1) arrays; MAPE = |y_pred - y| / max(|y|, eps), eps = finfo(float64).eps.

Rows whose prediction or ground truth is missing are left out (the app joins by request id).
Also written: the statuses the app gives against a baseline (the reference's performance,
warn 0.05 / alert 0.1) and the adaptive band (mean +- 3 std, ddof 0, of the metric on
reference chunks).

Regenerate with:  python3 plugins/model-performance/test/sklearn_reference.py
"""

import json
import math
import os
import platform

import numpy as np
from scipy import stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sklearn-reference.json")
EPS = np.finfo(np.float64).eps


def key(v):
    """The class of a label: numbers by their shortest repr (1 and 1.0 are '1'), as the app."""
    if isinstance(v, str):
        return v
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


def binary_clf_curve(y_true, y_score):
    desc = np.argsort(y_score, kind="mergesort")[::-1]
    y_score = y_score[desc]
    y_true = y_true[desc]
    distinct = np.where(np.diff(y_score))[0]
    threshold_idxs = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true * 1.0, dtype=np.float64)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    return fps, tps


def roc_auc(y_true, y_score):
    fps, tps = binary_clf_curve(np.asarray(y_true, dtype=float), np.asarray(y_score, dtype=float))
    if len(fps) > 2:
        optimal = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps = fps[optimal]
        tps = tps[optimal]
    tps = np.r_[0, tps]
    fps = np.r_[0, fps]
    fpr = fps / fps[-1]
    tpr = tps / tps[-1]
    return float(np.trapezoid(tpr, fpr))


def auc_by_ranks(y_true, y_score):
    r = stats.rankdata(y_score)
    pos = np.asarray(y_true) == 1
    n1 = pos.sum()
    n0 = len(pos) - n1
    return (r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def classification(y, p, pos):
    y = [key(v) for v in y]
    p = [key(v) for v in p]
    pk = key(pos)
    tp = sum(1 for a, b in zip(y, p) if a == pk and b == pk)
    fp = sum(1 for a, b in zip(y, p) if a != pk and b == pk)
    fn = sum(1 for a, b in zip(y, p) if a == pk and b != pk)
    div = lambda a, b: 0.0 if b == 0 else a / b  # noqa: E731
    acc = float(np.average(np.array([a == b for a, b in zip(y, p)], dtype=float)))
    return {
        "accuracy": acc,
        "precision": div(tp, tp + fp),
        "recall": div(tp, tp + fn),
        "f1": div(2 * tp, (tp + fn) + (tp + fp)),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": len(y) - tp - fp - fn},
    }


def regression(y, p):
    y = np.asarray(y, dtype=float).reshape(-1, 1)
    p = np.asarray(p, dtype=float).reshape(-1, 1)
    mae = np.average(np.abs(p - y), axis=0)[0]
    mse = np.average((y - p) ** 2, axis=0)[0]
    mape = np.average(np.abs(p - y) / np.maximum(np.abs(y), EPS), axis=0)[0]
    return {"mae": float(mae), "rmse": float(np.sqrt(mse)), "mape": float(mape)}


def missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def metrics(task, truth, pred, score, pos, names):
    rows = [i for i in range(len(truth)) if not missing(truth[i]) and not missing(pred[i])]
    out = {}
    if task == "classification":
        if rows:
            c = classification([truth[i] for i in rows], [pred[i] for i in rows], pos)
            out.update({k: c[k] for k in ("accuracy", "precision", "recall", "f1")})
            out["confusion"] = c["confusion"]
        if "roc_auc" in names:
            sr = [i for i in range(len(truth)) if not missing(truth[i]) and not missing(score[i])]
            yb = [1 if key(truth[i]) == key(pos) else 0 for i in sr]
            if 0 < sum(yb) < len(yb):
                out["roc_auc"] = roc_auc(yb, [score[i] for i in sr])
                assert abs(out["roc_auc"] - auc_by_ranks(yb, [score[i] for i in sr])) < 1e-12
    elif rows:
        out.update(regression([truth[i] for i in rows], [pred[i] for i in rows]))
    out["used"] = len(rows)
    return out


LOWER = {"mae", "rmse", "mape"}


def status(metric, value, baseline, mode, warn=0.05, alert=0.1):
    worse = value - baseline if metric in LOWER else baseline - value
    drop = worse if mode == "absolute" else (worse / abs(baseline) if baseline != 0 else (math.inf if worse > 0 else 0))
    return 2 if drop > alert else 1 if drop > warn else 0


def band(task, ref_truth, ref_pred, ref_score, pos, metric, chunk, sigmas=3):
    values = []
    for c in range(len(ref_truth) // chunk):
        s = slice(c * chunk, (c + 1) * chunk)
        m = metrics(task, ref_truth[s], ref_pred[s], ref_score[s] if ref_score else None, pos, [metric])
        if metric in m:
            values.append(m[metric])
    values = np.array(values)
    mean = float(np.mean(values))
    std = float(np.std(values))
    lower, upper = mean - sigmas * std, mean + sigmas * std
    lower = max(lower, 0.0)
    if metric not in LOWER:
        upper = min(upper, 1.0)
    return {"mean": mean, "std": std, "lower": lower, "upper": upper, "chunks": len(values)}


def col(a):
    return [None if missing(v) else v for v in (a.tolist() if isinstance(a, np.ndarray) else a)]


def binary_data(rng, n, quality, missing_share=0.15):
    y = (rng.random(n) < 0.35).astype(int)
    logit = (y * 2 - 1) * quality + rng.normal(0, 1, n)
    score = np.round(1 / (1 + np.exp(-logit)), 1)  # rounded: many ties
    pred = (score >= 0.5).astype(float)
    truth = y.astype(float)
    truth[rng.random(n) < missing_share] = np.nan
    pred[rng.random(n) < 0.02] = np.nan
    return truth, pred, score


def main():
    rng = np.random.default_rng(424242)
    cases = []

    # binary, numeric classes, ties in the scores, baseline from the reference
    ref_truth, ref_pred, ref_score = binary_data(rng, 3000, 1.6, missing_share=0.0)
    for name, quality in (("binary_good", 1.6), ("binary_degraded", 0.7)):
        truth, pred, score = binary_data(rng, 500, quality)
        names = ["accuracy", "precision", "recall", "f1", "roc_auc"]
        cur = metrics("classification", col(truth), col(pred), col(score), 1, names)
        base = metrics("classification", col(ref_truth), col(ref_pred), col(ref_score), 1, names)
        expected = {m: {"value": cur[m], "baseline": base[m], "status": status(m, cur[m], base[m], "absolute")} for m in names}
        bands = {m: band("classification", col(ref_truth), col(ref_pred), col(ref_score), 1, m, cur["used"]) for m in names}
        for m in names:
            b = bands[m]
            expected[m]["band"] = b
            expected[m]["adaptiveStatus"] = 2 if cur[m] < b["lower"] else 0
        cases.append({
            "name": name,
            "task": "classification",
            "config": {"task": "classification", "positiveClass": 1, "scoreColumn": "score", "referenceTargetColumn": "target", "referencePredictionColumn": "y"},
            "window": {"y": col(pred), "score": col(score)},
            "groundTruth": {"y": col(truth)},
            "reference": {"y": col(ref_pred), "score": col(ref_score), "target": col(ref_truth)},
            "expected": {"metrics": expected, "used": cur["used"], "confusion": cur["confusion"]},
        })

    # three string classes, positive 'dog', ties in the scores, configured baseline
    classes = np.array(["bird", "cat", "dog"])
    n = 400
    truth = rng.choice(classes, n, p=[0.2, 0.5, 0.3])
    noise = rng.random(n)
    pred = np.where(noise < 0.75, truth, rng.choice(classes, n))
    score = np.round(np.clip((truth == "dog") * 0.35 + rng.random(n) * 0.65, 0, 1), 2)
    truth_l = [str(v) if rng.random() > 0.1 else None for v in truth]
    names = ["accuracy", "precision", "recall", "f1", "roc_auc"]
    cur = metrics("classification", truth_l, [str(v) for v in pred], score.tolist(), "dog", names)
    baseline = {"accuracy": 0.92, "precision": 0.8, "recall": 0.75, "f1": 0.7, "roc_auc": 0.96}
    cases.append({
        "name": "multiclass_strings",
        "task": "classification",
        "config": {"task": "classification", "positiveClass": "dog", "scoreColumn": "p_dog", "predictionColumn": "animal", "baseline": baseline},
        "window": {"animal": [str(v) for v in pred], "p_dog": score.tolist()},
        "groundTruth": {"animal": truth_l},
        "expected": {
            "metrics": {m: {"value": cur[m], "baseline": baseline[m], "status": status(m, cur[m], baseline[m], "absolute")} for m in names},
            "used": cur["used"],
            "confusion": cur["confusion"],
        },
    })

    # nothing predicted positive: precision and F1 are 0 (zero_division)
    truth = [1, 0, 1, 0, 0, 1, None, 0]
    pred = [0, 0, 0, 0, 0, 0, 0, 0]
    cur = metrics("classification", truth, pred, None, 1, ["accuracy", "precision", "recall", "f1"])
    cases.append({
        "name": "no_predicted_positive",
        "task": "classification",
        "config": {"task": "classification"},
        "window": {"y": pred},
        "groundTruth": {"y": truth},
        "expected": {"metrics": {m: {"value": cur[m]} for m in ("accuracy", "precision", "recall", "f1")}, "used": cur["used"], "confusion": cur["confusion"]},
    })

    # regression with zeros in y (MAPE's epsilon) and missing labels; baseline from the reference, relative drops
    def reg(n, noise):
        y = np.round(rng.normal(100, 30, n), 2)
        y[rng.random(n) < 0.03] = 0.0
        p = np.round(y + rng.normal(0, noise, n), 2)
        t = y.copy()
        t[rng.random(n) < 0.1] = np.nan
        return t, p

    ref_t, ref_p = reg(1000, 5)
    for name, noise in (("regression_same", 5), ("regression_worse", 7)):
        t, p = reg(300, noise)
        names = ["mae", "rmse", "mape"]
        cur = metrics("regression", col(t), col(p), None, None, names)
        base = metrics("regression", col(ref_t), col(ref_p), None, None, names)
        cases.append({
            "name": name,
            "task": "regression",
            "config": {"task": "regression", "predictionColumn": "price", "referenceTargetColumn": "true_price"},
            "window": {"price": col(p)},
            "groundTruth": {"price": col(t)},
            "reference": {"price": col(ref_p), "true_price": col(ref_t)},
            "expected": {"metrics": {m: {"value": cur[m], "baseline": base[m], "status": status(m, cur[m], base[m], "relative")} for m in names}, "used": cur["used"]},
        })

    # ROC AUC cases: ties, all tied, perfect, inverted
    auc_cases = []
    for y, s in (
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
        ([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]),
        ([0, 1, 0, 1, 1], [0.3, 0.3, 0.3, 0.3, 0.3]),
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]),
        ([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]),
        ([1, 0, 1, 0, 1, 1, 0], [0.9, 0.9, 0.8, 0.8, 0.8, 0.2, 0.2]),
    ):
        auc_cases.append({"y": y, "score": s, "auc": roc_auc(y, s)})
    big_y = (rng.random(2000) < 0.3).astype(int)
    big_s = np.round(rng.random(2000) * 0.6 + big_y * 0.3, 3)
    auc_cases.append({"y": big_y.tolist(), "score": big_s.tolist(), "auc": roc_auc(big_y, big_s)})

    doc = {
        "meta": {"generator": "plugins/model-performance/test/sklearn_reference.py", "python": platform.python_version(), "numpy": np.__version__},
        "cases": cases,
        "rocAuc": auc_cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, allow_nan=False)
        f.write("\n")
    for c in cases:
        print(c["name"], {m: (round(v["value"], 4), v.get("status")) for m, v in c["expected"]["metrics"].items()})


if __name__ == "__main__":
    main()
