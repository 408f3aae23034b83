# The embeddable widget (widget/: served by the app, see chatbot/routes/assets.py) and its Shopify app embed
# (plugins/shopify/). Included by the root Makefile (-include mk/*.mk); their tools come with `make deps`
# (npm ci: axe-core, liquidjs, @shopify/theme-check-node; Chromium from apt, see mk/clients.mk).

SHOPIFY_EXTENSION := plugins/shopify/extensions/chatbot-widget

.PHONY: lint-widget widget-size

lint: lint-widget

lint-widget: node_modules/.package-lock.json ## the widget's scripts parse; Shopify's Theme Check finds no error in the app embed
	node --check widget/loader.js
	node --experimental-default-type=module --check widget/panel.js
	node tests/e2e/widget/shopify.mjs report $(CURDIR)/$(SHOPIFY_EXTENSION)

widget-size: ## the widget's loader and panel, raw and gzipped (the loader must stay under 10,000 bytes gzipped)
	@for f in widget/loader.js widget/panel.js; do \
		printf '%-18s %6d bytes, %5d gzipped\n' $$f $$(wc -c <$$f) $$(gzip -9c $$f | wc -c); done
