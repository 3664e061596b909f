"""Where one predict request's time goes, inside the server process (no HTTP, no load generator).

The app of the serving benchmark's model runs on a SQLite store in a temporary folder and is
called through its ASGI interface, as uvicorn would call it: 1,000-row requests (the batch
path), then one-row requests (the online path). The functions doing each stage are wrapped with
timers, so each stage's time per request is its own, measured in place:

- ``parse body``: the strict JSON reader (``tether.serve.http.parse_json``);
- ``request model``: the body as a ``PredictRequest``;
- ``validate``: the contract checks (``Served.check``);
- ``ids``: prediction ids;
- ``inputs frame``, ``model frame``, ``model``: the records as a frame, as the model's frame of
  the training schema, and ``Bundle.predict``;
- ``records``: what the store is handed;
- ``store log``: ``PredictionStore.log`` (in the group committer's thread: encoding, insert,
  commit);
- ``metrics``: the output distribution metrics;
- ``answer``: the response body.

``python -m benchmarks.serving.profile`` prints the profile of this tree's ``src``;
``--against DIR`` runs the same profile on another tree (``DIR/src``, say a ``git archive`` of
an earlier commit) in alternation with this one, in fresh processes, and prints both with their
ratios: these machines are noisy, so only ratios measured in one run mean much.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
BATCH_ROWS = 1_000
BATCH_REQUESTS = 40
SINGLE_REQUESTS = 2_000
WARMUP = 5

# (module, attribute, stage): a tree that lacks one does that stage elsewhere or not at all
STAGES = (
    ("tether.serve.http", "parse_json", "parse body"),
    ("tether.serve.app", "_predict_request", "request model"),
    ("tether.serve.app", "parsed", "request model"),
    ("tether.serve.scoring", "Served.check", "validate"),
    ("tether.serve.app", "new_prediction_ids", "ids"),
    ("tether.serve.app", "new_prediction_id", "ids"),
    ("tether.serve.app", "json_frame", "inputs frame"),
    ("tether.serve.scoring", "Served.frame", "model frame"),
    ("tether.bundle", "Bundle.predict", "model"),
    ("tether.serve.app", "_batch", "records"),
    ("tether.serve.app", "_record", "records"),
    ("tether.serve.metrics", "ServeMetrics.outputs", "metrics"),
    ("tether.serve.app", "answer_lines", "answer"),
    ("starlette.responses", "JSONResponse.render", "answer"),
)
ORDER = [
    "parse body", "request model", "validate", "inputs frame", "model frame", "model", "ids",
    "records", "store log", "metrics", "answer",
]  # fmt: skip


def profile() -> dict[str, Any]:
    """The profile of the tree on ``sys.path``: ms per batch request (whole and per stage) and
    the one-row request's p50 and p99."""
    import importlib

    import polars as pl

    from benchmarks.online_path import TRAIN_ROWS, fitted_pipeline
    from benchmarks.synthetic import standard_frame
    from tether.bundle import Bundle
    from tether.serve import create_app
    from tether.store import open_store

    logging.getLogger("tether").setLevel(logging.WARNING)
    frame = standard_frame(TRAIN_ROWS, seed=0)
    train = frame.with_columns((frame["num_02"].fill_null(0.0) > 0.3).cast(pl.Int64).alias("y"))
    bundle = Bundle.build(fitted_pipeline(frame), train=train, valid=train, target="y",
                          n_resamples=20)  # fmt: skip
    fresh = bundle.contract.validate(standard_frame(BATCH_ROWS * 21, seed=2)).valid_rows
    batches = [
        json.dumps({"records": fresh.slice(i * BATCH_ROWS, BATCH_ROWS).to_dicts()}).encode()
        for i in range(20)
    ]
    singles = [json.dumps({"records": [row]}).encode() for row in fresh.tail(1_000).to_dicts()]

    spent: dict[str, float] = {}
    for module, attribute, stage in STAGES:
        owner: Any = importlib.import_module(module)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is not None and hasattr(owner, name):
            setattr(owner, name, _timed(getattr(owner, name), stage, spent))
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"{folder}/predictions.db")
        store.log = _timed(store.log, "store log", spent)  # type: ignore[method-assign]
        app = create_app(bundle, model_name="profile", store=store)

        async def run() -> tuple[list[float], dict[str, float], list[float]]:
            async with app.router.lifespan_context(app):
                for body in batches[:WARMUP] + singles[: WARMUP * 10]:
                    await _call(app, body)
                spent.clear()
                whole = [await _call(app, batches[i % len(batches)]) for i in range(BATCH_REQUESTS)]
                per_request = {stage: ms / BATCH_REQUESTS for stage, ms in spent.items()}
                one = [await _call(app, singles[i % len(singles)]) for i in range(SINGLE_REQUESTS)]
                return whole, per_request, one

        whole, per_request, one = asyncio.run(run())
        store.close()
    stages = {stage: per_request.get(stage, 0.0) for stage in ORDER}
    return {
        "request": statistics.median(whole),
        "stages": stages,
        "single p50": statistics.median(one),
        "single p99": sorted(one)[int(0.99 * len(one))],
    }


def _timed(function: Callable[..., Any], stage: str, spent: dict[str, float]) -> Any:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[stage] = spent.get(stage, 0.0) + (time.perf_counter() - started) * 1000

    return timed


async def _call(app: Any, body: bytes) -> float:
    """Milliseconds to answer one POST /v1/predict through the ASGI interface."""
    scope = {
        "type": "http", "method": "POST", "path": "/v1/predict", "raw_path": b"/v1/predict",
        "root_path": "", "scheme": "http", "query_string": b"", "http_version": "1.1",
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    delivered = False
    status = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)  # no disconnect while the request is served
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = (time.perf_counter() - started) * 1000
    if status != [200]:
        raise RuntimeError(f"the app answered {status}")
    return elapsed


def compare(against: Path, rounds: int) -> str:
    """Profiles of this tree and of ``against``, alternated over ``rounds`` fresh processes
    each, as a markdown table of medians with the ratio this / against."""
    trees = {"this tree": ROOT / "src", "against": against / "src"}
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for round_ in range(rounds):
        for name, source in trees.items():
            env = os.environ | {"PYTHONPATH": os.pathsep.join([str(source), str(ROOT)])}
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.serving.profile", "--json"],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            found[name].append(json.loads(done.stdout.splitlines()[-1]))
            print(f"round {round_ + 1}/{rounds} {name}: {found[name][-1]['request']:.1f} ms",
                  file=sys.stderr, flush=True)  # fmt: skip

    def median(name: str, key: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(key(run) for run in found[name])

    rows = [("1,000-row request (whole)", lambda run: run["request"])]
    rows += [(f"- {stage}", lambda run, s=stage: run["stages"][s]) for stage in ORDER]
    rows += [("1-row request p50", lambda run: run["single p50"]),
             ("1-row request p99", lambda run: run["single p99"])]  # fmt: skip
    lines = ["| ms | against | this tree | ratio |", "|---|---|---|---|"]
    for label, key in rows:
        old, new = median("against", key), median("this tree", key)
        ratio = f"{new / old:.2f}" if old > 0 else "-"
        lines.append(f"| {label} | {old:.2f} | {new:.2f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="another tree to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="processes per tree (--against)")
    parser.add_argument("--json", action="store_true", help="print the profile as one JSON line")
    args = parser.parse_args()
    if args.against is not None:
        print(compare(args.against, args.rounds))
        return
    found = profile()
    if args.json:
        print(json.dumps(found))
        return
    print(f"1,000-row request: {found['request']:.2f} ms")
    for stage, ms in found["stages"].items():
        print(f"  {stage:14} {ms:7.2f} ms")
    print(f"1-row request: p50 {found['single p50']:.3f} ms, p99 {found['single p99']:.3f} ms")


if __name__ == "__main__":
    main()
