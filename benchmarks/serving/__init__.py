"""Serving benchmark: tether's server against bare FastAPI endpoints, loaded by wrk from a second
process (``python -m benchmarks.serving``; the table goes to ``benchmarks/results/serving.md``).
"""

from benchmarks.serving.run import bench_serving

__all__ = ["bench_serving"]
