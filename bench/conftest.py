"""Benchmarks run with `--benchmark-enable`; in the test suite each runs once as a check."""
