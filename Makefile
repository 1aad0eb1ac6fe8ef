# Tessera: `make run` serves the demo on SQLite, `make test` runs every check and test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint docs docs-check test-sqlite test-postgres screenshots bench bench-http bench-platforms bench-pages bench-sql clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tessera migrate --noinput
	$(BIN)/tessera demo
	$(BIN)/tessera run

test: lint docs-check test-sqlite test-postgres

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy bench examples  # not run by the tests: typing is what keeps them in step with src

# The documentation site (mkdocs.yml, docs/): served with live reload at http://127.0.0.1:8001 ...
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# ... and built strictly, into var/site: a broken link or anchor, or a page not in the nav, fails.
docs-check: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test-sqlite: $(STAMP) $(CHROMIUM)
	env -u DATABASE_URL $(BIN)/pytest

# The database tests again, on PostgreSQL (a fresh test database); see tests/conftest.py.
test-postgres: $(STAMP) $(CHROMIUM)
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/pytest

# The browser tests (tests/browser) drive Debian's Chromium, never a downloaded one. As root (CI)
# it is installed here; elsewhere the tests skip without it, except under CI=true, where they fail.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "$(CHROMIUM) is missing: sudo apt-get install -y chromium (the browser tests skip without it)"; \
	fi

# The README's pictures, docs/screenshots/*.png, taken in Chromium from the demo data on SQLite.
screenshots: $(STAMP) $(CHROMIUM)
	env -u DATABASE_URL $(BIN)/pytest -q tests/browser/screenshots.py

# Benchmarks print tables; they are never part of `make test`. Results: docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python bench/bench_batch.py --db both
	$(BIN)/python bench/bench_redeem.py --db both

# Over HTTP: gunicorn on PostgreSQL (database tessera_bench_http), driven by wrk (apt-get install -y wrk).
bench-http: $(STAMP)
	$(BIN)/python bench/bench_http.py

# Course platforms over HTTP (database tessera_bench_platforms, wrk): what the events' outbox costs a
# redemption, and the webhooks' delivery lag at a steady 300 redemptions/s.
bench-platforms: $(STAMP)
	$(BIN)/python bench/bench_platforms.py

# Every web page's server time with a million-code batch, on both databases (tessera_bench_pages on
# PostgreSQL, var/bench/pages.sqlite3), each made afresh and removed afterwards.
bench-pages: $(STAMP)
	$(BIN)/python bench/bench_pages.py --db both

# Each hand-written SQL statement against the ORM code that does the same, on both databases
# (tessera_bench_sql on PostgreSQL, var/bench/bench.sqlite3), with a shop of a million vouchers.
bench-sql: $(STAMP)
	$(BIN)/python bench/bench_sql.py --db both

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
