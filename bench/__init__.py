"""Benchmarks run by `make bench` (each file a script; shared helpers in wrk.py and sse.py)."""
