# Metrics: the optional Prometheus of the compose stack (`docker compose --profile monitoring up -d`), and what its
# end-to-end tests need. Included by the root Makefile (-include mk/*.mk).

.PHONY: deps-monitoring

deps: deps-monitoring

deps-monitoring: deps-stack ## the stand-in Prometheus image (local/prometheus:latest) where Docker Hub is out of reach
	@# docker-sandbox builds it from Debian's prometheus package (Prometheus and promtool 2.53), laid out like
	@# prom/prometheus; elsewhere the official image is pulled when the profile is first started.
	@if [ -x $(DOCKER_SANDBOX) ]; then $(DOCKER_SANDBOX) base-images prometheus; fi
