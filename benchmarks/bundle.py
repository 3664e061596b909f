"""Bundle build time and size for a 1M-row training set (the standard frame with a target).

The model is fitted outside the timing (training is the user's cost, not tether's); what is
timed is ``Bundle.build`` with its phases (the lineage records them), ``save`` and ``load``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks.report import write_table
from benchmarks.synthetic import standard_frame
from tether.bundle import Bundle

TRAIN_ROWS = 1_000_000
VALID_ROWS = 200_000


def with_target(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """A binary target driven by three numeric columns and one categorical."""
    rng = np.random.default_rng(seed)
    logit = (
        0.02 * frame["num_00"].fill_null(0).to_numpy()
        + 0.5 * frame["num_01"].fill_null(1).to_numpy()
        - 1.5
        + 0.8 * (frame["cat_3"] == "c1").fill_null(False).to_numpy()
    )
    late = rng.random(frame.height) < 1 / (1 + np.exp(-logit))
    return frame.with_columns(pl.Series("late", late.astype(np.int64)))


def model(estimator: object, numeric: list[str], categorical: list[str]) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)])


def bench_bundle() -> None:
    train = with_target(standard_frame(TRAIN_ROWS, seed=0), seed=0)
    valid = with_target(standard_frame(VALID_ROWS, seed=1), seed=1)
    numeric = [c for c in train.columns if c.startswith("num_")]
    categorical = ["cat_1", "cat_2", "cat_3", "cat_4"]
    features = numeric + categorical
    rows = []
    for name, estimator in (
        ("LogisticRegression", LogisticRegression(max_iter=200)),
        ("HistGradientBoosting", HistGradientBoostingClassifier(max_iter=50, random_state=0)),
    ):
        start = time.perf_counter()
        fitted = model(estimator, numeric, categorical).fit(
            train.select(features), train["late"].to_numpy()
        )
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        bundle = Bundle.build(
            fitted, train=train, valid=valid, target="late", segments=["cat_3"], seed=0
        )
        build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            bundle.save(Path(tmp) / "b")
            save_s = time.perf_counter() - start
            size = sum(f.stat().st_size for f in (Path(tmp) / "b").rglob("*") if f.is_file())
            start = time.perf_counter()
            Bundle.load(Path(tmp) / "b", version=bundle.version)
            load_s = time.perf_counter() - start
        phases = bundle.lineage["build"]["seconds"]
        rows.append(
            {
                "model": name,
                "fit (s, not tether)": fit_s,
                "Bundle.build (s)": build_s,
                "phases (s)": ", ".join(f"{k} {v:.2f}" for k, v in phases.items()),
                "size (MB)": size / 1e6,
                "save (s)": save_s,
                "load + verify (s)": load_s,
                "online path": bundle.online_path,
            }
        )
    write_table(
        "bundle",
        f"Bundle build for {TRAIN_ROWS:,} training rows x {len(features)} features, "
        f"{VALID_ROWS:,} validation rows",
        rows,
        "Standard frame (20 numeric, 4 categorical columns with 2% missing) with a planted "
        "binary target. Build includes contract inference, the reference profile, scores and "
        "their profile, 200 bootstrap resamples of every metric overall and per cat_3 value, "
        "calibration, permutation importance (5,000 rows x 5 repeats), serialization, ONNX "
        "conversion with parity on 20,000 validation rows and edge rows, content hashes of "
        "both data sets, and the environment.",
    )
