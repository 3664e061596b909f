"""The columnar batch path on each backend: a PredictionBatch is stored as its records would be."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from store_helpers import T0, record

from tether.errors import InputError
from tether.store import (
    DuplicateIdError,
    GroupCommitter,
    PredictionBatch,
    PredictionRecord,
    PredictionStore,
    json_frame,
)

ROWS = 300  # more than one multi-row INSERT statement holds (256), and a ragged remainder
LATENCY = {"validate": 0.5, "predict": 1.25, "total": 2.0}
PROBLEM = {
    "column": "carrier",
    "value": "'ZZ'",
    "rule": "unseen_category",
    "policy": "flag",
    "message": "carrier: value 'ZZ' not among the categories (rule unseen_category)",
}


def served_records(rows: int = ROWS, seed: int = 0) -> list[dict[str, Any]]:
    """Records as a server gets them from JSON: every JSON scalar type, missing values, text
    that JSON and SQL must escape, numbers at the edges of their formats."""
    rng = np.random.default_rng(seed)
    texts = ["dhl", "Zürich 東京 🚚", 'say "hi"\\n\t', "\x01\x1f", "", "</script>"]
    floats = [0.1 + 0.2, 1e-7, 1e22, -0.0, 5e-324, 1.7976931348623157e308, 100.0, 2.5]
    return [
        {
            "distance": None if i % 7 == 0 else floats[i % len(floats)] * (-1) ** i,
            "stops": int(rng.integers(-(2**62), 2**62)) if i % 5 else None,
            "carrier": texts[i % len(texts)],
            "express": bool(i % 3),
            "note": None,
        }
        for i in range(rows)
    ]


def records_of(batch: PredictionBatch, inputs: list[dict[str, Any]]) -> list[PredictionRecord]:
    """The records a batch stands for (``inputs``: each row's raw inputs), under ids prefixed
    ``r-`` and the model ``records``."""
    count = len(batch.ids)
    outputs = [None] * count if batch.outputs is None else batch.outputs.to_dicts()
    problems = batch.problems or [()] * count
    shadows: list[Any] = [batch.shadow] * count
    if batch.shadow_outputs is not None:
        shadows = [{**(batch.shadow or {}), "outputs": out}
                   for out in batch.shadow_outputs.to_dicts()]  # fmt: skip
    made = []
    for i in range(count):
        made.append(
            PredictionRecord(f"r-{batch.ids[i]}", "records", batch.version, batch.created_at,
                             inputs[i], outputs[i], batch.status[i], problems[i],
                             dict(batch.latency_ms), shadows[i], batch.request_id)
        )  # fmt: skip
    return made


def assert_stored_alike(store: PredictionStore, batch: PredictionBatch) -> None:
    for prediction_id in batch.ids:
        through_batch = store.get(prediction_id)
        through_records = store.get(f"r-{prediction_id}")
        assert through_batch is not None
        assert through_records is not None
        assert {**through_records, "id": prediction_id, "model": batch.model} == through_batch
    for problems in (False, True):
        by_batch = store.read(batch.model, problems=problems).drop("id", "model")
        by_records = store.read("records", problems=problems).drop("id", "model")
        assert by_batch.equals(by_records), (by_batch, by_records)
        assert by_batch.schema == by_records.schema
        assert by_batch.height == len(batch.ids)


def test_a_batch_is_stored_and_read_back_as_its_records(store: PredictionStore) -> None:
    records = served_records()
    inputs = json_frame(records)
    assert inputs is not None
    rng = np.random.default_rng(1)
    scores = rng.random(ROWS)
    scores[3] = np.nan  # written as null, as a record's NaN is
    outputs = pl.DataFrame({"prediction": (scores > 0.5).astype(np.int64), "score": scores})
    flagged = [[PROBLEM] if i % 11 == 0 else [] for i in range(ROWS)]
    batch = PredictionBatch(
        [f"b{i:04d}" for i in range(ROWS)], "batch", "v1", T0, inputs, outputs,
        ["flagged" if found else "ok" for found in flagged], problems=flagged,
        latency_ms=LATENCY, shadow={"version": "v2"},
        shadow_outputs=outputs.with_columns(pl.col("score") / 2), request_id="req-1",
    )  # fmt: skip
    store.log([batch])
    store.log(records_of(batch, records))
    assert store.count() == 2 * ROWS
    assert store.get("b0000")["inputs"] == records[0]
    assert store.get("b0003")["outputs"]["score"] is None
    assert_stored_alike(store, batch)


def test_rejected_rows_other_column_types_and_a_failed_shadow_are_stored_alike(
    store: PredictionStore,
) -> None:
    # a frame a caller made, not json_frame: NaN and infinities, float32, a date (no polars
    # encoding: the rows take the records' path), a categorical
    inputs = pl.DataFrame(
        {
            "x": [1.5, float("nan"), float("inf"), None],
            "f32": pl.Series([0.1, 0.2, None, 3.0], dtype=pl.Float32),
            "day": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)],
            "kind": pl.Series(["a", "b", "a", None], dtype=pl.Categorical),
        }
    )
    outputs = pl.DataFrame({"prediction": ["late", "on_time", "late", "late"],
                            "proba_late": pl.Series([0.7, 0.2, 0.9, 0.6], dtype=pl.Float32),
                            "proba_on_time": [0.3, 0.8, 0.1, 0.4]})  # fmt: skip
    served = PredictionBatch(
        ["s1", "s2", "s3", "s4"], "batch", "v1", T0 + dt.timedelta(hours=1),
        inputs.select("x", "f32", "kind"), outputs, ["ok"] * 4, latency_ms=LATENCY,
        shadow={"version": "v2", "error": "RuntimeError: challenger exploded"},
    )  # fmt: skip
    rejected = PredictionBatch(
        ["j1", "j2", "j3", "j4"], "batch", "v1", T0 + dt.timedelta(hours=2), inputs, None,
        ["rejected"] * 4, problems=[[PROBLEM | {"policy": "reject"}]] * 4,
    )  # fmt: skip
    for batch in (served, rejected):  # in the same transactions: the same catalog order
        store.log([batch])
        store.log(records_of(batch, batch.inputs.to_dicts()))
    assert store.get("s2")["inputs"] == {"x": None, "f32": pytest.approx(0.2), "kind": "b"}
    assert store.get("j1")["inputs"]["day"] == "2024-01-01"
    assert store.get("j1")["outputs"] is None
    by_batch = store.read("batch", problems=True).drop("id", "model")
    by_records = store.read("records", problems=True).drop("id", "model")
    assert by_batch.equals(by_records)
    for prediction_id in ("s1", "s2", "s3", "s4", "j1", "j4"):
        assert {**store.get(f"r-{prediction_id}"), "id": prediction_id, "model": "batch"} == (
            store.get(prediction_id)
        )


def test_records_and_batches_share_one_transaction_and_its_duplicate_rule(
    store: PredictionStore,
) -> None:
    inputs = json_frame([{"x": 1.0}, {"x": 2.0}])
    assert inputs is not None

    def batch(*ids: str) -> PredictionBatch:
        return PredictionBatch(list(ids), "m", "v1", T0, inputs, None, ["rejected"] * 2)

    store.log([record("r1"), batch("b1", "b2")])
    assert store.count() == 3
    with pytest.raises(DuplicateIdError, match="'b1'") as stored:
        store.log([batch("b3", "b1")])
    assert stored.value.ids == ["b1"]
    with pytest.raises(DuplicateIdError, match="'x1'"):
        store.log([batch("x1", "x2"), record("x1")])
    with pytest.raises(DuplicateIdError, match="'y1'"):
        store.log([batch("y1", "y1")])
    assert store.count() == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ids": ["a"], "status": ["ok"]}, "inputs has 2 rows for 1 ids"),
        ({"status": ["ok", "maybe"]}, "status 'maybe' is not one of"),
        ({"ids": ["a", "b\x00"]}, "without NUL"),
        ({"created_at": dt.datetime(2024, 1, 1)}, "created_at"),
        ({"model": ""}, "model '' is not a non-empty string"),
        ({"inputs": [{"x": 1.0}, {"x": 2.0}]}, "inputs is a list, not a polars DataFrame"),
        ({"problems": [[]]}, "problems has 1 rows for 2 ids"),
        ({"latency_ms": 5}, "latency_ms is a int, not a mapping"),
        ({"inputs": pl.DataFrame({"x": [object(), object()]})}, "cannot be stored as JSON"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_a_bad_batch_raises_input_error_naming_the_field(
    store: PredictionStore, change: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {
        "ids": ["a", "b"], "model": "m", "version": "v1", "created_at": T0,
        "inputs": pl.DataFrame({"x": [1.0, 2.0]}), "outputs": None,
        "status": ["ok", "ok"],
    }  # fmt: skip
    with pytest.raises(InputError, match=message):
        store.log([PredictionBatch(**(fields | change))])
    assert store.count() == 0


def test_the_group_committer_counts_a_batch_by_its_rows(store: PredictionStore) -> None:
    records = served_records(40)
    inputs = json_frame(records)
    assert inputs is not None
    batch = PredictionBatch([f"g{i}" for i in range(40)], "m", "v1", T0, inputs, None,
                            ["rejected"] * 40)  # fmt: skip
    with GroupCommitter(store, max_batch=30) as committer:
        committer.log([batch, record("lone")])
    assert committer.records == 41
    assert committer.batches == 1  # a caller's rows go whole, even beyond max_batch
    assert store.count() == 41


@pytest.mark.parametrize(
    "records",
    [
        [{"x": 1.5}, {"x": 2}],  # an integer would come back a float
        [{"x": True}, {"x": 1}],
        [{"x": 1.0, "y": 2.0}, {"y": 2.0, "x": 1.0}],  # the key order would change
        [{"x": 1.0}, {"x": 1.0, "y": 2.0}],
        [{"x": [1.0]}, {"x": [2.0]}],
        [{"x": {"a": 1}}, {"x": None}],
        [{"x": 2**64}, {"x": 1}],
        [{"x": "\ud800"}, {"x": "a"}],
        [{}, {}],
        [],
    ],
    ids=str,
)
def test_json_frame_refuses_records_it_could_not_give_back(records: list[Any]) -> None:
    assert json_frame(records) is None


def test_json_frame_keeps_every_key_type_and_value() -> None:
    records = served_records(50)
    frame = json_frame(records)
    assert frame is not None
    assert frame.schema == pl.Schema(
        {"distance": pl.Float64, "stops": pl.Int64, "carrier": pl.String,
         "express": pl.Boolean, "note": pl.Null}
    )  # fmt: skip
    assert frame.to_dicts() == records
