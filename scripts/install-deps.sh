#!/usr/bin/env bash
# Installs everything Lathe's build, tests and benchmarks need on Debian bookworm. Idempotent:
# a second run installs nothing and finishes in seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${LATHE_DEPS_PREFIX:-$root/.deps}"
duckdb_version="1.4.4"
duckdb_bindings_version="1.4.4-r.4"

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libsimdjson-dev libyaml-cpp-dev libxgboost-dev libhiredis-dev redis-server
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-requests python3-numpy python3-xgboost python3-sklearn python3-scipy
  python3-fastapi python3-uvicorn gunicorn python3-uvloop python3-httptools python3-yaml python3-pandas
  wrk hyperfine procps curl time
  # The HTML monitoring report's end-to-end test opens it in headless Chromium and reads the PNG.
  chromium fonts-dejavu-core python3-pil
)

missing=()
for package in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# npm fetches DuckDB. A machine with NodeSource's nodejs already has npm (and that nodejs conflicts
# with Debian's npm package), so only ask for Debian's pair when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# DuckDB is not packaged by Debian: take the official build from npm into a project-local prefix.
duckdb_stamp="$prefix/duckdb-$duckdb_bindings_version.stamp"
if [[ ! -f "$duckdb_stamp" ]]; then
  echo "install-deps: fetching DuckDB $duckdb_version from npm into $prefix"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "duckdb@$duckdb_version" "@duckdb/node-bindings-linux-x64@$duckdb_bindings_version" >/dev/null)
  mkdir -p "$prefix/include" "$prefix/lib" "$work/header" "$work/lib"
  tar -xzf "$work"/duckdb-"$duckdb_version".tgz -C "$work/header" package/src/duckdb/src/include/duckdb.h
  tar -xzf "$work"/duckdb-node-bindings-linux-x64-*.tgz -C "$work/lib" package/libduckdb.so
  install -m 0644 "$work/header/package/src/duckdb/src/include/duckdb.h" "$prefix/include/duckdb.h"
  install -m 0755 "$work/lib/package/libduckdb.so" "$prefix/lib/libduckdb.so"
  touch "$duckdb_stamp"
fi
echo "install-deps: all dependencies present"
