# Set-up and everyday commands. `make run` and `make test` work on a bare machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format docs clients-check web web-test bench reliability clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/gamehub db upgrade
	$(BIN)/gamehub serve --host $(HOST) --port $(PORT) --with-mpesa-sim 8900

# Two workers, one per core; each has its own database (see tests/conftest.py).
test: install
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests $(wildcard bench) reliability
	$(BIN)/ruff format --check src tests $(wildcard bench) reliability
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix src tests $(wildcard bench) reliability
	$(BIN)/ruff format src tests $(wildcard bench) reliability

# docs/openapi.json and docs/events.md, from the code (tests/test_contract.py checks them).
docs: install
	$(BIN)/python -m gamehub.contract

# The generated TypeScript client type-checks a player's flow (needs Node.js; CI runs it).
clients-check:
	clients/typescript/check.sh

# The web client's build, committed in src/gamehub/web/static (needs Node.js).
web:
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

# The browser test: Debian's Chromium (apt-get install chromium), Playwright, axe-core.
web-test: install
	cd web && npm ci --no-audit --no-fund --loglevel=error
	GAMEHUB_TEST_BROWSER=1 $(BIN)/pytest tests/web $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# The fault-injection suite on its own PostgreSQL and Redis (docs/reliability.md);
# RELIABILITY_ARGS=--short is the form CI runs.
reliability: install
	$(BIN)/python -m reliability $(RELIABILITY_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info
