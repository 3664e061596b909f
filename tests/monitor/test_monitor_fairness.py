"""Fairness in the monitor: every window's sensitive groups against the bundle's validation
report; decisions before labels, error rates after, alerts when a disparity grows."""

from __future__ import annotations

import json

import polars as pl
import pytest
from monitor_data import build, day_of_traffic

from tether.monitor.fairness_checks import fairness_rows
from tether.monitor.quality import labels_of, scores_of
from tether.monitor.segments import label_segments


@pytest.fixture(scope="module")
def bundle():
    return build(sensitive=["origin"])


def _rows(bundle, frame: pl.DataFrame, *, labeled: bool) -> list[dict]:
    window = bundle.predict(frame).with_columns(frame.select("origin"), label=frame["late"])
    window = label_segments(bundle, window, ["origin"])
    scores = scores_of(bundle, window)
    judged = window if labeled else window.clear()
    y, _ = labels_of(bundle, judged)
    return fairness_rows(bundle, window, scores, judged, y, scores_of(bundle, judged),
                         min_rows=100, n_resamples=100)  # fmt: skip


def test_the_bundle_carries_the_training_and_validation_fairness_baseline(bundle) -> None:
    groups = bundle.training_representation
    assert set(groups["group"]) == {"EWR", "JFK", "LGA"}
    assert groups["rows"].sum() == 2_000  # the training rows
    assert groups["base_rate"].is_not_null().all()
    disparities = set(bundle.fairness.disparities["metric"])
    assert {"demographic_parity_difference", "equalized_odds_difference"} <= disparities


def test_before_labels_a_window_has_decisions_only(bundle) -> None:
    rows = _rows(bundle, day_of_traffic(3_000, 20), labeled=False)
    metrics = {r["metric"] for r in rows}
    assert metrics == {"selection_rate", "mean_score", "demographic_parity_difference",
                       "demographic_parity_ratio"}  # fmt: skip
    assert not any(r["alert"] for r in rows)
    selection = [r for r in rows if r["metric"] == "selection_rate"]
    assert {r["segment_value"] for r in selection} == {"EWR", "JFK", "LGA"}
    assert all(r["baseline"] is not None for r in selection)


def test_labels_add_error_rates_and_their_disparities(bundle) -> None:
    rows = _rows(bundle, day_of_traffic(3_000, 21), labeled=True)
    metrics = {r["metric"] for r in rows}
    assert {"true_positive_rate", "false_positive_rate", "equalized_odds_difference"} <= metrics
    # each metric once: decisions from all scored rows, error rates from the labeled ones
    keys = [(r["metric"], r["segment"], r["segment_value"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert not any(r["alert"] for r in rows)


def test_a_disparity_that_grows_in_production_alerts(bundle) -> None:
    frame = day_of_traffic(6_000, 22)
    # JFK's flights now leave in the evening: the model flags far more of them as late
    frame = frame.with_columns(
        pl.when(pl.col("origin") == "JFK")
        .then(21.0)
        .otherwise(pl.col("dep_hour"))
        .alias("dep_hour")
    )
    rows = _rows(bundle, frame, labeled=False)
    grew = {r["metric"] for r in rows if r["alert"]}
    assert "demographic_parity_difference" in grew
    parity = next(r for r in rows if r["metric"] == "demographic_parity_difference")
    detail = json.loads(parity["detail"])
    assert detail["ci"][0] > detail["baseline_ci"][1]
    assert detail["groups"].startswith("JFK")


def test_a_sensitive_attribute_missing_from_the_log_is_reported_not_a_crash(bundle) -> None:
    frame = day_of_traffic(1_000, 23)
    window = bundle.predict(frame)  # the log holds no origin, so no level column either
    scores = scores_of(bundle, window)
    rows = fairness_rows(bundle, window, scores, window.clear(), scores[:0], scores[:0],
                         min_rows=100, n_resamples=0)  # fmt: skip
    assert [r["metric"] for r in rows] == ["unavailable"]
    assert "['origin'] are not in the logged inputs" in json.loads(rows[0]["detail"])["reason"]


def test_without_monitor_resamples_fairness_still_has_intervals(bundle) -> None:
    frame = day_of_traffic(1_500, 24)
    window = label_segments(bundle, bundle.predict(frame).with_columns(frame.select("origin")),
                            ["origin"])  # fmt: skip
    scores = scores_of(bundle, window)
    rows = fairness_rows(bundle, window, scores, window.clear(), scores[:0], scores[:0],
                         min_rows=100, n_resamples=0)  # fmt: skip
    parity = next(r for r in rows if r["metric"] == "demographic_parity_difference")
    low, high = json.loads(parity["detail"])["ci"]
    assert low < high
    assert not parity["alert"]
