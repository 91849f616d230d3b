# Browser SDK targets; included from the top-level Makefile, so paths are from the repo root.
SDK_DIR := sdk/browser
SDK_NODE_MODULES := $(SDK_DIR)/node_modules/.package-lock.json
SDK_SOURCES := $(wildcard $(SDK_DIR)/src/*.js $(SDK_DIR)/src/*/*.js) $(SDK_DIR)/scripts/build.mjs $(SDK_DIR)/package.json
SDK_BUNDLE := $(SDK_DIR)/dist/analytics.js

.PHONY: sdk-build sdk-test chromium

sdk-build: $(SDK_BUNDLE)
	@:

sdk-test: $(SDK_NODE_MODULES)
	@cd $(SDK_DIR) && npm test --silent

# npm writes node_modules/.package-lock.json on install; a newer lockfile means reinstall.
$(SDK_NODE_MODULES): $(SDK_DIR)/package-lock.json
	@cd $(SDK_DIR) && npm ci --silent --no-audit --no-fund

$(SDK_BUNDLE): $(SDK_NODE_MODULES) $(SDK_SOURCES)
	@cd $(SDK_DIR) && npm run --silent build

# Debian's chromium, driven by playwright-core in tests/e2e/test_browser_sdk.py.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
