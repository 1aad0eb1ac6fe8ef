# Tessera: `make run` serves the demo on SQLite, `make test` runs every check and test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run test lint test-sqlite test-postgres bench bench-http clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tessera migrate --noinput
	$(BIN)/tessera demo
	$(BIN)/tessera run

test: lint test-sqlite test-postgres

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test-sqlite: $(STAMP)
	env -u DATABASE_URL $(BIN)/pytest

# The database tests again, on PostgreSQL (a fresh test database); see tests/conftest.py.
test-postgres: $(STAMP)
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/pytest

# Benchmarks print tables; they are never part of `make test`. Results: docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python bench/bench_batch.py --db both
	$(BIN)/python bench/bench_redeem.py --db both

# Over HTTP: gunicorn on PostgreSQL (database tessera_bench_http), driven by wrk (apt-get install -y wrk).
bench-http: $(STAMP)
	$(BIN)/python bench/bench_http.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
