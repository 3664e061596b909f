"""tether.drift end to end: frames, profiles, windows, and the `tether drift` command."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from tether import InputError, Profile
from tether.drift import DriftReport, drift

ROWS = 20_000


def frame(seed: int, *, shift: float = 0.0, new_share: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    carrier = rng.choice(["AA", "UA", "DL", "B6"], ROWS)
    carrier = np.where(rng.random(ROWS) < new_share, "ZZ", carrier)
    start = dt.datetime(2013, 4, 1, tzinfo=dt.UTC)
    return pl.DataFrame(
        {
            "flight_id": np.arange(ROWS) + seed * ROWS,
            "time_hour": [
                start + dt.timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 60, ROWS))
            ],
            "dep_delay": rng.normal(10 + 30 * shift, 30, ROWS),
            "distance": rng.integers(100, 2_500, ROWS),
            "carrier": carrier,
        }
    )


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return frame(1)


def test_same_distribution_is_not_drift(reference):
    report = drift(reference, frame(2), exclude=["flight_id"])
    assert report.drifted == []
    assert not report.dataset_drifted
    assert set(report.summary()["column"]) == {"dep_delay", "distance", "carrier", "time_hour"}


def test_planted_shift_and_new_category_are_found_with_reasons(reference):
    report = drift(reference, frame(3, shift=0.5, new_share=0.04), exclude=["flight_id"])
    assert sorted(report.drifted) == ["carrier", "dep_delay"]
    reasons = report.to_frame().filter(pl.col("drifted"))["reason"].to_list()
    assert any("+0.5" in r and "sd" in r for r in reasons)
    assert any("'ZZ'" in r for r in reasons)


def test_profiles_give_the_same_report_as_frames(reference):
    current = frame(3, shift=0.5)
    ref_profile = Profile.build(reference)
    from_profiles = drift(ref_profile, Profile.build(current, reference=ref_profile))
    from_frames = drift(reference, current)
    assert from_profiles.to_frame().equals(from_frames.to_frame())


def test_monthly_windows_each_get_verdicts_and_the_time_column_is_left_out(reference):
    current = frame(4).with_columns(
        pl.when(pl.col("time_hour") >= dt.datetime(2013, 5, 1, tzinfo=dt.UTC))
        .then(pl.col("dep_delay") + 20)
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay")
    )
    report = drift(reference, current, time_column="time_hour", every="1mo", exclude=["flight_id"])
    windows = report.windows()
    assert windows["window_start"].to_list() == [
        "2013-04-01T00:00:00+00:00",
        "2013-05-01T00:00:00+00:00",
    ]
    assert windows["dataset_drifted"].to_list() == [False, True]
    assert "time_hour" not in report.to_frame()["column"].to_list()


def test_a_current_profile_binned_on_other_edges_is_a_clear_error(reference):
    with pytest.raises(InputError, match="reference="):
        drift(Profile.build(reference), Profile.build(frame(2)))


def test_bad_arguments_are_clear_errors(reference):
    with pytest.raises(InputError, match="alpha"):
        drift(reference, reference, alpha=1.5)
    with pytest.raises(InputError, match=r"\['nope'\]"):
        drift(reference, reference, columns=["nope"])
    with pytest.raises(InputError, match="windows need current data"):
        drift(reference, Profile.build(reference), chunks=2)


def test_cli_drift_exit_codes_and_outputs(reference, tmp_path):
    reference.write_parquet(tmp_path / "ref.parquet")
    frame(2).write_parquet(tmp_path / "same.parquet")
    frame(3, shift=0.5).write_parquet(tmp_path / "shifted.parquet")

    def run(*args):
        command = [sys.executable, "-m", "tether.cli", "drift", *map(str, args)]
        env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    quiet = run(tmp_path / "ref.parquet", tmp_path / "same.parquet", "--exclude", "flight_id")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "no drift" in quiet.stdout
    loud = run(
        tmp_path / "ref.parquet", tmp_path / "shifted.parquet", "--exclude", "flight_id",
        "-o", tmp_path / "r.json",
    )  # fmt: skip
    assert loud.returncode == 1, loud.stdout + loud.stderr
    assert "dep_delay" in loud.stdout
    assert DriftReport.from_json(tmp_path / "r.json").drifted == ["dep_delay"]
    assert json.loads((tmp_path / "r.json").read_text())["alpha"] == 0.01
    html = run(
        tmp_path / "ref.parquet",
        tmp_path / "shifted.parquet",
        "--chunks",
        "2",
        "-o",
        tmp_path / "r.html",
    )
    assert html.returncode == 1
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    broken = run(tmp_path / "ref.parquet", tmp_path / "missing.parquet")
    assert broken.returncode == 2
    assert broken.stderr.startswith("error:")
