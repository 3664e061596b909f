"""The monitor's versioned results in the store, checked on each backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from store_helpers import T0, record

from tether.errors import InputError
from tether.store import LabelRecord, PredictionStore, open_store
from tether.store.postgres import PostgresStore
from tether.store.results import RESULT_COLUMNS, RESULT_FRAME_COLUMNS, WINDOW_COLUMNS
from tether.store.sqlite import SQLiteStore

DAY = timedelta(days=1)
WINDOW = (T0, T0 + DAY)
FACTS: dict[str, Any] = {"bundle_version": "ab12", "rows": 500, "labeled": 120, "complete": True}
MODEL = "late-arrival"


def results(*rows: dict[str, Any]) -> pl.DataFrame:
    """A results frame as the monitor builds it; the columns a row leaves out are null."""
    return pl.DataFrame(list(rows), schema=RESULT_COLUMNS)


def psi(column: str, value: float, **fields: Any) -> dict[str, Any]:
    return {"check": "drift", "metric": "psi", "column": column, "value": value, **fields}


def test_store_keeps_the_monitors_result_columns() -> None:
    from tether.monitor.result import RESULT_SCHEMA

    assert list(RESULT_COLUMNS.items()) == list(RESULT_SCHEMA.items())


def test_results_round_trip_with_their_window(store: PredictionStore) -> None:
    saved = results(
        psi("distance_km", 0.3125, upper=0.2, alert=True, rows=500, detail='{"bins": 10}'),
        {
            "check": "realized",
            "metric": "roc_auc",
            "segment": "city",
            "segment_value": "Zürich 東京 🚚",
            "value": -1.5e300,
            "lower": 5e-324,
            "baseline": 0.0,
            "alert": False,
            "rows": 2**40,
            "detail": '{"why": "naïve \\"quote\\""}',
        },
        {"check": "coverage", "metric": "labeled_share"},  # every other column null
    )
    before = datetime.now(UTC)
    assert store.save_window(MODEL, *WINDOW, "f1", saved, **FACTS) == 1
    after = datetime.now(UTC)

    found = store.read_results(MODEL)
    assert found.schema == pl.Schema(RESULT_FRAME_COLUMNS)
    assert_frame_equal(found.select(list(RESULT_COLUMNS)), saved)
    window = found.select(list(RESULT_FRAME_COLUMNS)[:9]).unique(maintain_order=True)
    assert window.height == 1
    computed_at = window["computed_at"].item()
    assert before - timedelta(milliseconds=1) <= computed_at <= after
    assert window.drop("computed_at").row(0) == (MODEL, *WINDOW, 1, "ab12", 500, 120, True)

    windows = store.read_windows(MODEL)
    assert windows.schema == pl.Schema(WINDOW_COLUMNS)
    assert windows.row(0) == (MODEL, *WINDOW, 1, "f1", computed_at, "ab12", 500, 120, True)


def test_results_of_compatible_types_are_cast_and_non_finite_floats_become_null(
    store: PredictionStore,
) -> None:
    frame = pl.DataFrame(
        {
            "check": pl.Series(["drift", "drift"], dtype=pl.Categorical),
            "metric": ["psi", "ks"],
            "column": [None, None],  # Null type
            "segment": pl.Series([None, None], dtype=pl.String),
            "segment_value": pl.Series(["a", "b"], dtype=pl.Enum(["a", "b"])),
            "value": pl.Series([0.25, float("nan")], dtype=pl.Float32),
            "lower": pl.Series([1, 2], dtype=pl.Int8),
            "upper": [float("inf"), 0.5],
            "baseline": [None, None],
            "alert": [True, None],
            "rows": pl.Series([7, 8], dtype=pl.UInt32),
            "detail": [None, "{}"],
        }
    )
    store.save_window(MODEL, *WINDOW, "f1", frame, **FACTS)
    found = store.read_results(MODEL).select(list(RESULT_COLUMNS))
    assert found.schema == pl.Schema(RESULT_COLUMNS)
    assert found.rows() == [
        ("drift", "psi", None, None, "a", 0.25, 1.0, None, None, True, 7, None),
        ("drift", "ks", None, None, "b", None, 2.0, 0.5, None, None, 8, "{}"),
    ]


def test_resaving_an_unchanged_window_writes_nothing(store: PredictionStore) -> None:
    saved = results(psi("x", 0.1), psi("y", 0.2))
    assert store.save_window(MODEL, *WINDOW, "f1", saved, **FACTS) == 1
    first = store.read_windows(MODEL, all_versions=True)
    changed_facts = {**FACTS, "labeled": 130}  # only the fingerprint decides
    assert store.save_window(MODEL, *WINDOW, "f1", results(psi("z", 9.0)), **changed_facts) is None
    assert_frame_equal(store.read_windows(MODEL, all_versions=True), first)
    assert store.read_results(MODEL, all_versions=True)["column"].to_list() == ["x", "y"]


def test_a_new_fingerprint_adds_a_version_and_keeps_the_earlier_ones(
    store: PredictionStore,
) -> None:
    saved = results(psi("x", 0.1), psi("y", 0.2))
    assert store.save_window(MODEL, *WINDOW, "f1", saved, **FACTS) == 1
    late_labels = {**FACTS, "labeled": 480}
    assert store.save_window(MODEL, *WINDOW, "f2", results(psi("x", 0.4)), **late_labels) == 2
    # A fingerprint is compared with the newest version only: going back is a change too.
    assert store.save_window(MODEL, *WINDOW, "f1", results(), **FACTS) == 3

    latest = store.read_results(MODEL)
    assert latest.height == 0  # version 3 has no results
    every = store.read_results(MODEL, all_versions=True)
    assert every.select("version", "labeled", "column", "value").rows() == [
        (1, 120, "x", 0.1),
        (1, 120, "y", 0.2),
        (2, 480, "x", 0.4),
    ]
    windows = store.read_windows(MODEL)
    assert windows.select("version", "fingerprint").rows() == [(3, "f1")]
    history = store.read_windows(MODEL, all_versions=True)
    assert history.select("version", "fingerprint", "labeled").rows() == [
        (1, "f1", 120),
        (2, "f2", 480),
        (3, "f1", 120),
    ]


def test_read_results_filters_windows_by_overlap_and_rows_by_check(
    store: PredictionStore,
) -> None:
    def day(n: int) -> tuple[datetime, datetime]:
        return T0 + n * DAY, T0 + (n + 1) * DAY

    both = results(psi("x", 0.1), {"check": "realized", "metric": "roc_auc", "value": 0.9})
    for n in (2, 0, 1):  # saved out of order
        store.save_window(MODEL, *day(n), f"d{n}", both, **FACTS)
    store.save_window(MODEL, T0, T0 + 2 * DAY, "two-days", results(psi("x", 0.5)), **FACTS)
    store.save_window("other-model", *day(1), "o", both, **FACTS)

    def starts(frame: pl.DataFrame) -> list[datetime]:
        return frame.unique(["window_start", "window_end"], maintain_order=True)[
            "window_start"
        ].to_list()

    everything = store.read_results(MODEL)
    assert everything.select("window_start", "window_end", "check").rows() == [
        (T0, T0 + DAY, "drift"),
        (T0, T0 + DAY, "realized"),
        (T0, T0 + 2 * DAY, "drift"),  # same start, later end: after
        (*day(1), "drift"),
        (*day(1), "realized"),
        (*day(2), "drift"),
        (*day(2), "realized"),
    ]
    # [day 1, day 2): day 0 ends where it starts, so only day 1 and the two-day window overlap.
    assert starts(store.read_results(MODEL, start=day(1)[0], end=day(2)[0])) == [T0, day(1)[0]]
    assert starts(store.read_results(MODEL, start=day(2)[0])) == [day(2)[0]]
    assert starts(store.read_results(MODEL, end=T0 + timedelta(hours=1))) == [T0, T0]
    realized = store.read_results(MODEL, check="realized")
    assert realized["metric"].unique().to_list() == ["roc_auc"]
    assert realized.height == 3
    in_other_zone = T0.astimezone(timezone(timedelta(hours=-7)))
    assert store.read_results(MODEL, start=in_other_zone, end=in_other_zone).height == 0
    empty = store.read_results("never-monitored")
    assert empty.height == 0
    assert empty.schema == pl.Schema(RESULT_FRAME_COLUMNS)


def test_concurrent_savers_of_one_window_get_consecutive_versions(store_url: str) -> None:
    savers = 6
    stores = [open_store(store_url) for _ in range(savers)]
    start = threading.Barrier(savers)
    versions: dict[int, int | None] = {}
    errors: list[BaseException] = []

    def save(i: int, fingerprint: str) -> None:
        try:
            start.wait()
            found = results(psi("x", float(i)))
            versions[i] = stores[i].save_window(MODEL, *WINDOW, fingerprint, found, **FACTS)
        except BaseException as exc:
            errors.append(exc)

    def run(fingerprint: Any) -> None:
        versions.clear()
        threads = [threading.Thread(target=save, args=(i, fingerprint(i))) for i in range(savers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

    try:
        run(lambda i: f"f{i}")
        assert sorted(versions.values()) == list(range(1, savers + 1))  # type: ignore[type-var]
        every = stores[0].read_results(MODEL, all_versions=True)
        # Each version holds the results of the saver that got it, and only those.
        assert every.select("version", "value").rows() == sorted(
            (version, float(i)) for i, version in versions.items() if version is not None
        )
        run(lambda i: "same")  # all with one fingerprint: one writes, the others find it
        written = [version for version in versions.values() if version is not None]
        assert (written, len(versions)) == ([savers + 1], savers)
    finally:
        for opened in stores:
            opened.close()


def test_a_version_1_database_is_migrated_on_open_with_its_data(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for backend in (SQLiteStore, PostgresStore):
        monkeypatch.setattr(backend, "migrations", backend.migrations[:1])
    old = open_store(store_url)
    assert old.schema_version() == 1
    old.log([record("a", inputs={"x": 1.5}), record("b", 1, inputs={"x": 2.5})])
    old.add_labels([LabelRecord("a", 1, T0)])
    kept = old.read(MODEL)
    old.close()
    monkeypatch.undo()

    upgraded = open_store(store_url)
    try:
        assert upgraded.schema_version() == 2
        assert upgraded.migrate() == []
        assert_frame_equal(upgraded.read(MODEL), kept)
        assert upgraded.get("a")["label"] == 1  # type: ignore[index]
        assert upgraded.save_window(MODEL, *WINDOW, "f1", results(psi("x", 0.1)), **FACTS) == 1
        assert upgraded.read_results(MODEL)["value"].to_list() == [0.1]
    finally:
        upgraded.close()


BAD_SAVES: list[tuple[dict[str, Any], str]] = [
    ({"model": ""}, "model '' is not a non-empty string"),
    ({"model": None}, "model None is not a non-empty string"),
    ({"window_start": T0.replace(tzinfo=None)}, "window_start .* not a timezone-aware"),
    ({"window_end": T0}, "window_start .* is not before window_end"),
    ({"window_end": T0 - DAY}, "window_start .* is not before window_end"),
    ({"fingerprint": ""}, "fingerprint '' is not a non-empty string"),
    ({"bundle_version": "v\x001"}, "bundle_version .* without NUL"),
    ({"rows": -1}, "rows -1 is not a whole number >= 0"),
    ({"rows": 2.0}, "rows 2.0 is not a whole number"),
    ({"labeled": True}, "labeled True is not a whole number"),
    ({"labeled": 501}, "labeled 501 is more than the window's rows 500"),
    ({"complete": "yes"}, "complete 'yes' is not a boolean"),
    ({"results": {"check": ["drift"]}}, "results is a dict, not a polars DataFrame"),
    ({"results": results().drop("detail")}, r"results lacks \['detail'\]"),
    ({"results": results().with_columns(x=1)}, r"has columns \['x'\] that are not stored"),
    ({"results": results().with_columns(value=pl.lit("0.1"))}, "'value' is String"),
    ({"results": results().with_columns(rows=pl.lit(1.0))}, "'rows' is Float64"),
    ({"results": results().with_columns(alert=pl.lit(1))}, "'alert' is Int32"),
    ({"results": results(psi("x", 1.0), {"metric": "m"})}, "'check' is null in row 1"),
    ({"results": results({"check": "c"})}, "'metric' is null in row 0"),
    ({"results": results(psi("x\x00", 1.0))}, "'column' holds a NUL"),
]
"""Arguments that break a rule, and the error naming it; one database for all (creating one per
case would cost more than the checks)."""


def test_bad_saves_are_refused_before_anything_is_written(store: PredictionStore) -> None:
    arguments: dict[str, Any] = {
        "model": MODEL,
        "window_start": WINDOW[0],
        "window_end": WINDOW[1],
        "fingerprint": "f1",
        "results": results(psi("x", 0.1)),
        **FACTS,
    }
    for change, message in BAD_SAVES:
        with pytest.raises(InputError, match=message):
            store.save_window(**{**arguments, **change})
    assert store.read_windows(MODEL, all_versions=True).height == 0
    assert store.read_windows("", all_versions=True).height == 0
    assert store.save_window(**arguments) == 1  # the arguments changed above were the culprits


def test_bad_reads_of_results_are_refused(store: PredictionStore) -> None:
    with pytest.raises(InputError, match=r"start .* not a timezone-aware"):
        store.read_results(MODEL, start=T0.replace(tzinfo=None))
    with pytest.raises(InputError, match=r"start .* is after end"):
        store.read_results(MODEL, start=T0 + DAY, end=T0)
    with pytest.raises(InputError, match="check 5 is not a string"):
        store.read_results(MODEL, check=5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="model None is not a string"):
        store.read_windows(None)  # type: ignore[arg-type]
