"""Benchmarks (`make bench`, `make bench-replicas`): scripts run from the repository root; shared helpers in
wrk.py and sse.py."""
