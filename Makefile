# Each target creates .venv when missing and installs what it needs into it (and node_modules for Azurite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint fmt clean reliability

$(STAMP): pyproject.toml requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli,dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP)
	$(BIN)/python -m demo

test: $(STAMP) node_modules/.installed
	$(BIN)/python -m pytest -n auto -q

# The fault matrix, safety properties, fuzzing, concurrency and the soak, each recording what it
# observed into .reliability/; docs/RELIABILITY.md is then generated from those results (also
# when a test failed: the document shows it, and the target still fails).
RELIABILITY_TESTS := tests/test_faults.py tests/test_properties.py tests/test_fuzz.py \
	tests/test_concurrency.py tests/test_soak.py
reliability: $(STAMP)
	rm -rf .reliability
	ACRGUARD_RELIABILITY_DIR=$(CURDIR)/.reliability $(BIN)/python -m pytest -n auto -q $(RELIABILITY_TESTS); \
	status=$$?; $(BIN)/python -m tests.reliability .reliability && exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-bench node_modules .pytest_cache .ruff_cache .hypothesis .reliability
