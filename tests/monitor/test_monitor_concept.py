"""Concept drift: river's detectors on the per-row error stream of labeled predictions."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.monitor.concept import (
    DETECTORS,
    ConceptDriftMonitor,
    concept_drift,
    labeled_errors,
)
from tether.monitor.result import RESULT_SCHEMA

CHANGE = 5_000
"""Position of the injected change in every stream with one."""
START = datetime(2024, 5, 1, tzinfo=UTC)


def errors(seed: int, before: float = 0.1, after: float | None = 0.2, rows: int = 10_000):
    """A 0/1 error stream at rate ``before``, and ``after`` from position :data:`CHANGE`."""
    rng = np.random.default_rng(seed)
    rate = np.full(rows, before)
    if after is not None:
        rate[CHANGE:] = after
    return (rng.random(rows) < rate).astype(np.float64)


def first_after(monitor: ConceptDriftMonitor, name: str) -> int | None:
    found = [p.position for p in monitor.change_points_[name] if p.position >= CHANGE]
    return found[0] - CHANGE if found else None


def labeled_window(stream: np.ndarray, seed: int = 0) -> pl.DataFrame:
    """A labeled window whose misclassifications are ``stream``, rows shuffled (the store's
    order is not assumed) and one rejected row without a prediction."""
    rows = stream.size
    frame = pl.DataFrame(
        {
            "id": [f"p{i}" for i in range(rows)],
            "created_at": [START + timedelta(seconds=i) for i in range(rows)],
            "status": "ok",
            "prediction": 1,
            "label": np.where(stream == 1, 0, 1),
        }
    )
    rejected = pl.DataFrame(
        {
            "id": ["r"],
            "created_at": [START],
            "status": ["rejected"],
            "prediction": [None],
            "label": [0],
        },
        schema=frame.schema,
    )
    return pl.concat([frame, rejected]).sample(fraction=1.0, shuffle=True, seed=seed)


# -- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bound"),
    # Bounds from 30 seeds each (docs in ConceptDriftMonitor): median/max delay for 0.1 -> 0.2
    # was ADWIN 295/631, DDM 758/1404, Page-Hinkley 304/541 errors; bound = max x ~1.5.
    [("adwin", 1_000), ("ddm", 2_000), ("page_hinkley", 1_000)],
)
def test_each_detector_finds_a_doubled_error_rate_within_a_bounded_delay(name, bound) -> None:
    delays = []
    for seed in range(10):
        monitor = ConceptDriftMonitor("binary", detectors=[name]).update_many(errors(seed))
        delays.append(first_after(monitor, name))
    assert all(d is not None and d <= bound for d in delays), delays


@pytest.mark.parametrize("name", DETECTORS)
def test_a_stationary_stream_has_no_change_point_in_most_seeds(name) -> None:
    # Measured on 100 clean 10k-error streams per rate (ConceptDriftMonitor docs): at most 2%
    # with any change point per detector, so 3 or more of 30 has probability ~2% at that rate.
    fired = 0
    for seed in range(30):
        monitor = ConceptDriftMonitor("binary", detectors=[name])
        fired += bool(monitor.update_many(errors(seed, after=None)).change_points_[name])
    assert fired <= 2


def test_regression_absolute_errors_rising_are_found_by_adwin_and_page_hinkley() -> None:
    rng = np.random.default_rng(4)
    residual = np.concatenate([rng.normal(0, 1.0, CHANGE), rng.normal(0, 1.5, CHANGE)]) * 1e4
    monitor = ConceptDriftMonitor("regression").update_many(np.abs(residual))
    assert monitor.detector_names == ("adwin", "page_hinkley")  # DDM needs 0/1 errors
    # the scale is measured on the warm-up, so errors in units of 10^4 behave like units of 1
    assert monitor.scale_ == pytest.approx(0.6e4, rel=0.1)
    for name in monitor.detector_names:
        delay = first_after(monitor, name)
        assert delay is not None
        assert delay < 500
        assert not [p for p in monitor.change_points_[name] if p.position < CHANGE]


def test_chunked_page_hinkley_detects_as_the_per_error_one_give_or_take_a_chunk() -> None:
    # fed chunk means with the threshold / chunk, its sum is the per-error sum read at chunk
    # ends: it fires at the first chunk end past the per-error alarm, or just before it
    for seed in range(10):
        stream = errors(seed)
        each = ConceptDriftMonitor("binary", detectors=["page_hinkley"]).update_many(stream)
        chunked = ConceptDriftMonitor("binary", detectors=["page_hinkley"], chunk_size=100)
        chunked.update_many(stream)
        one, hundred = first_after(each, "page_hinkley"), first_after(chunked, "page_hinkley")
        assert one is not None
        assert hundred is not None
        assert -100 <= hundred - one <= 200
        assert (hundred + CHANGE + 1) % 100 == 0  # a chunk end


# -- state across windows -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "chunk_size"), [("binary", 1), ("multiclass", 64), ("regression", 1)]
)
def test_state_carried_across_windows_gives_the_same_change_points_as_one_pass(
    task, chunk_size
) -> None:
    stream = errors(11, before=0.1, after=0.35)
    if task == "regression":
        stream = stream * np.random.default_rng(1).gamma(2.0, 3.0, stream.size)
    times = [START + timedelta(minutes=i) for i in range(stream.size)]
    one_pass = ConceptDriftMonitor(task, chunk_size=chunk_size).update_many(stream, times)
    assert any(one_pass.change_points_.values())
    monitor = ConceptDriftMonitor(task, chunk_size=chunk_size)
    cuts = [0, 300, 999, 1_001, 4_321, 5_030, 5_031, 8_000, stream.size]  # warm-up split too
    for lo, hi in itertools.pairwise(cuts):
        state = json.loads(json.dumps(monitor.to_dict()))  # what the job stores between runs
        monitor = ConceptDriftMonitor.from_dict(state).update_many(stream[lo:hi], times[lo:hi])
    assert monitor.change_points_ == one_pass.change_points_
    assert monitor.seen_ == one_pass.seen_ == stream.size
    point = one_pass.change_points_["adwin"][0]
    assert point.time == times[point.position]


def test_a_stream_shorter_than_the_warm_up_waits_and_loses_no_change_point() -> None:
    stream = errors(2)
    monitor = ConceptDriftMonitor("binary", warm_start=6_000).update_many(stream[:5_500])
    assert monitor.scale_ is None
    assert not any(monitor.change_points_.values())
    monitor.update_many(stream[5_500:])
    given = ConceptDriftMonitor("binary", scale=monitor.scale_).update_many(stream)
    assert monitor.change_points_ == given.change_points_
    assert first_after(monitor, "adwin") is not None


def test_a_state_from_another_river_or_tampered_is_refused() -> None:
    state = ConceptDriftMonitor("binary").update_many(errors(0)).to_dict()
    with pytest.raises(UnsupportedVersionError, match="river"):
        ConceptDriftMonitor.from_dict({**state, "river": "0.1"})
    tampered = json.loads(json.dumps(state))
    tampered["detectors"]["adwin"]["window"] = "AAAA" + tampered["detectors"]["adwin"]["window"]
    with pytest.raises(FormatError, match="checksum"):
        ConceptDriftMonitor.from_dict(tampered)
    missing = json.loads(json.dumps(state))
    del missing["detectors"]["ddm"]["_p_min"]
    with pytest.raises(FormatError):
        ConceptDriftMonitor.from_dict(missing)
    with pytest.raises(FormatError, match="format"):
        ConceptDriftMonitor.from_dict({"format": "other"})


# -- the result rows ----------------------------------------------------------------------------


def test_labeled_errors_are_ordered_by_time_and_skip_unlabeled_and_rejected_rows() -> None:
    window = labeled_window(np.array([1.0, 0.0, 0.0, 1.0]), seed=3).with_columns(
        pl.when(pl.col("id") == "p2").then(None).otherwise("label").alias("label")
    )
    found = labeled_errors(window, "binary")
    assert found["id"].to_list() == ["p0", "p1", "p3"]
    assert found["error"].to_list() == [1.0, 0.0, 1.0]
    text = pl.DataFrame(
        {
            "status": "ok",
            "created_at": [1, 2],
            "prediction": ["late", "late"],
            "label": ["late", "on_time"],
        }
    )
    assert labeled_errors(text, "multiclass")["error"].to_list() == [0.0, 1.0]
    numbers = pl.DataFrame(
        {"status": "ok", "created_at": [1, 2], "prediction": [2.0, 5.0], "label": [3, 1]}
    )
    assert labeled_errors(numbers, "regression")["error"].to_list() == [1.0, 4.0]


def test_concept_drift_rows_name_each_detector_with_times_positions_and_ids() -> None:
    stream = errors(5, before=0.05, after=0.3)
    found = concept_drift(labeled_window(stream), "binary")
    assert found.schema == pl.Schema(RESULT_SCHEMA)
    assert found["metric"].to_list() == list(DETECTORS)
    assert found["alert"].to_list() == [True, True, True]
    assert set(found["rows"]) == {stream.size}
    for row in found.iter_rows(named=True):
        detail = json.loads(row["detail"])
        assert row["value"] == len(detail["changes"])
        first = detail["changes"][0]
        assert CHANGE <= first["position"] < CHANGE + 1_000
        assert first["id"] == f"p{first['position']}"
        assert first["time"] == (START + timedelta(seconds=first["position"])).isoformat()


def test_concept_drift_with_a_monitor_continues_the_stream_across_windows() -> None:
    stream = errors(6, before=0.05, after=0.3)
    monitor = ConceptDriftMonitor("binary")
    first = concept_drift(labeled_window(stream[:CHANGE]), "binary", monitor=monitor)
    assert not first["alert"].any()
    second = concept_drift(labeled_window(stream[CHANGE:]), "binary", monitor=monitor)
    assert second["alert"].all()
    one_pass = ConceptDriftMonitor("binary").update_many(stream)

    def positions(m: ConceptDriftMonitor) -> dict[str, list[int]]:
        return {name: [p.position for p in points] for name, points in m.change_points_.items()}

    assert positions(monitor) == positions(one_pass)
    change = json.loads(second.filter(pl.col("metric") == "adwin")["detail"][0])["changes"][0]
    assert change["position"] >= CHANGE
    assert change["id"].startswith("p")


def test_no_labeled_rows_or_a_short_stream_give_rows_without_a_value_or_alert() -> None:
    unlabeled = labeled_window(errors(0)[:50]).with_columns(pl.lit(None, pl.Int64).alias("label"))
    found = concept_drift(unlabeled, "binary")
    assert found["value"].to_list() == [None, None, None]
    assert not found["alert"].any()
    assert "no labeled rows" in found["detail"][0]
    short = concept_drift(labeled_window(errors(0)[:200]), "binary")
    # warming up: no verdict yet, rather than "no change found"
    assert short["value"].to_list() == [None, None, None]
    assert not short["alert"].any()
    assert "warming up: 200 of 1000" in short["detail"][0]


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error() -> None:
    window = labeled_window(errors(0)[:100])
    with pytest.raises(InputError, match="no rows"):
        concept_drift(window.clear(), "binary")
    with pytest.raises(InputError, match="task 'ranking'"):
        concept_drift(window, "ranking")
    with pytest.raises(InputError, match="labels=True"):
        concept_drift(window.drop("label"), "binary")
    with pytest.raises(InputError, match="ddm"):
        ConceptDriftMonitor("regression", detectors=["ddm"])
    with pytest.raises(InputError, match="detectors"):
        ConceptDriftMonitor("binary", detectors=["cusum"])
    with pytest.raises(InputError, match="0 or 1"):
        ConceptDriftMonitor("binary").update_many([0.0, 0.5])
    with pytest.raises(InputError, match="finite"):
        ConceptDriftMonitor("regression").update_many([1.0, float("nan")])
    with pytest.raises(InputError, match="one time per error"):
        ConceptDriftMonitor("binary").update_many([0.0, 1.0], [START])
    with pytest.raises(InputError, match="numbers"):
        concept_drift(window.with_columns(pl.col("label").cast(pl.String)), "regression")
    with pytest.raises(InputError, match="to the monitor"):
        concept_drift(window, "binary", detectors=["adwin"], monitor=ConceptDriftMonitor("binary"))
