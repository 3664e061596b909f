"""One-row latency of the online path: the native scikit-learn pipeline vs its ONNX form.

The model is the usual small pipeline (median imputer and scaler on the 20 numeric columns of
the standard frame, one-hot encoder on its 5 string columns, logistic regression) fitted on
5,000 rows. Each path scores one row per call, interleaved call by call so that load on this
shared machine hits all paths alike; p50 and p99 are over the calls. Run it with
``python -m benchmarks.online_path``; it prints a markdown table.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks.report import machine
from benchmarks.synthetic import standard_frame
from tether.bundle.onnx import OnnxScorer, check_parity, convert_to_onnx

TRAIN_ROWS = 5_000
CALLS = 1_000
WARMUP = 50


def fitted_pipeline(frame: pl.DataFrame) -> Pipeline:
    numeric = [name for name in frame.columns if name.startswith("num_")]
    strings = [name for name in frame.columns if name.startswith("cat_")]
    signal = frame.select(
        pl.col("num_02").fill_null(0.0) + (pl.col("cat_4") == "c1").fill_null(False)
    )
    target = (signal.to_series().to_numpy() > 0.3).astype(int)
    pre = ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numeric,
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), strings),
        ]
    )
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))]).fit(frame, target)


def latencies(paths: dict[str, Callable[[int], object]], rows: int) -> dict[str, np.ndarray]:
    """Seconds per call of each path, calling each in turn on the same row."""
    seconds = {name: np.empty(CALLS) for name in paths}
    for call in range(WARMUP + CALLS):
        for name, score in paths.items():
            started = time.perf_counter()
            score(call % rows)
            if call >= WARMUP:
                seconds[name][call - WARMUP] = time.perf_counter() - started
    return seconds


def main() -> None:
    frame = standard_frame(TRAIN_ROWS, seed=0)
    features = frame.columns
    model = fitted_pipeline(frame)
    conversion = convert_to_onnx(model, frame.head(1_000), features=features, task="binary")
    assert conversion.model is not None, conversion.reason
    scorer = OnnxScorer(conversion.model, conversion.inputs, task="binary")
    rows = standard_frame(1_000, seed=1)
    records = rows.to_dicts()
    one_row = [rows.slice(row, 1) for row in range(rows.height)]
    parity = check_parity(model.predict_proba(rows), scorer.score(rows), task="binary")
    paths: dict[str, Callable[[int], object]] = {
        "native, one-row frame": lambda row: model.predict_proba(one_row[row]),
        "native, dict -> frame": lambda row: model.predict_proba(
            pl.DataFrame([records[row]], schema=rows.schema)
        ),
        "ONNX score(one-row frame)": lambda row: scorer.score(one_row[row]),
        "ONNX score_record(dict)": lambda row: scorer.score_record(records[row]),
    }
    seconds = latencies(paths, rows.height)
    print(f"# One-row latency, {len(features)}-feature logistic pipeline\n")
    print(f"Measured on {machine()}; {CALLS} interleaved calls per path after {WARMUP} warm-up.\n")
    print("| path | p50 (us) | p99 (us) |\n|---|---|---|")
    for name, values in seconds.items():
        p50, p99 = np.percentile(values, [50, 99]) * 1e6
        print(f"| {name} | {p50:,.1f} | {p99:,.1f} |")
    native_p50 = np.median(seconds["native, one-row frame"])
    fast_p50 = np.median(seconds["ONNX score_record(dict)"])
    print(f"\nONNX record path is {native_p50 / fast_p50:,.0f}x faster at p50.")
    print(f"Parity on {parity.rows} rows: max |diff| {parity.max_abs_diff:.2e}, ok={parity.ok}.")


if __name__ == "__main__":
    main()
