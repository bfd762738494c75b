"""Baseline of the monitoring benchmark: the drift and integrity statistics of Lathe's monitor,
computed with scipy, numpy and pandas on the same CSV files (Debian has no pyarrow, so no Parquet
here).

Per numerical column: scipy.stats.ks_2samp (method="auto"), scipy.stats.wasserstein_distance
divided by max(population std of the reference, 0.001), and over numpy's Sturges bins of both
samples together, PSI and scipy.spatial.distance.jensenshannon. Per categorical column:
scipy.stats.chisquare of the current counts against the reference counts scaled to the current size,
and Jensen-Shannon over the category shares. Integrity: null counts, values outside the reference's
range, unseen categories, duplicated rows, and the cross-field rule `NOT (c0 = 'a' AND n0 > 3)`.

Prints one JSON object: read_s (both CSV files), compute_s (from the data frames in memory),
total_s, and the statistics per column.
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance


def filled_shares(counts, n):
    shares = counts / n
    positive = shares[shares > 0]
    fill = 1e-4
    if len(positive) and positive.min() <= 1e-4:
        fill = positive.min() / 1e6
    return np.where(shares == 0, fill, shares)


def numerical(reference, current):
    r = reference.to_numpy(dtype=float)
    c = current.to_numpy(dtype=float)
    r = r[np.isfinite(r)]
    c = c[np.isfinite(c)]
    ks = stats.ks_2samp(r, c)
    wasserstein = stats.wasserstein_distance(r, c) / max(np.std(r), 0.001)
    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
    r_shares = np.histogram(r, edges)[0] / len(r)
    c_shares = np.histogram(c, edges)[0] / len(c)
    rf, cf = filled_shares(r_shares * len(r), len(r)), filled_shares(c_shares * len(c), len(c))
    psi = float(np.sum((rf - cf) * np.log(rf / cf)))
    js = float(distance.jensenshannon(r_shares, c_shares))
    return {"ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue), "wasserstein": float(wasserstein),
            "psi": psi, "jensenshannon": js}


def categorical(reference, current):
    r = reference.dropna().astype(str)
    c = current.dropna().astype(str)
    keys = sorted(set(r.unique()) | set(c.unique()))
    r_counts = r.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    c_counts = c.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    chi = stats.chisquare(c_counts, r_counts * len(c) / len(r))
    js = float(distance.jensenshannon(r_counts / len(r), c_counts / len(c)))
    return {"chisquare_p_value": float(chi.pvalue), "jensenshannon": js}


def integrity(reference, current, categorical_columns):
    out = {"nulls": {}, "out_of_range": {}, "unseen": {}}
    for column in current.columns:
        out["nulls"][column] = int(current[column].isna().sum())
        if column in categorical_columns:
            out["unseen"][column] = int((~current[column].isin(set(reference[column].dropna()))
                                         & current[column].notna()).sum())
        else:
            low, high = reference[column].min(), reference[column].max()
            out["out_of_range"][column] = int(((current[column] < low) | (current[column] > high)).sum())
    out["duplicates"] = int(current.duplicated().sum())
    out["rule_violations"] = int(((current["c0"] == "a") & (current["n0"] > 3)).sum())
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    reference = pd.read_csv(args.reference)
    current = pd.read_csv(args.current)
    read_s = time.perf_counter() - started
    categorical_columns = [c for c in reference.columns if c.startswith("c")]
    started = time.perf_counter()
    columns = {}
    for column in reference.columns:
        if column in categorical_columns:
            columns[column] = categorical(reference[column], current[column])
        else:
            columns[column] = numerical(reference[column], current[column])
    checks = integrity(reference, current, categorical_columns)
    compute_s = time.perf_counter() - started
    print(json.dumps({"read_s": read_s, "compute_s": compute_s, "total_s": read_s + compute_s,
                      "rows": [len(reference), len(current)], "columns": columns, "integrity": checks}))


if __name__ == "__main__":
    main()
