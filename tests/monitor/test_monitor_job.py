"""The monitoring job end to end on a real SQLite store and registry: windows, every check,
idempotent re-runs, result versions when late labels arrive, training-set export and review."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from monitor_data import START, build, day_of_traffic, labels_for, log_day

from tether.errors import InputError
from tether.frame import content_hash
from tether.monitor import Monitor, export_review, export_training_set, import_review
from tether.registry import Registry
from tether.store import open_store

NOW = START + timedelta(days=10)


@pytest.fixture(scope="module")
def bundle():
    return build(segments=["origin"], cost={"fp": 1.0, "fn": 5.0})


@pytest.fixture
def setup(bundle, tmp_path):
    registry = Registry(tmp_path / "registry")
    registry.push(bundle, "late", by="test")
    registry.set_alias("late", "champion", bundle.version, by="test")
    store = open_store(str(tmp_path / "log.db"))
    days = [
        day_of_traffic(2_000, 10),
        day_of_traffic(2_000, 11),
        day_of_traffic(2_000, 12, shift=1.0),
    ]
    ids = [log_day(store, bundle, frame, day, labels=day < 2) for day, frame in enumerate(days)]
    yield store, registry, days, ids
    store.close()


def run(store, registry, **options):
    return Monitor(store, registry).run("late", window="1d", now=NOW, **options)


def results_of(run_, day: int) -> pl.DataFrame:
    return run_.results.filter(pl.col("window_start") == START + timedelta(days=day))


def test_each_day_is_a_window_with_every_check(setup) -> None:
    store, registry, _, _ = setup
    found = run(store, registry)
    assert found.windows["rows"].to_list() == [2_000, 2_000, 2_000]
    assert found.windows["result_version"].to_list() == [1, 1, 1]
    assert found.windows["complete"].to_list() == [True, True, True]
    checks = set(results_of(found, 0)["check"])
    assert {
        "drift",
        "prediction_drift",
        "confidence",
        "silent",
        "coverage",
        "realized",
        "estimated",
        "calibration",
        "business",
    } <= checks
    # day 3 has no labels: estimated but not realized performance
    assert "realized" not in set(results_of(found, 2)["check"])
    assert "estimated" in set(results_of(found, 2)["check"])
    day = results_of(found, 0)
    expected = day.filter(pl.col("metric").str.starts_with("expected_"))
    assert sorted(expected["metric"]) == [
        "expected_fn",
        "expected_fp",
        "expected_tn",
        "expected_tp",
    ]
    assert sum(expected["value"]) == pytest.approx(2_000)
    curve = day.filter((pl.col("metric") == "reliability_curve") & pl.col("segment").is_null())
    bins = json.loads(curve["detail"][0])["bins"]
    assert sum(b["rows"] for b in bins) == 2_000
    # cost per airport, estimated on every served row and realized on the labeled ones
    for metric in ("estimated_cost_per_prediction", "cost_per_prediction"):
        per_origin = day.filter((pl.col("metric") == metric) & (pl.col("segment") == "origin"))
        assert sorted(per_origin["segment_value"]) == ["EWR", "JFK", "LGA"]
    coverage = found.results.filter(pl.col("metric") == "label_coverage")["value"].to_list()
    assert coverage == [1.0, 1.0, 0.0]
    assert set(found.seconds) >= {"read", "drift", "estimation", "save"}


def test_stretched_distances_drift_on_the_third_day_only(setup) -> None:
    store, registry, _, _ = setup
    found = run(store, registry)
    drifted = found.results.filter(
        (pl.col("check") == "drift") & (pl.col("metric") == "drifted_columns")
    )
    assert drifted["alert"].to_list() == [False, False, True]
    assert "drift:drifted_columns" in found.windows["alerts"][2]


def test_estimated_performance_tracks_realized_without_concept_drift(setup) -> None:
    store, registry, _, _ = setup
    found = run(store, registry)
    for day in (0, 1):
        rows = results_of(found, day)
        gap = rows.filter(pl.col("metric") == "roc_auc_divergence")
        # the divergence row says whether realized AUC lies in the estimate's 3-sigma band
        assert gap.height == 1
        assert not gap["alert"][0], gap.to_dicts()


def test_a_rerun_on_unchanged_data_stores_nothing(setup) -> None:
    store, registry, _, _ = setup
    run(store, registry)
    again = run(store, registry)
    assert again.windows["result_version"].to_list() == [None, None, None]
    assert again.results.height == 0
    assert store.read_windows("late").height == 3


def test_late_labels_give_the_old_window_a_new_version_and_keep_the_first(setup) -> None:
    store, registry, days, ids = setup
    first = run(store, registry)
    store.add_labels(labels_for(ids[2], days[2]))
    second = run(store, registry)
    assert second.windows["result_version"].to_list() == [None, None, 2]
    stored = store.read_results("late", all_versions=True)
    day3 = stored.filter(pl.col("window_start") == START + timedelta(days=2))
    assert sorted(day3["version"].unique().to_list()) == [1, 2]
    assert "realized" in set(results_of(second, 2)["check"])
    assert first.results.height > 0


def test_a_flipped_concept_shows_as_realized_outside_the_estimate(bundle, tmp_path) -> None:
    registry = Registry(tmp_path / "registry")
    registry.push(bundle, "late", by="test")
    with open_store(str(tmp_path / "log.db")) as store:
        log_day(store, bundle, day_of_traffic(4_000, 20, flip=True), 0)
        found = Monitor(store, registry).run("late", window="1d", now=NOW)
    gap = found.results.filter(pl.col("metric") == "roc_auc_divergence")
    assert gap["alert"].to_list() == [True]
    assert gap["value"][0] < 0  # realized far below what the scores promise


def test_windows_of_rows(setup) -> None:
    store, registry, _, _ = setup
    found = Monitor(store, registry).run("late", window=None, rows=1_500, now=NOW)
    assert found.windows["rows"].to_list() == [1_500, 1_500, 1_500, 1_500]
    assert found.windows["complete"].to_list() == [True, True, True, True]


def test_export_training_set_writes_labeled_validated_rows_with_their_hash(
    setup, bundle, tmp_path
) -> None:
    store, _, days, _ = setup
    export = export_training_set(store, "late", tmp_path / "next.parquet", bundle)
    written = pl.read_parquet(export.path)
    assert export.rows == written.height == 4_000
    assert export.content_hash == content_hash(written)
    assert written.columns == ["id", "created_at", "version", *bundle.features, "late"]
    assert written["late"].to_list() == [*days[0]["late"], *days[1]["late"]]
    assert (tmp_path / "next.parquet.json").exists()
    with pytest.raises(InputError, match="nothing to export"):
        export_training_set(store, "late", tmp_path / "x.parquet", bundle, since=NOW)


def test_review_sample_is_stratified_and_its_labels_come_back(setup, bundle, tmp_path) -> None:
    store, _, _, ids = setup
    sample = export_review(store, "late", tmp_path / "review.csv", bundle, per_window=40)
    assert 0 < sample.height <= 40
    assert set(sample["id"]) <= set(ids[2])  # only the unlabeled day
    assert sample["origin"].n_unique() == 3
    reviewed = pl.read_csv(tmp_path / "review.csv").with_columns(label=pl.lit(1))
    reviewed.write_csv(tmp_path / "review.csv")
    done = import_review(store, tmp_path / "review.csv")
    assert done.accepted == sample.height
    assert store.get(sample["id"][0])["label"] == 1


def test_a_regressor_is_estimated_by_the_dle_it_carries(tmp_path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from tether.bundle import Bundle
    from tether.store import LabelRecord, PredictionRecord

    def frame(rows: int, seed: int) -> pl.DataFrame:
        data = day_of_traffic(rows, seed)
        # minutes late: a function of the inputs plus noise whose size the inputs set
        noise = pl.Series(np.random.default_rng(seed).normal(0, 1, rows))
        return data.with_columns(
            delay=pl.col("dep_hour") * 2 + (pl.col("carrier") == "EV") * 10 + noise * 5
        )

    train, valid = frame(3_000, 40), frame(2_000, 41)
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["distance", "dep_hour"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["carrier"]),
        ]
    )
    model = Pipeline([("pre", pre), ("lr", LinearRegression())])
    model.fit(train.select("distance", "dep_hour", "carrier"), train["delay"].to_numpy())
    unused = ["late", "origin"]
    bundle = Bundle.build(model, train=train.drop(unused), valid=valid.drop(unused),
                          target="delay", id_column="flight_id", n_resamples=20,
                          cost={"under": 2.0, "over": 1.0})  # fmt: skip
    assert bundle.metadata["estimation"]["method"] == "dle"
    registry = Registry(tmp_path / "registry")
    registry.push(bundle, "delay", by="test")
    today = frame(2_000, 42)
    predictions = bundle.predict(today)["prediction"].to_list()
    with open_store(str(tmp_path / "log.db")) as store:
        store.log([
            PredictionRecord(f"r{i}", "delay", bundle.version, START + timedelta(seconds=i),
                             {k: row[k] for k in ("distance", "dep_hour", "carrier")},
                             {"prediction": predictions[i]}, "ok")
            for i, row in enumerate(today.iter_rows(named=True))
        ])  # fmt: skip
        store.add_labels([LabelRecord(f"r{i}", v) for i, v in enumerate(today["delay"])])
        found = Monitor(store, registry).run("delay", window="1d", now=NOW)
    rows = found.results
    estimated = rows.filter((pl.col("check") == "estimated") & (pl.col("metric") == "mae"))
    realized = rows.filter((pl.col("check") == "realized") & (pl.col("metric") == "mae"))
    assert estimated.height == realized.height == 1
    # no concept drift: the realized MAE lies in the band DLE estimated
    gap = rows.filter(pl.col("metric") == "mae_divergence")
    assert not gap["alert"][0], gap.to_dicts()
    assert rows.filter(pl.col("metric") == "estimated_cost_per_prediction").height == 1
    assert "calibration" not in set(rows["check"])
