"""Benchmarks (`make bench`): throughput and memory, never pass/fail."""
