# rasterpipe — `make demo` and `make test` do all the set-up a fresh machine needs.
SHELL := /bin/bash
NODE_BUILD_ENV := npm_config_build_from_source=true npm_config_shared_gdal=true
STAMP := node_modules/.rasterpipe-setup
SOURCES := $(shell find lib test fixtures bench -name '*.ts' 2>/dev/null) tsconfig.json

.PHONY: setup build test demo bench lint clean fixtures

setup: $(STAMP)

# GDAL comes from the system: gdal-async is built against it (its prebuilt binaries are not reachable
# everywhere, and building its bundled GDAL takes over an hour).
$(STAMP): package.json package-lock.json
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
	$(NODE_BUILD_ENV) npm ci --no-audit --no-fund
	@touch $(STAMP)

build: dist/.built

dist/.built: $(STAMP) $(SOURCES)
	npx tsc -p tsconfig.json
	@touch $@

test: build
	node --test --test-concurrency=1 dist/test/*.test.js

demo: build
	node dist/fixtures/demo.js

bench: build
	node dist/bench/run.js

lint: $(STAMP)
	npx tsc -p tsconfig.json --noEmit
	npx eslint .

fixtures: build
	node dist/fixtures/make.js

clean:
	rm -rf dist output
