#!/usr/bin/env bash
# `make bench` for tracking: Lathe against MLflow's own server (when LATHE_MLFLOW_SOURCE is set).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export LATHE_BIN="${LATHE_BIN:-$root/build/lathe}"
exec /usr/bin/python3 "$root/bench/tracking/bench_tracking.py" "$@"
