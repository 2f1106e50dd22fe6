# Build, run and test the supply-chain finance ledger.
#
#   make setup    Python venv (exact versions from constraints.txt), npm ci,
#                 the solc-js launchers, and the contracts compiled. Each step
#                 leaves a stamp file and is redone only when its inputs change,
#                 so a warm `make setup` does nothing.
#   make run      setup, then `ledger-app run` (anvil + contracts + indexer + API on :8000)
#   make demo     against the service `make run` started: the SCF story over HTTP, ending
#                 in the root's trace verified against the node (scripts/demo.py)
#   make test     setup, then the contract tests (ape) and the service tests (pytest)
#   make compile  `ape compile` (incremental)
#   make lint     ruff
#   make bench    benchmarks against limits measured in the same run -> bench/results/latest.{json,md}
#                 (with the Ponder peer of the indexer: bench/peer, installed there on first use)
#   make bench-quick  the same at CI size (a few minutes)
#   make soak     50 clients for 10 minutes against `ledger-app run` on loopback (tests/load)
#   make chaos    the crash-safety suite of `make test` at length: 20 SIGKILLs of the service
#                 and 5 of the node under 30 writers, on SQLite and PostgreSQL (issue 16;
#                 LEDGER_CHAOS_SERVICE_KILLS / LEDGER_CHAOS_NODE_KILLS to change them)
#   make failover two anvils behind LEDGER_RPC_URLS, the node in use SIGKILLed 10 times
#                 under 4 writers, the other started from its last save each time; prints
#                 the failover times (issue 22; LEDGER_FAILOVER_ROUNDS to change it)
#   make replicas three `ledger-app api` + `ledger-app index` and a standby on PostgreSQL under
#                 50 clients for 120 s, a replica and the writer SIGKILLed (issue 22;
#                 LEDGER_REPLICAS_WRITERS / LEDGER_REPLICAS_SECONDS to change them)
#   make fuzz-api schemathesis over the OpenAPI as every role, 50 examples an operation
#                 (LEDGER_API_FUZZ_EXAMPLES to change it; `make test` runs 2)
#   make fuzz     the contract property suites at length: 2,000 random operation sequences
#                 (receivables 600, financing 600, settlement 400, whole ledger 400 x 30
#                 steps), every invariant checked after each step; 2.5-4 hours on 2 cores
#                 (0.13-0.5 s a step measured; the upper end on a loaded machine)
#   make slither  Slither's full report over contracts/, slither-check-erc for the settlement
#                 token as ERC-20, then the verdict `make test` gives (tests/security)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv

# The one solc pin of the project is package.json's.
SOLC_VERSION := $(shell sed -n 's/.*"solc": *"\([^"]*\)".*/\1/p' package.json)
ANVIL_OS := $(subst Linux,linux,$(subst Darwin,darwin,$(shell uname -s)))
ANVIL_ARCH := $(subst x86_64,amd64,$(subst aarch64,arm64,$(shell uname -m)))
ANVIL_DIR := $(CURDIR)/node_modules/@foundry-rs/anvil-$(ANVIL_OS)-$(ANVIL_ARCH)/bin

# py-solc-x and ape-solidity find the solc-js launcher here; ape-foundry looks
# `anvil` up on PATH, and gets the native binary (not node_modules/.bin's Node
# launcher, which would stand between anvil and its signals).
export SOLCX_BINARY_PATH := $(VENV)/solcx
export PATH := $(VENV)/bin:$(ANVIL_DIR):$(PATH)

STAMP_PYTHON := $(VENV)/.stamp-python
STAMP_NPM := node_modules/.stamp-npm
SOLC := $(SOLCX_BINARY_PATH)/solc-v$(SOLC_VERSION)
STAMP_COMPILE := .build/.stamp-compile
# The web console (console/src -> console/dist), bundled by esbuild from node_modules, and
# Swagger UI for /docs copied from the swagger-ui-dist package (no CDN: docs work offline).
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE
STAMP_CONSOLE := console/dist/.stamp-console
CONSOLE_INPUTS := $(shell find console \( -path console/dist -o -path console/dist.new \) -prune -o -print 2>/dev/null)
# Directories too: their mtime changes when a source is added or removed.
# Python kept in `ruff format` style (tests/contracts and scripts/ are not yet).
FORMATTED := ledger_app migrations tests/conftest.py tests/fixtures tests/toolchain tests/chain tests/api tests/db tests/console tests/deploy tests/signing tests/replicas
CONTRACT_INPUTS := $(shell find contracts -path contracts/.cache -prune -o \( -type d -o -name '*.sol' \) -print 2>/dev/null)

.PHONY: help setup run test test-contracts test-service compile lint format clean distclean
.PHONY: bench bench-quick demo endings soak chaos failover replicas fuzz-api fuzz slither

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

setup: $(STAMP_PYTHON) $(STAMP_NPM) $(SOLC) $(STAMP_COMPILE) $(STAMP_CONSOLE)

$(STAMP_PYTHON): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	grep -q '^# make setup: toolchain' $(VENV)/bin/activate || printf '%s\n' \
	  '# make setup: toolchain for a manual `ape compile` / `ape test`' \
	  'export SOLCX_BINARY_PATH="$(SOLCX_BINARY_PATH)"' \
	  'export PATH="$(ANVIL_DIR):$$PATH"' >> $(VENV)/bin/activate
	touch $@

# npm ci wants the lock to list anvil's package for every platform, but the
# registry this project reaches serves only linux-amd64's, so npm leaves the
# others out of the lock and then npm ci refuses its own lock. npm install
# honours the lock's versions and integrity hashes as well; cmp checks it
# changed nothing.
$(STAMP_NPM): package.json package-lock.json
	@tmp=$$(mktemp -d) && cp package-lock.json $$tmp/lock && \
	echo "npm ci" && \
	if ! npm ci --no-audit --no-fund > $$tmp/ci.log 2>&1; then \
	  grep -m4 'Missing:' $$tmp/ci.log || cat $$tmp/ci.log; \
	  echo "npm ci refused the lock (above); npm install with the same lock instead"; \
	  npm install --no-audit --no-fund; \
	fi && \
	cmp $$tmp/lock package-lock.json && rm -rf $$tmp
	touch $@

# After the Python set: slither-analyzer brings solc-select, whose own `solc` script
# (it downloads compilers) would otherwise sit in .venv/bin where the launcher goes.
$(SOLC): toolchain/install-solc.sh package.json $(STAMP_NPM) $(STAMP_PYTHON)
	toolchain/install-solc.sh

$(STAMP_COMPILE): $(CONTRACT_INPUTS) ape-config.yaml $(SOLC) $(STAMP_PYTHON)
	ape compile
	mkdir -p $(@D) && touch $@

# Built into a fresh directory and swapped in, so a running service never serves half a build.
$(STAMP_CONSOLE): $(CONSOLE_INPUTS) $(STAMP_NPM)
	rm -rf console/dist.new && mkdir -p console/dist.new
	node_modules/.bin/esbuild console/src/main.js --bundle --format=esm --target=es2022 \
	  --minify --sourcemap --log-level=warning --outfile=console/dist.new/app.js
	cp console/index.html console/style.css console/dist.new/
	mkdir -p console/dist.new/swagger-ui
	cp $(addprefix node_modules/swagger-ui-dist/,$(SWAGGER_UI_FILES)) console/dist.new/swagger-ui/
	rm -rf console/dist && mv console/dist.new console/dist
	touch $@

compile: $(STAMP_PYTHON) $(STAMP_NPM) $(SOLC)
	ape compile
	mkdir -p .build && touch $(STAMP_COMPILE)

run: setup
	ledger-app run

# Talks to the running service over HTTP only (LEDGER_API, default :8000).
demo: $(STAMP_PYTHON)
	python scripts/demo.py

# The endings other than payment at maturity, on one root (the same way: HTTP only).
endings: $(STAMP_PYTHON)
	python scripts/endings.py

# Both suites run even when the first fails, so one run reports everything.
test: setup
	@status=0; \
	$(MAKE) --no-print-directory test-contracts || status=$$?; \
	$(MAKE) --no-print-directory test-service || status=$$?; \
	exit $$status

# Skipped only while tests/contracts holds no test file yet.
# ape-foundry's anvils write old blocks' states under ~/.foundry/anvil/tmp and never
# delete them (tens of GB over a contract run); the directories this run added go after
# it, pass or fail. (ledger_app's own node keeps its cache beside its state file.)
ANVIL_TMP := $(HOME)/.foundry/anvil/tmp
test-contracts: setup
	@if find tests/contracts -name 'test_*.py' 2>/dev/null | grep -q .; then \
	  before=$$(ls $(ANVIL_TMP) 2>/dev/null || true); status=0; \
	  echo "ape test tests/contracts"; ape test tests/contracts || status=$$?; \
	  for dir in $$(ls $(ANVIL_TMP) 2>/dev/null || true); do \
	    grep -qxF "$$dir" <<< "$$before" || rm -rf "$(ANVIL_TMP)/$$dir"; \
	  done; \
	  exit $$status; \
	else \
	  echo "tests/contracts has no test files yet: ape test skipped"; \
	fi

# -p no:ape_test: plain pytest would auto-load ape's plugin, which connects
# to a network; the service tests start their own anvil processes.
test-service: setup
	pytest -p no:ape_test tests --ignore=tests/contracts

# Not part of `make test`: benchmarks report, they never fail on a timing (issue 9).
bench: setup
	python -m bench.run --mode full

bench-quick: setup
	python -m bench.run --mode quick

# The soak of `make test` (60 s) for 10 minutes; the figures land in var/soak-report.json.
soak: setup
	LEDGER_SOAK_SECONDS=600 LEDGER_SOAK_REPORT=$(CURDIR)/var/soak-report.json \
	  pytest -p no:ape_test tests/load -s

# The crash-safety suite of `make test` (4 service and 2 node kills) with many more kills.
chaos: setup
	LEDGER_CHAOS_SERVICE_KILLS=$${LEDGER_CHAOS_SERVICE_KILLS:-20} \
	  LEDGER_CHAOS_NODE_KILLS=$${LEDGER_CHAOS_NODE_KILLS:-5} \
	  pytest -p no:ape_test tests/faults/test_crash_safety.py -s

# The failover test of `make test` (one kill) with the two nodes taking turns (issue 22).
failover: setup
	LEDGER_FAILOVER_ROUNDS=$${LEDGER_FAILOVER_ROUNDS:-10} \
	  pytest -p no:ape_test tests/faults/test_failover.py -s

# The replica test of `make test` (12 clients, 20 s) at the issue's size (issue 22).
replicas: setup
	LEDGER_REPLICAS_WRITERS=$${LEDGER_REPLICAS_WRITERS:-50} \
	  LEDGER_REPLICAS_SECONDS=$${LEDGER_REPLICAS_SECONDS:-120} \
	  pytest -p no:ape_test tests/replicas/test_replicas.py -s

# The API fuzzing of `make test` with many examples per operation and role (issue 10).
fuzz-api: setup
	LEDGER_API_FUZZ_EXAMPLES=$${LEDGER_API_FUZZ_EXAMPLES:-50} pytest -p no:ape_test tests/api/test_fuzz_openapi.py -s

# The contract property suites of `make test` at length (issue 10). Each suite reads its
# own counts; the figures above are the sequences each runs here.
fuzz: setup
	LEDGER_FUZZ_EXAMPLES=600 LEDGER_FUZZ_STEPS=20 ape test -s \
	  tests/contracts/test_receivable_properties.py tests/contracts/test_financing_properties.py
	LEDGER_FUZZ_EXAMPLES=400 LEDGER_FUZZ_STEPS=15 ape test -s tests/contracts/test_settlement_properties.py
	LEDGER_LEDGER_EXAMPLES=400 LEDGER_LEDGER_STEPS=30 ape test -s tests/contracts/test_ledger_properties.py
	LEDGER_RISK_EXAMPLES=400 LEDGER_RISK_STEPS=40 ape test -s tests/contracts/test_risk_properties.py

# Slither's settings (the offline solc, the OpenZeppelin remapping) are in slither.config.json;
# accepted findings are in slither.triage.json or next to the code, each with its reason.
slither: setup
	slither contracts/ --fail-none
	slither-check-erc contracts/SettlementToken.sol SettlementToken --erc ERC20 \
	  --solc $(SOLC) --solc-remaps @openzeppelin/=node_modules/@openzeppelin/
	pytest -p no:ape_test tests/security/test_static_analysis.py

lint: $(STAMP_PYTHON)
	ruff check .
	ruff format --check $(FORMATTED)

format: $(STAMP_PYTHON)
	ruff check --fix $(FORMATTED)
	ruff format $(FORMATTED)

clean:
	rm -rf .build .pytest_cache .ruff_cache contracts/.cache

distclean: clean
	rm -rf .venv node_modules
