#!/usr/bin/env bash
# Run the whole suite on SQLite, then on PostgreSQL when TEST_POSTGRES_URL (or a postgres
# DATABASE_URL) is set. Under CI=true a missing PostgreSQL or Chromium is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CI=${CI:-}

# Browser tests drive Debian's Chromium; install it when we can (root with apt-get).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium for the browser tests"
  (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; })
fi

# stripe-mock for the contract tests (tests/contract): the shared build beside the repository, if any.
if [ -z "${STRIPE_MOCK_BIN:-}" ] && [ -z "${STRIPE_MOCK_URL:-}" ] && [ -x ../shared/tools/stripe-mock/stripe-mock ]; then
  export STRIPE_MOCK_BIN=$PWD/../shared/tools/stripe-mock/stripe-mock
fi

# Two workers by default (the machine has two cores): pytest-xdist keeps each file on one worker
# (--dist loadfile), and each worker has its own test database, localstripe and browser.
# PYTEST_WORKERS=0 runs in one process.
WORKERS=${PYTEST_WORKERS:-2}
XDIST=()
if [ "$WORKERS" != "0" ]; then
  XDIST=(-n "$WORKERS" --dist loadfile)
fi

PG_URL=${TEST_POSTGRES_URL:-}
if [ -z "$PG_URL" ] && [[ "${DATABASE_URL:-}" == postgres* ]]; then
  PG_URL=$DATABASE_URL
fi

echo "== test suite on SQLite"
DATABASE_URL="sqlite:///$PWD/db.test-run.sqlite3" SQLITE_TEST_NAME="$PWD/test_db.sqlite3" \
  $PY -m pytest "${XDIST[@]}" "$@"

if [ -n "$PG_URL" ]; then
  echo "== test suite on PostgreSQL"
  DATABASE_URL="$PG_URL" $PY -m pytest "${XDIST[@]}" "$@"
elif [ "$CI" = "true" ]; then
  echo "CI=true but no PostgreSQL configured (TEST_POSTGRES_URL): refusing to skip it." >&2
  exit 1
else
  echo "== PostgreSQL run skipped: set TEST_POSTGRES_URL=postgres://user@host:5432/db to include it"
fi
