"""One-row latency of the online path: the native scikit-learn pipeline vs its ONNX form.

The model is the usual small pipeline (median imputer and scaler on the 20 numeric columns of
the standard frame, one-hot encoder on its 5 string columns, logistic regression) fitted on
5,000 rows. Each path scores one row per call, interleaved call by call (in a random order per
round) so that load on this shared machine hits all paths alike; p50 and p99 are over the calls.
``make bench`` runs it as ``online``; the table goes to ``benchmarks/results/online-path.md``.
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

from benchmarks.report import write_table
from benchmarks.synthetic import standard_frame
from tether.bundle import Bundle
from tether.bundle.onnx import check_parity

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
    """Seconds per call of each path on the same row, the paths in a new random order every
    round: a call right after a heavy scikit-learn call finds cold caches, and a fixed order
    would hand that cost to one path."""
    seconds = {name: np.empty(CALLS) for name in paths}
    names = list(paths)
    rng = np.random.default_rng(0)
    for call in range(WARMUP + CALLS):
        for index in rng.permutation(len(names)):
            name = names[index]
            started = time.perf_counter()
            paths[name](call % rows)
            if call >= WARMUP:
                seconds[name][call - WARMUP] = time.perf_counter() - started
    return seconds


def bench_online_path() -> None:
    frame = standard_frame(TRAIN_ROWS, seed=0)
    target = (frame["num_02"].fill_null(0.0) > 0.3).cast(pl.Int64).alias("y")
    model = fitted_pipeline(frame)
    train = frame.with_columns(target)
    fast = Bundle.build(model, train=train, valid=train, target="y", n_resamples=20)
    native = Bundle.build(model, train=train, valid=train, target="y", n_resamples=20, onnx=False)
    scorer = fast._onnx
    assert scorer is not None, fast.metadata["onnx"]["reason"]
    rows = standard_frame(1_000, seed=1)
    records = rows.to_dicts()
    one_row = [rows.slice(row, 1) for row in range(rows.height)]
    online = np.array([fast.score_record(record) for record in records])
    parity = check_parity(model.predict_proba(rows)[:, 1], online, task="binary")
    paths: dict[str, Callable[[int], object]] = {
        "scikit-learn predict_proba, one-row frame": lambda row: model.predict_proba(one_row[row]),
        "bundle.predict_record, native path": lambda row: native.predict_record(records[row]),
        "bundle.predict_record, ONNX path": lambda row: fast.predict_record(records[row]),
        "OnnxScorer.score_record alone": lambda row: scorer.score_record(records[row]),
    }
    seconds = latencies(paths, rows.height)
    table = []
    for name, values in seconds.items():
        p50, p99 = np.percentile(values, [50, 99]) * 1e6
        table.append({"path": name, "p50 (µs)": p50, "p99 (µs)": p99})
    base = np.median(seconds["scikit-learn predict_proba, one-row frame"])
    onnx_p50 = np.median(seconds["bundle.predict_record, ONNX path"])
    write_table(
        "online-path",
        f"One-row scoring, {frame.width}-feature logistic pipeline (standard frame)",
        table,
        f"{CALLS} interleaved calls per path after {WARMUP} warm-up, rows cycling over 1,000 "
        f"unseen rows. The bundle's ONNX path is {base / onnx_p50:,.0f}x faster than calling "
        f"the scikit-learn pipeline at p50; the two agree to max |diff| "
        f"{parity.max_abs_diff:.1e} on those rows (parity ok: {parity.ok}).",
    )


if __name__ == "__main__":
    bench_online_path()
