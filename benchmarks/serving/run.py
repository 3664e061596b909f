"""Serving overhead: tether's guarded, logged endpoint against bare FastAPI endpoints.

Five servers, each its own uvicorn process (one worker, the h11/asyncio stack installed here),
serve the same model: the online-path benchmark's 25-feature pipeline (median imputer and scaler
on 20 numeric columns, one-hot encoder on 5 string columns, logistic regression) fitted on
5,000 rows of the standard frame. Load comes from wrk in a second process on loopback, POSTing
``{"records": [...]}`` bodies of one row or of 1,000 rows, rotating over 5,000 single-row bodies
and 20 batch bodies of rows the model never saw (the ~0.1% of fresh rows the bundle's contract
rejects are left out, so every request is answered; refusals are another path). Each server
runs four loads: one connection (sequential requests: pure latency) and several (throughput:
eight for one-row bodies, four for 1,000-row ones). The five servers stay up (idle ones cost
nothing) and are loaded one at a time, interleaved: each load runs on every server in turn, in
an order rotated each round, so that a burst of load from elsewhere on this shared machine hits
them alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import polars as pl

from benchmarks.online_path import TRAIN_ROWS, fitted_pipeline
from benchmarks.report import _cell, write_table
from benchmarks.serving.load import Load, ensure_wrk, run_load
from benchmarks.serving.servers import post, serving
from benchmarks.serving.stages import Histogram, difference, scrape
from benchmarks.store import throwaway_postgres
from benchmarks.synthetic import standard_frame
from tether.bundle import Bundle
from tether.registry import Registry

ROUNDS = 3
BATCH_ROWS = 1_000
SINGLE_BODIES = 5_000
BATCH_BODIES = 20
WARMUP_S = 1
SKEW_RECORDS = 200
FLUSH_COMMITS = 500
MODEL = "serving"
PATH = "/v1/predict"

# targets of issue 6 (DESIGN.md, "serving overhead")
OVERHEAD_P50_MS = 1.0
OVERHEAD_P99_MS = 3.0
BATCH_ROWS_PER_S = 20_000


@dataclass(frozen=True)
class Phase:
    """One load: which bodies, over how many connections, for how long."""

    label: str
    bodies: str
    connections: int
    seconds: int


PHASES = (
    Phase("1 row, 1 connection", "single", 1, 6),
    Phase("1 row, 8 connections", "single", 8, 5),
    Phase("1,000 rows, 1 connection", "batch", 1, 5),
    # 4 in flight already queue on one worker; with 8 a 5 s run would end with a large share
    # of its work in requests wrk drops unanswered at the deadline
    Phase("1,000 rows, 4 connections", "batch", 4, 8),
)

SKLEARN = "bare endpoint, scikit-learn pipeline"
BUNDLE = "bare endpoint, bundle fast path"
SQLITE = "tether, SQLite store (synchronous=full)"
SQLITE_NORMAL = "tether, SQLite store (synchronous=normal)"
POSTGRES = "tether, PostgreSQL store"
SERVERS = (SKLEARN, BUNDLE, SQLITE, SQLITE_NORMAL, POSTGRES)
TETHER = (SQLITE, SQLITE_NORMAL, POSTGRES)
SYNCHRONOUS = {SQLITE: "full", SQLITE_NORMAL: "normal"}


def bench_serving(rounds: int = ROUNDS, scale: float = 1.0) -> None:
    """Run every server through every phase ``rounds`` times (phases ``scale`` times as long)
    and write ``results/serving.md``."""
    wrk = ensure_wrk()
    phases = [
        Phase(p.label, p.bodies, p.connections, max(1, round(p.seconds * scale))) for p in PHASES
    ]
    loads: dict[tuple[str, str], list[Load]] = {}
    inside: dict[tuple[str, str], dict[str, Histogram]] = {}
    answers: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tether-serving-")))
        configs, bodies, skew = prepare(folder, stack.enter_context(throwaway_postgres()))
        flushes = [{name: flush_latency(folder, s) for name, s in SYNCHRONOUS.items()}]
        log = folder / "servers.log"
        urls = {name: stack.enter_context(serving(configs[name], log)) for name in SERVERS}
        for name, url in urls.items():
            answers[name] = first_answers(url, bodies)
            for kind in ("single", "batch"):  # lazy initialization and caches
                run_load(wrk, url + PATH, bodies[kind], 1, WARMUP_S)
        for round_ in range(rounds):
            shift = round_ % len(SERVERS)
            for phase in phases:
                for name in SERVERS[shift:] + SERVERS[:shift]:
                    url = urls[name]
                    before = scrape(url) if name in TETHER else {}
                    load = run_load(
                        wrk, url + PATH, bodies[phase.bodies], phase.connections, phase.seconds
                    )
                    if load.failed or not load.requests:
                        raise RuntimeError(
                            f"{name}, {phase.label}: {load.failed} requests failed, "
                            f"{load.requests} answered\n{log.read_text()[-3000:]}"
                        )
                    loads.setdefault((name, phase.label), []).append(load)
                    if name in TETHER:
                        seen = difference(scrape(url), before)
                        pooled = inside.setdefault((name, phase.label), {})
                        for key, hist in seen.items():
                            pooled[key] = pooled[key] + hist if key in pooled else hist
                    print(
                        f"round {round_ + 1}/{rounds}  {name:38} {phase.label:26} "
                        f"p50 {load.p50_ms:7.2f} ms  p99 {load.p99_ms:7.2f} ms  "
                        f"{load.per_second:8,.0f} req/s",
                        flush=True,
                    )
        flushes.append({name: flush_latency(folder, s) for name, s in SYNCHRONOUS.items()})
    minutes = (time.perf_counter() - started) / 60
    machine_load = (load_before, os.getloadavg()[0])
    write_table(
        "serving",
        "Serving: tether's guarded, logged endpoint vs bare FastAPI endpoints (same model)",
        table(loads),
        notes(loads, inside, answers, skew, rounds, phases, minutes, machine_load, flushes),
    )


Prepared = tuple[dict[str, dict[str, Any]], dict[str, Path], dict[str, float]]


def prepare(folder: Path, pg_url: str) -> Prepared:
    """Fit the model, store it for each server, write the request bodies; return the servers'
    configurations, the bodies' files and the :func:`schema_skew` of the model."""
    frame = standard_frame(TRAIN_ROWS, seed=0)
    target = (frame["num_02"].fill_null(0.0) > 0.3).cast(pl.Int64).alias("y")
    model = fitted_pipeline(frame)
    train = frame.with_columns(target)
    bundle = Bundle.build(model, train=train, valid=train, target="y", n_resamples=20)
    if bundle.online_path != "onnx":
        raise RuntimeError(f"no ONNX online path: {bundle.metadata['onnx']}")
    registry = Registry(folder / "registry")
    registry.push(bundle, MODEL, by="benchmark")
    registry.set_alias(MODEL, "champion", bundle.version, by="benchmark")
    pipeline = folder / "pipeline.joblib"
    joblib.dump({"pipeline": model, "schema": dict(frame.schema)}, pipeline)
    ref = f"{MODEL}@champion"
    sqlite = folder / "predictions.db"
    normal = f"sqlite://{folder / 'predictions-normal.db'}?synchronous=normal"
    root = str(registry.root)
    configs = {
        SKLEARN: {"kind": "scikit-learn", "pipeline": str(pipeline)},
        BUNDLE: {"kind": "bundle", "registry": root, "ref": ref},
        SQLITE: {"kind": "tether", "registry": root, "ref": ref, "store_url": str(sqlite)},
        SQLITE_NORMAL: {"kind": "tether", "registry": root, "ref": ref, "store_url": normal},
        POSTGRES: {"kind": "tether", "registry": root, "ref": ref, "store_url": pg_url},
    }
    single = bundle.contract.validate(standard_frame(SINGLE_BODIES + 100, seed=1)).valid_rows
    batch = bundle.contract.validate(
        standard_frame(BATCH_BODIES * BATCH_ROWS + 100, seed=2)
    ).valid_rows
    records = single.head(SINGLE_BODIES).to_dicts()
    bodies = {
        "single": _write(folder / "single.jsonl", ([record] for record in records)),
        "batch": _write(
            folder / "batch.jsonl",
            (batch.slice(i * BATCH_ROWS, BATCH_ROWS).to_dicts() for i in range(BATCH_BODIES)),
        ),
    }
    return configs, bodies, schema_skew(model, batch.head(BATCH_ROWS))


def schema_skew(model: Any, rows: pl.DataFrame) -> dict[str, float]:
    """Largest score difference from the fitted pipeline's own (a frame of the training
    schema) when a bare endpoint builds its frame from JSON records without that schema: a pandas
    frame of all ``rows``, and one-row polars frames with inferred types."""
    expected = model.predict_proba(rows)[:, 1]
    records = rows.to_dicts()
    one_row = [model.predict_proba(pl.DataFrame([r]))[0, 1] for r in records[:SKEW_RECORDS]]
    return {
        "pandas": float(np.abs(model.predict_proba(pd.DataFrame(records))[:, 1] - expected).max()),
        "polars": float(np.abs(np.array(one_row) - expected[:SKEW_RECORDS]).max()),
    }


def flush_latency(
    folder: Path, synchronous: str, commits: int = FLUSH_COMMITS
) -> tuple[float, float]:
    """p50 and p99 (ms) of a bare one-row SQLite commit with a store's durability settings (WAL,
    ``synchronous``) on the disk the benchmark writes to: the floor under any logged answer,
    and with synchronous=FULL on a shared disk the source of most of its tail."""
    connection = sqlite3.connect(folder / f"flush-{synchronous}.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    connection.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, inputs TEXT)")
    seconds = np.empty(commits)
    for i in range(commits):
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("INSERT INTO t (inputs) VALUES (?)", ("x" * 600,))
        connection.execute("COMMIT")
        seconds[i] = time.perf_counter() - started
    connection.close()
    p50, p99 = np.percentile(seconds, [50, 99]) * 1000
    return float(p50), float(p99)


def first_answers(url: str, bodies: dict[str, Path]) -> dict[str, list[float]]:
    """The scores a server gives for the first single-row and the first batch body."""
    scores = {}
    for kind, path in bodies.items():
        with path.open("rb") as lines:
            answer = post(url + PATH, lines.readline())
        scores[kind] = [p["score"] for p in answer["predictions"]]
    return scores


def table(loads: dict[tuple[str, str], list[Load]]) -> list[dict[str, object]]:
    single, single_many, batch, batch_many = (p.label for p in PHASES)
    rows: list[dict[str, object]] = []
    for name in SERVERS:
        rows.append(
            {
                "server": name,
                "1 row p50 (ms)": _spread(loads[name, single], lambda x: x.p50_ms),
                "1 row p99 (ms)": _spread(loads[name, single], lambda x: x.p99_ms),
                "1 row, 8 conn. (req/s)": _spread(loads[name, single_many], _rate),
                "1,000 rows p50 (ms)": _spread(loads[name, batch], lambda x: x.p50_ms),
                "1,000 rows p99 (ms)": _spread(loads[name, batch], lambda x: x.p99_ms),
                "1,000 rows, 4 conn. (rows/s)": _spread(
                    loads[name, batch_many], lambda x: _rate(x) * BATCH_ROWS
                ),
            }
        )
    return rows


def notes(
    loads: dict[tuple[str, str], list[Load]],
    inside: dict[tuple[str, str], dict[str, Histogram]],
    answers: dict[str, dict[str, list[float]]],
    skew: dict[str, float],
    rounds: int,
    phases: list[Phase],
    minutes: float,
    machine_load: tuple[float, float],
    flushes: list[dict[str, tuple[float, float]]],
) -> str:
    single, single_many, _, batch_many = (p.label for p in PHASES)

    def median(name: str, label: str, value: Callable[[Load], float]) -> float:
        return statistics.median(value(load) for load in loads[name, label])

    def paired(name: str, value: Callable[[Load], float]) -> float:
        return statistics.median(
            value(tether) - value(bare)
            for tether, bare in zip(loads[name, single], loads[BUNDLE, single], strict=True)
        )

    def overhead(name: str) -> str:
        extra_p50 = paired(name, lambda x: x.p50_ms)
        extra_p99 = paired(name, lambda x: x.p99_ms)
        inside_single = inside[name, single]
        not_model_ms = inside_single["request"].mean_ms - inside_single["predict"].mean_ms
        before, after = flushes[0][name], flushes[1][name]
        return (
            f"{name}: p50 +{extra_p50:.2f} ms (target <= {OVERHEAD_P50_MS:g}): "
            f"**{_verdict(extra_p50 <= OVERHEAD_P50_MS)}**; p99 +{extra_p99:.2f} ms (target <= "
            f"{OVERHEAD_P99_MS:g}): **{_verdict(extra_p99 <= OVERHEAD_P99_MS)}**. From inside, "
            f"the server spends {not_model_ms:.2f} ms per request on everything but the model "
            "(mean request time seen by its middleware minus mean predict stage). A bare one-row "
            f"SQLite commit with its setting (WAL, synchronous={SYNCHRONOUS[name].upper()}) on "
            f"this disk took p50 {before[0]:.2f} / p99 {before[1]:.2f} ms before the rounds and "
            f"{after[0]:.2f} / {after[1]:.2f} ms after them."
        )

    p50 = {name: median(name, single, lambda x: x.p50_ms) for name in SERVERS}
    rate = {name: median(name, single_many, _rate) for name in SERVERS}
    rows_per_s = {name: median(name, batch_many, _rate) * BATCH_ROWS for name in TETHER}
    fast = {name: _verdict(rows_per_s[name] >= BATCH_ROWS_PER_S) for name in TETHER}
    verdicts = [
        "- guardrails + logging over the model call (tether minus bundle fast path, one row, "
        "paired by round, median):\n" + "\n".join(f"  - {overhead(name)}" for name in SYNCHRONOUS),
        f"- tether (SQLite, synchronous=full) one-row p50 below the bare scikit-learn "
        f"endpoint's: {p50[SQLITE]:.2f} vs {p50[SKLEARN]:.2f} ms: "
        f"**{_verdict(p50[SQLITE] < p50[SKLEARN])}**; one-row throughput above it: "
        f"{rate[SQLITE]:,.0f} vs {rate[SKLEARN]:,.0f} req/s: "
        f"**{_verdict(rate[SQLITE] > rate[SKLEARN])}**. (synchronous=normal: "
        f"{p50[SQLITE_NORMAL]:.2f} ms, {rate[SQLITE_NORMAL]:,.0f} req/s; PostgreSQL store: "
        f"{p50[POSTGRES]:.2f} ms, {rate[POSTGRES]:,.0f} req/s.)",
        f"- batch scoring >= {BATCH_ROWS_PER_S:,} rows/s with 1,000-row requests (4 "
        "connections): "
        + "; ".join(f"{name} {rows_per_s[name]:,.0f} rows/s **{fast[name]}**" for name in TETHER)
        + ".",
    ]
    durations = ", ".join(f"{p.label} {p.seconds} s" for p in phases)
    return "\n\n".join(
        [
            __doc__.split("\n\n")[1].replace("\n", " "),
            "Servers: **bare endpoint, scikit-learn pipeline** is what a user writes by hand "
            "(FastAPI POST with a pydantic body, the records made into a polars frame of the "
            "training schema, "
            "`predict_proba`, a `JSONResponse`; no validation, no logging); **bare endpoint, "
            "bundle fast path** is the same endpoint calling `Bundle.predict_record` (ONNX) for "
            "one record and `Bundle.predict` on a frame of the training schema for 1,000: the "
            "model call itself; **tether** is `tether.serve.run` from a registry (contract "
            "checks, prediction committed to the store before the answer, Prometheus metrics, "
            "one JSON log line per request to a file), with a SQLite file (WAL, synchronous=FULL, "
            "the default: every commit fsynced; or synchronous=NORMAL, `?synchronous=normal` in "
            "the store URL: acknowledged predictions survive a crash of the process, the last "
            "transactions may not survive a power loss) or a throwaway local PostgreSQL "
            "(fsync=on).",
            f"Load: wrk 4.1 (`-t1`, keep-alive) from a second process; {durations} per round "
            f"after {WARMUP_S} s of warm-up per body size. Each cell is the median over "
            f"{rounds} rounds with the (min-max) range in brackets; p50/p99 are wrk's, over "
            f"the requests of one run. 2 shared cores: wrk, the server and PostgreSQL compete "
            f"for them, and with whatever else runs there (1-minute load average "
            f"{machine_load[0]:.1f} at the start, {machine_load[1]:.1f} at the end). Whole "
            f"benchmark: {minutes:.1f} min.",
            "Targets:\n\n" + "\n".join(verdicts),
            "Inside tether (its own `/metrics` histograms, pooled over the rounds; means in ms, "
            "quantiles interpolated within the 0.2/0.5/1/2/5 ms buckets): `request` is the whole "
            "request as the middleware times it, `total` the predict handler's.\n\n"
            + _stage_table(inside),
            _agreement(answers)
            + " The bare scikit-learn endpoint builds a polars frame of the training schema, "
            "saved with the pipeline: without it the pipeline does not give its own scores. "
            "pandas reads a missing string as NaN, not the None the pipeline was fitted with, "
            "and a one-row polars frame types a missing value as Null; the one-hot encoder "
            "then takes it for an unknown category (max |diff| in score over "
            f"{BATCH_ROWS:,} rows: {skew['pandas']:.3f} with pandas, {skew['polars']:.1e} with "
            f"inferred one-row polars frames over the first {SKEW_RECORDS}), the "
            "training/serving skew a bundle's schema rules out.",
        ]
    )


def _stage_table(inside: dict[tuple[str, str], dict[str, Histogram]]) -> str:
    keys = ("validate", "predict", "log", "total", "request")
    header = ["server", "load", "requests", *(f"{k} mean" for k in keys), "request p50 / p99"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for (name, label), found in inside.items():
        request = found["request"]
        cells = [
            name,
            label,
            _cell(request.count),
            *(_cell(found[k].mean_ms) if k in found else "-" for k in keys),
            f"{_cell(request.quantile_ms(0.5))} / {_cell(request.quantile_ms(0.99))}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _agreement(answers: dict[str, dict[str, list[float]]]) -> str:
    """Check that every server answers the same scores (batch: the native model everywhere;
    one row: ONNX in float32 on the bundle paths, hence the looser tolerance)."""
    reference = answers[SKLEARN]
    worst = {
        kind: max(
            float(np.abs(np.subtract(answers[name][kind], reference[kind])).max())
            for name in SERVERS
        )
        for kind in reference
    }
    if worst["batch"] > 1e-9 or worst["single"] > 1e-5:
        raise RuntimeError(f"the servers disagree on the same request: max |diff| {worst}")
    return (
        f"All {len(SERVERS)} servers give the same scores: max |diff| {worst['single']:.1e} on "
        f"a single row (ONNX float32), {worst['batch']:.1e} on a 1,000-row body."
    )


def _write(path: Path, bodies: Any) -> Path:
    with path.open("w") as out:
        for records in bodies:
            out.write(json.dumps({"records": records}) + "\n")
    return path


def _rate(load: Load) -> float:
    return load.per_second


def _spread(loads: list[Load], value: Callable[[Load], float]) -> str:
    values = [value(load) for load in loads]
    return f"{_cell(statistics.median(values))} ({_cell(min(values))}-{_cell(max(values))})"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
