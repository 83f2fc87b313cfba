"""Benchmarks: `python -m benchmarks.run` (make bench) runs every `*_bench.py` module."""
