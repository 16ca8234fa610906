# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,turso,report,sweep]'
	touch $(STAMP)

## run: a 30-second stress run against a local meta.db; prints where the artifacts are
run: $(STAMP)
	$(BIN)/stress run --duration 30

## test: the whole test suite (slow tests included), then mypy --strict and ruff
test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/mypy stress
	$(BIN)/ruff check stress tests examples

bench: $(STAMP)
	$(BIN)/stress bench writers --writers 1,8,32 --connection per-op,long-lived --ids row,block

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
