# Each target creates .venv when missing and installs what it needs into it (and node_modules for Azurite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint fmt clean reliability generate

$(STAMP): pyproject.toml requirements.txt requirements-cli.txt
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

# Every test, each reliability test recording what it observed into .reliability/ (the fault matrix,
# safety properties, fuzzing, concurrency, the soak, the races, the adversarial cases of every pass);
# docs/RELIABILITY.md is then generated from those results (also when a test failed: the document
# shows it, and the target still fails).
reliability: $(STAMP) node_modules/.installed
	rm -rf .reliability
	ACRGUARD_RELIABILITY_DIR=$(CURDIR)/.reliability $(BIN)/python -m pytest -n auto -q; \
	status=$$?; $(BIN)/python -m tests.reliability .reliability && exit $$status

# Every generated file, from the rules and the code (tests/rules/test_generated_files.py and the
# docs' tests fail while one is stale): the Azure contract, infra/'s rule lists, the policy schema,
# docs/RULES.md, then docs/DEPLOY.md's parameter table and docs/CLI.md's samples.
generate: $(STAMP)
	$(BIN)/python -m acrguard.generate
	$(BIN)/python -m tests.deploy_params
	$(BIN)/python -m tests.cli_samples

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# c7n + c7n-azure (the comparison) and matplotlib (the plot) live only in .venv-bench, never in the
# project. Installed once (~2 min); a failed or over-long install is recorded, and the bench reports it.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_PINS  := c7n==0.9.53 c7n-azure==0.7.52 matplotlib==3.11.2

$(BENCH_STAMP):
	@start=$$(date +%s); rm -f $(BENCH_VENV)/.install-failed; \
	if { test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV); } && \
	   timeout 300 $(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	     $(BENCH_PINS) > $(BENCH_VENV)/install.log 2>&1; then \
	  echo $$(( $$(date +%s) - start )) > $@; \
	else \
	  mkdir -p $(BENCH_VENV); \
	  echo "pip install $(BENCH_PINS) failed or exceeded 300 s after $$(( $$(date +%s) - start )) s: $$(grep -v '^WARNING: Location' $(BENCH_VENV)/install.log 2>/dev/null | tail -n 2 | tr '\n' ' ')" \
	    > $(BENCH_VENV)/.install-failed; \
	  echo "warning: $$(cat $(BENCH_VENV)/.install-failed)" >&2; \
	fi

bench: $(STAMP) $(BENCH_STAMP) node_modules/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-bench node_modules .pytest_cache .ruff_cache .hypothesis .reliability
