"""Benchmarks: figures measured against a ceiling taken in the same run."""
