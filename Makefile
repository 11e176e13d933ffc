# Two commands: `make run` (set up and start the app) and `make test` (set up and run every check).
# Everything is installed into .venv; nothing outside this folder is touched.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build that installs from local disk here; elsewhere pip fetches it.
# For a CPU-only torch on other Linux machines: make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck contracts pytest bench fuzz clean tiny-model screenshots

run: $(STAMP)
	$(BIN)/mneme

test: $(STAMP) lint typecheck contracts pytest

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check assistant ui tests benchmarks scripts
	$(BIN)/ruff format --check assistant ui tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_overhead.py

# The importers' fuzz tests with the "fuzz" hypothesis profile (many more examples than `make test`).
fuzz: $(STAMP)
	$(BIN)/python benchmarks/fuzz_importers.py

# PNGs of the main window, the memory inspector and the import dialog (offscreen, no display needed).
screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/screenshots.py docs/screenshots

tiny-model: $(STAMP)
	$(BIN)/python -m assistant.testing tiny-model models/tiny.gguf

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
