"""``tether bundle ...`` and ``tether registry ...`` run as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import skops.io
from bundle_data import fitted, flights
from sklearn.linear_model import LogisticRegression


def tether(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        cwd=Path(__file__).parent,  # so the pickled test helpers import in the child
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundle-cli")
    train, valid = flights(3_000, seed=1), flights(1_500, seed=2)
    paths = {"root": root, "train": root / "train.parquet", "valid": root / "valid.parquet"}
    train.write_parquet(paths["train"])
    valid.write_parquet(paths["valid"])
    for name, model in (
        ("champion", fitted(train)),
        ("challenger", fitted(train, LogisticRegression(C=0.001, max_iter=500))),
    ):
        paths[name] = root / f"{name}.skops"
        skops.io.dump(model, paths[name])
    paths["registry"] = root / "registry"
    return paths


def build(files: dict[str, Path], model: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return tether(
        "bundle", "build", "--model", files[model], "--train", files["train"],
        "--valid", files["valid"], "--target", "late", "--segment", "carrier",
        "--cost", "fn=5", "--owner", "ops", *extra,
    )  # fmt: skip


def test_build_writes_a_bundle_and_pushes_it(files) -> None:
    done = build(files, "champion", "-o", files["root"] / "b1", "--push", "late",
                 "--registry", files["registry"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pushed late@" in done.stdout
    assert "roc_auc" in done.stdout
    assert (files["root"] / "b1" / "manifest.json").is_file()
    listed = tether("registry", "list", "--registry", files["registry"])
    assert listed.stdout.split() == ["late"]


def test_show_reads_a_folder_and_a_registry_ref(files) -> None:
    by_folder = tether("bundle", "show", files["root"] / "b1")
    assert by_folder.returncode == 0, by_folder.stderr
    version = by_folder.stdout.split()[1]
    alias = tether("registry", "alias", "late", "champion", version, "--reason", "first",
                   "--registry", files["registry"])  # fmt: skip
    assert alias.returncode == 0, alias.stderr
    by_ref = tether("bundle", "show", "late@champion", "--registry", files["registry"])
    assert by_ref.stdout.split()[1] == version


def test_diff_rollback_and_audit(files) -> None:
    done = build(files, "challenger", "--push", "late", "--registry", files["registry"])
    assert done.returncode == 0, done.stderr
    versions = tether("registry", "list", "late", "--registry", files["registry"]).stdout
    assert versions.count("│") >= 4  # two version rows
    newest = done.stdout.split("pushed late@")[1].split()[0]
    tether("registry", "alias", "late", "champion", newest, "--registry", files["registry"])
    diff = tether("bundle", "diff", files["root"] / "b1", f"late@{newest}",
                  "--registry", files["registry"])  # fmt: skip
    assert "parameters: model__C: 1.0 -> 0.001" in diff.stdout
    assert "metric roc_auc overall" in diff.stdout
    back = tether("registry", "rollback", "late", "--reason", "worse recall",
                  "--registry", files["registry"])  # fmt: skip
    assert back.returncode == 0, back.stderr
    audit = tether("registry", "audit", "late", "--registry", files["registry"]).stdout
    assert "rollback" in audit
    assert "worse recall" in audit


def test_parity_passes_for_batch_and_online_paths(files) -> None:
    done = tether("bundle", "parity", files["root"] / "b1", "--data", files["valid"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: batch vs online (onnx)" in done.stdout


def test_verify_without_an_entry_point_is_a_clear_error(files) -> None:
    done = tether("bundle", "verify", files["root"] / "b1", "--train", files["train"],
                  "--valid", files["valid"])  # fmt: skip
    assert done.returncode == 2
    assert "records no training entry point" in done.stderr
    assert "Traceback" not in done.stderr


def test_pickles_are_refused_without_trusted(files) -> None:
    import pickle

    path = files["root"] / "model.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression()))
    done = build(files, "champion", "-o", files["root"] / "never")
    assert done.returncode == 0  # skops is fine
    files["pickle"] = path
    refused = build(files, "pickle", "-o", files["root"] / "b-pickle")
    assert refused.returncode == 2
    assert "is a pickle" in refused.stderr


def test_delete_needs_force_and_spares_aliased_versions(files) -> None:
    listed = tether("registry", "list", "late", "--registry", files["registry"]).stdout
    rows = [line.split("│") for line in listed.splitlines() if line.count("│") == 4]
    aliased = next(cells[1].strip() for cells in rows if "champion" in cells[3])
    free = next(cells[1].strip() for cells in rows if not cells[3].strip())
    unforced = tether("registry", "delete", "late", free, "--registry", files["registry"])
    assert unforced.returncode == 2
    assert "force" in unforced.stderr
    refused = tether("registry", "delete", "late", aliased, "--force",
                     "--registry", files["registry"])  # fmt: skip
    assert refused.returncode == 2
    assert "champion" in refused.stderr
    forced = tether("registry", "delete", "late", free, "--force", "--registry", files["registry"])
    assert forced.returncode == 0, forced.stderr
    assert free not in tether("registry", "list", "late", "--registry", files["registry"]).stdout
