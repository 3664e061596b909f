"""One monitoring run over a window of 1M logged predictions, with the time of each stage.

The bundle: the online-path benchmark's 25-feature pipeline (imputer, scaler, one-hot encoder,
logistic regression) trained on 50,000 rows of the standard frame, validated on 50,000 more,
with a segment column (``cat_0``), a sensitive attribute (``cat_1``) and a cost matrix. Production: 1,000,000 new rows of the
standard frame with ``num_00`` shifted by 0.1 sd, scored by the bundle and logged through
``PredictionStore.log`` one millisecond apart, every second one labeled. The monitor reads the
whole window back from the store and runs every check on it as one window (``rows=1_000_000``):
input drift on 25 columns, prediction and confidence drift, silent failures, CBPE estimation,
realized metrics with bootstrap intervals, estimates, score drift, calibration and business cost
per segment level, representation against the training support, weak-segment discovery (three
searches on 200,000 sampled rows each), fairness of the groups of ``cat_1`` (decisions on all rows,
error rates on the labeled ones, 100 resamples), concept drift on 500,000 labeled rows. Two runs per backend (the second with another alpha, so its fingerprint differs and it
recomputes everything); the table shows the faster. Bar: <= 20 s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.online_path import fitted_pipeline
from benchmarks.report import write_table
from benchmarks.store import fill, throwaway_postgres
from benchmarks.synthetic import standard_frame
from tether.bundle import Bundle
from tether.monitor import Monitor
from tether.registry import Registry
from tether.store import open_store

ROWS = 1_000_000
BAR_SECONDS = 20.0


def _target(frame: pl.DataFrame) -> pl.Series:
    signal = pl.col("num_02").fill_null(0.0) + (pl.col("cat_4") == "c1").fill_null(False)
    return frame.select((signal > 0.3).cast(pl.Int64).alias("y")).to_series()


def bench_monitor() -> None:
    train = standard_frame(50_000, seed=0)
    valid = standard_frame(50_000, seed=1)
    model = fitted_pipeline(train)
    bundle = Bundle.build(
        model,
        train=train.with_columns(_target(train)),
        valid=valid.with_columns(_target(valid)),
        target="y",
        segments=["cat_0"],
        sensitive=["cat_1"],
        cost={"fp": 1.0, "fn": 5.0},
        n_resamples=20,
    )
    current = standard_frame(ROWS, seed=2).with_columns(pl.col("num_00") + 0.1)
    scores = bundle.scores(current)
    labels = _target(current).to_numpy()
    rows = []
    with tempfile.TemporaryDirectory() as folder, throwaway_postgres() as postgres_url:
        registry = Registry(Path(folder) / "registry")
        registry.push(bundle, "bench", by="bench")
        for backend, url in (
            ("SQLite", str(Path(folder) / "log.db")),
            ("PostgreSQL", postgres_url),
        ):
            with open_store(url) as store:
                fill(store, current, model="bench", version=bundle.version, scores=scores,
                     labels=labels)  # fmt: skip
                runs = []
                for alpha in (0.01, 0.0099):
                    started = time.perf_counter()
                    run = Monitor(store, registry, alpha=alpha).run("bench", rows=ROWS)
                    runs.append((time.perf_counter() - started, run))
            seconds, run = min(runs, key=lambda pair: pair[0])
            assert run.windows.height == 1
            stages = ", ".join(f"{k} {v:.2f}" for k, v in run.seconds.items())
            rows.append(
                {
                    "backend": backend,
                    "rows": ROWS,
                    "total (s)": seconds,
                    "read (s)": run.seconds["read"],
                    "checks (s)": seconds - run.seconds["read"],
                    "stages (s)": stages,
                    "results": run.results.height,
                    "verdict": "PASS" if seconds <= BAR_SECONDS else "FAIL",
                }
            )
    write_table(
        "monitor", "Monitoring run over a 1M-prediction window", rows, __doc__.split("\n\n")[1]
    )


if __name__ == "__main__":
    bench_monitor()
