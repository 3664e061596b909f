"""The batch path of /v1/predict: columnar logging and answers give what the record path gave."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from serve_data import FEATURES, RECORD, build, flights
from threadpoolctl import threadpool_limits

from tether.serve import create_app
from tether.serve.metrics import BatchHistogram
from tether.serve.scoring import Served, answer_fields
from tether.store import open_store


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def bundle():
    return build()


@pytest.fixture
def store(tmp_path):
    store = open_store(str(tmp_path / "t.db"))
    yield store
    store.close()


def answers(bundle, store, records, ids, **options):
    with TestClient(create_app(bundle, model_name="late", store=store, **options)) as client:
        return client.post("/v1/predict", json={"records": records, "ids": ids})


def served_rows(count: int, seed: int) -> list[dict]:
    """Rows of the bundles' features as JSON brings them (missing values as None)."""
    return flights(count, seed).select(FEATURES).to_dicts()


def test_a_batch_is_answered_and_stored_as_each_record_would_be(bundle, store) -> None:
    records = served_rows(40, 9)
    records[3] = records[3] | {"carrier": "ZZ"}  # an unseen category of a flag column
    records[5] = records[5] | {"distance": None}
    ids = [f"b{i:02d}" for i in range(len(records))]
    answer = answers(bundle, store, records, ids)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["model"], body["version"]) == ("late", bundle.version)

    served = Served(bundle, "late")
    outputs = bundle.predict(served.frame(bundle, records)).to_dicts()
    problems = served.check(records)
    assert [p["rule"] for p in problems[3]] == ["unseen_category"]
    latency = store.get(ids[0])["latency_ms"]
    assert {"validate", "predict", "total"} <= set(latency)
    for i, row in enumerate(body["predictions"]):
        warnings = [
            {"field": p["column"], "value": p["value"], "rule": p["rule"], "message": p["message"]}
            for p in problems[i]
        ]
        status = "flagged" if problems[i] else "ok"
        assert row == {"id": ids[i], **answer_fields(outputs[i]), "status": status,
                       "warnings": warnings}  # fmt: skip
        assert list(row) == ["id", "prediction", "score", "status", "warnings"]
        stored = store.get(ids[i])
        assert stored["inputs"] == records[i]
        assert [type(v) for v in stored["inputs"].values()] == [
            type(v) for v in records[i].values()
        ]
        assert stored["outputs"] == outputs[i]
        assert stored["status"] == status
        assert stored["problems"] == problems[i]
        assert stored["latency_ms"] == latency  # one request, one set of timings
        assert stored["request_id"] == answer.headers["x-request-id"]
        assert stored["shadow"] is None
    frame = store.read("late", schema=bundle.feature_schema)
    assert frame.select(FEATURES).equals(served.frame(bundle, records))
    assert frame["status"].to_list() == ["flagged" if p else "ok" for p in problems]


def test_records_that_do_not_fit_a_frame_are_stored_exactly_as_sent(bundle, store) -> None:
    records = [RECORD | {"distance": 800}, RECORD, RECORD | {"extra": {"nested": [1, None]}}]
    answer = answers(bundle, store, records, ["i1", "i2", "i3"])
    assert answer.status_code == 200
    assert store.get("i1")["inputs"] == RECORD | {"distance": 800}
    assert type(store.get("i1")["inputs"]["distance"]) is int  # not turned into 800.0
    assert store.get("i3")["inputs"]["extra"] == {"nested": [1, None]}
    scores = [row["score"] for row in answer.json()["predictions"]]
    assert scores[0] == scores[1]  # 800 and 800.0 are the same distance to the model


def test_an_empty_key_is_stored_under_its_own_name(bundle, store) -> None:
    # polars names an unnamed Series column_<i>: "" and "column_0" must both survive as sent
    records = [RECORD | {"": i, "column_0": "x"} for i in range(3)]
    answer = answers(bundle, store, records, ["e0", "e1", "e2"])
    assert answer.status_code == 200
    assert [store.get(f"e{i}")["inputs"] for i in range(3)] == records


def test_shadow_outputs_of_a_batch_are_stored_per_row(bundle, store) -> None:
    challenger = build(seed=3, c=0.05)
    records = served_rows(12, 4)
    ids = [f"s{i}" for i in range(12)]
    answer = answers(bundle, store, records, ids, challenger=challenger)
    assert answer.status_code == 200
    expected = challenger.predict(Served(challenger, "late").frame(challenger, records))
    for i, out in enumerate(expected.to_dicts()):
        assert store.get(ids[i])["shadow"] == {"version": challenger.version, "outputs": out}


def test_a_multiclass_batch_answers_probabilities_by_class(store) -> None:
    from sklearn.linear_model import LogisticRegression

    from tether.bundle import Bundle

    frame = flights(600, 5).with_columns(
        band=pl.when(pl.col("distance") < 500).then(pl.lit("am"))
        .when(pl.col("distance") < 1200).then(pl.lit("mid")).otherwise(pl.lit("pm"))
    )  # fmt: skip
    train = frame.select("distance", "band").fill_null(0.0)
    model = LogisticRegression(max_iter=300).fit(train.select("distance"), train["band"])
    multi = Bundle.build(model, train=train, valid=train, target="band", n_resamples=10)
    records = [{"distance": d} for d in (100.0, 800.0, 2500.0, 900.0)]
    answer = answers(multi, store, records, ["m1", "m2", "m3", "m4"])
    outputs = multi.predict(pl.DataFrame(records)).to_dicts()
    rows = answer.json()["predictions"]
    assert [row["prediction"] for row in rows] == ["am", "mid", "pm", "mid"]
    for row, out in zip(rows, outputs, strict=True):
        assert list(row) == ["id", "prediction", "probabilities", "status", "warnings"]
        assert {k: row[k] for k in ("prediction", "probabilities")} == answer_fields(out)
        assert store.get(row["id"])["outputs"] == out


def test_a_batch_histogram_exposes_what_a_prometheus_histogram_does() -> None:
    buckets = (0.1, 0.5, 1.0)
    values = np.concatenate([np.linspace(-0.5, 1.5, 201), [0.1, 0.5, 1.0, 1.0]])
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("score", "Scores", buckets, registry=ours)
    reference = Histogram("score", "Scores", buckets=buckets, registry=theirs)
    batch.observe_many(values[:150])
    for value in values[150:]:
        batch.observe(float(value))
    for value in values:
        reference.observe(float(value))

    def samples(registry: CollectorRegistry) -> dict[str, float]:
        lines = generate_latest(registry).decode().splitlines()
        found = dict(line.rsplit(" ", 1) for line in lines if not line.startswith("#"))
        return {name: float(value) for name, value in found.items() if "_created" not in name}

    mine, expected = samples(ours), samples(theirs)
    assert mine.pop("score_sum") == pytest.approx(expected.pop("score_sum"), rel=1e-12)
    assert mine == expected
    # the bound itself is in its bucket
    assert mine['score_bucket{le="0.5"}'] == np.count_nonzero(values <= 0.5)
    batch.observe_many(np.array([np.nan, 0.2]))
    batch.observe(float("nan"))
    assert samples(ours)["score_count"] == len(values) + 1  # NaN is in no bucket
