# Everything runs from a project-local virtualenv that the targets create when needed,
# so a fresh clone needs nothing but python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MOCK_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install mock test lint fmt clean

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

test: lint  ## lint, then run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info
