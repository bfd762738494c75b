"""Baseline of the monitoring benchmark: the drift and integrity statistics of Lathe's monitor,
computed with scipy, numpy and pandas on the same CSV files (Debian has no pyarrow, so no Parquet
here).

Per numerical column: scipy.stats.ks_2samp (method="auto"), scipy.stats.wasserstein_distance
divided by max(population std of the reference, 0.001), and over numpy's Sturges bins of both
samples together, PSI (zero shares filled as Evidently does) and
scipy.spatial.distance.jensenshannon; NaN and infinities are left out first. (Lathe bins per
distinct value instead when the reference has at most 20; every numerical column of the benchmark
has more.) Per categorical column: scipy.stats.chisquare of the current counts against the
reference counts scaled to the current size, and Jensen-Shannon over the category shares.

Integrity, with Lathe's semantics (monitoring/integrity.h): nulls per column (a NaN is a value, not
a null), values outside the reference's [min, max] (NaN counts as outside, as it compares above
every number in DuckDB), unseen categories, duplicated rows (every occurrence but the first), the
cross-field rule `NOT (c0 = 'a' AND n0 > 3)` (violated where it is false), the number of failed
checks and the rows that fail at least one failed row-level check.

Reading: an empty field is a null and nothing else is (a category may be called "NA"); a column
that holds the text "nan" is read as text by pandas and converted after its nulls are noted, so
that NaN and null stay apart. That conversion is counted in read_s.

Prints one JSON object: read_s (both CSV files), compute_s (from the data frames in memory),
total_s, and the statistics per column.
"""

import argparse
import json
import math
import time

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance


def filled(shares):
    """Evidently's zero fill: 1e-4, or the smallest non-zero share / 1e6 when that is <= 1e-4."""
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
    rf, cf = filled(r_shares), filled(c_shares)
    psi = float(np.sum((rf - cf) * np.log(rf / cf)))
    js = float(distance.jensenshannon(r_shares, c_shares))
    return {"ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue), "wasserstein": float(wasserstein),
            "psi": psi, "jensenshannon": js}


def categorical(reference, current):
    r = reference.dropna()
    c = current.dropna()
    keys = sorted(set(r.unique()) | set(c.unique()))
    r_counts = r.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    c_counts = c.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # a category new in current: expected 0
        chi = stats.chisquare(c_counts, r_counts * (len(c) / len(r)))
    js = float(distance.jensenshannon(r_counts / len(r), c_counts / len(c)))
    return {"chisquare_statistic": float(chi.statistic), "chisquare_p_value": float(chi.pvalue), "jensenshannon": js}


def integrity(reference, current, reference_nulls, current_nulls, categorical_columns):
    rows = len(current)
    out = {"nulls": {}, "out_of_range": {}, "unseen": {}}
    failed = 0
    failing = np.zeros(rows, dtype=bool)  # rows of failed row-level checks
    for column in current.columns:
        nulls = current_nulls[column]
        out["nulls"][column] = int(nulls.sum())
        share = out["nulls"][column] / rows
        if share > 0 and share > reference_nulls[column].sum() / len(reference):
            failed += 1
            failing |= nulls
        if column in categorical_columns:
            seen = set(reference[column].dropna())
            bad = (~current[column].isin(seen) & ~nulls).to_numpy()
            out["unseen"][column] = int(bad.sum())
        else:
            values = current[column].to_numpy()
            low, high = reference[column].min(), reference[column].max()
            bad = (values < low) | (values > high) | (np.isnan(values) & ~nulls)
            out["out_of_range"][column] = int(bad.sum())
        if bad.any():
            failed += 1
            failing |= bad
    duplicated = current.duplicated()
    out["duplicates"] = int(duplicated.sum())
    failed += int(out["duplicates"] > 0)
    violated = ((current["c0"] == "a") & (current["n0"] > 3)).to_numpy()
    out["rule_violations"] = int(violated.sum())
    if violated.any():
        failed += 1
        failing |= violated
    out["failed_checks"] = failed
    out["rows_with_violation"] = int(failing.sum())
    return out


def read(path, categorical_columns):
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    nulls = {column: frame[column].isna().to_numpy() for column in frame.columns}
    for column in frame.columns:
        if column not in categorical_columns and frame[column].dtype == object:
            frame[column] = frame[column].astype(float)
    return frame, nulls


def finite_or_text(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: finite_or_text(item) for key, item in value.items()}
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    args = parser.parse_args()
    header = pd.read_csv(args.reference, nrows=0).columns
    categorical_columns = [c for c in header if c.startswith("c")]
    started = time.perf_counter()
    reference, reference_nulls = read(args.reference, categorical_columns)
    current, current_nulls = read(args.current, categorical_columns)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    columns = {}
    for column in reference.columns:
        if column in categorical_columns:
            columns[column] = categorical(reference[column], current[column])
        else:
            columns[column] = numerical(reference[column], current[column])
    checks = integrity(reference, current, reference_nulls, current_nulls, categorical_columns)
    compute_s = time.perf_counter() - started
    print(json.dumps({"read_s": read_s, "compute_s": compute_s, "total_s": read_s + compute_s,
                      "rows": [len(reference), len(current)], "columns": finite_or_text(columns),
                      "integrity": checks}))


if __name__ == "__main__":
    main()
