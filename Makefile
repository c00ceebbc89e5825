# Two commands do everything on a fresh Debian machine (as root): `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
DEMO_OUT ?= out/demo
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

.PHONY: help setup system-deps sevenzip browser redis build demo test bench clean

help:
	@echo "make demo   set up, build and run the full pipeline on the bundled fixture"
	@echo "make test   set up, build and run the whole test suite"
	@echo "make bench  run the benchmarks (whole-département generated dataset)"

# System GDAL (gdal-async links it) and GDAL's command-line tools, only when missing.
system-deps:
	@if ! command -v gdal-config >/dev/null || ! command -v ogr2ogr >/dev/null; then \
	  echo "installing system GDAL (libgdal-dev, gdal-bin) with apt"; \
	  apt-get update -q && $(APT_INSTALL) libgdal-dev gdal-bin g++ make python3; \
	fi

# Debian's 7zip (7zz) reads IGN OCS GE archives (--ocsge) and writes them (fixtures ign), only when missing.
sevenzip:
	@command -v 7zz >/dev/null || { echo "installing 7zip (7zz) with apt"; apt-get update -q && $(APT_INSTALL) 7zip; }

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && $(APT_INSTALL) chromium fonts-dejavu-core; }

# npm ci when node_modules is older than the lockfile. gdal-async's installer (node-pre-gyp, then node-gyp)
# reads these two from the environment: build from source, linking the system GDAL instead of compiling its
# bundled copy (over an hour). They are set here rather than in .npmrc, where npm warns about them on every command.
GDAL_ASYNC_BUILD := npm_config_build_from_source=true npm_config_shared_gdal=true
node_modules/.installed: package-lock.json package.json | system-deps
	$(GDAL_ASYNC_BUILD) npm ci --no-audit --no-fund
	@touch $@

# Debian's redis-server for the queue tests (each test starts its own on a free loopback port), only when missing.
redis:
	@command -v redis-server >/dev/null || { apt-get update -q && $(APT_INSTALL) redis-server; }

setup: system-deps sevenzip node_modules/.installed

build: setup
	npm run --silent build

demo: build
	node dist/cli/bin.js run --config fixtures/demo.yml --out $(DEMO_OUT) --force
	@echo "open $(DEMO_OUT)/portraits/index.html, or the map: node dist/cli/bin.js serve $(DEMO_OUT)"

test: build browser redis
	npm run --silent typecheck
	npx vitest run --reporter=default --reporter=json --outputFile=.cache/vitest.json
	@node -e "const r = require('./.cache/vitest.json'); console.log(r.numPassedTests + ' passed, ' + r.numFailedTests + ' failed, ' + r.numPendingTests + ' skipped')"

bench: build
	npm run --silent bench

clean:
	rm -rf dist out
