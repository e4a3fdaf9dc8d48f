# Anbu developer commands. `make demo` and `make test` are the quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test workers: most tests wait on brokers, databases and child processes, so more workers than
# cores still pays. TEST_WORKERS=0 runs in one process (easier to debug).
TEST_WORKERS ?= 3

.PHONY: install demo test test-slow test-all lint format clean mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/anbu demo

# `make test` is the everyday suite (under ~10 min): everything but the tests marked slow (whole
# processes, brokers killed mid-stream, long simulations). CI runs both: `make test test-slow`.
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) -m slow

test-all: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS)

# Mutation testing of one core module (docs/testing.md): `make mutation MODULE=anomaly/ladder.py`,
# MODULE=all for every module in tools/mutation.py's map, one after another. Niced: a shared machine.
mutation: $(STAMP)
	nice -n 10 $(BIN)/python tools/mutation.py $(MODULE) $(MUTATION_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
