"""A small credit-like frame and pipeline shared by the serialization and ONNX tests."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["income", "age"]


def credit_frame() -> pl.DataFrame:
    """300 applicants: a float with nulls, an integer, a string with nulls (shared with the ONNX
    tests)."""
    rng = np.random.default_rng(7)
    rows = 300
    income = rng.lognormal(10, 0.5, rows)
    return pl.DataFrame(
        {
            "income": np.where(rng.random(rows) < 0.1, np.nan, income),
            "age": rng.integers(18, 80, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows).tolist(),
        }
    ).with_columns(
        pl.col("income").fill_nan(None),
        pl.when(pl.col("age") % 11 == 0).then(None).otherwise(pl.col("city")).alias("city"),
    )


def credit_labels(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    score = frame["age"].to_numpy() / 40 + (frame["city"] == "paris").fill_null(False).to_numpy()
    return {
        "binary": (score > 1.3).astype(int),
        "multiclass": np.array(["low", "mid", "high"])[np.digitize(score, [1.0, 1.6])],
        "regression": score * 100.0,
    }


def preprocessing() -> ColumnTransformer:
    numeric = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    return ColumnTransformer(
        [("num", numeric, NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]
    )


def pipeline(model: object) -> Pipeline:
    return Pipeline([("pre", preprocessing()), ("model", model)])
