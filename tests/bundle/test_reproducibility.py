"""Seeding global random state, comparing re-run results, resolving training entry points."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import random
import re
import sys
import types

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from tether.bundle.reproducibility import (
    MAX_SEED,
    compare_metrics,
    compare_predictions,
    resolve_entry_point,
    seed_everything,
)
from tether.errors import InputError


@pytest.fixture(autouse=True)
def _restore_hash_seed(monkeypatch):
    # Set first so that monkeypatch restores (or removes) it after seed_everything overwrote it.
    monkeypatch.setenv("PYTHONHASHSEED", "0")


@pytest.fixture
def classification() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    return X, y


def draws_after(seed: int, X: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    seed_everything(seed)
    forest = RandomForestClassifier(n_estimators=5, random_state=None).fit(X, y)
    legacy_draw = float(np.random.rand())  # noqa: NPY002
    return random.random(), legacy_draw, forest.predict_proba(X)[:, 1]


def test_same_seed_gives_identical_python_numpy_and_sklearn_draws(classification):
    X, y = classification
    first, second = draws_after(11, X, y), draws_after(11, X, y)
    assert first[:2] == second[:2]
    np.testing.assert_array_equal(first[2], second[2])
    # Another seed changes the forest: random_state=None really draws from NumPy's global RNG.
    other = draws_after(12, X, y)
    assert not np.array_equal(first[2], other[2])


def test_seed_everything_reports_each_library_and_sets_the_hash_seed():
    done = seed_everything(5)
    assert list(done) == sorted(done)
    assert done["random"] == done["numpy"] == "seeded"
    assert done["PYTHONHASHSEED"] == "set for child processes"
    assert os.environ["PYTHONHASHSEED"] == "5"
    for library in ("lightgbm", "xgboost"):
        installed = importlib.util.find_spec(library) is not None
        expected = "needs random_state on the estimator" if installed else "not installed"
        assert done[library] == expected


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_absent_torch_is_reported_and_never_imported():
    assert seed_everything(5)["torch"] == "not installed"
    assert "torch" not in sys.modules


def test_present_torch_is_seeded(monkeypatch):
    seeds: list[int] = []
    fake = types.ModuleType("torch")
    fake.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    fake.manual_seed = seeds.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert seed_everything(9)["torch"] == "seeded"
    assert seeds == [9]


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.5, "7", True, None])
def test_invalid_seed_is_refused_with_its_value(seed):
    with pytest.raises(InputError, match=re.escape(repr(seed))):
        seed_everything(seed)


@pytest.mark.parametrize("seed", [0, MAX_SEED, np.int64(3)])
def test_seed_range_edges_and_numpy_integers_are_accepted(seed):
    assert seed_everything(seed)["numpy"] == "seeded"


def test_lightgbm_and_xgboost_ignore_numpy_global_state(classification):
    # The docstring of seed_everything claims this; a new release that changed it should fail here.
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    X, y = classification
    sampling = {"n_estimators": 10, "subsample": 0.5, "colsample_bytree": 0.5, "n_jobs": 1}

    def lgbm(random_state: int | None, global_seed: int) -> np.ndarray:
        np.random.seed(global_seed)  # noqa: NPY002
        model = lightgbm.LGBMClassifier(
            random_state=random_state, subsample_freq=1, verbose=-1, **sampling
        )
        return model.fit(X, y).predict_proba(X)[:, 1]

    def xgb(random_state: int | None, global_seed: int) -> np.ndarray:
        np.random.seed(global_seed)  # noqa: NPY002
        model = xgboost.XGBClassifier(random_state=random_state, **sampling)
        return model.fit(X, y).predict_proba(X)[:, 1]

    np.testing.assert_array_equal(lgbm(None, 1), lgbm(None, 2))
    assert not np.array_equal(lgbm(None, 1), lgbm(3, 1))
    np.testing.assert_array_equal(xgb(None, 1), xgb(None, 2))
    np.testing.assert_array_equal(xgb(None, 1), xgb(0, 1))
    assert not np.array_equal(xgb(None, 1), xgb(3, 1))


def test_identical_predictions_are_within_tolerance():
    scores = np.array([0.1, 0.7, np.nan])
    assert compare_predictions(scores, scores.copy()) == {
        "rows": 3,
        "max_abs_diff": 0.0,
        "mismatched_rows": 0,
        "within_tolerance": True,
        "tolerance": 1e-6,
    }


def test_predictions_off_by_more_than_tolerance_are_counted_per_row():
    recorded = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    reproduced = recorded + np.array([[0.0, 0.0], [1e-3, -1e-3], [0.0, 1e-9]])
    result = compare_predictions(recorded, reproduced, tolerance=1e-6)
    assert result["max_abs_diff"] == pytest.approx(1e-3, rel=1e-9)
    assert result["mismatched_rows"] == 1
    assert result["within_tolerance"] is False
    assert compare_predictions(recorded, reproduced, tolerance=1e-2)["within_tolerance"] is True


def test_nan_against_a_number_is_an_infinite_difference():
    result = compare_predictions(np.array([0.5, np.nan]), np.array([0.5, 0.5]))
    assert result["max_abs_diff"] == float("inf")
    assert (result["mismatched_rows"], result["within_tolerance"]) == (1, False)


def test_label_predictions_must_be_equal():
    result = compare_predictions(np.array(["a", "b", "c"]), np.array(["a", "x", "c"]))
    assert (result["max_abs_diff"], result["mismatched_rows"]) == (None, 1)
    assert result["within_tolerance"] is False


def test_prediction_shapes_must_match_and_tolerance_must_be_valid():
    with pytest.raises(InputError, match=r"shape \(3,\).*\(2,\)"):
        compare_predictions(np.zeros(2), np.zeros(3))
    with pytest.raises(InputError, match="scalar"):
        compare_predictions(np.float64(1.0), np.float64(1.0))
    with pytest.raises(InputError, match="tolerance"):
        compare_predictions(np.zeros(2), np.zeros(2), tolerance=-1.0)


def test_compare_metrics_sorts_and_flags_missing_and_nan():
    rows = compare_metrics(
        {"rmse": 1.0, "auc": 0.9, "ece": float("nan"), "old": 3.0},
        {"rmse": 1.0 + 1e-3, "auc": 0.9, "ece": float("nan"), "new": 2.0},
    )
    assert [row["metric"] for row in rows] == ["auc", "ece", "new", "old", "rmse"]
    by_name = {row.pop("metric"): row for row in rows}
    assert by_name["auc"] == {
        "recorded": 0.9,
        "reproduced": 0.9,
        "abs_diff": 0.0,
        "within_tolerance": True,
    }
    assert by_name["ece"]["within_tolerance"] is True
    assert by_name["new"] == {
        "recorded": None,
        "reproduced": 2.0,
        "abs_diff": None,
        "within_tolerance": False,
    }
    assert by_name["rmse"]["abs_diff"] == pytest.approx(1e-3)
    assert by_name["rmse"]["within_tolerance"] is False


def test_compare_metrics_rejects_non_numbers():
    with pytest.raises(InputError, match="reproduced metric 'auc'"):
        compare_metrics({"auc": 0.9}, {"auc": "high"})


@pytest.fixture
def training_package(tmp_path, monkeypatch):
    package = tmp_path / "lineage_entry_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(
        "RATE = 0.1\n"
        "def fit():\n    return 'fitted'\n"
        "class Trainer:\n    @staticmethod\n    def run():\n        return 'ran'\n"
    )
    (package / "broken.py").write_text("raise ValueError('bad config')\n")
    (package / "needs_dep.py").write_text("import lineage_entry_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lineage_entry_pkg"
    for name in [m for m in sys.modules if m.startswith("lineage_entry_pkg")]:
        del sys.modules[name]


def test_entry_point_resolves_functions_and_dotted_attributes(training_package):
    assert resolve_entry_point(f"{training_package}.train:fit")() == "fitted"
    assert resolve_entry_point(f"{training_package}.train:Trainer.run")() == "ran"


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (".nowhere:fit", "is not importable"),
        (".train:predict", "has no attribute 'predict'"),
        (".train:RATE", "names a float, which is not callable"),
        (".broken:fit", "ValueError: bad config"),
        (".needs_dep:fit", "importing .* failed"),
    ],
)
def test_unresolvable_entry_point_says_what_is_wrong(training_package, suffix, message):
    spec = training_package + suffix
    with pytest.raises(InputError, match=message) as raised:
        resolve_entry_point(spec)
    assert spec in str(raised.value)


@pytest.mark.parametrize("spec", ["train", "a:b:c", "pkg.:fit", ":fit", "pkg:", "a b:c", ""])
def test_malformed_entry_point_is_refused(spec):
    with pytest.raises(InputError, match="malformed"):
        resolve_entry_point(spec)
