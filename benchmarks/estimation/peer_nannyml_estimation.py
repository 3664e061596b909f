"""NannyML's CBPE and DLE on the estimation benchmark's chunks, run in ``benchmarks/.venv-nannyml``.

Usage: ``python peer_nannyml_estimation.py METHOD REPEATS REFERENCE.parquet ANALYSIS.parquet
METRICS [FEATURES]`` with METHOD ``cbpe`` (binary classification) or ``dle`` (regression),
METRICS and FEATURES comma-separated. Both files hold the columns ``score`` (positive-class
probability or prediction), ``chunk`` (an integer) and, for DLE, the features; the reference
also holds ``y``, the label (the analysis file has none, as in production). Rows are chunked
by ``chunk`` through NannyML's period chunker on a pseudo-timestamp (one month per chunk), so
NannyML sees exactly the benchmark's windows; the reference is cut the same way into the 10
chunks its alert thresholds come from.

Prints one JSON line: versions, fit and estimate seconds (wall, data already in memory, best of
REPEATS runs), and per analysis chunk the estimate, sampling error and confidence band of each
metric.
"""

from __future__ import annotations

import os

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import json
import math
import sys
import time
import warnings
from typing import Any

import pandas as pd


def with_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    start = pd.Timestamp("2000-01-01")
    months = {k: start + pd.DateOffset(months=int(k)) for k in frame["chunk"].unique()}
    return frame.assign(timestamp=frame["chunk"].map(months))


def make(method: str, metrics: list[str], features: list[str]) -> Any:
    import nannyml as nml

    if method == "cbpe":
        return nml.CBPE(
            y_pred_proba="score",
            y_pred="prediction",
            y_true="y",
            timestamp_column_name="timestamp",
            metrics=metrics,
            chunk_period="M",
            problem_type="classification_binary",
        )
    return nml.DLE(
        feature_column_names=features,
        y_pred="score",
        y_true="y",
        timestamp_column_name="timestamp",
        metrics=metrics,
        chunk_period="M",
    )


def main() -> None:
    import nannyml as nml

    warnings.filterwarnings("ignore")
    method, repeats, reference_path, analysis_path, metrics_arg, *rest = sys.argv[1:]
    metrics = metrics_arg.split(",")
    features = rest[0].split(",") if rest else []
    reference = with_timestamps(pd.read_parquet(reference_path))
    analysis = with_timestamps(pd.read_parquet(analysis_path).drop(columns=["y"], errors="ignore"))
    if method == "cbpe":
        reference["prediction"] = (reference["score"] >= 0.5).astype(int)
        analysis["prediction"] = (analysis["score"] >= 0.5).astype(int)
    elif method != "dle":
        raise SystemExit(f"unknown method {method!r}; choose cbpe or dle")
    fit_s = estimate_s = math.inf
    for _ in range(int(repeats)):
        started = time.perf_counter()
        estimator = make(method, metrics, features)
        estimator.fit(reference)
        fit_s = min(fit_s, time.perf_counter() - started)
        started = time.perf_counter()
        result = estimator.estimate(analysis)
        estimate_s = min(estimate_s, time.perf_counter() - started)
    frame = result.filter(period="analysis").to_df()
    chunks = []
    for _, row in frame.iterrows():
        entry: dict[str, object] = {}
        for metric in metrics:
            entry[metric] = {
                field: _number(row[(metric, field)])
                for field in (
                    "value",
                    "sampling_error",
                    "lower_confidence_boundary",
                    "upper_confidence_boundary",
                )
            }
        chunks.append(entry)
    print(
        json.dumps(
            {
                "tool": "nannyml",
                "method": method,
                "versions": {"nannyml": nml.__version__, "pandas": pd.__version__},
                "fit_s": fit_s,
                "estimate_s": estimate_s,
                "chunks": chunks,
            }
        )
    )


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


if __name__ == "__main__":
    main()
