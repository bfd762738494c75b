#!/usr/bin/env bash
# `make bench` for serving: `lathe models serve` against FastAPI + uvicorn + xgboost on one XGBoost model.
# Builds the open-loop generator and the model, then runs bench_serving.py (results in bench/results/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/serving"
export LATHE_BIN="${LATHE_BIN:-$root/build/lathe}"
export BENCH_SERVING_DIR="$root/bench/results/serving"
for tool in wrk g++; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found (Debian package $tool)" >&2
    exit 2
  fi
done
# Debian's python3 has xgboost, numpy, FastAPI, uvicorn and gunicorn; the python3 on PATH may not.
if ! /usr/bin/python3 -c 'import xgboost, fastapi, uvicorn, gunicorn, uvloop, httptools, yaml' 2>/dev/null; then
  echo "run.sh: /usr/bin/python3 lacks python3-xgboost, -fastapi, -uvicorn, -gunicorn, -uvloop, -httptools or -yaml" >&2
  exit 2
fi
mkdir -p "$BENCH_SERVING_DIR"
if [[ ! -x "$BENCH_SERVING_DIR/openloop" || "$here/openloop.cc" -nt "$BENCH_SERVING_DIR/openloop" ]]; then
  g++ -std=c++20 -O2 -Wall -Wextra -o "$BENCH_SERVING_DIR/openloop" "$here/openloop.cc"
fi
if [[ ! -f "$BENCH_SERVING_DIR/expected.json" || "$here/make_model.py" -nt "$BENCH_SERVING_DIR/expected.json" ]]; then
  echo "training the benchmark model (about 10 s)"
  /usr/bin/python3 "$here/make_model.py" "$BENCH_SERVING_DIR"
fi
# The native evaluator against XGBoost's own in-place predict on the same model (Google Benchmark).
evaluator_bench="${LATHE_EVALUATOR_BENCH:-$root/build-bench/bench/evaluator_bench}"
if [[ -x "$evaluator_bench" ]]; then
  "$evaluator_bench" "$BENCH_SERVING_DIR/model/model.xgb" --benchmark_min_time=1 \
    | tee "$BENCH_SERVING_DIR/evaluator.txt"
else
  echo "run.sh: $evaluator_bench not built (make bench builds it); skipping the evaluator benchmark" >&2
fi
exec /usr/bin/python3 "$here/bench_serving.py" "$@"
