"""The monitor's performance checks on their own: realized metrics against the bundle's
baseline, including baselines that were undefined at validation."""

from __future__ import annotations

import polars as pl
from monitor_data import build, day_of_traffic

from tether.monitor.quality import realized
from tether.monitor.segments import label_segments


def test_realized_metrics_keep_going_when_a_baseline_was_undefined() -> None:
    bundle = build(segments=["origin"])
    # precision has no value when validation predicted no positive: the table holds null
    bundle.metrics = bundle.metrics.with_columns(
        pl.when(pl.col("metric") == "precision").then(None).otherwise(pl.col("estimate"))
        .alias("estimate")
    )  # fmt: skip
    day = day_of_traffic(1_000, 7)
    labeled = bundle.predict(day).with_columns(label=day["late"], origin=day["origin"])
    labeled = label_segments(bundle, labeled, ["origin"])
    rows = realized(bundle, labeled, bundle.estimator(), segments=["origin"], min_rows=100)
    precision = [row for row in rows if row["metric"] == "precision"]
    assert len(precision) == 4  # overall and three airports
    assert all(row["baseline"] is None for row in precision)
    assert all(row["value"] is not None for row in precision)
    accuracy = next(r for r in rows if r["metric"] == "accuracy" and r["segment"] is None)
    assert accuracy["baseline"] is not None
