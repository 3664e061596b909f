"""The real server: ``tether.serve.run`` under uvicorn in a subprocess on a loopback port, with a
SQLite store file, doing predict -> labels -> stored prediction."""

from __future__ import annotations

import json

import httpx
import pytest
from serve_data import RECORD, build
from server_process import ServerProcess

from tether.registry import Registry
from tether.store import open_store

TOKEN = "uvicorn-test-token"


@pytest.fixture(scope="module")
def bundle():
    return build(latency_budget_ms=50)


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def server(bundle, tmp_path, request):
    registry = Registry(tmp_path / "registry")
    registry.push(bundle, "late", by="test")
    registry.set_alias("late", "champion", bundle.version, by="test")
    db = str(tmp_path / "t.db")
    log = tmp_path / "server.log"
    with ServerProcess(registry.root, db, log, workers=request.param, token=TOKEN) as process:
        yield process.url, db, log


def test_predict_label_and_read_back_through_the_real_server(server, bundle) -> None:
    url, db, log = server
    with httpx.Client(base_url=url, timeout=10) as client:
        answer = client.post("/v1/predict", json={"records": [RECORD], "ids": ["u1"]})
        assert answer.status_code == 200
        assert answer.json()["predictions"][0]["score"] == bundle.predict_record(RECORD)["score"]
        refused = client.post("/v1/predict", content=b'{"records": [{"distance": NaN}]}',
                              headers={"content-type": "application/json"})  # fmt: skip
        assert refused.status_code == 422
        labels = client.post("/v1/labels", json={"labels": [{"id": "u1", "label": 1}]})
        assert labels.json() == {"accepted": 1, "unchanged": 0, "updated": 0, "unknown": []}
        stored = client.get("/v1/predictions/u1").json()
        assert stored["label"] == 1
        assert stored["version"] == bundle.version
        assert stored["lineage"]["train_hash"] == bundle.lineage["train"]["hash"]
        assert client.get("/v1/admin/reload").status_code == 405
        wrong = client.post("/v1/admin/reload", json={"ref": "late@champion"},
                            headers={"authorization": "Bearer nope"})  # fmt: skip
        assert wrong.status_code == 401
        metrics = client.get("/metrics").text  # each worker counts its own requests
        assert f'role="champion",version="{bundle.version}"}} 1.0' in metrics
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["message"] == "request"]
    assert {line["endpoint"] for line in requests} >= {"/v1/predict", "/v1/labels"}
    assert TOKEN not in log.read_text()
    # the prediction is in the file the server wrote, for any other process to read
    store = open_store(db)
    assert store.get("u1")["label"] == 1
    assert store.get("u1")["outputs"] == bundle.predict_record(RECORD)
    store.close()
