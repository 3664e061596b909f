"""Seeded training data and fitted pipelines shared by the bundle tests."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["distance", "dep_hour"]
CATEGORICAL = ["carrier", "origin"]
FEATURES = NUMERIC + CATEGORICAL


def flights(rows: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    """Flight-like rows: a late flag driven by distance, hour and carrier, with missing values."""
    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 500.0, rows) + shift * 300
    hour = rng.integers(5, 23, rows).astype(np.float64)
    carrier = rng.choice(["AA", "B6", "DL", "UA", "EV"], rows, p=[0.3, 0.2, 0.2, 0.2, 0.1])
    origin = rng.choice(["EWR", "JFK", "LGA"], rows)
    logit = -1.0 + 0.12 * (hour - 14) + 0.0004 * (distance - 1000) + (carrier == "EV") * 1.2
    late = rng.random(rows) < 1 / (1 + np.exp(-logit))
    distance[rng.random(rows) < 0.02] = np.nan
    return pl.DataFrame(
        {
            "flight_id": np.arange(rows, dtype=np.int64) + seed * 1_000_000,
            "distance": distance,
            "dep_hour": hour,
            "carrier": carrier,
            "origin": origin,
            "late": late.astype(np.int64),
        }
    ).with_columns(pl.col("distance").fill_nan(None))


def pipeline(estimator: object | None = None, *, scale: bool = True) -> Pipeline:
    """Imputer (+ scaler) on numbers, one-hot on strings, then ``estimator`` (default LR).

    Trees need no scaling, and should not get it when served through ONNX: float32 scaling can
    move a value that sits exactly on a split point of an integer feature across it.
    """
    numeric = [("impute", SimpleImputer())] + ([("scale", StandardScaler())] if scale else [])
    pre = ColumnTransformer(
        [
            ("num", Pipeline(numeric), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    model = LogisticRegression(max_iter=500) if estimator is None else estimator
    return Pipeline([("pre", pre), ("model", model)])


def fitted(train: pl.DataFrame, estimator: object | None = None, *, scale: bool = True) -> Pipeline:
    """A pipeline fitted on ``train``'s features and late flag."""
    model = pipeline(estimator, scale=scale)
    return model.fit(train.select(FEATURES), train["late"].to_numpy())
