#!/usr/bin/env bash
# Benchmark (a) of the monitoring issue: the full drift + integrity evaluation of 1,000,000
# reference rows against 1,000,000 current rows (20 numerical, 5 categorical columns), Lathe
# (drift_bench) against scipy/numpy/pandas (bench/baselines/monitoring_drift.py) on the same files.
# Builds nothing: `make bench` builds drift_bench first.
# Environment:
#   LATHE_DRIFT_BENCH        the benchmark program (default build-bench/bench/drift_bench)
#   BENCH_MONITORING_DIR     where the data lives; drift_bench generates it when absent or of another
#                            size (default ${TMPDIR:-/tmp}/lathe-bench-monitoring)
#   BENCH_MONITORING_ROWS    rows per side (default 1000000; 10000 for a quick check of the scripts)
#   BENCH_MONITORING_REPEAT  timed runs of each Lathe measurement (default 5; the median is reported)
# Checks that both sides computed the same numbers (compare.py), then prints
#   drift+integrity from memory: lathe X s, scipy Y s, ratio Z
# and the same including reading the CSV files and (Lathe only) the Parquet files. X is the median
# of Lathe's runs, Y the baseline's single run (its own timers, not Python's start-up), Z = Y / X.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/monitoring"
drift_bench="${LATHE_DRIFT_BENCH:-$root/build-bench/bench/drift_bench}"
data="${BENCH_MONITORING_DIR:-${TMPDIR:-/tmp}/lathe-bench-monitoring}"
rows="${BENCH_MONITORING_ROWS:-1000000}"
repeat="${BENCH_MONITORING_REPEAT:-5}"
if [[ ! -x "$drift_bench" ]]; then
  echo "run.sh: $drift_bench not found; build it first (make bench, or the drift_bench target with -DLATHE_BUILD_BENCH=ON)" >&2
  exit 2
fi
# Debian's python3 has numpy, scipy and pandas; the python3 on PATH may not.
if ! /usr/bin/python3 -c 'import numpy, scipy, pandas' 2>/dev/null; then
  echo "run.sh: /usr/bin/python3 lacks python3-numpy, python3-scipy or python3-pandas" >&2
  exit 2
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/lathe-bench-monitoring-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "lathe: $repeat runs of each measurement ($rows rows per side, data in $data)"
"$drift_bench" --data "$data" --rows "$rows" --repeat "$repeat" --out "$work/lathe.json"
echo "scipy baseline: one run on the CSV files"
/usr/bin/python3 "$root/bench/baselines/monitoring_drift.py" --reference "$data/reference.csv" \
  --current "$data/current.csv" > "$work/scipy.json"

/usr/bin/python3 "$here/compare.py" "$work/lathe.json" "$work/scipy.json"

/usr/bin/python3 - "$work/lathe.json" "$work/scipy.json" <<'EOF'
import json
import statistics
import sys

lathe, scipy = (json.load(open(path)) for path in sys.argv[1:3])


def median_phase(name, key):
    return statistics.median(phase.get(key, 0.0) for phase in lathe["phases"][name])


print(f"scipy: read {scipy['read_s']:.2f} s (both CSV files), compute {scipy['compute_s']:.2f} s")
for name, label in (("memory", "from memory"), ("csv", "including CSV"), ("parquet", "including Parquet")):
    runs = lathe["timings"][name]
    ours = statistics.median(runs)
    parts = f"load {median_phase(name, 'load_s'):.3f} s, " if name != "memory" else ""
    parts += f"drift {median_phase(name, 'drift_s'):.3f} s, integrity {median_phase(name, 'integrity_s'):.3f} s"
    print(f"lathe {label}: median {ours:.3f} s of {len(runs)} (min {min(runs):.3f}, max {max(runs):.3f}; {parts})")
for name, label, theirs, note in (
        ("memory", "from memory", scipy["compute_s"], ""),
        ("csv", "including CSV", scipy["total_s"], ""),
        ("parquet", "including Parquet", scipy["total_s"],
         " (scipy side reads the CSV files: Debian has no pyarrow for pandas to read Parquet)")):
    ours = statistics.median(lathe["timings"][name])
    ratio = theirs / ours
    print(f"drift+integrity {label}: lathe {ours:.3f} s, scipy {theirs:.2f} s, ratio {ratio:.1f}x "
          f"(target 20x: {'met' if ratio >= 20 else 'not met'}){note}")
EOF
