"""Benchmarks (`make bench`, `make bench-replicas`): scripts run from the repository root."""
