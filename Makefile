# rasterpipe — `make demo` and `make test` do all the set-up a fresh machine needs.
SHELL := /bin/bash
NODE_BUILD_ENV := npm_config_build_from_source=true npm_config_shared_gdal=true

# The runtime. rasterpipe needs Node.js 22.19 or newer (undici 8); a system Node that new is used as it
# is. Otherwise `make setup` brings Node $(NODE_VERSION) (the active LTS) from the npm registry into
# .runtime/: the platform package carries the binary and the headers gdal-async is compiled against.
NODE_VERSION := 24.21.0
RUNTIME := .runtime
NODE_OK := $(shell node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)' 2>/dev/null && echo yes)
ifeq ($(NODE_OK),yes)
  NODE_ID := $(shell node --version | tr -d v)
  # Compile against this Node's own headers: an npmrc `nodedir` (this machine's says /usr) may be another
  # Node's, and the addon would then fail to load (NODE_MODULE_VERSION mismatch).
  NODE_PREFIX := $(shell node -p 'require("path").resolve(process.execPath, "../..")')
  ifneq ($(wildcard $(NODE_PREFIX)/include/node/node.h),)
    export npm_config_nodedir := $(NODE_PREFIX)
  endif
else
  PLATFORM_PKG := node-$(shell uname -s | tr A-Z a-z)-$(shell uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
  NODE_HOME := $(CURDIR)/$(RUNTIME)/node_modules/$(PLATFORM_PKG)
  RUNTIME_STAMP := $(RUNTIME)/.installed-$(NODE_VERSION)
  NODE_ID := $(NODE_VERSION)
  # Every recipe (npm, npx, node, the tests' child processes) runs on that Node; native builds use its headers.
  export PATH := $(NODE_HOME)/bin:$(PATH)
  export npm_config_nodedir := $(NODE_HOME)
endif
# Node reads no system CA store by default: behind a TLS-inspecting proxy whose CA is installed system-wide,
# npm fails with SELF_SIGNED_CERT_IN_CHAIN (or falls back to stale cache after a minute per request). Node
# is given the system bundle as well, unless told otherwise.
SYSTEM_CA := /etc/ssl/certs/ca-certificates.crt
ifeq ($(origin NODE_EXTRA_CA_CERTS),undefined)
  ifneq ($(wildcard $(SYSTEM_CA)),)
    export NODE_EXTRA_CA_CERTS := $(SYSTEM_CA)
  endif
endif
# gdal-async is a native addon: rebuilt when the version of the Node it runs on changes (whichever Node
# that is: the same version from .runtime/ or the system is the same build).
STAMP := node_modules/.rasterpipe-setup-node-$(NODE_ID)
SOURCES := $(shell find lib test fixtures bench -name '*.ts' 2>/dev/null) tsconfig.json

.PHONY: setup build check test demo bench bench-report lint clean fixtures

setup: $(STAMP)

$(RUNTIME_STAMP):
	@echo "setup: this Node is older than 22.19; installing Node $(NODE_VERSION) for the project into $(RUNTIME)/"
	rm -rf $(RUNTIME) && mkdir -p $(RUNTIME) && echo '{"private": true}' > $(RUNTIME)/package.json
	cd $(RUNTIME) && npm install --no-save --no-package-lock --no-audit --no-fund $(PLATFORM_PKG)@$(NODE_VERSION)
	@touch $@

# GDAL comes from the system: gdal-async is built against it (its prebuilt binaries are not reachable
# everywhere, and building its bundled GDAL takes over an hour).
$(STAMP): package.json package-lock.json $(RUNTIME_STAMP)
	@command -v gdal-config >/dev/null && command -v gdal_translate >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "setup: installing GDAL from Debian packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgdal-dev gdal-bin >/dev/null; \
	  else \
	    echo "setup: GDAL is missing; install it first:" >&2; \
	    echo "  sudo apt-get install -y libgdal-dev gdal-bin    # Debian/Ubuntu" >&2; \
	    echo "  brew install gdal                               # macOS" >&2; \
	    exit 2; \
	  fi; }
	@echo "setup: building on Node $$(node --version)"
	rm -f node_modules/.rasterpipe-setup-*
	$(NODE_BUILD_ENV) npm ci --no-audit --no-fund
	@touch $(STAMP)

build: dist/.built

dist/.built: $(STAMP) $(SOURCES)
	npx tsc -p tsconfig.json
	@touch $@

# The fast tests, in well under a minute: test/*.unit.test.ts, which start no rasterpipe process and no
# fixture server (pure parts, fakes, GDAL in this process, at most a bare loopback socket).
check: build
	node --test --test-concurrency=2 'dist/test/*.unit.test.js'

# Every test file, several at a time (TEST_JOBS of them; the cores + 1 by default), the longest first:
# test/support/suite.ts. `make test TEST_JOBS=1` runs them one by one.
# The report's test opens its page in Debian's chromium: installed here as root when missing (as GDAL is by
# setup); elsewhere that test is skipped, saying why (under CI=true it fails instead).
test: build
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "test: installing chromium from Debian packages (test/report.test.ts opens a page in it)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "test: apt-get could not install chromium: test/report.test.ts will be skipped" >&2; \
	  else \
	    echo "test: chromium is missing: test/report.test.ts will be skipped (sudo apt-get install -y chromium)" >&2; \
	  fi; }
	node dist/test/support/suite.js

demo: build
	node dist/fixtures/demo.js

# The bench's "10,000 points across 100 COGs" section alone (against gdallocationinfo /vsicurl/), into
# bench/RESULTS-points.md.
.PHONY: bench-points
bench-points: build
	node dist/bench/run.js --only points --out bench/RESULTS-points.md

# The bench's Python peer (the seed article's pipeline) needs rasterio, aiohttp, tqdm and click: from Debian's
# packages, for /usr/bin/python3, installed here as root (as GDAL is by setup); otherwise that peer is skipped.
# BENCH_QUICK=1 make bench: one run of fewer records, the peers and the points only, into bench/RESULTS-quick.md.
BENCH_PY_PACKAGES := python3-rasterio python3-aiohttp python3-tqdm python3-click
bench: build
	@for py in /usr/bin/python3 python3; do $$py -c 'import rasterio, aiohttp, tqdm, click' 2>/dev/null && exit 0; done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "bench: installing the Python peer's packages from Debian: $(BENCH_PY_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_PY_PACKAGES) >/dev/null \
	    || echo "bench: apt-get could not install them: the article's Python pipeline will be skipped" >&2; \
	else \
	  echo "bench: no python3 here imports rasterio, aiohttp, tqdm and click: the article's Python pipeline will be skipped" >&2; \
	  echo "  (sudo apt-get install -y $(BENCH_PY_PACKAGES) to include it)" >&2; \
	fi
	node dist/bench/run.js

# `rasterpipe report` over 10,000 records (bench/report.ts): its build time and page size, into bench/RESULTS.md's
# "Report" section.
bench-report: build
	node dist/bench/report.js

lint: $(STAMP)
	npx tsc -p tsconfig.json --noEmit
	npx eslint .
	npx depcruise lib --config .dependency-cruiser.cjs

fixtures: build
	node dist/fixtures/make.js
	node dist/fixtures/stac.js

clean:
	rm -rf dist output
