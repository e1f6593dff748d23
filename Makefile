# NetCop Wallet: `make run` (the app on embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint typecheck migrations-check bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	PY=$(PY) bash scripts/run.sh

test: install
	PY=$(PY) bash scripts/test.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/bandit -q -r authentication wallet agents api netcop_hub -c pyproject.toml

typecheck: install
	$(VENV)/bin/mypy

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

# Every row by default; `make bench BENCH_ARGS="--only history,csv"` for some. Paste the rows it prints
# at the end into bench/README.md.
bench: install
	PY=$(PY) bash bench/run.sh $(BENCH_ARGS)
