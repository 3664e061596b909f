"""The demo's serving step: the champion behind the real server, July's traffic, late labels.

The server is ``tether serve`` itself, started as a separate process on a free loopback port with
a SQLite prediction store, the way a user starts it; the demo is its client.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
from rich.console import Console

from tether.demo.model import FEATURES
from tether.performance import compute_metrics
from tether.store import open_store

MODEL = "late-arrival"
SINGLE_REQUESTS = 300
BATCH_ROWS = 1_000


def run(
    console: Console, step: Any, july: pl.DataFrame, out_dir: Path, baseline_auc: float
) -> None:
    """Step 12 of the demo; ``baseline_auc`` is the champion's on its validation data."""
    step("12. Serve July: validate, predict, log every prediction; labels arrive later")
    database = out_dir / "tether.db"
    for leftover in out_dir.glob("tether.db*"):
        leftover.unlink()  # a fresh log, so the story reads the same on every run
    store_url = f"sqlite:///{database.resolve()}"
    flights = july.with_columns(pl.col("flight_id").cast(pl.String)).sort("time_hour")
    records = flights.select(FEATURES).to_dicts()
    ids = flights["flight_id"].to_list()
    with _server(out_dir / "registry", store_url) as base, httpx.Client(base_url=base) as client:
        model = client.get("/v1/model").json()
        latencies, rejected = [], 0
        for i in range(SINGLE_REQUESTS):
            started = time.perf_counter()
            answer = client.post("/v1/predict", json={"records": [records[i]], "ids": [ids[i]]})
            latencies.append(time.perf_counter() - started)
            rejected += answer.status_code == 422
        started = time.perf_counter()
        for first in range(SINGLE_REQUESTS, len(records), BATCH_ROWS):
            batch = slice(first, first + BATCH_ROWS)
            answer = client.post("/v1/predict", json={"records": records[batch], "ids": ids[batch]})
            if answer.status_code == 422:
                # the contract rejected some rows (logged as such); the rest go through again
                bad = {problem["row"] for problem in answer.json()["detail"]}
                rejected += len(bad)
                keep = [i for i in range(len(records[batch])) if i not in bad]
                answer = client.post(
                    "/v1/predict",
                    json={
                        "records": [records[batch][i] for i in keep],
                        "ids": [ids[batch][i] for i in keep],
                    },
                )
            answer.raise_for_status()
        batch_seconds = time.perf_counter() - started
        p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
        console.print(
            f"served {model['name']}@{model['version'][:12]} ({model['online_path']} online path) "
            f"on a loopback port: {SINGLE_REQUESTS} single-flight requests p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms (validated, scored, committed to SQLite before answering); "
            f"{len(records) - SINGLE_REQUESTS:,} flights in batches of {BATCH_ROWS:,} in "
            f"{batch_seconds:.1f} s; {rejected} flights rejected by the contract",
            highlight=False,
        )
        # Arrivals become known over the following weeks: only the first three are labeled.
        cutoff = flights["time_hour"].dt.day() <= 21
        arrived = flights.filter(cutoff & pl.col("late").is_not_null())
        labels = [
            {"id": i, "label": bool(late)}
            for i, late in zip(arrived["flight_id"], arrived["late"], strict=True)
        ]
        accepted, unknown = 0, 0
        for first in range(0, len(labels), BATCH_ROWS):
            answer = client.post("/v1/labels", json={"labels": labels[first : first + BATCH_ROWS]})
            answer.raise_for_status()
            accepted += answer.json()["accepted"]
            unknown += len(answer.json()["unknown"])
        console.print(
            f"labels for July 1-21 sent in batches: {accepted:,} accepted, {unknown} for ids "
            "never served",
            highlight=False,
        )
        chain = client.get(f"/v1/predictions/{ids[0]}").json()
        lineage = chain["lineage"]
        console.print(
            f"GET /v1/predictions/{ids[0]}: status {chain['status']}, P(late) "
            f"{chain['outputs']['score']:.2f}, label {chain['label']}; made by "
            f"{chain['version'][:12]}, trained on {lineage['train_rows']:,} rows "
            f"({lineage['train_hash'][:19]}…, {lineage['time_min'][:10]} to "
            f"{lineage['time_max'][:10]}), owner {lineage['owner']}, on call {lineage['on_call']}",
            highlight=False,
        )
    _print_window(console, store_url, baseline_auc)


def _print_window(console: Console, store_url: str, baseline_auc: float) -> None:
    store = open_store(store_url)
    try:
        started = time.perf_counter()
        window = store.read(MODEL)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    labeled = window.filter(pl.col("label").is_not_null() & (pl.col("status") != "rejected"))
    y = labeled["label"].cast(pl.Int64).to_numpy()
    realized = compute_metrics("binary", y, labeled["score"].to_numpy(), names=["roc_auc"])
    console.print(
        f"read {window.height:,} logged predictions back into polars in {seconds:.2f} s; "
        f"{labeled.height:,} labeled so far: realized ROC AUC {realized['roc_auc']:.3f} "
        f"(baseline on March {baseline_auc:.3f})",
        highlight=False,
    )


@contextlib.contextmanager
def _server(registry: Path, store_url: str) -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "tether.cli", "serve", f"{MODEL}@champion",
        "--registry", str(registry), "--store", store_url, "--port", str(port),
        "--log-level", "ERROR",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tether serve exited with status {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/v1/ready", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"tether serve was not ready within {timeout:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
