"""``tether monitor run``, ``tether export-training-set`` and ``tether review``, run as real
processes against a SQLite store and a registry on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from monitor_data import build, day_of_traffic, log_day

from tether.registry import Registry
from tether.store import open_store


def tether(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("monitor-cli")
    bundle = build(segments=["origin"])
    registry = Registry(folder / "registry")
    registry.push(bundle, "late", by="test")
    registry.set_alias("late", "champion", bundle.version, by="test")
    with open_store(str(folder / "log.db")) as store:
        log_day(store, bundle, day_of_traffic(1_500, 30), 0)
        log_day(store, bundle, day_of_traffic(1_500, 31, shift=1.0), 1, labels=False)
    return folder / "registry", folder / "log.db"


def test_monitor_run_prints_windows_stores_them_and_exits_1_on_alerts(home) -> None:
    registry, db = home
    first = tether("monitor", "run", "late", "--window", "1d", "--store", db,
                   "--registry", registry)  # fmt: skip
    assert first.returncode == 1, first.stderr
    assert "2024-05-01 00:00 → 2024-05-02 00:00" in first.stdout
    assert "drift:drifted_columns" in first.stdout
    assert "v1" in first.stdout
    again = tether("monitor", "run", "late", "--store", db, "--registry", registry)
    assert again.stdout.count("unchanged") == 2
    # nothing was recomputed, but the stored alert still stands until its data changes
    assert again.returncode == 1
    assert "drift:drifted_columns" in again.stdout


def test_monitor_run_refuses_bad_options_in_one_line(home) -> None:
    registry, db = home
    both = tether("monitor", "run", "late", "--window", "1d", "--rows", "10", "--store", db,
                  "--registry", registry)  # fmt: skip
    assert both.returncode == 2
    assert "choose --window or --rows" in both.stderr
    since = tether("monitor", "run", "late", "--since", "yesterday", "--store", db,
                   "--registry", registry)  # fmt: skip
    assert since.returncode == 2
    assert "is not ISO 8601" in since.stderr
    assert "Traceback" not in since.stderr + both.stderr


def test_export_training_set_and_review_round_trip(home, tmp_path) -> None:
    registry, db = home
    exported = tether("export-training-set", "late", "--out", tmp_path / "next.parquet",
                      "--store", db, "--registry", registry)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "wrote 1,500 rows" in exported.stdout
    assert pl.read_parquet(tmp_path / "next.parquet").height == 1_500
    review = tmp_path / "review.csv"
    written = tether("review", "export", "late", "--out", review, "--per-window", "20",
                     "--store", db, "--registry", registry)  # fmt: skip
    assert written.returncode == 0, written.stderr
    sample = pl.read_csv(review)
    sample.with_columns(label=pl.lit(0)).write_csv(review)
    imported = tether("review", "import", review, "--store", db)
    assert imported.returncode == 0, imported.stderr
    assert f"{sample.height:,} labels accepted" in imported.stdout


def test_monitor_results_prints_and_writes_the_stored_rows(home, tmp_path) -> None:
    registry, db = home
    tether("monitor", "run", "late", "--store", db, "--registry", registry)
    shown = tether("monitor", "results", "late", "--check", "estimated", "--store", db)
    assert shown.returncode == 0, shown.stderr
    assert "roc_auc" in shown.stdout
    written = tether("monitor", "results", "late", "--alerts", "--store", db,
                     "--out", tmp_path / "alerts.csv")  # fmt: skip
    assert written.returncode == 0, written.stderr
    alerts = pl.read_csv(tmp_path / "alerts.csv")
    assert alerts.height > 0
    assert alerts["alert"].all()
    assert {"window_start", "version", "check", "metric", "value"} <= set(alerts.columns)
