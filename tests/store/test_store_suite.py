"""The behaviour every prediction store keeps, checked on each backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta, timezone

import polars as pl
import pytest
from store_helpers import T0, record

from tether.errors import InputError, UnsupportedVersionError
from tether.store import (
    DuplicateIdError,
    LabelRecord,
    LabelResult,
    PredictionStore,
    base,
    open_store,
)
from tether.store.schema import Migration

FEATURES = {
    "distance_km": pl.Float64,
    "stops": pl.Int64,
    "carrier": pl.String,
    "express": pl.Boolean,
    "booked_at": pl.Datetime("us", "UTC"),
}


def test_log_then_get_returns_every_field(store: PredictionStore) -> None:
    inputs = {
        "city": "Zürich 東京 🚚",
        "nested": {"legs": [1, 2.5, None, {"a": "b"}], "ok": True},
        "quote": 'say "hi"\\n\t',
        "lone": "\ud800",
        "big": 2**70,
    }
    made_at = (T0 + timedelta(microseconds=123_457)).astimezone(timezone(timedelta(hours=5)))
    served = record(
        "p-ok",
        inputs=inputs,
        outputs={"prediction": "late", "proba_late": 0.8, "proba_on_time": 0.2},
        status="flagged",
        problems=[
            {"column": "stops", "value": -1, "rule": "min", "policy": "flag", "message": "m"}
        ],
        shadow={"version": "v2", "outputs": {"prediction": "on_time"}},
        request_id="req-1",
    )
    served = type(served)(**{**served.__dict__, "created_at": made_at})
    rejected = record("p-rejected", 1, outputs=None, status="rejected")
    store.log([served, rejected])

    got = store.get("p-ok")
    assert got == {
        "id": "p-ok",
        "model": "late-arrival",
        "version": "v1",
        "created_at": T0 + timedelta(microseconds=123_457),
        "status": "flagged",
        "inputs": inputs,
        "outputs": {"prediction": "late", "proba_late": 0.8, "proba_on_time": 0.2},
        "problems": served.problems,
        "latency_ms": {"validate": 0.05, "predict": 0.4, "total": 0.6},
        "shadow": {"version": "v2", "outputs": {"prediction": "on_time"}},
        "request_id": "req-1",
        "label": None,
        "labeled_at": None,
        "label_received_at": None,
    }
    assert got["created_at"].utcoffset() == timedelta(0)
    assert store.get("p-rejected")["outputs"] is None
    assert store.get("never-logged") is None


def test_duplicate_id_rejects_the_whole_batch_and_names_it(store: PredictionStore) -> None:
    store.log([record("p1")])
    with pytest.raises(DuplicateIdError, match="'p1'") as stored:
        store.log([record("p2", 1), record("p1", 2), record("p3", 3)])
    assert stored.value.ids == ["p1"]
    with pytest.raises(DuplicateIdError, match="'p4'") as repeated:
        store.log([record("p4", 4), record("p5", 5), record("p4", 6)])
    assert repeated.value.ids == ["p4"]
    assert store.count() == 1
    assert [store.get(i) for i in ("p2", "p3", "p4", "p5")] == [None] * 4


def test_invalid_record_raises_input_error_naming_the_field(store: PredictionStore) -> None:
    naive = record("p1")
    naive = type(naive)(**{**naive.__dict__, "created_at": T0.replace(tzinfo=None)})
    with pytest.raises(InputError, match="created_at"):
        store.log([naive])
    with pytest.raises(InputError, match="status 'maybe'"):
        store.log([record("p2", status="maybe")])
    with pytest.raises(InputError, match="inputs cannot be stored as JSON"):
        store.log([record("p3", inputs={"x": object()})])
    with pytest.raises(InputError, match="without NUL"):
        store.log([record("p\x004")])
    assert store.count() == 0


def test_labels_are_idempotent_latest_wins_and_unknown_ids_reported(
    store: PredictionStore,
) -> None:
    store.log([record("a"), record("b", 1), record("c", 2)])
    first = store.add_labels(
        [LabelRecord("a", 1, T0), LabelRecord("b", "late"), LabelRecord("ghost", 0)]
    )
    assert first == LabelResult(accepted=2, unchanged=0, updated=0, unknown=["ghost"])
    received = store.get("a")["label_received_at"]

    again = store.add_labels(
        [LabelRecord("a", 1, T0 + timedelta(days=1)), LabelRecord("b", "late")]
    )
    assert again == LabelResult(accepted=0, unchanged=2, updated=0, unknown=[])
    assert store.get("a")["label_received_at"] == received  # the same value: nothing moves
    changed = store.add_labels([LabelRecord("a", 0, T0 + timedelta(days=2))])
    assert changed == LabelResult(accepted=0, unchanged=0, updated=1, unknown=[])

    a = store.get("a")
    assert (a["label"], a["labeled_at"]) == (0, T0 + timedelta(days=2))
    assert a["label_received_at"] > received  # a new value: received when it arrived
    assert store.get("b")["label"] == "late"
    assert store.get("c")["label"] is None
    assert store.get("ghost") is None


def test_labels_in_one_batch_apply_in_order(store: PredictionStore) -> None:
    store.log([record("a")])
    result = store.add_labels([LabelRecord("a", 1), LabelRecord("a", 1), LabelRecord("a", 2)])
    assert result == LabelResult(accepted=1, unchanged=1, updated=1, unknown=[])
    assert store.get("a")["label"] == 2


def test_label_value_must_be_a_scalar(store: PredictionStore) -> None:
    store.log([record("a")])
    with pytest.raises(InputError, match="not a number, string, boolean or null"):
        store.add_labels([LabelRecord("a", [1, 2])])
    assert store.get("a")["label"] is None


def test_read_window_is_half_open_and_ordered(store: PredictionStore) -> None:
    # Logged out of order, with a tie on created_at broken by id.
    store.log([record(f"p{s}", s) for s in (3, 0, 4, 1)] + [record("p2b", 2), record("p2a", 2)])
    ids = lambda frame: frame["id"].to_list()  # noqa: E731
    assert ids(store.read("late-arrival")) == ["p0", "p1", "p2a", "p2b", "p3", "p4"]
    window = store.read(
        "late-arrival", start=T0 + timedelta(seconds=1), end=T0 + timedelta(seconds=3)
    )
    assert ids(window) == ["p1", "p2a", "p2b"]
    assert ids(store.read("late-arrival", end=T0 + timedelta(seconds=1))) == ["p0"]
    assert ids(store.read("late-arrival", start=T0 + timedelta(seconds=4))) == ["p4"]
    assert store.read("other-model").height == 0
    with pytest.raises(InputError, match="start"):
        store.read("late-arrival", start=T0.replace(tzinfo=None))


def test_read_filters_on_version(store: PredictionStore) -> None:
    store.log([record("a", version="v1"), record("b", 1, version="v2"), record("c", 2)])
    assert store.read("late-arrival", version="v2")["id"].to_list() == ["b"]
    assert store.read("late-arrival", version="v1")["id"].to_list() == ["a", "c"]


def test_read_decodes_inputs_with_the_feature_schema(store: PredictionStore) -> None:
    store.log(
        [
            record(
                "a",
                inputs={
                    "distance_km": 3,
                    "stops": 2,
                    "carrier": "dhl",
                    "express": True,
                    "booked_at": "2024-03-01T10:00:00+00:00",
                    "not_a_feature": 1,
                },
            ),
            # A flagged record with values of the wrong type and a missing feature.
            record("b", 1, inputs={"distance_km": "far", "stops": 2.5, "carrier": 7}),
        ]
    )
    frame = store.read("late-arrival", schema=FEATURES, labels=False)
    assert frame.columns == [
        "id", "model", "version", "created_at", "status", "request_id",
        *FEATURES, "prediction", "score", "latency_total_ms",
    ]  # fmt: skip
    assert frame.select(list(FEATURES)).schema == pl.Schema(FEATURES)
    assert frame.select(list(FEATURES)).rows() == [
        (3.0, 2, "dhl", True, T0.replace(hour=10)),
        (None, None, "7", None, None),
    ]
    assert frame.schema["created_at"] == pl.Datetime("us", "UTC")


def test_read_in_chunks_keeps_every_row_and_type(
    store: PredictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "READ_CHUNK_ROWS", 2)
    stops = [1, 2, "many", 4, 5]  # the second chunk fails the typed parse; the others do not
    store.log([record(f"p{i}", i, inputs={"stops": value}) for i, value in enumerate(stops)])
    frame = store.read("late-arrival", schema={"stops": pl.Int64})
    assert frame["stops"].to_list() == [1, 2, None, 4, 5]
    assert frame["id"].to_list() == [f"p{i}" for i in range(5)]
    assert frame.schema["stops"] == pl.Int64


def test_read_types_columns_from_the_values_written(store: PredictionStore) -> None:
    store.log(
        [
            record(
                "a", inputs={"n": 1, "x": 1, "flag": True, "mix": 1, "obj": {"k": 1}, "gone": None}
            ),
            record("b", 1, inputs={"n": 2, "x": 2.5, "flag": False, "mix": "one", "obj": [1]}),
            record("c", 2, outputs=None, status="rejected", inputs={"only_here": "x"}),
        ]
    )
    frame = store.read("late-arrival", labels=False)
    assert {name: frame.schema[name] for name in ("n", "x", "flag", "mix", "obj", "gone")} == {
        "n": pl.Int64,
        "x": pl.Float64,
        "flag": pl.Boolean,
        "mix": pl.String,
        "obj": pl.String,
        "gone": pl.Null,
    }
    assert frame["x"].to_list() == [1.0, 2.5, None]
    assert frame["mix"].to_list() == ["1", "one", None]
    assert [json.loads(v) for v in frame["obj"].to_list()[:2]] == [{"k": 1}, [1]]
    assert frame["only_here"].to_list() == [None, None, "x"]
    assert frame["prediction"].to_list() == [1, 1, None]
    assert frame["latency_total_ms"].to_list() == [0.6, 0.6, 0.6]


def test_read_renames_inputs_that_collide_with_log_columns(store: PredictionStore) -> None:
    store.log([record("a", inputs={"id": 7, "score": 0.1, "input_id": 8, "x": 1})])
    frame = store.read("late-arrival", labels=False)
    assert frame["input_input_id"].to_list() == [7]
    assert frame.select("id", "input_id", "score", "input_score", "x").row(0) == (
        "a", 8, 0.75, 0.1, 1,
    )  # fmt: skip


def test_read_joins_labels(store: PredictionStore) -> None:
    store.log([record("a"), record("b", 1), record("c", 2)])
    store.add_labels([LabelRecord("a", 1, T0 + timedelta(hours=1)), LabelRecord("c", 0)])
    frame = store.read("late-arrival")
    assert frame.select("label", "labeled_at").rows() == [
        (1, T0 + timedelta(hours=1)),
        (None, None),
        (0, None),
    ]
    assert frame.schema["labeled_at"] == pl.Datetime("us", "UTC")
    assert "label" not in store.read("late-arrival", labels=False).columns


def _problem(rule: str) -> dict[str, object]:
    return {"column": "stops", "value": [1, {"a": None}], "rule": rule, "policy": "flag"}


def test_read_with_problems_adds_rules_and_label_received_at(
    store: PredictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "READ_CHUNK_ROWS", 2)  # the second chunk fails the typed parse
    store.log(
        [
            record("a", inputs={"stops": 1, "rules": "an input"}),
            record("b", 1, status="flagged", problems=[_problem("min"), _problem("type")]),
            record("c", 2, inputs={"stops": "many"}, status="flagged", problems=[_problem("type")]),
            record("d", 3, outputs=None, status="rejected", problems=[{"rule": "refused"}, {}]),
        ]
    )
    store.add_labels([LabelRecord("a", 1), LabelRecord("c", 0)])
    features: dict[str, type[pl.DataType]] = {"stops": pl.Int64, "rules": pl.String}
    frame = store.read("late-arrival", schema=features, problems=True)
    assert frame.columns == [
        "id", "model", "version", "created_at", "status", "rules", "request_id", "stops",
        "input_rules", "prediction", "score", "latency_total_ms", "label", "labeled_at",
        "label_received_at",
    ]  # fmt: skip
    assert frame["rules"].to_list() == [[], ["min", "type"], ["type"], ["refused", None]]
    assert frame["stops"].to_list() == [1, None, None, None]
    assert frame["input_rules"].to_list() == ["an input", None, None, None]
    received = [store.get(i)["label_received_at"] for i in "abcd"]  # type: ignore[index]
    assert frame["label_received_at"].to_list() == received
    assert received[0] is not None
    assert received[1] is None
    assert (frame.schema["rules"], frame.schema["label_received_at"]) == (
        pl.List(pl.String),
        pl.Datetime("us", "UTC"),
    )

    store.add_labels([LabelRecord("c", 1)])  # a new value: the monitor must see the change
    relabeled = store.read("late-arrival", problems=True)["label_received_at"].to_list()
    assert relabeled[0] == received[0]
    assert relabeled[2] > received[2]

    plain = store.read("late-arrival", schema=features)
    without = [c for c in frame.columns if c not in ("rules", "label_received_at")]
    assert plain.columns == ["rules" if c == "input_rules" else c for c in without]
    assert plain["rules"].to_list() == ["an input", None, None, None]  # the input, not renamed
    unlabeled = store.read("late-arrival", labels=False, problems=True)
    assert "rules" in unlabeled.columns
    assert "label_received_at" not in unlabeled.columns
    empty = store.read("late-arrival", schema=features, problems=True, start=T0 + timedelta(1))
    assert empty.height == 0
    assert empty.schema == frame.schema


def test_models_lists_every_model_that_logged(store: PredictionStore) -> None:
    assert store.models() == []
    store.log([record("a", model="zeta"), record("b", model="alpha")])
    store.log([record("c", model="zeta"), record("d", model="Beta")])
    assert store.models() == ["Beta", "alpha", "zeta"]


def test_count_per_model(store: PredictionStore) -> None:
    store.log([record("a"), record("b", 1), record("c", 2, model="other")])
    assert (store.count(), store.count("late-arrival"), store.count("nothing")) == (3, 2, 0)


def test_nan_and_infinity_in_inputs_are_stored_as_null(store: PredictionStore) -> None:
    store.log([record("a", inputs={"x": float("nan"), "y": [float("inf"), 1.0], "z": 2.0})])
    assert store.get("a")["inputs"] == {"x": None, "y": [None, 1.0], "z": 2.0}
    assert store.read("late-arrival")["x"].to_list() == [None]


def test_empty_window_has_the_columns_of_a_full_one(store: PredictionStore) -> None:
    store.log([record("a", inputs={"distance_km": 1.0})])
    full = store.read("late-arrival", schema=FEATURES)
    empty = store.read("late-arrival", schema=FEATURES, start=T0 + timedelta(days=1))
    assert empty.height == 0
    assert empty.schema == full.schema
    unused = store.read("never-logged", schema=FEATURES)
    assert unused.columns == [c for c in full.columns if c != "score"]
    assert store.read("late-arrival", schema=FEATURES, start=T0, end=T0).height == 0


def test_fresh_database_is_migrated_to_the_latest_version(
    store: PredictionStore, store_url: str
) -> None:
    latest = store.migrations[-1].version
    assert store.schema_version() == latest
    assert store.migrate() == []
    again = open_store(store_url)
    assert again.schema_version() == latest
    assert again.ready()
    again.close()


def test_new_migration_is_applied_once_on_open(
    store: PredictionStore, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.log([record("a")])
    newer = store.migrations[-1].version + 1
    added = Migration(newer, "notes", ("CREATE TABLE notes (prediction_id TEXT PRIMARY KEY)",))
    monkeypatch.setattr(type(store), "migrations", (*store.migrations, added))
    upgraded = open_store(store_url)
    assert upgraded.schema_version() == newer
    assert upgraded.migrate() == []
    assert upgraded.get("a") is not None
    upgraded.close()


def test_failed_migration_changes_nothing(
    store: PredictionStore, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    latest = store.migrations[-1].version
    broken = Migration(latest + 1, "broken", ("CREATE TABLE half (x INTEGER)", "NOT SQL AT ALL"))
    monkeypatch.setattr(type(store), "migrations", (*store.migrations, broken))
    with pytest.raises(Exception, match=r"(?i)syntax"):
        open_store(store_url)
    monkeypatch.undo()
    # Had "half" been created, the next migration would fail now that it is fixed.
    fixed = Migration(latest + 1, "fixed", ("CREATE TABLE half (x INTEGER)",))
    monkeypatch.setattr(type(store), "migrations", (*store.migrations, fixed))
    assert store.schema_version() == latest
    assert store.migrate() == [latest + 1]


def test_database_of_a_newer_tether_is_refused(store: PredictionStore, store_url: str) -> None:
    newer = store.migrations[-1].version + 1
    store.migrations = (
        *store.migrations,
        Migration(newer, "from the future", ("CREATE TABLE future (x INTEGER)",)),
    )
    store.migrate()
    with pytest.raises(UnsupportedVersionError, match=f"schema version {newer}.*upgrade tether"):
        open_store(store_url)


def test_closed_store_is_not_ready(store: PredictionStore) -> None:
    assert store.ready()
    store.close()
    assert not store.ready()


DURABILITY_CHILD = """
import sys
from datetime import UTC, datetime
from tether.store import GroupCommitter, PredictionRecord, new_prediction_id, open_store

committer = GroupCommitter(open_store(sys.argv[1]))
while True:
    prediction_id = new_prediction_id()
    committer.log([PredictionRecord(prediction_id, "m", "v1", datetime.now(UTC), {"x": 1},
                                    {"prediction": 0}, "ok")])
    print(prediction_id, flush=True)
"""


def test_acknowledged_records_survive_sigkill(store: PredictionStore, store_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", DURABILITY_CHILD, store_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert child.stdout is not None
        acknowledged = [child.stdout.readline().strip() for _ in range(30)]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert all(acknowledged)
    reopened = open_store(store_url)
    missing = [i for i in acknowledged if reopened.get(i) is None]
    reopened.close()
    assert missing == []
