# posthog-js compatibility test (tests/e2e/test_posthog_js.py): the pinned posthog-js and
# playwright-core in tests/compat/posthog-js. Included from the top-level Makefile, so paths
# are from the repo root.
POSTHOG_JS_COMPAT_DIR := tests/compat/posthog-js
# npm ci writes node_modules/.package-lock.json; a lockfile newer than it means reinstall.
POSTHOG_JS_COMPAT_STAMP := $(POSTHOG_JS_COMPAT_DIR)/node_modules/.package-lock.json

.PHONY: posthog-js-compat-deps

posthog-js-compat-deps: $(POSTHOG_JS_COMPAT_STAMP)
	@:

$(POSTHOG_JS_COMPAT_STAMP): $(POSTHOG_JS_COMPAT_DIR)/package-lock.json
	@cd $(POSTHOG_JS_COMPAT_DIR) && npm ci --silent --no-audit --no-fund
	@touch $@
