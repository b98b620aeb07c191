# cohortbot — the two commands a newcomer needs are `make demo` and `make test`.
# The first use creates .venv and installs the project with its test and lint tools.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: help install demo test test-fast lint format bench run migrate clean

help:
	@echo "make demo     play a scripted term against a local Discord server (no account needed)"
	@echo "make test     run the whole test suite (SQLite; PostgreSQL too if COHORTBOT_TEST_POSTGRES_URL is set)"
	@echo "make lint     ruff and mypy"
	@echo "make bench    print the benchmark figures"
	@echo "make run      run the bot (needs DISCORD_TOKEN; migrates first)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cohortbot needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtual environment: on Debian/Ubuntu run 'apt-get install python3-venv'."; \
	  rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cohortbot demo

# Four workers on a 2-core machine: the end-to-end tests spend most of their time waiting on
# real time (scheduled work, killed and restarted bot processes, the chaos term), so four run
# side by side without running out of CPU. Tests are handed out one at a time, the longest first
# (tests/conftest.py), so no worker ends the run with a queue of long ones.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 1

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot cogs slackapp cohortlab tests bench tools

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Quick mode: small sizes, 1-2 rounds. The production-shaped benches (the bot as its own
# process) run on BENCH_DB: sqlite, postgres or both (PostgreSQL at 127.0.0.1:5432, see
# bench/harness.py). Full sizes and the figures quoted: docs/benchmarks.md.
BENCH_DB ?= sqlite

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; \
	  case $$(basename $$f .py) in \
	    bench_discussion_ingest|bench_marks|bench_notices) args="--quick --db $(BENCH_DB)";; \
	    bench_allocation|bench_gradebook) args="--quick";; \
	    *) args="";; \
	  esac; \
	  $(BIN)/python $$f $$args || exit 1; done

migrate: $(STAMP)
	$(BIN)/cohortbot migrate

run: $(STAMP)
	$(BIN)/cohortbot migrate
	$(BIN)/cohortbot run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output *.egg-info
