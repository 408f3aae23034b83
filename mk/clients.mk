# The clients: Postman collection (run by newman), WordPress plugin, and their end-to-end tests.
# Included by the root Makefile (-include mk/*.mk).

PLUGIN_SLUG := chatbot-faq
PLUGIN_DIR := plugins/wordpress/$(PLUGIN_SLUG)
PLUGIN_VERSION := $(shell sed -n 's/^ \* Version: *//p' $(PLUGIN_DIR)/$(PLUGIN_SLUG).php)
PLUGIN_BUILD := build/wordpress
PLUGIN_ZIP := $(PLUGIN_BUILD)/$(PLUGIN_SLUG)-$(PLUGIN_VERSION).zip
PLUGIN_PO := $(wildcard $(PLUGIN_DIR)/languages/*.po)
PLUGIN_MO := $(PLUGIN_PO:.po=.mo)
# What the tests need from Debian: WordPress, its database and PHP, a browser, msgfmt, fonts for screenshots.
CLIENTS_APT := wordpress wordpress-theme-twentytwentythree wordpress-l10n mariadb-server mariadb-client php-cli \
	php-mysql chromium gettext fonts-dejavu-core
NEWMAN := node_modules/.bin/newman

.PHONY: deps-clients wp-plugin wp-pot wp-mo lint-clients test-clients postman

deps: deps-clients
lint: lint-clients

deps-clients: node_modules/.package-lock.json ## install the clients' test tools: WordPress, MariaDB, PHP, Chromium (apt), newman and playwright-core (npm ci)
	@if dpkg-query -W -f='$${Status}\n' $(CLIENTS_APT) 2>/dev/null | grep -vq 'install ok installed' \
		|| [ "$$(dpkg-query -W -f='$${Status}\n' $(CLIENTS_APT) 2>/dev/null | wc -l)" -ne "$(words $(CLIENTS_APT))" ]; then \
		echo "apt-get install $(CLIENTS_APT)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CLIENTS_APT) >/dev/null; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

wp-pot: ## regenerate the plugin's translation template from its PHP sources (xgettext)
	cd $(PLUGIN_DIR) && xgettext --language=PHP --from-code=UTF-8 --add-comments=translators: \
		--keyword=__ --keyword=_e --keyword=esc_html__ --keyword=esc_html_e --keyword=esc_attr__ \
		--keyword=esc_attr_e --keyword=_x:1,2c --keyword=_n:1,2 --sort-by-file --package-name="Chatbot FAQ" \
		--package-version=$(PLUGIN_VERSION) --msgid-bugs-address="" --copyright-holder="chatbot-mvp" \
		-o languages/$(PLUGIN_SLUG).pot $(PLUGIN_SLUG).php uninstall.php includes/*.php
	cd $(PLUGIN_DIR) && sed -n 's/^ \* Description: *\(.*\)$$/\n#. Plugin description\nmsgid "\1"\nmsgstr ""/p' \
		$(PLUGIN_SLUG).php >> languages/$(PLUGIN_SLUG).pot
	msgmerge --quiet --update --backup=none --no-fuzzy-matching $(PLUGIN_PO) $(PLUGIN_DIR)/languages/$(PLUGIN_SLUG).pot

$(PLUGIN_DIR)/languages/%.mo: $(PLUGIN_DIR)/languages/%.po
	msgfmt --check -o $@ $<

wp-mo: $(PLUGIN_MO) ## compile the plugin's .po translations to .mo (msgfmt)

wp-plugin: $(PLUGIN_MO) ## build the plugin zip to upload in WordPress (build/wordpress/chatbot-faq-<version>.zip)
	rm -rf $(PLUGIN_BUILD)/$(PLUGIN_SLUG) $(PLUGIN_ZIP)
	mkdir -p $(PLUGIN_BUILD)
	cp -r $(PLUGIN_DIR) $(PLUGIN_BUILD)/$(PLUGIN_SLUG)
	cd $(PLUGIN_BUILD) && python3 -m zipfile -c $(notdir $(PLUGIN_ZIP)) $(PLUGIN_SLUG)
	@echo "built $(PLUGIN_ZIP): upload it in Plugins > Add New > Upload Plugin"

lint-clients: ## php -l and node --check over the plugin, msgfmt --check over its translations, JSON of the Postman files
	@command -v php >/dev/null || { echo "php is missing: run make deps-clients"; exit 1; }
	@set -e; for f in $$(find $(PLUGIN_DIR) -name '*.php'); do php -l "$$f" >/dev/null || { php -l "$$f"; exit 1; }; done
	node --check $(PLUGIN_DIR)/assets/js/chatbot-faq.js
	@for f in $(PLUGIN_PO); do msgfmt --check -o /dev/null "$$f"; done
	@for f in $(wildcard postman/*.json); do node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$$f"; done
	@echo "clients lint ok"

test-clients: install deps-clients ## the clients' tests: plugin files, newman, CORS through Nginx, WordPress in Chromium
	$(PY) -m pytest -q tests/clients tests/e2e/test_postman.py tests/e2e/test_cors.py tests/e2e/test_wordpress*.py

# `make up` writes the key to .env and the self-signed certificate to certs/: use them unless told otherwise.
POSTMAN_API_KEY = $(or $(API_KEY),$(shell sed -n 's/^API_KEY=//p' .env 2>/dev/null | tail -n 1))
POSTMAN_TLS = $(if $(wildcard certs/fullchain.pem),--ssl-extra-ca-certs certs/fullchain.pem,--insecure)

postman: node_modules/.package-lock.json ## run the Postman collection with newman against BASE_URL (default https://localhost) with API_KEY (default: .env's)
	@test -n "$(POSTMAN_API_KEY)" || { echo "no API_KEY: pass API_KEY=... or run make up (it writes .env)"; exit 1; }
	@$(NEWMAN) run postman/chatbot-mvp.postman_collection.json -e postman/chatbot-mvp.postman_environment.json \
		--env-var "baseUrl=$(or $(BASE_URL),https://localhost)" --env-var "apiKey=$(POSTMAN_API_KEY)" $(POSTMAN_TLS)
