# NetCop Wallet: `make run` (the app on embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint typecheck migrations-check bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@# issue 22: WeasyPrint (PDF documents) needs Pango, and the Arabic headings a font that has them.
	@ldconfig -p | grep -q libpango-1.0 && fc-list :lang=ar | grep -q "Noto Naskh Arabic" || \
		{ apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core \
		fonts-dejavu-core poppler-utils; } || \
		echo "!! PDF documents need: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-core (as root)"
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
	$(VENV)/bin/bandit -q -r authentication wallet documents agents api netcop_hub -c pyproject.toml

typecheck: install
	$(VENV)/bin/mypy

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

# Every row by default; `make bench BENCH_ARGS="--only history,csv"` for some. Paste the rows it prints
# at the end into bench/README.md.
bench: install
	PY=$(PY) bash bench/run.sh $(BENCH_ARGS)
