"""Lineage records: git state, data fingerprint, environment and training run."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import random
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tether.bundle import lineage
from tether.bundle.lineage import (
    TrainingRun,
    data_lineage,
    environment,
    environment_diff,
    git_lineage,
)
from tether.bundle.reproducibility import seed_everything
from tether.errors import InputError
from tether.frame import content_hash


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    # The user's git config (colours, signing, default branch) must not change what tests see,
    # and git must not find a repository above tmp_path. seed_everything sets PYTHONHASHSEED:
    # setting it here first makes monkeypatch restore the original afterwards.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("PYTHONHASHSEED", "0")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, check=True, text=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    (root / "train.py").write_text("print('train')\n")
    (root / ".gitignore").write_text("*.log\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_tree_records_commit_and_branch_without_diff_hash(repo):
    record = git_lineage(repo)
    assert record == {
        "available": True,
        "commit": git(repo, "rev-parse", "HEAD"),
        "branch": "main",
        "dirty": False,
        "diff_hash": None,
        "untracked": 0,
        "remote": None,
        "root": str(repo.resolve()),
    }
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"])
    assert json.loads(json.dumps(record)) == record


def test_untracked_file_changes_the_hash_and_deleting_it_restores_it(repo):
    (repo / "train.py").write_text("print('changed')\n")
    modified = git_lineage(repo)
    assert modified["dirty"] is True
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", modified["diff_hash"])

    (repo / "notes.txt").write_text("scratch\n")
    with_untracked = git_lineage(repo)
    assert with_untracked["untracked"] == 1
    assert with_untracked["diff_hash"] != modified["diff_hash"]

    (repo / "notes.txt").unlink()
    assert git_lineage(repo)["diff_hash"] == modified["diff_hash"]


def test_staged_and_unstaged_modification_give_the_same_hash(repo):
    (repo / "train.py").write_text("print('changed')\n")
    unstaged = git_lineage(repo)["diff_hash"]
    git(repo, "add", "train.py")
    assert git_lineage(repo)["diff_hash"] == unstaged


def test_untracked_content_and_name_both_enter_the_hash(repo):
    (repo / "a.txt").write_text("one")
    first = git_lineage(repo)["diff_hash"]
    (repo / "a.txt").write_text("two")
    edited = git_lineage(repo)["diff_hash"]
    (repo / "a.txt").rename(repo / "b.txt")
    renamed = git_lineage(repo)["diff_hash"]
    assert len({first, edited, renamed}) == 3


def test_untracked_file_alone_makes_the_tree_dirty(repo):
    (repo / "notes.txt").write_text("scratch\n")
    record = git_lineage(repo)
    assert (record["dirty"], record["untracked"]) == (True, 1)
    assert record["diff_hash"] is not None


def test_last_byte_of_a_large_untracked_file_enters_the_hash(repo):
    payload = bytearray(3 * 2**20)
    (repo / "data.bin").write_bytes(payload)
    before = git_lineage(repo)["diff_hash"]
    payload[-1] = 1
    (repo / "data.bin").write_bytes(payload)
    assert git_lineage(repo)["diff_hash"] != before


def test_ignored_files_do_not_count(repo):
    (repo / "debug.log").write_text("noise\n")
    clean = git_lineage(repo)
    assert (clean["dirty"], clean["untracked"], clean["diff_hash"]) == (False, 0, None)

    (repo / "train.py").write_text("print('changed')\n")
    modified = git_lineage(repo)["diff_hash"]
    (repo / "debug.log").write_text("more noise\n")
    assert git_lineage(repo)["diff_hash"] == modified


def test_user_diff_config_does_not_change_the_hash(repo):
    (repo / "train.py").write_text("print('changed')\n")
    before = git_lineage(repo)["diff_hash"]
    git(repo, "config", "color.diff", "always")
    git(repo, "config", "diff.noprefix", "true")
    git(repo, "config", "core.abbrev", "7")
    assert git_lineage(repo)["diff_hash"] == before


def test_detached_head_has_no_branch(repo):
    git(repo, "checkout", "-q", "--detach")
    record = git_lineage(repo)
    assert record["branch"] is None
    assert record["commit"] == git(repo, "rev-parse", "HEAD")


def test_subfolder_and_file_paths_find_the_work_tree_root(repo):
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("x = 1\n")
    assert git_lineage(repo / "src")["root"] == str(repo.resolve())
    assert git_lineage(repo / "src" / "model.py")["root"] == str(repo.resolve())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:s3cret@example.com/org/repo.git", "https://example.com/org/repo.git"),
        (
            "https://ghp_token@example.com:8443/r.git?private_token=x",
            "https://example.com:8443/r.git",
        ),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ],
)
def test_remote_url_loses_its_credentials(repo, url, expected):
    git(repo, "remote", "add", "origin", url)
    assert git_lineage(repo)["remote"] == expected


def test_folder_outside_git_is_unavailable(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    record = git_lineage(plain)
    assert record["available"] is False
    assert str(plain) in record["reason"]
    assert set(record) == {"available", "reason"}


def test_missing_path_is_unavailable(tmp_path):
    record = git_lineage(tmp_path / "nowhere")
    assert record["available"] is False
    assert "no such file" in record["reason"]


def test_repository_without_commits_is_unavailable(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    record = git_lineage(empty)
    assert record["available"] is False
    assert "no commits" in record["reason"]


def test_missing_git_executable_is_unavailable(repo, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    record = git_lineage(repo)
    assert record["available"] is False
    assert "not installed" in record["reason"]


def test_data_lineage_records_hash_schema_and_time_span(tmp_path):
    frame = pl.DataFrame(
        {
            "at": [
                dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC),
                dt.datetime(2024, 1, 5, 8, 30, tzinfo=dt.UTC),
            ],
            "x": [1.5, 2.5],
        }
    )
    record = data_lineage(frame, time_column="at")
    assert record == {
        "hash": content_hash(frame),
        "rows": 2,
        "columns": ["at", "x"],
        "schema": {"at": "Datetime(time_unit='us', time_zone='UTC')", "x": "Float64"},
        "time_min": "2024-01-05T08:30:00+00:00",
        "time_max": "2024-03-01T12:00:00+00:00",
    }
    frame.write_parquet(tmp_path / "train.parquet")
    assert data_lineage(tmp_path / "train.parquet", time_column="at") == record


def test_data_lineage_without_time_column_or_with_only_nulls_has_no_span():
    frame = pl.DataFrame({"day": pl.Series([None, None], dtype=pl.Date), "x": [1, 2]})
    for record in (data_lineage(frame), data_lineage(frame, time_column="day")):
        assert (record["time_min"], record["time_max"]) == (None, None)


def test_data_lineage_rejects_a_missing_or_non_temporal_time_column():
    frame = pl.DataFrame({"x": [1, 2]})
    with pytest.raises(InputError, match="'when'"):
        data_lineage(frame, time_column="when")
    with pytest.raises(InputError, match="'x' has type Int64"):
        data_lineage(frame, time_column="x")


def test_environment_lists_normalized_sorted_packages_and_is_json():
    record = environment()
    assert list(record) == [
        "python",
        "implementation",
        "packages",
        "os",
        "system",
        "release",
        "machine",
        "cpu",
        "cpu_count",
        "hostname",
        "user",
    ]
    packages = record["packages"]
    assert list(packages) == sorted(packages)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in packages)
    assert packages["numpy"] == importlib.metadata.version("numpy")
    assert "scikit-learn" in packages
    assert json.loads(json.dumps(record)) == record


def test_environment_user_falls_back_to_none(monkeypatch):
    def no_user() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(lineage.getpass, "getuser", no_user)
    assert environment()["user"] is None


def test_environment_diff_reports_changed_fields_then_packages_by_name():
    recorded = {
        "python": "3.11.7",
        "os": "Linux-6.1",
        "cpu": "Xeon",
        "machine": "x86_64",
        "hostname": "a",
        "packages": {"numpy": "1.26.4", "zlib": "1.0", "polars": "1.30.0"},
    }
    current = {
        **recorded,
        "python": "3.12.1",
        "hostname": "b",
        "packages": {"numpy": "2.1.0", "polars": "1.30.0", "attrs": "24.1"},
    }
    assert environment_diff(recorded, current) == [
        {"field": "python", "recorded": "3.11.7", "current": "3.12.1"},
        {"field": "packages.attrs", "recorded": None, "current": "24.1"},
        {"field": "packages.numpy", "recorded": "1.26.4", "current": "2.1.0"},
        {"field": "packages.zlib", "recorded": "1.0", "current": None},
    ]
    assert environment_diff(current, current) == []


def test_environment_diff_rejects_packages_that_are_not_a_dict():
    with pytest.raises(InputError, match="recorded environment has packages of type list"):
        environment_diff({"packages": ["numpy"]}, {"packages": {}})


def test_training_run_records_utc_times_duration_and_seed():
    with TrainingRun(seed=7) as run:
        draws = (random.random(), float(np.random.rand()))  # noqa: NPY002
        time.sleep(0.02)
    record = run.to_dict()
    seed_everything(7)
    assert draws == (random.random(), float(np.random.rand()))  # noqa: NPY002
    started = dt.datetime.fromisoformat(record["started"])
    ended = dt.datetime.fromisoformat(record["ended"])
    assert started.utcoffset() == dt.timedelta(0)
    assert record["duration_s"] >= 0.02
    assert ended >= started
    assert record["seed"] == 7
    assert record["seeding"]["numpy"] == "seeded"
    assert json.loads(json.dumps(record)) == record


def test_training_run_without_seed_leaves_global_state_alone():
    random.seed(3)
    expected = [random.random() for _ in range(2)]
    random.seed(3)
    first = random.random()
    with TrainingRun() as run:
        second = random.random()
    assert [first, second] == expected
    assert run.to_dict()["seeding"] is None


def test_training_run_to_dict_before_the_end_raises():
    run = TrainingRun(seed=1)
    with pytest.raises(InputError, match="before the run ended"):
        run.to_dict()
    with run, pytest.raises(InputError, match="before the run ended"):
        run.to_dict()
    assert run.to_dict()["seed"] == 1


def test_training_run_records_the_end_when_training_raises():
    run = TrainingRun()
    with pytest.raises(ZeroDivisionError), run:
        _ = 1 / 0
    assert run.to_dict()["ended"] is not None
