"""Declared segments in the monitor: levels cut like the baseline, bootstrap intervals and
estimates per level, representation against the training support, score drift per level."""

from __future__ import annotations

import json

import polars as pl
import pytest
from monitor_data import build, day_of_traffic

from tether.monitor.quality import estimated_by_segment, realized
from tether.monitor.segments import label_segments, prediction_drift, representation

SEGMENTS = ["origin", "distance"]


@pytest.fixture(scope="module")
def bundle():
    return build(segments=SEGMENTS)


def _window(bundle, frame: pl.DataFrame) -> pl.DataFrame:
    scored = bundle.predict(frame).with_columns(frame.select(*SEGMENTS, "carrier", "dep_hour"))
    return label_segments(bundle, scored.with_columns(label=frame["late"]), SEGMENTS)


def test_numeric_segments_are_cut_where_the_baseline_cut_them(bundle) -> None:
    window = _window(bundle, day_of_traffic(3_000, 7))
    rows = realized(bundle, window, bundle.estimator(), segments=["distance"], min_rows=100,
                    n_resamples=20)  # fmt: skip
    levels = {r["segment_value"] for r in rows if r["segment"] == "distance"}
    baseline = set(bundle.metrics.filter(pl.col("segment") == "distance")["value"].to_list())
    assert len(levels) >= 8  # deciles of 3,000 rows, each above 100 rows
    assert levels <= baseline


def test_realized_metrics_carry_bootstrap_intervals_that_narrow_with_rows(bundle) -> None:
    window = _window(bundle, day_of_traffic(4_000, 8))
    rows = realized(bundle, window, bundle.estimator(), segments=["origin"], min_rows=100,
                    n_resamples=100)  # fmt: skip
    accuracy = [r for r in rows if r["metric"] == "accuracy"]
    widths = {}
    for row in accuracy:
        low, high = json.loads(row["detail"])["ci"]
        assert low <= row["value"] <= high
        widths[row["segment_value"]] = high - low
    # overall has ~3 times the rows of an airport: its interval is about sqrt(3) narrower
    airports = [width for level, width in widths.items() if level is not None]
    assert widths[None] < min(airports)
    no_interval = realized(bundle, window, None, segments=["origin"], min_rows=100, n_resamples=0)
    assert all(r["detail"] is None for r in no_interval)


def test_estimates_per_level_are_judged_against_the_levels_own_baseline(bundle) -> None:
    window = _window(bundle, day_of_traffic(3_000, 9))
    rows, estimates = estimated_by_segment(
        bundle, bundle.estimator(), window, segments=["origin"], min_rows=200
    )
    auc = {r["segment_value"]: r for r in rows if r["metric"] == "roc_auc"}
    assert set(auc) == {"EWR", "JFK", "LGA"}
    assert set(estimates) == {("origin", "EWR"), ("origin", "JFK"), ("origin", "LGA")}
    for level, row in auc.items():
        assert row["lower"] < row["baseline"] < row["upper"]
        assert not row["alert"], level  # same distribution as validation


def test_a_level_rare_in_training_and_frequent_in_production_alerts(bundle) -> None:
    served = _window(bundle, day_of_traffic(2_000, 10))
    as_trained = representation(bundle, served, ["origin"], alpha=0.01, min_rows=200)
    assert len(as_trained) == 3
    assert not any(r["alert"] for r in as_trained)
    for row in as_trained:  # each airport a third of training and of the window
        assert row["baseline"] == pytest.approx(1 / 3, abs=0.05)
        assert row["value"] == pytest.approx(1 / 3, abs=0.05)
    # a new airport, never seen in training, now takes a fifth of the traffic
    moved = served.with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(pl.lit("SWF"))
        .otherwise(pl.col("segment:origin")).alias("segment:origin")
    )  # fmt: skip
    found = {
        r["segment_value"]: r
        for r in representation(bundle, moved, ["origin"], alpha=0.01, min_rows=200)
    }
    assert found["SWF"]["alert"]
    assert found["SWF"]["baseline"] == 0.0
    assert json.loads(found["SWF"]["detail"])["training_rows"] == 0
    assert not found["JFK"]["alert"]
    # one flight from a new airport is a fact, not a shift: below min_rows nothing alerts
    single = moved.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("XYZ"))
        .otherwise(pl.col("segment:origin")).alias("segment:origin")
    )  # fmt: skip
    rows = representation(bundle, single, ["origin"], alpha=0.01, min_rows=200)
    assert not next(r for r in rows if r["segment_value"] == "XYZ")["alert"]


def test_scores_that_drift_in_one_level_only_are_found_there(bundle) -> None:
    frame = day_of_traffic(6_000, 11)
    # JFK's flights leave late in the evening now: higher scores there, nowhere else
    frame = frame.with_columns(
        pl.when(pl.col("origin") == "JFK")
        .then(21.0)
        .otherwise(pl.col("dep_hour"))
        .alias("dep_hour")
    )
    rows = prediction_drift(bundle, _window(bundle, frame), ["origin"], alpha=0.01, min_rows=200)
    drifted = {r["segment_value"] for r in rows if r["alert"]}
    assert drifted == {"JFK"}
    assert {r["segment_value"] for r in rows} == {"EWR", "JFK", "LGA"}


def test_the_review_sample_favours_levels_rare_in_training(bundle, tmp_path) -> None:
    from monitor_data import log_day

    from tether.monitor import export_review
    from tether.store import open_store

    store = open_store(str(tmp_path / "log.db"))
    frame = day_of_traffic(3_000, 12)
    # a third of the day comes from an airport training never saw
    frame = frame.with_columns(
        pl.when(pl.col("origin") == "JFK").then(pl.lit("SWF")).otherwise(pl.col("origin"))
        .alias("origin")
    )  # fmt: skip
    log_day(store, bundle, frame, 0, labels=False)
    sample = export_review(store, "late", tmp_path / "review.csv", bundle, per_window=60)
    counts = dict(sample["origin"].value_counts().iter_rows())
    # even quotas would give each airport 20; SWF's quota is MAX_FAVOUR (4) times a familiar
    # airport's: 4 / 6 of the 60 rows, each of the others 1 / 6 (floored per stratum)
    assert counts["SWF"] >= 36
    assert counts["SWF"] >= 4 * max(counts["EWR"], counts["LGA"])
    store.close()


def test_a_window_segment_worse_than_its_scores_say_is_found_and_alerts(bundle) -> None:
    from tether.monitor.quality import labels_of, scores_of
    from tether.monitor.weak_segments import searcher, weak_segments

    frame = day_of_traffic(20_000, 13)
    weak = (pl.col("carrier") == "UA") & (pl.col("dep_hour") >= 19)
    # the labels of UA's evening flights now mean the opposite: the scores cannot know
    frame = frame.with_columns(
        pl.when(weak).then(1 - pl.col("late")).otherwise(pl.col("late")).alias("late")
    )
    window = _window(bundle, frame)
    y, usable = labels_of(bundle, window)
    assert usable.all()
    scores = scores_of(bundle, window)
    rows = weak_segments(bundle, searcher(bundle), window, window, y, scores, scores,
                         max_rows=50_000)  # fmt: skip
    labeled = [r for r in rows if r["metric"] == "labeled"]
    alerts = [r for r in labeled if r["alert"]]
    assert alerts, labeled
    top = alerts[0]
    assert "carrier = 'UA'" in top["segment"]
    assert "dep_hour" in top["segment"]
    assert json.loads(top["detail"])["kind"] == "worse_than_expected"
    assert top["value"] > top["baseline"]
    # with no labels the same window only shows where the model is unsure, never alerting
    estimated = [r for r in rows if r["metric"] == "estimated"]
    assert not any(r["alert"] for r in estimated)


def test_nothing_is_weak_in_a_window_like_validation(bundle) -> None:
    from tether.monitor.quality import labels_of, scores_of
    from tether.monitor.weak_segments import searcher, weak_segments

    window = _window(bundle, day_of_traffic(20_000, 14))
    y, _ = labels_of(bundle, window)
    scores = scores_of(bundle, window)
    rows = weak_segments(bundle, searcher(bundle), window, window, y, scores, scores,
                         max_rows=50_000)  # fmt: skip
    assert not any(r["alert"] for r in rows)
    assert not [r for r in rows if r["metric"] == "representation"]


def test_conjunctions_production_holds_more_of_than_validation_are_named(bundle) -> None:
    from tether.monitor.quality import labels_of, scores_of
    from tether.monitor.weak_segments import searcher, weak_segments

    frame = day_of_traffic(10_000, 15)
    # a new evening bank of EV flights: EV after 19:00 triples its share
    extra = frame.filter(pl.col("carrier") == "EV").with_columns(dep_hour=pl.lit(21.0))
    window = _window(bundle, pl.concat([frame, extra, extra]))
    y, _ = labels_of(bundle, window)
    scores = scores_of(bundle, window)
    rows = weak_segments(bundle, searcher(bundle), window, window, y, scores, scores,
                         max_rows=50_000)  # fmt: skip
    shifted = [r for r in rows if r["metric"] == "representation"]
    assert shifted
    assert "carrier = 'EV'" in shifted[0]["segment"]
    assert "dep_hour" in shifted[0]["segment"]
    assert shifted[0]["value"] > 3 * shifted[0]["baseline"]


def test_levels_of_values_logged_as_text_or_whole_numbers_match_training(bundle) -> None:
    frame = day_of_traffic(500, 16).filter(pl.col("distance").is_not_null())
    typed = label_segments(bundle, frame, ["distance"])["segment:distance"]
    # a client that sent distances as text (the store then types the column as text), and one
    # that sent whole numbers for a float column
    as_text = label_segments(bundle, frame.with_columns(pl.col("distance").cast(pl.String)),
                             ["distance"])["segment:distance"]  # fmt: skip
    assert as_text.to_list() == typed.to_list()
    hours = label_segments(
        build(segments=["dep_hour"]), frame.with_columns(pl.col("dep_hour").cast(pl.Int64)),
        ["dep_hour"],
    )["segment:dep_hour"]  # fmt: skip
    assert set(hours) <= {f"{h:.1f}" for h in range(5, 23)}
