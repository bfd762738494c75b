"""Compares the statistics of drift_bench (Lathe) and bench/baselines/monitoring_drift.py (scipy):
every number of one must be in the other, equal within a relative 1e-9, or within an absolute
1e-12 of each other when both are that close to 0 (p-values that one library rounds to 0 and the
other to a subnormal number); counts and non-finite values ("inf", "nan") must be equal. Prints
the worst relative difference among the numbers not both near 0, and exits 1 on any disagreement.

    compare.py LATHE_JSON SCIPY_JSON
"""

import json
import math
import sys

RELATIVE = 1e-9
ABSOLUTE = 1e-12


def leaves(tree, path=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, path + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from leaves(value, path + (str(index),))
    else:
        yield "/".join(path), tree


def main():
    lathe, scipy = (json.load(open(path)) for path in sys.argv[1:3])
    wanted = {key: lathe[key] for key in ("rows", "columns", "integrity")}
    got = {key: scipy[key] for key in ("rows", "columns", "integrity")}
    ours, theirs = dict(leaves(wanted)), dict(leaves(got))
    problems = []
    for path in sorted(set(ours) ^ set(theirs)):
        problems.append(f"{path}: only in {'lathe' if path in ours else 'scipy'}")
    worst = (0.0, "", None, None)
    compared = near_zero = 0
    for path in sorted(set(ours) & set(theirs)):
        a, b = ours[path], theirs[path]
        compared += 1
        if isinstance(a, str) or isinstance(b, str) or isinstance(a, int) and isinstance(b, int):
            if a != b:
                problems.append(f"{path}: lathe {a!r}, scipy {b!r}")
            continue
        a, b = float(a), float(b)
        difference = abs(a - b)
        if max(abs(a), abs(b)) <= ABSOLUTE:
            near_zero += 1
            continue
        relative = difference / max(abs(a), abs(b))
        if relative > worst[0]:
            worst = (relative, path, a, b)
        if relative > RELATIVE:
            problems.append(f"{path}: lathe {a!r}, scipy {b!r} (relative difference {relative:.3g})")
    summary = f"numbers: {compared} compared ({near_zero} of them both within {ABSOLUTE:g} of 0); "
    if worst[1]:
        summary += f"worst relative difference {worst[0]:.3g} at {worst[1]} (lathe {worst[2]!r}, scipy {worst[3]!r})"
    else:
        summary += "all others identical"
    print(summary)
    for problem in problems:
        print("MISMATCH " + problem)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
