"""Seeded flight-like data and small real bundles shared by the server tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tether.bundle import Bundle
from tether.contract import Contract

NUMERIC = ["distance", "dep_hour"]
CATEGORICAL = ["carrier", "origin"]
FEATURES = NUMERIC + CATEGORICAL
RECORD = {"distance": 800.0, "dep_hour": 18.0, "carrier": "EV", "origin": "JFK"}
"""A valid record of every bundle built here."""


def flights(rows: int, seed: int) -> pl.DataFrame:
    """Flight-like rows: a late flag driven by distance, hour and carrier, with missing values."""
    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 500.0, rows)
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


def fitted(train: pl.DataFrame, c: float = 1.0) -> Pipeline:
    """Imputer and scaler on numbers, one-hot on strings, logistic regression, fitted."""
    pre = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    model = Pipeline([("pre", pre), ("model", LogisticRegression(C=c, max_iter=500))])
    return model.fit(train.select(FEATURES), train["late"].to_numpy())


def build(seed: int = 1, c: float = 1.0, **options: object) -> Bundle:
    """A binary bundle whose contract flags unseen carriers, coerces text distances and rejects
    everything else."""
    train, valid = flights(2_000, seed), flights(1_000, seed + 100)
    inferred = Contract.infer(train, target="late", id_column="flight_id")
    policies = {"carrier": "flag", "distance": "coerce"}
    contract = Contract(
        {
            name: dataclasses.replace(spec, policy=policies.get(name, spec.policy))
            for name, spec in inferred.columns.items()
        }
    )
    return Bundle.build(
        fitted(train, c),
        train=train,
        valid=valid,
        target="late",
        id_column="flight_id",
        contract=contract,
        owner="ops-analytics",
        on_call="oncall@example.com",
        n_resamples=20,
        importance_rows=500,
        importance_repeats=1,
        parity_rows=1_000,
        seed=7,
        **options,
    )
