#!/usr/bin/env bash
# Run the benchmarks (see bench/README.md). Needs PostgreSQL on 127.0.0.1:5432 and installs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! command -v wrk >/dev/null; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
exec "$PY" bench/bench.py "$@"
