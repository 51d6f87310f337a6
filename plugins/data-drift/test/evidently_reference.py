#!/usr/bin/env python3
"""Reference numbers for the data-drift and prediction-drift tests.

Builds deterministic data sets (numpy default_rng, fixed seeds) and computes, with numpy and
scipy only, what Evidently's data drift computes for them: the default choice of test per
column (evidently/calculations/stattests/registry.py `_get_default_stattest`), the tests
(`ks_stattest`, `chisquare_stattest`, `z_stattest`, `wasserstein_distance_norm`,
`jensenshannon`, `psi`, `kl_div`), Evidently's binning (`utils.get_binned_data`) and the
dataset drift share (`data_drift.get_dataset_drift`). Evidently and pandas are not needed:
their logic is re-implemented below line by line, on float64 numpy arrays (for numeric
columns) and Python lists of str (categorical columns), with missing values dropped first
as Evidently's `get_one_column_drift` drops them.

One deliberate difference from Evidently's code, documented in the app README: the z-test
p-value is 2 * norm.sf(|z|) (accurate in the tail); Evidently writes 2 * (1 - norm.cdf(|z|)),
which loses relative precision below about 1e-8. Both are written (`pValue` and
`evidentlyPValue`) so the test can show the difference is below 1e-15.

The Jensen-Shannon distance uses the natural logarithm, as Evidently does: its `_jensenshannon`
passes `base=None` (scipy's natural log) to scipy.spatial.distance.jensenshannon, in the current
source (src/evidently/legacy/calculations/stattests/jensenshannon.py, 0.7) as in the 0.4 line
(src/evidently/calculations/stattests/jensenshannon.py); the parameter came with Evidently's
pull request #499, whose default was kept at the natural log.

Column typing: a column of numbers is numeric (`num`), as Evidently types a float64 column, and
`_get_default_stattest` gives a numeric column with at most 5 distinct values the categorical
tests. With the app's `"columnTyping": "integer-cardinality"`, a column is typed as Evidently's
current automatic typing does (`infer_column_type` in src/evidently/core/datasets.py, 0.7): an
integer column with at most INTEGER_CARDINALITY_LIMIT = 10 distinct values is categorical.
Evidently reads "integer" from the pandas dtype; here a column is integer when every non-missing
reference value is integral (`integer_cardinality_categorical`), since the app holds every
number as a float64.

Also written: the chi-square test of homogeneity (scipy.stats.chi2_contingency without
continuity correction) offered as `chi2_contingency`, and the adaptive band (mean +- 3 std,
ddof 0, of the statistic of each reference chunk against the rest of the reference).

Regenerate with:  python3 plugins/data-drift/test/evidently_reference.py
"""

import json
import math
import os
import platform
import warnings

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "evidently-reference.json")

METHOD_INFO = {
    # name: (kind, default threshold, rule)
    "ks": ("test", 0.05, "p<="),
    "chisquare": ("test", 0.05, "p<"),
    "chi2_contingency": ("test", 0.05, "p<"),
    "z": ("test", 0.05, "p<"),
    "wasserstein": ("distance", 0.1, ">="),
    "jensenshannon": ("distance", 0.1, ">="),
    "psi": ("distance", 0.1, ">="),
    "kl_div": ("distance", 0.1, ">="),
}


def fl(x):
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


INTEGER_CARDINALITY_LIMIT = 10


def integer_cardinality_categorical(values):
    """Evidently 0.7's infer_column_type for an int column: categorical when nunique() <= 10."""
    present = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present or any(not v.is_integer() for v in present):
        return False
    return len(set(present)) <= INTEGER_CARDINALITY_LIMIT


def is_missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def clean(values, categorical):
    """Evidently: replace +-inf by NaN and dropna."""
    if categorical:
        return [v for v in values if not is_missing(v)]
    a = np.array([np.nan if v is None else v for v in values], dtype=float)
    return a[np.isfinite(a)]


def value_counts(values):
    out = {}
    for v in (values.tolist() if isinstance(values, np.ndarray) else values):
        out[v] = out.get(v, 0) + 1
    return out


def nunique(values):
    return len(set(values.tolist() if isinstance(values, np.ndarray) else values))


def default_stattest(ref, cur, feature_type):
    n_values = nunique(list(ref) + list(cur)) if feature_type == "cat" else nunique(np.concatenate([ref, cur]))
    if len(ref) <= 1000:
        if feature_type == "num" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if feature_type == "num" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def sorted_keys(ref, cur):
    keys = set(value_counts(ref)) | set(value_counts(cur))
    return sorted(keys)  # numbers ascending, str by code point (the apps sort the same way)


def binned(ref, cur, feature_type, feel_zeroes):
    """evidently.calculations.stattests.utils.get_binned_data."""
    n_vals = nunique(ref)
    if feature_type == "num" and n_vals > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        reference_percents = np.histogram(ref, bins)[0] / len(ref)
        current_percents = np.histogram(cur, bins)[0] / len(cur)
    else:
        keys = sorted_keys(ref, cur)
        rc, cc = value_counts(ref), value_counts(cur)
        reference_percents = np.array([rc.get(k, 0) / len(ref) for k in keys])
        current_percents = np.array([cc.get(k, 0) / len(cur) for k in keys])
    if feel_zeroes:
        np.place(
            reference_percents,
            reference_percents == 0,
            min(reference_percents[reference_percents != 0]) / 10**6
            if min(reference_percents[reference_percents != 0]) <= 0.0001
            else 0.0001,
        )
        np.place(
            current_percents,
            current_percents == 0,
            min(current_percents[current_percents != 0]) / 10**6
            if min(current_percents[current_percents != 0]) <= 0.0001
            else 0.0001,
        )
    return reference_percents, current_percents


def run_method(method, ref, cur, feature_type):
    """(statistic, p_value or None, extra) of one method."""
    if method == "ks":
        r = stats.ks_2samp(ref, cur)
        return float(r.statistic), float(r.pvalue), {}
    if method == "chisquare":
        keys = sorted_keys(ref, cur)
        rc, cc = value_counts(ref), value_counts(cur)
        k_norm = len(cur) / len(ref)
        f_exp = [rc.get(k, 0) * k_norm for k in keys]
        f_obs = [cc.get(k, 0) for k in keys]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = stats.chisquare(f_obs, f_exp)
        return float(r.statistic), float(r.pvalue), {"bins": len(keys)}
    if method == "chi2_contingency":
        keys = sorted_keys(ref, cur)
        rc, cc = value_counts(ref), value_counts(cur)
        table = np.array([[rc.get(k, 0) for k in keys], [cc.get(k, 0) for k in keys]], dtype=float)
        r = stats.chi2_contingency(table, correction=False)
        return float(r.statistic), float(r.pvalue), {"bins": len(keys)}
    if method == "z":
        if nunique(ref) == 1 and nunique(cur) == 1 and list(value_counts(ref))[0] == list(value_counts(cur))[0]:
            return 0.0, 1.0, {"evidentlyPValue": 1.0}
        keys = sorted_keys(ref, cur)
        first = keys[0]
        r01 = np.array([0 if x == first else 1 for x in (ref.tolist() if isinstance(ref, np.ndarray) else ref)])
        c01 = np.array([0 if x == first else 1 for x in (cur.tolist() if isinstance(cur, np.ndarray) else cur)])
        n1, n2 = len(r01), len(c01)
        p1 = float(sum(r01)) / n1
        p2 = float(sum(c01)) / n2
        P = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
        return float(z), float(2 * stats.norm.sf(abs(z))), {"evidentlyPValue": float(2 * (1 - stats.norm.cdf(np.abs(z))))}
    if method == "wasserstein":
        norm = max(np.std(ref), 0.001)
        return float(stats.wasserstein_distance(ref, cur) / norm), None, {}
    if method == "jensenshannon":
        rp, cp = binned(ref, cur, feature_type, False)
        return float(distance.jensenshannon(rp, cp)), None, {"bins": len(rp)}
    if method == "psi":
        rp, cp = binned(ref, cur, feature_type, True)
        psi_value = 0
        for i, _ in enumerate(rp):
            psi_value += (rp[i] - cp[i]) * np.log(rp[i] / cp[i])
        return float(psi_value), None, {"bins": len(rp)}
    if method == "kl_div":
        rp, cp = binned(ref, cur, feature_type, True)
        return float(stats.entropy(rp, cp)), None, {"bins": len(rp)}
    raise ValueError(method)


def drifted(method, score, threshold):
    rule = METHOD_INFO[method][2]
    return bool(score <= threshold if rule == "p<=" else score < threshold if rule == "p<" else score >= threshold)


def band_statistic(method, statistic):
    return abs(statistic) if method == "z" else statistic


def column_drift(ref_values, cur_values, categorical, method=None, threshold=None, adaptive=None):
    ref = clean(ref_values, categorical)
    cur = clean(cur_values, categorical)
    feature_type = "cat" if categorical else "num"
    m = method or default_stattest(ref, cur, feature_type)
    kind, default_threshold, _ = METHOD_INFO[m]
    t = default_threshold if threshold is None else threshold
    statistic, p_value, extra = run_method(m, ref, cur, feature_type)
    score = p_value if kind == "test" else statistic
    out = {
        "type": "categorical" if categorical else "numeric",
        "method": m,
        "score": fl(score),
        "statistic": fl(statistic),
        "pValue": fl(p_value) if p_value is not None else None,
        "threshold": t,
        "drifted": drifted(m, score, t),
        "referenceCount": len(ref),
        "windowCount": len(cur),
        "uniqueValues": nunique(list(ref) + list(cur)) if categorical else nunique(np.concatenate([ref, cur])),
    }
    for k, v in extra.items():
        out[k] = fl(v) if isinstance(v, float) else v
    if adaptive:
        # NannyML-style band over reference chunks; each chunk is compared with the rest of the reference
        size = adaptive["chunkSize"]
        ref_all = list(ref_values)
        values = []
        for c in range(len(ref_all) // size):
            chunk = ref_all[c * size:(c + 1) * size]
            rest = ref_all[: c * size] + ref_all[(c + 1) * size:]
            cc, rr = clean(chunk, categorical), clean(rest, categorical)
            if len(cc) == 0 or len(rr) == 0:
                continue
            s, _, _ = run_method(m, rr, cc, feature_type)
            s = band_statistic(m, s)
            if math.isfinite(s):
                values.append(s)
        values = np.array(values)
        mean = float(np.mean(values))
        std = float(np.std(values))
        upper = mean + std * adaptive["sigmas"]
        lower = max(mean - std * adaptive["sigmas"], 0.0)
        value = band_statistic(m, statistic)
        out["band"] = {"mean": mean, "std": std, "lower": lower, "upper": upper, "chunks": len(values)}
        out["adaptiveValue"] = fl(value)
        out["adaptiveDrifted"] = bool(value > upper)
    return out


def dataset(columns_drift, drift_share=0.5, potential_share=0.25, key="drifted"):
    flags = [c[key] for c in columns_drift.values()]
    share = sum(1 for f in flags if f) / len(flags)
    if share >= drift_share:
        status = 2
    elif share > 0 and share >= potential_share:
        status = 1
    else:
        status = 0
    return {"share": share, "status": status, "driftedCount": sum(1 for f in flags if f)}


def as_json_column(values):
    if isinstance(values, np.ndarray):
        return [fl(v) for v in values]
    return list(values)


def with_missing(rng, a, share):
    a = a.astype(float).copy()
    a[rng.random(len(a)) < share] = np.nan
    return a


def make_small(rng, n, shift):
    """A reference of <= 1000 rows: KS, chi-square, z-tests."""
    cats = np.array(["alpha", "beta", "gamma", "delta"])
    probs = [0.4, 0.3, 0.2, 0.1]
    cols = {
        "income": np.round(rng.normal(50 + 8 * shift, 10, n), 3),
        "age": with_missing(rng, np.round(rng.normal(40, 12, n) * (1 + 0.3 * shift)), 0.05),
        "visits": rng.poisson(1.2 + shift, n).clip(0, 4).astype(float),
        "is_member": (rng.random(n) < 0.3 + 0.25 * shift).astype(float),
        "segment": list(rng.choice(cats, n, p=probs)),
        "prix (€)": np.round(rng.lognormal(3 + 0.4 * shift, 0.5, n), 2),
        "channel": list(rng.choice(np.array(["web", "app"]), n, p=[0.6 - 0.3 * shift, 0.4 + 0.3 * shift])),
    }
    if shift > 0:
        # unseen categories in the window, and a few missing strings
        seg = cols["segment"]
        for i in range(0, n, 7):
            seg[i] = "epsilon"
        for i in range(3, n, 50):
            seg[i] = None
    return cols


def make_large(rng, n, shift):
    """A reference of > 1000 rows: Wasserstein and Jensen-Shannon."""
    cats = np.array(["north", "south", "east", "west", "ünïcode"])
    cols = {
        "income": np.round(rng.normal(50 + 6 * shift, 10, n), 3),
        "visits": rng.poisson(1.2 + shift, n).clip(0, 4).astype(float),
        "is_member": (rng.random(n) < 0.3 + 0.3 * shift).astype(float),
        "region": list(rng.choice(cats, n, p=[0.3, 0.3, 0.2, 0.15, 0.05])),
        "latency": with_missing(rng, np.round(rng.exponential(100 * (1 + shift), n), 1), 0.02),
    }
    if shift > 0:
        reg = cols["region"]
        for i in range(0, n, 5):
            reg[i] = "🛰 orbit"
    return cols


def make_ints(rng, n, shift):
    """Integer-valued numeric columns, for the column typing: as float64, as the app holds them."""
    rating = rng.choice(np.arange(1, 6), n, p=[0.1, 0.2, 0.3, 0.25, 0.15] if shift == 0 else [0.05, 0.15, 0.25, 0.3, 0.25]).astype(float)
    score = rng.integers(0, 4, n).astype(float)
    score[n // 2] = 2.5  # one value that is not an integer: numeric in both typings
    return {
        # 10 distinct integers: categorical with integer-cardinality, KS / Wasserstein otherwise
        "rooms": np.clip(rng.poisson(4 + shift, n), 0, 9).astype(float),
        # 11 distinct: numeric in both
        "floors": np.clip(rng.poisson(5 + shift, n), 0, 10).astype(float),
        # 5 distinct with missing values: still integer-valued here (pandas would read it as float64)
        "rating": with_missing(rng, rating, 0.05),
        "score": score,
        # 7 distinct even numbers
        "grade": (2 * np.clip(rng.poisson(3 + shift, n), 1, 7)).astype(float),
    }


CATEGORICAL = {"segment", "channel", "region"}
DATASET_NAMES = {}


def case(name, reference, window, config=None, adaptive=None):
    config = config or {}
    methods = config.get("featureMethods", {})
    thresholds = config.get("featureThresholds", {})
    method_thresholds = config.get("methodThresholds", {})
    features = {}
    for f in reference:
        m = methods.get(f) or config.get("method")
        cat = f in CATEGORICAL or (
            config.get("columnTyping") == "integer-cardinality" and integer_cardinality_categorical(reference[f])
        )
        ref = clean(reference[f], cat)
        cur = clean(window[f], cat)
        chosen = m or default_stattest(ref, cur, "cat" if cat else "num")
        t = thresholds.get(f, method_thresholds.get(chosen))
        features[f] = column_drift(reference[f], window[f], cat, chosen, t, adaptive)
    out = {
        "name": name,
        "config": config,
        "features": list(reference),
        "reference": DATASET_NAMES[id(reference)],
        "window": DATASET_NAMES[id(window)],
        "expected": {"features": features, "dataset": dataset(features)},
    }
    if adaptive:
        out["expected"]["adaptiveDataset"] = dataset(features, key="adaptiveDrifted")
    return out


def main():
    rng = np.random.default_rng(20261127)
    small_ref = make_small(rng, 800, 0)
    small_same = make_small(rng, 400, 0)
    small_drift = make_small(rng, 400, 1)
    large_ref = make_large(rng, 1500, 0)
    large_same = make_large(rng, 500, 0)
    large_drift = make_large(rng, 500, 1)
    # a generator of their own, so that the data sets above stay as they were
    irng = np.random.default_rng(20261128)
    int_small_ref = make_ints(irng, 800, 0)
    int_small_same = make_ints(irng, 400, 0)
    int_small_drift = make_ints(irng, 400, 1)
    int_large_ref = make_ints(irng, 1500, 0)
    int_large_drift = make_ints(irng, 500, 1)
    datasets = {
        "small_ref": small_ref,
        "small_same": small_same,
        "small_drift": small_drift,
        "large_ref": large_ref,
        "large_same": large_same,
        "large_drift": large_drift,
        "int_small_ref": int_small_ref,
        "int_small_same": int_small_same,
        "int_small_drift": int_small_drift,
        "int_large_ref": int_large_ref,
        "int_large_drift": int_large_drift,
    }
    for k, v in datasets.items():
        DATASET_NAMES[id(v)] = k
    overrides = {
        "featureMethods": {
            "income": "psi",
            "age": "kl_div",
            "prix (€)": "jensenshannon",
            "segment": "chi2_contingency",
            "visits": "jensenshannon",
            "channel": "chisquare",
        },
        "methodThresholds": {"psi": 0.2, "ks": 0.01},
        "featureThresholds": {"is_member": 0.01},
    }
    cases = [
        case("small_no_drift", small_ref, small_same),
        case("small_drift", small_ref, small_drift),
        case("large_no_drift", large_ref, large_same),
        case("large_drift", large_ref, large_drift),
        case("small_overrides_no_drift", small_ref, small_same, overrides),
        case("small_overrides_drift", small_ref, small_drift, overrides),
        case("large_overrides_drift", large_ref, large_drift, {"featureMethods": {"income": "jensenshannon", "latency": "psi", "region": "kl_div", "visits": "chi2_contingency"}}),
        case("small_adaptive_no_drift", small_ref, small_same, {"thresholds": "adaptive", "chunkSize": 100}, {"chunkSize": 100, "sigmas": 3}),
        case("small_adaptive_drift", small_ref, small_drift, {"thresholds": "adaptive", "chunkSize": 100}, {"chunkSize": 100, "sigmas": 3}),
        # column typing: the same data under the legacy typing and under Evidently's current one
        case("int_small_legacy_drift", int_small_ref, int_small_drift),
        case("int_small_typed_no_drift", int_small_ref, int_small_same, {"columnTyping": "integer-cardinality"}),
        case("int_small_typed_drift", int_small_ref, int_small_drift, {"columnTyping": "integer-cardinality"}),
        case("int_large_legacy_drift", int_large_ref, int_large_drift),
        case("int_large_typed_drift", int_large_ref, int_large_drift, {"columnTyping": "integer-cardinality"}),
        case(
            "int_small_typed_overrides",
            int_small_ref,
            int_small_drift,
            {"columnTyping": "integer-cardinality", "featureMethods": {"rooms": "psi", "grade": "chi2_contingency", "floors": "jensenshannon"}},
        ),
        case(
            "int_small_typed_adaptive",
            int_small_ref,
            int_small_same,
            {"columnTyping": "integer-cardinality", "thresholds": "adaptive", "chunkSize": 100},
            {"chunkSize": 100, "sigmas": 3},
        ),
    ]
    doc = {
        "meta": {
            "generator": "plugins/data-drift/test/evidently_reference.py",
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "categorical": sorted(CATEGORICAL),
        },
        "datasets": {k: {f: as_json_column(c) for f, c in v.items()} for k, v in datasets.items()},
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    for c in cases:
        methods = {f: v["method"] for f, v in c["expected"]["features"].items()}
        print(c["name"], c["expected"]["dataset"], methods)


if __name__ == "__main__":
    main()
