#!/usr/bin/env bash
# Run the app on its embedded defaults: SQLite, sandbox payments on localstripe, demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export DEBUG=${DEBUG:-True}

$PY manage.py migrate --noinput
exec $PY manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
