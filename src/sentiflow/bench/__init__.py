"""Benchmarks behind `sentiflow bench`: figures are ratios against a baseline from the same run."""
