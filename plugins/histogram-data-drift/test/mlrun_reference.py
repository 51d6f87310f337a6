#!/usr/bin/env python3
"""Reference numbers for the histogram-data-drift plugin, computed the way MLRun does.

MLRun's default app (mlrun.model_monitoring.applications.histogram_data_drift) gets:
  - reference statistics: np.histogram(training_column, bins=20), padded with an edge of
    -max float and +max float and a zero count at each end (22 counts, 23 edges);
  - window statistics: np.histogram(window_column, bins=<the padded reference edges>);
  - both histograms divided by their sums, then per feature (t = window, u = reference):
      TVD       = sum |t - u| / 2
      Hellinger = sqrt(max(1 - sum sqrt(u * t), 0))
      KLD       = KL(t||u) + KL(u||t), KL(a||b) = sum over a != 0 of a * ln(a / b'),
                  b' = b with zeros replaced by 1e-4
  - metrics hellinger_mean, kld_mean, tvd_mean (means over the features) and the result
    general_drift = mean(hellinger_mean, tvd_mean), detected if >= 0.7, potential if >= 0.5.

The data is generated here with fixed seeds (numpy default_rng) and written, together with
the expected numbers, to mlrun-reference.json next to this script. Re-running the script
reproduces the file byte for byte (same numpy major version).

Usage: python3 plugins/histogram-data-drift/test/mlrun_reference.py
"""

import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).with_name("mlrun-reference.json")
FEATURES = ["f_normal", "f_lognormal", "f_uniform", "f_poisson"]
MAX = np.finfo(np.float64).max
POTENTIAL, DETECTED = 0.5, 0.7
ZERO_SCALING = 1e-4


def reference_data(rng):
    n = 1000
    return {
        "f_normal": np.round(rng.normal(10.0, 2.0, n), 6),
        "f_lognormal": np.round(rng.lognormal(0.0, 0.5, n), 6),
        "f_uniform": np.round(rng.uniform(-5.0, 5.0, n), 6),
        # integer values: many land exactly on bin edges, some reference bins stay empty
        "f_poisson": rng.poisson(4.0, n).astype(np.float64),
    }


def no_drift_window(rng):
    n = 500
    return {
        "f_normal": np.round(rng.normal(10.0, 2.0, n), 6),
        "f_lognormal": np.round(rng.lognormal(0.0, 0.5, n), 6),
        "f_uniform": np.round(rng.uniform(-5.0, 5.0, n), 6),
        "f_poisson": rng.poisson(4.0, n).astype(np.float64),
    }


def drifted_window(rng):
    n = 500
    return {
        "f_normal": np.round(rng.normal(16.0, 2.0, n), 6),  # mean shifted by 3 std
        "f_lognormal": np.round(rng.lognormal(0.0, 1.5, n), 6),  # log-scale std x3
        "f_uniform": np.round(rng.uniform(-15.0, 15.0, n), 6),  # range x3
        "f_poisson": rng.poisson(12.0, n).astype(np.float64),  # rate x3
    }


def edge_window(rng, ref, ref_edges):
    """Values exactly on the reference min, max and every inner edge, outside the range,
    at +-max float, plus some missing values (null) and ordinary draws."""
    out = {}
    for name in FEATURES:
        lo, hi = float(ref[name].min()), float(ref[name].max())
        span = hi - lo
        edges = ref_edges[name]
        vals = [lo, lo, lo, hi, hi, hi]
        vals += [float(e) for e in edges]  # 21 edges, first == lo and last == hi
        vals += [lo - 1e-9 * max(abs(lo), 1.0), hi + 1e-9 * max(abs(hi), 1.0)]  # just outside
        vals += [lo - span, hi + span, lo - 10 * span, hi + 10 * span]  # far outside
        vals += [-1e300, 1e300, float(-MAX), float(MAX)]  # in the open bins, on their outer edges
        vals += [float(v) for v in np.round(rng.uniform(lo - span / 2, hi + span / 2, 60), 6)]
        out[name] = vals + [float("nan")] * 3  # missing values: not counted
    return out


def padded_reference_hist(values):
    counts, edges = np.histogram(values, bins=20)
    counts = np.concatenate([[0], counts, [0]])
    edges = np.concatenate([[-MAX], edges, [MAX]])
    return counts, edges


def window_hist(values, padded_edges):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]  # pandas drops missing values before np.histogram
    counts, _ = np.histogram(values, bins=padded_edges)
    return counts


# --- MLRun's metric classes (mlrun/model_monitoring/metrics/histogram_distance.py) ---
def tvd(t, u):
    return float(np.sum(np.abs(t - u)) / 2)


def hellinger(t, u):
    return float(np.sqrt(max(1 - np.sum(np.sqrt(u * t)), 0)))


def _kl(actual, expected, zero_scaling):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(
            np.where(
                actual != 0,
                actual * np.log(actual / np.where(expected != 0, expected, zero_scaling)),
                0,
            )
        )


def kld(t, u):
    return float(_kl(t, u, ZERO_SCALING) + _kl(u, t, ZERO_SCALING))


def status_of(value):
    if value >= DETECTED:
        return "detected"
    if value >= POTENTIAL:
        return "potential_detection"
    return "no_detection"


def expected_for(window, ref_hists):
    per_feature = {}
    window_counts = {}
    for name in FEATURES:
        ref_counts, edges = ref_hists[name]
        counts = window_hist(window[name], edges)
        window_counts[name] = [int(c) for c in counts]
        u = ref_counts / ref_counts.sum()
        t = counts / counts.sum()
        per_feature[name] = {"tvd": tvd(t, u), "hellinger": hellinger(t, u), "kld": kld(t, u)}
    means = {
        f"{m}_mean": float(np.mean([per_feature[f][m] for f in FEATURES]))
        for m in ("hellinger", "kld", "tvd")
    }
    general = float(np.mean([means["hellinger_mean"], means["tvd_mean"]]))
    return {
        "windowCounts": window_counts,
        "features": per_feature,
        "metrics": means,
        "generalDrift": general,
        "status": status_of(general),
    }


def as_json_column(values):
    return [None if np.isnan(v) else float(v) for v in values]


def main():
    ref = reference_data(np.random.default_rng(20240601))
    ref_hists = {name: padded_reference_hist(ref[name]) for name in FEATURES}
    inner_edges = {name: ref_hists[name][1][1:-1] for name in FEATURES}
    windows = {
        "no_drift": no_drift_window(np.random.default_rng(20240602)),
        "drifted": drifted_window(np.random.default_rng(20240603)),
        "edges": edge_window(np.random.default_rng(20240604), ref, inner_edges),
    }
    doc = {
        "description": "Generated by mlrun_reference.py: MLRun's histogram data drift computed with numpy.",
        "numpy": np.__version__,
        "features": FEATURES,
        "thresholds": {"potentialThreshold": POTENTIAL, "detectedThreshold": DETECTED},
        "reference": {name: as_json_column(ref[name]) for name in FEATURES},
        "referenceHist": {
            name: {
                "counts": [int(c) for c in ref_hists[name][0]],
                "edges": [float(e) for e in ref_hists[name][1]],
            }
            for name in FEATURES
        },
        "windows": {},
    }
    for wname, window in windows.items():
        doc["windows"][wname] = {
            "data": {name: as_json_column(np.asarray(window[name], dtype=np.float64)) for name in FEATURES},
            "expected": expected_for(window, ref_hists),
        }
    OUT.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
    for wname, w in doc["windows"].items():
        e = w["expected"]
        print(f"{wname}: general_drift={e['generalDrift']!r} status={e['status']} metrics={e['metrics']}")


if __name__ == "__main__":
    main()
