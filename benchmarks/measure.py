"""Timing helpers every benchmark uses: interleaved best-of timings and fresh-process runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def best_of(repeats: int, run: Callable[[], object]) -> float:
    return interleaved(repeats, run)[0]


def interleaved(rounds: int, *runs: Callable[[], object]) -> list[float]:
    """Best time of each of ``runs``, timed in turn within each round so that a burst of load
    on this shared machine hits them alike and their ratios stay meaningful."""
    best = [float("inf")] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def in_fresh_process(setup: str, work: str, result: str) -> dict[str, Any]:
    """Run ``work`` (one Python statement, after ``setup``) in a new interpreter.

    Returns ``seconds`` (of ``work`` alone), ``peak_rss_mb`` (the process's ``ru_maxrss``) and
    ``result``, the JSON value of the expression ``result`` evaluated after ``work``.
    """
    code = (
        f"import json, resource, time\n{setup}\n"
        f"started = time.perf_counter()\n{work}\n"
        "seconds = time.perf_counter() - started\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        f"print(json.dumps({{'seconds': seconds, 'peak_rss_mb': peak, 'result': {result}}}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])
