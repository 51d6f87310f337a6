#!/usr/bin/env python3
"""Real data sets for bench/power.mjs, from the copies scikit-learn ships (no download):
wine (178 rows x 13 features, 3 classes) and breast cancer (569 x 30, 2 classes). Prints
one JSON object: {name: {"features": [...], "rows": [[...], ...], "classes": [...]}}.

    pip install scikit-learn    # from the machine's package index
    python3 bench/power_data.py > /tmp/power-data.json
"""

import json
import sys

from sklearn import datasets


def main():
    out = {}
    for name, load in (("wine", datasets.load_wine), ("breast_cancer", datasets.load_breast_cancer)):
        d = load()
        out[name] = {
            "features": [str(f).replace(" ", "_") for f in d.feature_names],
            "rows": [[float(v) for v in row] for row in d.data],
            "classes": [int(c) for c in d.target],
        }
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
