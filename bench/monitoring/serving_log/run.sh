#!/usr/bin/env bash
# `make bench` for the prediction log: `lathe server` batch-1 throughput with --prediction-log false
# against true, then 80 % of the no-logging peak held open-loop for 60 s with every answered row
# counted in the log. Makes the model of bench/serving once, then runs bench_serving_log.py (see its
# docstring for the environment knobs); results in bench/results/monitoring/serving_log.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
here="$root/bench/monitoring/serving_log"
export LATHE_BIN="${LATHE_BIN:-$root/build/lathe}"
export BENCH_SERVING_LOG_DIR="$root/bench/results/monitoring/serving_log"
if [[ ! -x "$LATHE_BIN" ]]; then
  echo "run.sh: $LATHE_BIN not found; build it first (make build)" >&2
  exit 2
fi
for tool in wrk g++ taskset; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found (Debian packages wrk, g++, util-linux)" >&2
    exit 2
  fi
done
# Debian's python3 has xgboost, numpy and yaml (for the model); the python3 on PATH may not.
if ! /usr/bin/python3 -c 'import xgboost, numpy, yaml' 2>/dev/null; then
  echo "run.sh: /usr/bin/python3 lacks python3-xgboost, -numpy or -yaml" >&2
  exit 2
fi
make_model="$root/bench/serving/make_model.py"
if [[ ! -f "$BENCH_SERVING_LOG_DIR/expected.json" || "$make_model" -nt "$BENCH_SERVING_LOG_DIR/expected.json" ]]; then
  echo "training the benchmark model of bench/serving (about 10 s)"
  mkdir -p "$BENCH_SERVING_LOG_DIR"
  /usr/bin/python3 "$make_model" "$BENCH_SERVING_LOG_DIR"
fi
exec /usr/bin/python3 "$here/bench_serving_log.py" "$@"
