"""The server through its ASGI interface: predictions, guardrails, store, labels, shadow, admin,
limits and metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from types import SimpleNamespace

import httpx
import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_data import FEATURES, RECORD, build
from threadpoolctl import threadpool_limits

from tether.registry import Registry
from tether.serve import Limits, create_app
from tether.store import open_store

TOKEN = "s3cret-token-value"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def bundle():
    return build(latency_budget_ms=50)


@pytest.fixture(scope="module")
def challenger():
    return build(seed=3, c=0.05)


@pytest.fixture
def store(tmp_path):
    store = open_store(str(tmp_path / "t.db"))
    yield store
    store.close()


def client_for(bundle, store, **options) -> TestClient:
    app = create_app(bundle, model_name="late", store=store, **options)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(bundle, store):
    with client_for(bundle, store, token=TOKEN) as c:
        yield c


def predict(client, *records, ids=None):
    body = {"records": list(records)} | ({"ids": ids} if ids is not None else {})
    return client.post("/v1/predict", json=body)


def metric(client, line: str) -> float:
    """The value of the metrics line starting with ``line`` (0 when absent)."""
    for text in client.get("/metrics").text.splitlines():
        if text.startswith(line + " "):
            return float(text.rsplit(" ", 1)[1])
    return 0.0


# -- predictions -------------------------------------------------------------------------------


def test_one_record_answers_the_online_path_and_is_stored(client, bundle, store) -> None:
    answer = predict(client, RECORD, ids=["p1"])
    assert answer.status_code == 200
    body = answer.json()
    expected = bundle.predict_record(RECORD)
    assert body["model"] == "late"
    assert body["version"] == bundle.version
    (row,) = body["predictions"]
    assert row == {"id": "p1", **expected, "status": "ok", "warnings": []}
    stored = store.get("p1")
    assert stored["status"] == "ok"
    assert stored["outputs"] == expected
    assert stored["inputs"] == RECORD
    assert stored["version"] == bundle.version
    latency = stored["latency_ms"]
    assert {"validate", "predict", "total"} <= set(latency)
    assert latency["validate"] + latency["predict"] <= latency["total"]
    assert stored["request_id"] == answer.headers["x-request-id"]


def test_several_records_take_the_batch_path(client, bundle) -> None:
    records = [RECORD, RECORD | {"distance": 3000.0, "carrier": "AA"}, RECORD | {"distance": None}]
    answer = predict(client, *records)
    assert answer.status_code == 200
    frame = pl.DataFrame(records, schema={name: bundle.record_frame(RECORD)[name].dtype
                                          for name in FEATURES})  # fmt: skip
    expected = bundle.predict(frame)
    scores = [p["score"] for p in answer.json()["predictions"]]
    np.testing.assert_array_equal(scores, expected["score"].to_numpy())
    assert [p["prediction"] for p in answer.json()["predictions"]] == expected[
        "prediction"
    ].to_list()
    ids = [p["id"] for p in answer.json()["predictions"]]
    assert len(set(ids)) == 3
    assert ids == sorted(ids, key=ids.index)


def test_multiclass_answers_probabilities_by_class(store) -> None:
    from serve_data import flights
    from sklearn.linear_model import LogisticRegression

    from tether.bundle import Bundle

    frame = flights(600, 5).with_columns(
        band=pl.when(pl.col("distance") < 500)
        .then(pl.lit("am"))
        .when(pl.col("distance") < 1200)
        .then(pl.lit("mid"))
        .otherwise(pl.lit("pm"))
    )
    train = frame.select("distance", "band").fill_null(0.0)
    model = LogisticRegression(max_iter=300).fit(train.select("distance"), train["band"])
    multi = Bundle.build(model, train=train, valid=train, target="band", n_resamples=10)
    with client_for(multi, store) as c:
        answer = c.post("/v1/predict", json={"records": [{"distance": 500.0}], "ids": ["m1"]})
    (row,) = answer.json()["predictions"]
    assert set(row["probabilities"]) == {"am", "mid", "pm"}
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert row["prediction"] == max(row["probabilities"], key=row["probabilities"].get)
    # the store keeps the bundle's own output fields, which monitoring reads back as columns
    stored = store.get("m1")["outputs"]
    assert stored == {"prediction": row["prediction"]} | {
        f"proba_{k}": v for k, v in row["probabilities"].items()
    }


def test_client_ids_repeated_in_the_request_are_409(client, store) -> None:
    answer = predict(client, RECORD, RECORD, ids=["a", "a"])
    assert answer.status_code == 409
    assert answer.json()["ids"] == ["a"]
    assert store.get("a") is None


def test_client_ids_already_stored_are_409_and_nothing_is_written(client, store) -> None:
    assert predict(client, RECORD, ids=["a"]).status_code == 200
    answer = predict(client, RECORD, RECORD, ids=["b", "a"])
    assert answer.status_code == 409
    assert answer.json()["ids"] == ["a"]
    assert store.get("b") is None


def test_ids_must_match_the_records_one_each(client) -> None:
    answer = predict(client, RECORD, RECORD, ids=["only-one"])
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == "ids_length"


# -- contract guardrails -----------------------------------------------------------------------


def test_unseen_category_of_a_reject_column_is_422_and_logged_as_rejected(client, store) -> None:
    answer = predict(client, RECORD, RECORD | {"origin": "ZZZ"}, ids=["ok-1", "bad-1"])
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == [
        {
            "row": 1,
            "field": "origin",
            "value": "'ZZZ'",
            "rule": "unseen_category",
            "message": "origin: value 'ZZZ' not among the 3 allowed categories "
            "(rule unseen_category)",
        }
    ]
    (logged,) = body["logged"]
    stored = store.get(logged)
    assert stored["status"] == "rejected"
    assert stored["outputs"] is None
    assert stored["problems"][0]["rule"] == "unseen_category"
    # nothing was predicted; the client may resend the fixed rows under its own ids
    assert store.get("ok-1") is None
    assert store.get("bad-1") is None
    assert predict(client, RECORD, RECORD, ids=["ok-1", "bad-1"]).status_code == 200
    assert metric(client, 'tether_rejections_total{column="origin",rule="unseen_category"}') == 1


def test_unseen_category_of_a_flag_column_is_predicted_with_a_warning(client, store) -> None:
    answer = predict(client, RECORD | {"carrier": "ZZ"}, ids=["f1"])
    assert answer.status_code == 200
    (row,) = answer.json()["predictions"]
    assert row["status"] == "flagged"
    assert [(w["field"], w["rule"]) for w in row["warnings"]] == [("carrier", "unseen_category")]
    assert store.get("f1")["status"] == "flagged"
    assert store.get("f1")["problems"][0]["rule"] == "unseen_category"
    assert metric(client, 'tether_flags_total{column="carrier",rule="unseen_category"}') == 1


def test_coerce_column_reads_numeric_text(client, bundle) -> None:
    answer = predict(client, RECORD | {"distance": "800.0"})
    assert answer.status_code == 200
    (row,) = answer.json()["predictions"]
    assert row["status"] == "ok"
    # native batch path vs the float32 ONNX online path: parity tolerance of the bundle
    assert row["score"] == pytest.approx(bundle.predict_record(RECORD)["score"], abs=1e-6)


def test_missing_field_is_422_extra_field_is_ignored(client) -> None:
    missing = {k: v for k, v in RECORD.items() if k != "dep_hour"}
    answer = predict(client, missing)
    assert answer.status_code == 422
    assert [(d["field"], d["rule"]) for d in answer.json()["detail"]] == [
        ("dep_hour", "missing_column")
    ]
    extra = predict(client, RECORD | {"unknown": {"nested": [1, 2]}, "flight_id": 7, "late": 1})
    assert extra.status_code == 200
    assert extra.json()["predictions"][0]["status"] == "ok"


def test_wrong_type_is_422_naming_the_value(client) -> None:
    answer = predict(client, RECORD | {"dep_hour": "eight", "origin": 5})
    assert answer.status_code == 422
    problems = {(d["field"], d["rule"], d["value"]) for d in answer.json()["detail"]}
    assert problems == {("dep_hour", "wrong_type", "'eight'"), ("origin", "wrong_type", "5")}


def test_unicode_values_come_back_intact(client, store) -> None:
    answer = predict(client, RECORD | {"carrier": "✈️ Ελλάδα"}, ids=["ü-1"])
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["warnings"][0]["value"] == "'✈️ Ελλάδα'"
    assert store.get("ü-1")["inputs"]["carrier"] == "✈️ Ελλάδα"
    refused = predict(client, RECORD | {"origin": "東京"})
    assert refused.json()["detail"][0]["value"] == "'東京'"


# -- limits and malformed bodies ---------------------------------------------------------------


def raw(client, body: bytes | str, content_type: str | None = "application/json"):
    headers = {} if content_type is None else {"content-type": content_type}
    return client.post("/v1/predict", content=body, headers=headers)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_literals_are_422(client, literal) -> None:
    body = json.dumps({"records": [RECORD]}).replace("800.0", literal)
    answer = raw(client, body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == "non_finite"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, content_type) -> None:
    answer = raw(client, json.dumps({"records": [RECORD]}), content_type)
    assert answer.status_code == 415
    assert "is not supported; send JSON" in answer.json()["detail"]


def test_content_type_with_charset_is_accepted(client) -> None:
    answer = raw(client, json.dumps({"records": [RECORD]}), "application/json; charset=utf-8")
    assert answer.status_code == 200


def test_huge_payload_is_413_whether_declared_or_streamed(bundle, store) -> None:
    with client_for(bundle, store, limits=Limits(max_body_bytes=10_000)) as c:
        body = json.dumps({"records": [RECORD] * 200}).encode()
        assert len(body) > 10_000
        assert raw(c, body).status_code == 413

        def chunks():  # no content-length: the server must count while reading
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        answer = c.post(
            "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413
        assert "max_body_bytes=10000" in answer.json()["detail"]


@pytest.mark.parametrize("depth", [12, 200_000])
def test_deep_nesting_is_422(client, depth) -> None:
    nested = "[" * depth + "]" * depth
    answer = raw(client, '{"records": [{"distance": ' + nested + "}]}")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == "max_depth"


def test_long_string_is_422(client) -> None:
    answer = predict(client, RECORD | {"carrier": "x" * 20_000})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == "max_string_length"


def test_batch_over_the_limit_is_422_naming_the_limit(bundle, store) -> None:
    with client_for(bundle, store, limits=Limits(max_records=5)) as c:
        assert predict(c, *[RECORD] * 5).status_code == 200
        answer = predict(c, *[RECORD] * 6)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == "max_records"
    assert "limit of 5 per request (max_records)" in answer.json()["detail"][0]["message"]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", "bad_json"),
        (b"{", "bad_json"),
        (b"\xff\xfe{}", "bad_json"),
        (b'{"records": [{"carrier": "\\ud800"}]}', "bad_unicode"),
        (b'{"records": [{"distance": ' + b"9" * 5000 + b"}]}", "bad_json"),
        (b"[]", "model_type"),
        (b'{"records": []}', "too_short"),
        (b'{"records": [1]}', "dict_type"),
        (b'{"records": [{}], "surprise": 1}', "extra_forbidden"),
        (b'{"records": [{}], "ids": [3]}', "string_type"),
    ],
)
def test_malformed_bodies_are_422_with_a_rule(client, body, rule) -> None:
    answer = raw(client, body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == rule


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=JSON | st.fixed_dictionaries({"records": st.lists(st.dictionaries(
        st.sampled_from([*FEATURES, "flight_id", "x"]), JSON, max_size=5), max_size=3)})
)  # fmt: skip
def test_no_json_body_makes_a_500(client, body) -> None:
    answer = raw(client, json.dumps(body))
    assert answer.status_code in (200, 422), answer.text


def test_an_unexpected_error_is_a_json_500_and_the_server_keeps_serving(
    client, store, monkeypatch
) -> None:
    def broken(prediction_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "get", broken)
    answer = client.get("/v1/predictions/x", headers={"x-request-id": "req-42"})
    assert answer.status_code == 500
    assert answer.json() == {
        "detail": "internal error; the server logged it",
        "request_id": "req-42",
    }
    assert answer.headers["x-request-id"] == "req-42"
    assert predict(client, RECORD).status_code == 200


# -- labels and stored predictions -------------------------------------------------------------


def test_labels_are_joined_and_counted(client, bundle) -> None:
    assert predict(client, RECORD, RECORD, ids=["l1", "l2"]).status_code == 200
    first = client.post(
        "/v1/labels",
        json={"labels": [{"id": "l1", "label": 1}, {"id": "nope", "label": 0}]},
    )
    assert first.json() == {"accepted": 1, "unchanged": 0, "updated": 0, "unknown": ["nope"]}
    again = client.post(
        "/v1/labels",
        json={"labels": [{"id": "l1", "label": 1}, {"id": "l2", "label": 0,
                                                    "labeled_at": "2026-01-02T03:04:05Z"}]},
    )  # fmt: skip
    assert again.json() == {"accepted": 1, "unchanged": 1, "updated": 0, "unknown": []}
    changed = client.post("/v1/labels", json={"labels": [{"id": "l1", "label": 0}]})
    assert changed.json()["updated"] == 1
    stored = client.get("/v1/predictions/l2").json()
    assert stored["label"] == 0
    assert stored["labeled_at"].startswith("2026-01-02T03:04:05")
    lineage = stored["lineage"]
    assert lineage["train_hash"] == bundle.lineage["train"]["hash"]
    assert lineage["train_rows"] == 2_000
    assert lineage["owner"] == "ops-analytics"
    assert lineage["commit"] == bundle.lineage["git"].get("commit")


def test_labels_body_is_checked(client) -> None:
    answer = client.post("/v1/labels", json={"labels": [{"label": 1}]})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "labels.0.id"
    assert predict(client, RECORD, ids=["l1"]).status_code == 200
    nested = client.post("/v1/labels", json={"labels": [{"id": "l1", "label": {"a": 1}}]})
    assert nested.status_code == 422
    assert "not a number, string, boolean or null" in nested.json()["detail"][0]["message"]


def test_unknown_prediction_is_404(client) -> None:
    answer = client.get("/v1/predictions/never-made")
    assert answer.status_code == 404
    assert "never-made" in answer.json()["detail"]


# -- health, model, metrics, logs --------------------------------------------------------------


def test_health_and_ready(client, store, monkeypatch) -> None:
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.get("/v1/ready").status_code == 200
    monkeypatch.setattr(store, "ready", lambda: False)
    assert client.get("/v1/ready").status_code == 503
    assert client.get("/v1/ready").json()["ready"] is False


def test_model_describes_the_served_bundle(client, bundle) -> None:
    info = client.get("/v1/model").json()
    assert info["version"] == bundle.version
    assert info["task"] == "binary"
    assert info["features"] == FEATURES
    assert info["classes"] == [0, 1]
    assert info["online_path"] == bundle.online_path
    assert info["latency_budget_ms"] == 50
    assert info["owner"] == "ops-analytics"
    assert info["on_call"] == "oncall@example.com"
    assert info["lineage"]["train_hash"] == bundle.lineage["train"]["hash"]


def test_metrics_count_requests_stages_scores_and_budget_violations(client, bundle) -> None:
    for _ in range(3):
        predict(client, RECORD)
    predict(client, RECORD | {"origin": "ZZZ"})
    assert metric(client, 'tether_requests_total{endpoint="/v1/predict",status="200"}') == 3
    assert metric(client, 'tether_requests_total{endpoint="/v1/predict",status="422"}') == 1
    assert metric(client, 'tether_predict_stage_seconds_count{stage="log"}') == 3
    assert metric(client, "tether_prediction_score_count") == 3
    assert metric(client, 'tether_predicted_class_total{label="1"}') == 3
    info = f'tether_model_info{{model="late",role="champion",version="{bundle.version}"}}'
    assert metric(client, info) == 1
    assert metric(client, "tether_latency_budget_violations_total") == 0
    client.app.state.tether.served.budget_ms = 1e-6
    predict(client, RECORD)
    assert metric(client, "tether_latency_budget_violations_total") == 1


def test_the_latency_budget_is_per_record_so_a_batch_gets_its_length_times_the_budget(
    client,
) -> None:
    served = client.app.state.tether.served
    predict(client, RECORD)
    one_record_ms = metric(client, 'tether_predict_stage_seconds_sum{stage="total"}') * 1000
    # far below what one record takes, then far above it: 100 records get 100 times the budget
    served.budget_ms = one_record_ms / 1000
    predict(client, RECORD)
    assert metric(client, "tether_latency_budget_violations_total") == 1
    served.budget_ms = one_record_ms * 5
    answer = client.post("/v1/predict", json={"records": [RECORD] * 100})
    assert answer.status_code == 200
    assert metric(client, "tether_latency_budget_violations_total") == 1


def test_each_request_logs_one_json_line_without_the_token(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="tether.serve"):
        answer = predict(client, RECORD)
        client.post("/v1/admin/reload", json={"ref": "late@x"},
                    headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    assert len(lines) == 2
    fields = lines[0].fields
    assert fields["request_id"] == answer.headers["x-request-id"]
    assert fields["status"] == 200
    assert fields["endpoint"] == "/v1/predict"
    assert {"validate", "predict", "log", "total"} <= set(fields["timings_ms"])
    assert fields["version"] == client.app.state.tether.served.bundle.version
    from tether.serve.logs import JSONFormatter

    rendered = [JSONFormatter().format(r) for r in caplog.records]
    assert all(json.loads(line) for line in rendered)
    assert not any(TOKEN in line for line in rendered)


def test_openapi_documents_bodies_and_error_bodies(client) -> None:
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/v1/predict"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body == "#/components/schemas/PredictRequest"
    assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert {"413", "415", "409", "500"} <= set(post["responses"])
    components = schema["components"]["schemas"]
    assert {"PredictRequest", "LabelsRequest", "Label", "ErrorResponse"} <= set(components)
    reload = schema["paths"]["/v1/admin/reload"]["post"]["responses"]
    assert {"401", "403"} <= set(reload)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs - set(components) == set()


# -- explanations ------------------------------------------------------------------------------


def test_explain_returns_the_largest_contributions_that_add_up(client, bundle) -> None:
    records = [RECORD, RECORD | {"carrier": "AA", "dep_hour": 6.0}]
    answer = client.post("/v1/explain", json={"records": records, "top": 4})
    assert answer.status_code == 200
    body = answer.json()
    expected = bundle.explain(pl.DataFrame(records))
    for row in body["explanations"]:
        contributions = [c["contribution"] for c in row["top"]]
        assert {c["feature"] for c in row["top"]} == set(FEATURES)
        assert abs(np.array(contributions)).tolist() == sorted(np.abs(contributions), reverse=True)
        assert body["base_value"] + sum(contributions) == pytest.approx(row["output"], abs=1e-9)
        assert row["output"] == pytest.approx(float(expected.output[row["row"]]), abs=1e-9)
    short = client.post("/v1/explain", json={"records": records[:1], "top": 1}).json()
    assert len(short["explanations"][0]["top"]) == 1
    refused = client.post("/v1/explain", json={"records": [RECORD | {"origin": "ZZZ"}]})
    assert refused.status_code == 422


# -- shadow ------------------------------------------------------------------------------------


def test_shadow_outputs_are_logged_never_returned(bundle, challenger, store) -> None:
    with client_for(bundle, store, challenger=challenger) as c:
        answer = predict(c, RECORD, ids=["s1"])
        batch = predict(c, RECORD, RECORD | {"carrier": "AA"}, ids=["s2", "s3"])
    assert answer.json()["predictions"][0].keys() == {
        "id",
        "prediction",
        "score",
        "status",
        "warnings",
    }
    shadow = store.get("s1")["shadow"]
    assert shadow["version"] == challenger.version
    assert shadow["outputs"] == challenger.predict_record(RECORD)
    assert shadow["outputs"]["score"] != answer.json()["predictions"][0]["score"]
    assert batch.status_code == 200
    assert store.get("s3")["shadow"]["outputs"]["score"] == pytest.approx(
        challenger.predict_record(RECORD | {"carrier": "AA"})["score"], abs=1e-6
    )


def test_a_failing_challenger_never_fails_the_request(bundle, store) -> None:
    def boom(*_):
        raise RuntimeError("challenger exploded")

    broken = SimpleNamespace(
        version="f" * 64, features=bundle.features, metadata=bundle.metadata, lineage={},
        predict_record=boom, predict=boom,
    )  # fmt: skip
    with client_for(bundle, store, challenger=broken) as c:
        answer = predict(c, RECORD, ids=["c1"])
        assert answer.status_code == 200
        assert answer.json()["predictions"][0] == {"id": "c1", **bundle.predict_record(RECORD),
                                                   "status": "ok", "warnings": []}  # fmt: skip
        assert metric(c, "tether_shadow_failures_total") == 1
    assert "challenger exploded" in store.get("c1")["shadow"]["error"]


# -- admin -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(bundle, challenger, tmp_path_factory):
    registry = Registry(tmp_path_factory.mktemp("registry"))
    registry.push(bundle, "late", by="test")
    registry.push(challenger, "late", by="test")
    registry.set_alias("late", "champion", bundle.version, by="test")
    registry.set_alias("late", "next", challenger.version, by="test")
    return registry


def reload(client, ref, token=None):
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return client.post("/v1/admin/reload", json={"ref": ref}, headers=headers)


@pytest.mark.parametrize("configured", [None, ""])
def test_admin_without_a_configured_token_is_403(
    bundle, store, registry, monkeypatch, configured
) -> None:
    monkeypatch.delenv("TETHER_TOKEN", raising=False)
    with client_for(bundle, store, registry=registry, token=configured) as c:
        answer = reload(c, "late@next", "")
        assert reload(c, "late@next", TOKEN).status_code == 403
    assert answer.status_code == 403
    assert "TETHER_TOKEN" in answer.json()["detail"]


def test_admin_token_comes_from_the_environment(bundle, store, registry, monkeypatch) -> None:
    monkeypatch.setenv("TETHER_TOKEN", "from-env")
    with client_for(bundle, store, registry=registry) as c:
        assert reload(c, "late@next", TOKEN).status_code == 401
        assert reload(c, "late@next", "from-env").status_code == 200


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_admin_with_missing_or_wrong_token_is_401(bundle, store, registry, token) -> None:
    with client_for(bundle, store, registry=registry, token=TOKEN) as c:
        answer = reload(c, "late@next", token)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert c.get("/v1/model").json()["version"] == bundle.version


def test_admin_reload_swaps_the_model(bundle, challenger, store, registry) -> None:
    with client_for(bundle, store, registry=registry, token=TOKEN) as c:
        answer = reload(c, "late@next", TOKEN)
        assert answer.json() == {"model": "late", "previous": bundle.version,
                                 "version": challenger.version}  # fmt: skip
        assert c.get("/v1/model").json()["version"] == challenger.version
        predicted = predict(c, RECORD, ids=["after"])
        assert predicted.json()["version"] == challenger.version
        assert (
            predicted.json()["predictions"][0]["score"]
            == challenger.predict_record(RECORD)["score"]
        )
        assert reload(c, "late@nope", TOKEN).status_code == 422
        assert reload(c, "other@champion", TOKEN).status_code == 422
        assert c.get("/v1/model").json()["version"] == challenger.version
    assert store.get("after")["version"] == challenger.version


def test_reload_does_not_drop_in_flight_requests(bundle, challenger, store, registry) -> None:
    app = create_app(bundle, model_name="late", store=store, registry=registry, token=TOKEN)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = {"records": [RECORD, RECORD]}
            calls = [c.post("/v1/predict", json=body) for _ in range(20)]
            swap = c.post("/v1/admin/reload", json={"ref": "late@next"},
                          headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
            return await asyncio.gather(*calls[:10], swap, *calls[10:])

    answers = asyncio.run(scenario())
    assert all(a.status_code == 200 for a in answers)
    versions = {a.json()["version"] for a in answers if "predictions" in a.json()}
    assert versions <= {bundle.version, challenger.version}
    assert app.state.tether.served.bundle.version == challenger.version
    # every answered prediction was stored under the version that answered it
    for a in answers:
        for p in a.json().get("predictions", []):
            assert store.get(p["id"])["version"] == a.json()["version"]


def test_limits_refuse_non_positive_bounds() -> None:
    from tether.errors import InputError

    with pytest.raises(InputError, match=re.escape("Limits.max_depth=0")):
        Limits(max_depth=0)


def test_explain_has_its_own_smaller_record_limit(bundle, store) -> None:
    with client_for(bundle, store, limits=Limits(max_explain_records=2)) as c:
        assert c.post("/v1/explain", json={"records": [RECORD] * 2}).status_code == 200
        answer = c.post("/v1/explain", json={"records": [RECORD] * 3})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["rule"] == "max_explain_records"


def test_lineage_of_a_version_never_served_here_comes_from_the_registry(
    bundle, challenger, store, registry
) -> None:
    with client_for(challenger, store) as c:
        assert predict(c, RECORD, ids=["old"]).status_code == 200
    with client_for(bundle, store) as c:
        assert c.get("/v1/predictions/old").json()["lineage"] is None
    with client_for(bundle, store, registry=registry) as c:
        lineage = c.get("/v1/predictions/old").json()["lineage"]
    assert lineage["train_hash"] == challenger.lineage["train"]["hash"]
    assert lineage["train_hash"] != bundle.lineage["train"]["hash"]


def test_request_ids_from_clients_are_kept_only_when_well_formed(client) -> None:
    kept = client.get("/v1/health", headers={"x-request-id": "abc-123.x"})
    assert kept.headers["x-request-id"] == "abc-123.x"
    replaced = client.get("/v1/health", headers={"x-request-id": "no spaces\tor tabs"})
    assert re.fullmatch("[0-9a-f]{32}", replaced.headers["x-request-id"])


def test_a_failing_store_is_503_and_no_prediction_is_answered(client, store, monkeypatch) -> None:
    from tether.store import StoreError

    def full(records):
        raise StoreError("database or disk is full")

    monkeypatch.setattr(store, "log", full)
    answer = predict(client, RECORD, ids=["lost"])
    assert answer.status_code == 503
    assert "disk is full" in answer.json()["detail"]
    monkeypatch.undo()
    assert store.get("lost") is None
    assert predict(client, RECORD, ids=["lost"]).status_code == 200
