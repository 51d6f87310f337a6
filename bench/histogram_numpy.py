#!/usr/bin/env python3
"""The numpy side of bench/histogram-vs-numpy.mjs: MLRun's histogram data drift on the same
window, timed warm, in the same run.

Usage: python3 bench/histogram_numpy.py DIR RUNS
DIR holds window.f64 (the window, column-major float64, little endian) and meta.json
(rows, features, the reference histograms). Prints one JSON line: the time of each run in ms and
the numbers computed, so the caller can check both sides computed the same thing.

What is timed, as MLRun computes it (mlrun/model_monitoring: calculate_inputs_statistics and
HistogramDataDriftApplication):
- "histogram": for each feature, np.histogram(window column, bins=reference edges), then the
  distances on the two normalized histograms (TVD, Hellinger, symmetric KL with 1e-4 in
  place of empty bins), their means over the features and general_drift;
- "full": the same plus the summary MLRun's sample statistics also hold per feature (count,
  mean, std, min, max, quartiles), as pandas' describe computes them.
"""

import json
import os
import sys
import time

import numpy as np


def distances(ref_counts, win_counts):
    u = ref_counts / ref_counts.sum()
    t = win_counts / win_counts.sum()
    tvd = np.sum(np.abs(t - u)) / 2
    hellinger = np.sqrt(max(1 - np.sum(np.sqrt(u * t)), 0))

    def kl(a, b):
        b = np.where(b != 0, b, 1e-4)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a != 0, a * np.log(a / b), 0.0)
        return np.sum(terms)

    return tvd, hellinger, kl(t, u) + kl(u, t)


def histogram_drift(cols, refs):
    hs, ts, ks = [], [], []
    for col, (counts, edges) in zip(cols, refs):
        win = np.histogram(col, bins=edges)[0]
        tvd, h, k = distances(counts, win)
        ts.append(tvd)
        hs.append(h)
        ks.append(k)
    h_mean, k_mean, t_mean = float(np.mean(hs)), float(np.mean(ks)), float(np.mean(ts))
    return {"hellinger_mean": h_mean, "kld_mean": k_mean, "tvd_mean": t_mean, "general_drift": (h_mean + t_mean) / 2}


def full_drift(cols, refs):
    for col in cols:
        c = col[np.isfinite(col)]
        _ = (len(c), c.mean(), c.std(ddof=1), c.min(), c.max(), np.quantile(c, [0.25, 0.5, 0.75]))
    return histogram_drift(cols, refs)


def timed(fn, runs):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main():
    folder, runs = sys.argv[1], int(sys.argv[2])
    meta = json.load(open(os.path.join(folder, "meta.json")))
    rows, features = meta["rows"], meta["features"]
    data = np.fromfile(os.path.join(folder, "window.f64"), dtype="<f8").reshape(features, rows)
    cols = [data[j] for j in range(features)]
    refs = [(np.array(h["counts"], dtype=float), np.array(h["edges"], dtype=float)) for h in meta["reference"]]
    out = {
        "numpy": np.__version__,
        "histogramTimes": timed(lambda: histogram_drift(cols, refs), runs),
        "fullTimes": timed(lambda: full_drift(cols, refs), max(3, runs // 2)),
        "result": histogram_drift(cols, refs),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
