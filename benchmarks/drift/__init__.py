"""Drift benchmarks: tether.drift against a polars floor, Evidently and NannyML."""
