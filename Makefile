# The README's entry points. Each target creates .venv through `setup` when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup demo test bench lint clean

setup: $(VENV)/.installed

# Re-install only when the dependency files change, so `make test` is quick on a warm tree.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[hub,kaggle,export,tagging,mlflow,holidays,dev]'
	@# The extended recurrent cells' C++ time loops, compiled once into the user cache
	@# (rnnkit/nn/native.py); without a compiler this logs a warning and Python loops run.
	$(BIN)/python -c 'from rnnkit.nn import native; native.main()'
	@touch $@

demo: setup
	$(BIN)/rnnkit quickstart

# pytest exits 5 when it collected no test: say so loudly instead of passing it on silently.
test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

bench: setup
	$(BIN)/python benchmarks/layers.py

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
