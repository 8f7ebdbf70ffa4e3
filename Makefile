# Everything runs from a project-local virtualenv that the targets create when needed,
# so a fresh clone needs nothing but python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MOCK_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install mock test lint fmt clean bench-deps bench bench-prism fuzz interop-tools

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "envoy-events-kit needs python3 >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the kit (editable) with test and dev tools

mock: $(STAMP)  ## serve the mock on http://127.0.0.1:8080
	$(BIN)/envoy-events mock $(MOCK_ARGS)

INTEROP := tools/interop
INTEROP_STAMP := $(INTEROP)/node_modules/.installed-stamp

$(INTEROP_STAMP): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(INTEROP_STAMP)

interop-tools: $(INTEROP_STAMP)  ## install the pinned Prism, Redocly CLI and Spectral (npm ci)

test: lint interop-tools  ## lint, then run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info

# -- performance and robustness (benchmarks/) ------------------------------------------------
BENCH_ARGS ?=
FUZZ_ARGS ?=
PRISM_VERSION := 5.14.2
PRISM := $(VENV)/prism/node_modules/.bin/prism
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-deps:  ## install wrk (Debian/Ubuntu package) for `make bench`
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }

bench: $(STAMP)  ## mock vs constant-JSON baseline: throughput, latency, start, RSS (needs wrk)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

$(PRISM):
	@command -v npm >/dev/null || { echo "bench-prism needs Node.js and npm"; exit 2; }
	npm install --prefix $(VENV)/prism --no-audit --no-fund @stoplight/prism-cli@$(PRISM_VERSION)

bench-prism: $(STAMP) $(PRISM)  ## the same, plus Prism $(PRISM_VERSION) on the same spec
	$(BIN)/python benchmarks/bench.py --prism $(BENCH_ARGS)

fuzz: $(STAMP)  ## Schemathesis CLI, all checks, >= 10,000 requests against the strict mock
	$(BIN)/python benchmarks/fuzz.py $(FUZZ_ARGS)
