"""The ``tether`` command, run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tether import Profile, content_hash


def tether(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def train(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    n = 2_000
    frame = pl.DataFrame(
        {
            "flight_id": np.arange(n),
            "carrier": rng.choice(["UA", "AA", "DL", "B6"], n),
            "dep_delay": rng.normal(10, 30, n).round(1),
            "distance": rng.integers(100, 2_500, n),
            "late": rng.random(n) < 0.2,
        }
    )
    path = tmp_path_factory.mktemp("cli") / "train.parquet"
    frame.write_parquet(path)
    return path


def test_hash_prints_the_content_hash(train):
    done = tether("hash", train)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == content_hash(train)


def test_profile_writes_a_profile_that_loads_back(train, tmp_path):
    done = tether("profile", train, "-o", tmp_path / "p.json")
    assert done.returncode == 0, done.stderr
    profile = Profile.from_json(tmp_path / "p.json")
    assert profile.rows == 2_000
    assert list(profile.columns) == ["flight_id", "carrier", "dep_delay", "distance", "late"]
    assert "dep_delay" in done.stdout


def test_contract_infer_then_validate_clean_data_exits_0(train, tmp_path):
    contract = tmp_path / "c.yaml"
    done = tether(
        "contract", "infer", train, "-o", contract, "--target", "late", "--id-column", "flight_id"
    )
    assert done.returncode == 0, done.stderr
    assert "carrier" in contract.read_text()
    done = tether("validate", train, "--contract", contract)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 of 2,000 rows rejected" in done.stdout


def test_validate_exits_1_and_names_the_broken_rows(train, tmp_path):
    contract = tmp_path / "c.yaml"
    assert (
        tether("contract", "infer", train, "-o", contract, "--id-column", "flight_id").returncode
        == 0
    )
    bad = pl.read_parquet(train).with_columns(
        pl.when(pl.col("flight_id") == 7).then(pl.lit("ZZ")).otherwise("carrier").alias("carrier"),
        pl.when(pl.col("flight_id") == 9).then(1e9).otherwise("dep_delay").alias("dep_delay"),
    )
    bad.write_csv(tmp_path / "bad.csv")
    done = tether(
        "validate", tmp_path / "bad.csv", "--contract", contract, "--errors", tmp_path / "e.csv"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unseen_category" in done.stdout
    assert "above_max" in done.stdout
    assert "2 of 2,000 rows rejected" in done.stdout
    errors = pl.read_csv(tmp_path / "e.csv")
    assert sorted(errors["row"].to_list()) == [7, 9]


def test_input_errors_are_one_line_and_exit_2(tmp_path):
    done = tether("hash", tmp_path / "missing.parquet")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:")
    assert "no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_contract_file_names_the_key_path(train, tmp_path):
    contract = tmp_path / "c.yaml"
    assert tether("contract", "infer", train, "-o", contract).returncode == 0
    text = contract.read_text()
    contract.write_text(text.replace("format_version: 1", "format_version: [oops"))
    done = tether("validate", train, "--contract", contract)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "error:" in done.stderr


def test_usage_errors_exit_2():
    done = tether("validate")
    assert done.returncode == 2
    assert "Missing" in done.stderr
