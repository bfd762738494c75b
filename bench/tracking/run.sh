#!/usr/bin/env bash
# `make bench` for tracking: Lathe against MLflow's own server (when LATHE_MLFLOW_SOURCE is set).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export LATHE_BIN="${LATHE_BIN:-$root/build/lathe}"
if [[ ! -x "$LATHE_BIN" ]]; then
  echo "run.sh: $LATHE_BIN not found; build it first (make build)" >&2
  exit 2
fi
if ! command -v wrk >/dev/null; then
  echo "run.sh: wrk not found (Debian package wrk)" >&2
  exit 2
fi
# Debian's python3: it has python3-requests, and MLflow's server dependencies for the baseline.
exec /usr/bin/python3 "$root/bench/tracking/bench_tracking.py" "$@"
