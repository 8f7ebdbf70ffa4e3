# Everything runs from a project-local virtualenv that the targets create when needed,
# so a fresh clone needs nothing but python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Every install takes the versions in constraints.txt (`make lock` refreshes it).
LOCK   := constraints.txt
MOCK_ARGS ?=
PYTEST_ARGS ?=
REALTIME ?=

.PHONY: lock test-latest install mock stand-in realtime realtime-js dashboard-js test lint fmt clean bench-deps bench fuzz interop-tools

# What the mock and the stand-in need, and no more (no test or dev tools).
RUNTIME_STAMP := $(VENV)/.runtime-stamp
PYTHON_CHECK = @$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "envoy-events-kit needs python3 >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON_CHECK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	@touch $(STAMP) $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml $(LOCK)
	$(PYTHON_CHECK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the kit into $(VENV) (what the mock needs; \`make install\` adds the test tools)..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e .
	@touch $(RUNTIME_STAMP)

install: $(STAMP)  ## create .venv and install the kit (editable) with test and dev tools

mock: $(RUNTIME_STAMP)  ## serve the mock on http://127.0.0.1:8080 (REALTIME=1: with Centrifugo too)
ifneq ($(REALTIME),)
	@$(MAKE) --no-print-directory realtime
	$(BIN)/envoy-events mock --realtime $(MOCK_ARGS)
else
	$(BIN)/envoy-events mock $(MOCK_ARGS)
endif

stand-in:  ## the mock and a real Centrifugo fed by it (builds Centrifugo on first use); dashboard at /__mock__/ui
	@$(MAKE) --no-print-directory mock REALTIME=1

# The pinned Centrifugo, built with Go into the user's cache (minutes once, with a progress
# line every 10 s; then seconds), and the npm centrifuge browser client the dashboard uses.
realtime: $(RUNTIME_STAMP)  ## install the realtime server (and the dashboard's browser client)
	@$(BIN)/envoy-events realtime install

# The npm `centrifuge` client the realtime tests drive with Node's own test runner.
REALTIME_JS := tests/realtime_js
$(REALTIME_JS)/node_modules/.installed: $(REALTIME_JS)/package-lock.json
	@command -v npm >/dev/null || { echo "the realtime tests need Node.js (>= 20) and npm"; exit 2; }
	npm ci --prefix $(REALTIME_JS) --no-audit --no-fund --loglevel=error
	@touch $@

realtime-js: $(REALTIME_JS)/node_modules/.installed  ## install the npm client the realtime tests run

# axe-core, injected into the dashboard by its browser test (tests/test_dashboard_browser.py).
DASHBOARD_JS := tests/dashboard_js
$(DASHBOARD_JS)/node_modules/.installed: $(DASHBOARD_JS)/package-lock.json
	@command -v npm >/dev/null || { echo "the dashboard's browser test needs Node.js and npm"; exit 2; }
	npm ci --prefix $(DASHBOARD_JS) --no-audit --no-fund --loglevel=error
	@touch $@

dashboard-js: $(DASHBOARD_JS)/node_modules/.installed  ## install axe-core for the dashboard's browser test

INTEROP := tools/interop
INTEROP_STAMP := $(INTEROP)/node_modules/.installed-stamp

$(INTEROP_STAMP): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(INTEROP_STAMP)

interop-tools: $(INTEROP_STAMP)  ## install the pinned Prism, Redocly CLI and Spectral (npm ci)

test: lint realtime realtime-js dashboard-js interop-tools  ## lint, then run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The newest versions pyproject.toml allows, in a venv of their own, written to constraints.txt.
lock:  ## refresh constraints.txt with the newest allowed versions (then `make test`, commit)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' $(LOCK); .venv-lock/bin/python -m pip freeze --exclude-editable | sort -f; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .venv-lock

# The suite on the newest versions pyproject.toml allows (constraints off): run before
# `make lock`, or on a schedule, to learn early what an upgrade would break.
LATEST := .venv-latest
test-latest: realtime realtime-js dashboard-js interop-tools  ## the whole suite with the newest allowed versions (no constraints)
	rm -rf $(LATEST) && $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade -e '.[dev]'
	$(LATEST)/bin/ruff check .
	$(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(LATEST) .venv-lock build dist *.egg-info

# -- performance and robustness (benchmarks/) ------------------------------------------------
BENCH_ARGS ?=
FUZZ_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-deps:  ## install wrk (Debian/Ubuntu package) for `make bench`
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }

bench: $(STAMP) realtime interop-tools  ## mock vs baselines vs Prism (throughput, latency, start, RSS; needs wrk), realtime, webhooks
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/ablations.py
	$(BIN)/python benchmarks/realtime_start.py
	$(BIN)/python benchmarks/webhooks_burst.py
	$(BIN)/python benchmarks/consumer_startup.py
	$(BIN)/python benchmarks/dashboard_polling.py
	$(BIN)/python benchmarks/first_request.py
	$(BIN)/python benchmarks/proxy_overhead.py

fuzz: $(STAMP)  ## Schemathesis CLI, all checks, against the strict mock: events API (>= 10,000 requests), then the control API
	$(BIN)/python benchmarks/fuzz.py $(FUZZ_ARGS)
