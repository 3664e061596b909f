"""The monitoring job on the awkward logs production produces: broken outputs, labels of the
wrong JSON type, partial labels, windows cut mid-period, batches logged at one instant, two
model versions in one window, a window still filling, unknown models and versions."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from monitor_data import START, build, day_of_traffic, log_day

from tether.errors import InputError
from tether.monitor import Monitor
from tether.registry import Registry
from tether.store import LabelRecord, PredictionRecord, open_store

NOW = START + timedelta(days=10)


@pytest.fixture(scope="module")
def bundle():
    return build(segments=["origin"], cost={"fp": 1.0, "fn": 5.0})


@pytest.fixture
def home(bundle, tmp_path):
    registry = Registry(tmp_path / "registry")
    registry.push(bundle, "late", by="test")
    store = open_store(str(tmp_path / "log.db"))
    yield store, registry
    store.close()


def record(bundle, i, row, at, outputs=None, version=None):
    features = {k: row[k] for k in bundle.features}
    out = outputs if outputs is not None else bundle.predict_record(features)
    return PredictionRecord(f"x{i}", "late", version or bundle.version, at, features, out, "ok")


def test_a_window_with_broken_outputs_is_checked_and_the_outputs_reported(bundle, home) -> None:
    store, registry = home
    rows = day_of_traffic(300, 50).iter_rows(named=True)
    broken = {"prediction": None, "score": None}
    store.log([record(bundle, i, row, START + timedelta(seconds=i), broken if i < 3 else None)
               for i, row in enumerate(rows)])  # fmt: skip
    found = Monitor(store, registry).run("late", now=NOW)
    invalid = found.results.filter(pl.col("metric") == "invalid_outputs")
    assert invalid.height > 0
    assert invalid["alert"].all()
    assert found.results.filter(pl.col("check") == "estimated").height > 0


def test_labels_sent_as_floats_text_or_booleans_all_count(bundle, home) -> None:
    store, registry = home
    frame = day_of_traffic(600, 51)
    ids = log_day(store, bundle, frame, 0, labels=False)
    kinds = [float, str, bool]  # 1.0, "1", True for class 1
    labels = [LabelRecord(i, kinds[k % 3](int(y))) for k, (i, y) in enumerate(
        zip(ids, frame["late"], strict=True))]  # fmt: skip
    labels[0] = LabelRecord(ids[0], "maybe")  # names no class
    store.add_labels(labels)
    found = Monitor(store, registry).run("late", now=NOW)
    coverage = found.results.filter(pl.col("metric") == "label_coverage")
    assert '"unusable": 1' in coverage["detail"][0]
    accuracy = found.results.filter(
        (pl.col("check") == "realized") & (pl.col("metric") == "accuracy")
        & pl.col("segment").is_null()
    )  # fmt: skip
    assert accuracy["rows"].to_list() == [599]
    assert accuracy["value"][0] > 0.6


def test_partial_labels_do_not_look_like_concept_drift(bundle, home) -> None:
    store, registry = home
    for day in range(5):
        frame = day_of_traffic(3_000, 60 + day)
        ids = log_day(store, bundle, frame, day, labels=False)
        # one label in ten, as late labels trickle in
        store.add_labels([LabelRecord(i, int(y)) for i, y in
                          zip(ids[::10], frame["late"][::10], strict=True)])  # fmt: skip
    found = Monitor(store, registry).run("late", now=NOW)
    divergence = found.results.filter(pl.col("metric").str.ends_with("_divergence"))
    assert divergence.height == 25  # five metrics, five windows
    # no concept drift: realized sits within the 3-sd band of the same rows' estimate
    # (0.3% each); a band from the whole window would alert on about a third of these
    assert divergence["alert"].sum() <= 1


def test_a_run_from_mid_day_widens_to_whole_days(bundle, home) -> None:
    store, registry = home
    for day in range(3):
        log_day(store, bundle, day_of_traffic(500, 70 + day), day)
    found = Monitor(store, registry).run("late", since=START + timedelta(days=1, hours=12),
                                        now=NOW)  # fmt: skip
    assert found.windows["rows"].to_list() == [500, 500]
    partial = Monitor(store, registry).run("late", until=START + timedelta(days=2, hours=12),
                                          now=NOW)  # fmt: skip
    assert partial.windows["complete"].to_list() == [True, True, False]


def test_blocks_keep_a_batch_logged_at_one_instant_together(bundle, home) -> None:
    store, registry = home
    rows = list(day_of_traffic(450, 80).iter_rows(named=True))
    # a 300-row batch logged at one instant, then 150 single requests
    at = [START + timedelta(seconds=max(0, i - 299)) for i in range(450)]
    store.log([record(bundle, i, row, at[i]) for i, row in enumerate(rows)])
    found = Monitor(store, registry).run("late", window=None, rows=100, now=NOW)
    assert found.windows["rows"].to_list() == [300, 100, 50]
    assert found.windows["complete"].to_list() == [True, True, False]
    # the block still filling is reported, not stored: its bounds are not final
    assert found.windows["result_version"].to_list() == [1, 1, None]
    assert store.read_windows("late").height == 2


def test_two_versions_in_a_window_count_all_traffic(bundle, home, tmp_path) -> None:
    store, registry = home
    other = build(seed=5, segments=["origin"])
    registry.push(other, "late", by="test")
    rows = list(day_of_traffic(600, 90).iter_rows(named=True))
    store.log([record(bundle if i % 3 else other, i, row, START + timedelta(seconds=i),
                      version=(bundle if i % 3 else other).version)
               for i, row in enumerate(rows)])  # fmt: skip
    found = Monitor(store, registry).run("late", now=NOW)
    assert found.windows["bundle_version"].to_list() == [bundle.version]
    assert found.windows["rows"].to_list() == [600]
    assert found.windows["served"].to_list() == [400]


def test_a_window_still_filling_raises_no_traffic_alert(bundle, home) -> None:
    store, registry = home
    for day in range(5):
        log_day(store, bundle, day_of_traffic(500, 100 + day), day)
    # a sixth day with a tenth of the traffic so far, an hour into it
    log_day(store, bundle, day_of_traffic(50, 110), 5)
    found = Monitor(store, registry).run("late", now=START + timedelta(days=5, hours=1))
    assert found.windows["complete"].to_list()[-1] is False
    assert "silent:traffic" not in found.windows["alerts"][-1]


def test_unknown_models_and_versions_are_refused_before_anything_is_stored(bundle, home) -> None:
    store, registry = home
    with pytest.raises(InputError, match="no predictions of model 'nope'"):
        Monitor(store, registry).run("nope", now=NOW)
    log_day(store, bundle, day_of_traffic(100, 120), 0)
    row = next(day_of_traffic(1, 121).iter_rows(named=True))
    store.log([record(bundle, 999, row, START + timedelta(days=1), version="deadbeef" * 8)])
    with pytest.raises(InputError, match="served by version deadbeefdead"):
        Monitor(store, registry).run("late", now=NOW)
    assert store.read_windows("late").height == 0


def test_a_bundle_without_an_estimator_still_gets_realized_metrics(tmp_path) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from tether.bundle import Bundle

    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"x": rng.normal(size=40)}).with_columns(y=pl.col("x") * 2 + 1)
    model = LinearRegression().fit(frame.select("x"), frame["y"])
    # 40 validation rows are too few for DLE's nanny models: the bundle says why
    small = Bundle.build(model, train=frame, valid=frame, target="y", n_resamples=10)
    assert small.estimator() is None
    assert "DLE could not be fitted" in small.metadata["estimation"]["reason"]
    registry = Registry(tmp_path / "registry")
    registry.push(small, "tiny", by="test")
    with open_store(str(tmp_path / "log.db")) as store:
        store.log([PredictionRecord(f"t{i}", "tiny", small.version, START + timedelta(minutes=i),
                                    {"x": float(x)}, {"prediction": float(2 * x + 1)}, "ok")
                   for i, x in enumerate(frame["x"])])  # fmt: skip
        store.add_labels([LabelRecord(f"t{i}", float(2 * x + 1)) for i, x in enumerate(frame["x"])])
        found = Monitor(store, registry).run("tiny", now=NOW)
    mae = found.results.filter((pl.col("check") == "realized") & (pl.col("metric") == "mae"))
    assert mae["value"].to_list() == [pytest.approx(0.0, abs=1e-9)]
    unavailable = found.results.filter(pl.col("metric") == "unavailable")
    assert "DLE could not be fitted" in unavailable["detail"][0]
