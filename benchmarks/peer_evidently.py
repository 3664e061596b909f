"""Evidently's ``DataDriftPreset`` with its defaults, run in ``benchmarks/.venv-evidently``.

Usage: ``python peer_evidently.py REFERENCE.parquet CURRENT.parquet [CURRENT.parquet ...]``.
Loads the reference once, then each current file, and runs
``Report([DataDriftPreset()]).run(current, reference)`` (Evidently 0.7's API: current first).
Prints one JSON line: the versions, the peak RSS of this process, and per current file the load
and compute seconds (wall, and CPU seconds of this process, which a busy machine inflates less)
and the columns Evidently flags as drifted (its per-column verdict:
for distances ``score >= threshold``, for p-value tests ``p < threshold``, exactly as Evidently's
own stat tests decide).
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")

import json
import resource
import sys
import time
import warnings

import pandas as pd

# p-value tests flag when the p-value is below the threshold (K-S and Cramer-von Mises at or
# below); every other default (Wasserstein, Jensen-Shannon, ...) flags at or above it.
P_VALUE_METHODS = {
    "K-S p_value": "<=",
    "Cramer-von Mises": "<=",
    "chi-square p_value": "<",
    "Z-test p_value": "<",
    "Anderson-Darling": "<",
    "Epps-Singleton": "<",
    "Fisher's Exact test": "<",
    "g_test": "<",
    "Mann-Whitney U-rank test": "<",
    "t_test": "<",
    "Total-Variation-Distance": "<",
    "empirical_mmd": "<",
}


def flagged(snapshot: object) -> tuple[list[str], dict[str, int]]:
    """The columns Evidently calls drifted, and how many columns each method was chosen for."""
    columns: list[str] = []
    methods: dict[str, int] = {}
    for metric in snapshot.dict()["metrics"]:  # type: ignore[attr-defined]
        config = metric["config"]
        if not config["type"].endswith(":ValueDrift"):
            continue
        method, threshold, value = config["method"], config["threshold"], metric["value"]
        methods[method] = methods.get(method, 0) + 1
        op = P_VALUE_METHODS.get(method)
        drifted = (
            value <= threshold if op == "<=" else value < threshold if op else value >= threshold
        )
        if drifted:
            columns.append(config["column"])
    return columns, methods


def main() -> None:
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    reference_path, *current_paths = sys.argv[1:]
    started = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    reference_load = time.perf_counter() - started
    trials = []
    for path in current_paths:
        started = time.perf_counter()
        current = pd.read_parquet(path)
        load = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        columns, methods = flagged(snapshot)
        compute, cpu = time.perf_counter() - started, time.process_time() - cpu
        trials.append(
            {
                "current": os.path.basename(path),
                "rows_current": len(current),
                "load_s": reference_load + load,
                "compute_s": compute,
                "compute_cpu_s": cpu,
                "wall_s": reference_load + load + compute,
                "flagged": columns,
                "methods": methods,
            }
        )
        del current, snapshot
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "tool": "evidently",
        "versions": {"evidently": evidently.__version__, "pandas": pd.__version__},
        "rows_reference": len(reference),
        "peak_rss_mb": peak,
        "trials": trials,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
