#!/usr/bin/env python3
"""The markdown tables of sdk/docs/drift-detection.md from a bench/power.mjs run:

    node --no-node-snapshot bench/power.mjs --out /tmp/power.json
    python3 bench/power_tables.py /tmp/power.json [SIZES] > /tmp/tables.md

SIZES (e.g. 20,200): the window sizes of the per-shift tables (default: all).
"""

import json
import math
import sys

SHIFTS = [
    "noise 0.5", "noise 1.0", "zeroing 5%", "zeroing 25%", "imbalance 0.7", "imbalance 0.9",
    "scaling 1.1", "scaling 1.5", "one feature +0.5 sd", "one feature +1 sd",
]
DATASETS = {"synthetic": "generated", "wine": "wine", "breast_cancer": "breast cancer"}


def wilson(k, n, z):
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def main():
    r = json.load(open(sys.argv[1]))
    counts, s = r["counts"], r["settings"]
    sizes = s["sizes"]
    order = [
        "drift (bh)", "drift (bonferroni)", "histogram-data-drift (mlrun)", "histogram-data-drift (calibrated)",
        "data-drift (share)", "data-drift (bh)", "data-drift (bonferroni)", "KS-Bonferroni (baseline)", "MMD permutation (baseline)",
    ]
    present = {key.split("|")[1] for key in counts}
    detectors = [d for d in order if d in present] + sorted(present - set(order))
    datasets = [d for d in DATASETS if any(k.startswith(d + "|") for k in counts)]

    def rate(ds, d, cell, n):
        k, t = counts[f"{ds}|{d}|{cell}|{n}"]
        return k / t

    head = "| detector | " + " | ".join(f"n={n}" for n in sizes) + " |\n|---|" + "---|" * len(sizes)
    print("### False alarms without a shift (% of windows, all data sets together; 95 % Wilson interval)\n")
    print(head)
    for d in detectors:
        cells = []
        for n in sizes:
            k = sum(counts[f"{ds}|{d}|none|{n}"][0] for ds in datasets)
            t = sum(counts[f"{ds}|{d}|none|{n}"][1] for ds in datasets)
            lo, hi = wilson(k, t, 1.96)
            cells.append(f"{100 * k / t:.1f} ({100 * lo:.1f}-{100 * hi:.1f})")
        print(f"| {d} | " + " | ".join(cells) + " |")
    t = sum(counts[f"{ds}|{detectors[0]}|none|{sizes[0]}"][1] for ds in datasets)
    print(f"\n{t} windows per size. Per data set (about {t // len(datasets)} windows each):\n")
    print("| detector | data set | " + " | ".join(f"n={n}" for n in sizes) + " |\n|---|---|" + "---|" * len(sizes))
    for d in detectors:
        for ds in datasets:
            print(f"| {d} | {DATASETS[ds]} | " + " | ".join(f"{100 * rate(ds, d, 'none', n):.1f}" for n in sizes) + " |")

    print("\n### Detection, mean over the 10 shifts (% of windows)\n")
    print("| detector | data set | " + " | ".join(f"n={n}" for n in sizes) + " |\n|---|---|" + "---|" * len(sizes))
    for ds in datasets:
        for d in detectors:
            print(f"| {d} | {DATASETS[ds]} | " + " | ".join(f"{100 * sum(rate(ds, d, sh, n) for sh in SHIFTS) / len(SHIFTS):.1f}" for n in sizes) + " |")

    shown = [int(v) for v in sys.argv[2].split(",")] if len(sys.argv) > 2 else sizes
    for ds in datasets:
        print(f"\n### {DATASETS[ds]}: detection per shift (% of windows, {s['shiftTrials']} windows per cell)\n")
        for n in shown:
            print(f"\n**n = {n}**\n")
            print("| detector | " + " | ".join(SHIFTS) + " |\n|---|" + "---|" * len(SHIFTS))
            for d in detectors:
                print(f"| {d} | " + " | ".join(f"{100 * rate(ds, d, sh, n):.0f}" for sh in SHIFTS) + " |")

    print("\n### Smallest window size with at least 80 % detection (`>500`: none up to 500 rows)\n")
    print("| detector | data set | " + " | ".join(SHIFTS) + " |\n|---|---|" + "---|" * len(SHIFTS))
    for ds in datasets:
        for d in detectors:
            cells = []
            for sh in SHIFTS:
                n = next((n for n in sizes if rate(ds, d, sh, n) >= 0.8), None)
                cells.append(str(n) if n is not None else f">{sizes[-1]}")
            print(f"| {d} | {DATASETS[ds]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
