"""``tether check fairness`` and ``tether segments``, run as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
from test_check_fairness import _bundle

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
from serve_data import flights


def tether(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_check_fairness_exits_1_when_the_challenger_widens_a_disparity(tmp_path) -> None:
    train, valid = flights(6_000, 51), flights(4_000, 52)
    rng = np.random.default_rng(1)
    biased = train.with_columns(
        pl.when((pl.col("origin") == "LGA") & pl.Series(rng.random(train.height) < 0.5))
        .then(1).otherwise(pl.col("late")).alias("late")
    )  # fmt: skip
    _bundle(train, valid, sensitive=["origin"]).save(tmp_path / "champion")
    _bundle(biased, valid, sensitive=["origin"]).save(tmp_path / "challenger")
    valid.write_parquet(tmp_path / "valid.parquet")
    failed = tether("check", "fairness", tmp_path / "challenger", tmp_path / "champion",
                    "--valid", tmp_path / "valid.parquet")  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "demographic_parity_difference" in failed.stdout
    assert "grew against the champion" in failed.stdout
    same = tether("check", "fairness", tmp_path / "champion", tmp_path / "champion")
    assert same.returncode == 0, same.stderr
    assert "no disparity grew" in same.stdout
    bad = tether("check", "fairness", tmp_path / "champion", tmp_path / "champion",
                 "--valid", tmp_path / "missing.parquet")  # fmt: skip
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_segments_prints_the_planted_weak_segment(tmp_path) -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    frame = pl.DataFrame({
        "carrier": rng.choice(["AA", "DL", "UA", "WN"], n),
        "dep_hour": rng.integers(5, 23, n),
        "score": rng.uniform(0.05, 0.95, n),
    })  # fmt: skip
    late = rng.random(n) < frame["score"].to_numpy()
    weak = ((frame["carrier"] == "WN") & (frame["dep_hour"] >= 19)).to_numpy()
    # in the weak segment the labels are coin flips, whatever the score says
    late = np.where(weak, rng.random(n) < 0.5, late)
    frame.with_columns(late=pl.Series(late.astype(int))).write_parquet(tmp_path / "scored.parquet")
    done = tether("segments", tmp_path / "scored.parquet", "--label", "late", "--score", "score",
                  "--column", "carrier", "--column", "dep_hour")  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = next(line for line in done.stdout.splitlines() if "│ 1 " in line or "┃ 1 " in line)
    assert "worse_than_expected" in first
    assert "carrier = 'WN'" in first
    assert "dep_hour >= 19" in first
