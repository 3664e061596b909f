"""The servers under test, each started in its own uvicorn process (one worker) on loopback.

- ``scikit-learn``: what a user writes by hand: a FastAPI POST endpoint with a pydantic body,
  the records made into a polars frame of the training schema (saved with the pipeline by
  joblib), ``predict_proba``, a ``JSONResponse``. No validation, no logging.
- ``bundle``: the same endpoint calling the bundle instead: ``Bundle.predict_record`` (the ONNX
  online path) for one record, ``Bundle.predict`` on a frame of the training schema for several.
  No validation, no logging: the model call itself.
- ``tether``: ``tether.serve.run`` with a registry ref and a store URL (SQLite file or
  PostgreSQL), as ``tether serve`` runs it: contract checks, durable log, metrics, JSON log lines.

``python -m benchmarks.serving.servers CONFIG`` runs one (CONFIG is the JSON :func:`serving`
passes); :func:`serving` starts it, waits until it answers and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

HOST = "127.0.0.1"
ROOT = Path(__file__).parents[2]
STARTUP_S = 90.0


@contextlib.contextmanager
def serving(config: dict[str, Any], log: Path) -> Iterator[str]:
    """Start the server ``config`` describes (``kind`` plus what it loads), yield its URL once
    ``/v1/health`` answers, and stop it (SIGTERM, so tether commits what is queued)."""
    port = _free_port()
    arguments = json.dumps(config | {"port": port})
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serving.servers", arguments],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{HOST}:{port}"
    try:
        _wait_ready(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(url: str, body: bytes) -> Any:
    """The JSON answer of one POST (for checks outside the timed runs)."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


class PredictBody(BaseModel):
    """The body every server takes: ``{"records": [{feature: value, ...}, ...]}``."""

    records: list[dict[str, Any]]


def scikit_learn_app(pipeline: Any, schema: dict[str, Any]) -> FastAPI:
    """A bare FastAPI endpoint around a scikit-learn pipeline fitted on a polars frame of
    ``schema`` (without it, a value missing from every record makes a Null column, which the
    one-hot encoder takes for an unknown category, not the missing one it was fitted with)."""
    app = FastAPI()

    @app.post("/v1/predict")
    async def predict(body: PredictBody) -> JSONResponse:
        scores = pipeline.predict_proba(pl.DataFrame(body.records, schema=schema))[:, 1]
        return JSONResponse(
            {"predictions": [{"prediction": int(s >= 0.5), "score": float(s)} for s in scores]}
        )

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def bundle_app(bundle: Any) -> FastAPI:
    """A bare FastAPI endpoint around the bundle's own scoring (no contract, no store)."""
    app = FastAPI()

    @app.post("/v1/predict")
    async def predict(body: PredictBody) -> JSONResponse:
        records = body.records
        if len(records) == 1:
            outputs = [bundle.predict_record(records[0])]
        else:
            frame = pl.DataFrame(records, schema=bundle.feature_schema)
            outputs = bundle.predict(frame).to_dicts()
        return JSONResponse({"predictions": outputs})

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    config = json.loads(sys.argv[1])
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    kind, port = config["kind"], config["port"]
    if kind == "tether":
        from tether.serve import run

        run(config["ref"], host=HOST, port=port, registry=config["registry"],
            store_url=config["store_url"])  # fmt: skip
        return
    import uvicorn

    if kind == "scikit-learn":
        import joblib

        saved = joblib.load(config["pipeline"])
        app = scikit_learn_app(saved["pipeline"], saved["schema"])
    else:
        from tether.registry import Registry

        app = bundle_app(Registry(config["registry"]).load(config["ref"]))
    # the options tether.serve.run gives uvicorn, so that only the endpoint differs
    uvicorn.run(app, host=HOST, port=port, access_log=False, log_level="warning")


def _exit_with_parent(parent: int) -> None:
    # a benchmark that dies must not leave servers holding ports and cores
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(3)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {STARTUP_S:.0f} s")


if __name__ == "__main__":
    main()
