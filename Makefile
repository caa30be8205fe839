# jsc-node. Every target that runs code depends on `install`, which builds .venv once and
# re-installs only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# docker-compose v1 (PyPI), the parser that checks docker/compose.yaml in tests/unit/test_deploy_recipes.py:
# its pins (PyYAML 5, jsonschema 3) clash with the project's, so it has a venv of its own. PyYAML 5.4.1
# has no cp311 wheel and its sdist builds only with Cython < 3 (the constraints file, read by pip's
# isolated build too).
COMPOSE_VENV := $(VENV)/compose-v1
DATA ?= $(HOME)/.local/share/jsc-node/dev
SEEDS ?= 2000
TXS ?= 500
PYTEST_ARGS ?=
# The dev node serves every JSON-RPC namespace (Foundry/Hardhat trace with debug_*); a plain
# `jsc-node run` serves ETH,NET,WEB3 only.
RPC_APIS ?= ETH,NET,WEB3,TXPOOL,QBFT,ADMIN,DEBUG,TESTING,JSC,PERM
# The chain page (http://127.0.0.1:8547/): the port after JSON-RPC's 8545 and WebSocket's 8546,
# where Besu puts its GraphQL reads (jsc-node has none); UI_PORT= to change it.
UI_PORT ?= 8547

.PHONY: install run test lint bench conformance sim probe screenshot contracts clean

install: $(STAMP)

$(STAMP): pyproject.toml tests/requirements-compose-v1.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	test -x $(COMPOSE_VENV)/bin/python || $(PYTHON) -m venv $(COMPOSE_VENV)
	PIP_CONSTRAINT=tests/constraints-compose-v1-build.txt $(COMPOSE_VENV)/bin/python -m pip install --quiet \
		-r tests/requirements-compose-v1.txt
	touch $(STAMP)

run: install
	$(BIN)/jsc-node run --data-path $(DATA) --rpc-http-api $(RPC_APIS) --rpc-ws-api $(RPC_APIS) --ui-port $(UI_PORT)

# Two workers, a file's tests on one worker (module-scoped nodes start once); WORKERS=0 runs serially.
WORKERS ?= 2

test: install
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check jsc_node tests
	$(BIN)/ruff check jsc_node tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

bench: install
	$(BIN)/python -m bench.run

conformance: install
	$(BIN)/python -m tests.conformance.run

sim: install
	$(BIN)/python -m tests.sim.run --seeds $(SEEDS)

# The read-your-writes probe (tests/integration/ryw_probe.py) over TXS transactions on a fresh node;
# `make test` runs it over 10.
probe: install
	RYW_PROBE_TXS=$(TXS) $(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_read_your_writes.py

# Rewrites docs/chain-page.png (the README's picture of the chain page): a 4-validator devnet with
# Japanese attestations, a minute of blocks, Debian's Chromium (/usr/bin/chromium). About 90 s.
screenshot: install
	$(BIN)/python -m tests.integration.chain_page_screenshot docs/chain-page.png

# Regenerates contracts/build/ from contracts/*.sol and contracts/examples/*.sol with solc-js (offline, bundled wasm).
contracts:
	cd contracts && npm install --no-audit --no-fund --silent && node compile.js

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
