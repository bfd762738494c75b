#!/usr/bin/env bash
# Online-read benchmark of the feature store: POST /api/lathe/features/online for 10 features of 1
# entity (SQLite store) -- peak req/s with wrk, then p50/p90/p99/p99.9 at half that rate with the
# open-loop generator of bench/serving -- beside redis-benchmark's GET latency (1 client) as the floor.
# Builds the generator, then runs bench_online.py (see its docstring for the environment knobs).
# Prints the summary and writes bench/results/features/online.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
here="$root/bench/features/online"
export LATHE_BIN="${LATHE_BIN:-$root/build/lathe}"
export BENCH_FEATURES_ONLINE_DIR="$root/bench/results/features/online"
if [[ ! -x "$LATHE_BIN" ]]; then
  echo "run.sh: $LATHE_BIN not found; build it first (make build)" >&2
  exit 2
fi
for tool in wrk g++ redis-server redis-cli redis-benchmark; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found (Debian packages wrk, g++, redis-server, redis-tools)" >&2
    exit 2
  fi
done
mkdir -p "$BENCH_FEATURES_ONLINE_DIR"
openloop_src="$root/bench/serving/openloop.cc"
if [[ ! -x "$BENCH_FEATURES_ONLINE_DIR/openloop" || "$openloop_src" -nt "$BENCH_FEATURES_ONLINE_DIR/openloop" ]]; then
  g++ -std=c++20 -O2 -Wall -Wextra -o "$BENCH_FEATURES_ONLINE_DIR/openloop" "$openloop_src"
fi
# Debian's python3; the python3 on PATH is another interpreter (only the standard library is used here).
exec /usr/bin/python3 "$here/bench_online.py" "$@"
