# imagesig — everyday commands. `make demo` and `make test` set everything up from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n auto

.PHONY: setup demo test lint typecheck docs bench ci clean

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) scripts/bootstrap.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/python examples/demo.py

test: setup
	scripts/ensure-registry.sh
	scripts/install-node-interop.sh
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests examples benchmarks scripts
	$(BIN)/ruff format --check src tests examples benchmarks scripts

typecheck: setup
	$(BIN)/mypy --strict src

docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

bench: setup
	scripts/ensure-registry.sh
	$(BIN)/python benchmarks/registry.py
	$(BIN)/python benchmarks/import_time.py
	$(BIN)/python benchmarks/kms.py
	$(BIN)/python benchmarks/verify.py
	$(BIN)/python benchmarks/policy.py

ci: test lint typecheck docs

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
