# Two commands: `make run` (set up and start the app) and `make test` (set up and run every check,
# including building the frozen app and smoke-testing it). `make package` builds the frozen app alone.
# Everything is installed into .venv; nothing outside this folder is touched.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build that installs from local disk here; elsewhere pip fetches it.
# For a CPU-only torch on other Linux machines: make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck contracts pytest bench fuzz clean tiny-model screenshots \
	package package-smoke appimage dmg

run: $(STAMP)
	$(BIN)/mneme

test: $(STAMP) lint typecheck contracts pytest package-smoke

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check assistant ui tests benchmarks scripts packaging
	$(BIN)/ruff format --check assistant ui tests benchmarks scripts packaging

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

# The frozen app (PyInstaller, one folder, for this OS): dist/mneme/mneme, and dist/Mneme.app on
# macOS. Rebuilt only when the code, resources, spec or installed packages (make install) change;
# the .built stamp is written last, so an interrupted build is redone. packaging/README.md has the
# installers (AppImage, Inno Setup, .dmg) and the commands for Windows.
BUNDLE := dist/mneme/mneme
BUNDLE_BUILT := dist/mneme/.built
PACKAGE_INPUTS := $(shell find assistant ui resources -type f ! -path '*/__pycache__/*' ! -name '*.pyc') \
	packaging/mneme.spec packaging/entry.py packaging/trace_imports.py

package: $(BUNDLE_BUILT)

$(BUNDLE_BUILT): $(STAMP) $(PACKAGE_INPUTS)
	rm -f $@
	PYINSTALLER_CONFIG_DIR=build/pyinstaller-cache $(BIN)/pyinstaller --noconfirm --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/mneme.spec
	touch $@

# Runs the bundle's own executable with a clean environment (see tests/packaging/test_bundle.py).
package-smoke: $(BUNDLE_BUILT)
	MNEME_BUNDLE=$(BUNDLE) QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -p no:cacheprovider \
		tests/packaging

appimage: $(BUNDLE_BUILT)
	packaging/linux/appimage.sh

dmg: $(BUNDLE_BUILT)
	packaging/macos/make_dmg.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
