"""Logged traffic for the monitor tests: a small real bundle (``tests/serve/serve_data.py``)
serving days of flight-like records, some shifted, labels joined later."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
from serve_data import FEATURES, build, flights

from tether.bundle import Bundle
from tether.store import LabelRecord, PredictionRecord, PredictionStore

__all__ = ["FEATURES", "START", "build", "day_of_traffic", "flights", "log_day"]

START = datetime(2024, 5, 1, tzinfo=UTC)
"""Midnight of the first logged day."""


def day_of_traffic(rows: int, seed: int, *, shift: float = 0.0, flip: bool = False) -> pl.DataFrame:
    """One day of flights; ``shift`` stretches distances (covariate shift), ``flip`` inverts
    the label of long flights (concept drift: the same inputs now mean something else)."""
    frame = flights(rows, seed)
    if shift:
        frame = frame.with_columns(pl.col("distance") * (1 + shift))
    if flip:
        long = pl.col("distance").fill_null(0) > 1000
        frame = frame.with_columns(
            pl.when(long).then(1 - pl.col("late")).otherwise(pl.col("late")).alias("late")
        )
    return frame


def log_day(
    store: PredictionStore,
    bundle: Bundle,
    frame: pl.DataFrame,
    day: int,
    *,
    model: str = "late",
    labels: bool = True,
) -> list[str]:
    """Score ``frame`` with ``bundle``, log it as served on ``day`` (0 = :data:`START`), evenly
    over the day, and join its labels when ``labels``; the ids, in order."""
    outputs = bundle.predict(frame)
    start = START + timedelta(days=day)
    step = timedelta(days=1) / max(frame.height, 1)
    ids = [f"d{day}-{i}" for i in range(frame.height)]
    records = [
        PredictionRecord(
            ids[i],
            model,
            bundle.version,
            start + i * step,
            {k: v for k, v in row.items() if k in FEATURES},
            {"prediction": out["prediction"], "score": out["score"]},
            "ok",
            latency_ms={"total": 1.0},
        )
        for i, (row, out) in enumerate(
            zip(frame.iter_rows(named=True), outputs.iter_rows(named=True), strict=True)
        )
    ]
    store.log(records)
    if labels:
        store.add_labels([LabelRecord(i, int(y)) for i, y in zip(ids, frame["late"], strict=True)])
    return ids


def labels_for(ids: list[str], frame: pl.DataFrame) -> list[LabelRecord]:
    """Labels of logged ``ids`` from ``frame``'s ``late`` column."""
    return [LabelRecord(i, int(y)) for i, y in zip(ids, np.asarray(frame["late"]), strict=True)]
