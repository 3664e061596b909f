"""Bundle.build / save / load: what a bundle captures, that it round-trips, refuses tampering and
untrusted pickles, and that its batch and online paths agree."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import polars as pl
import pytest
from bundle_data import FEATURES, fitted, flights
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from tether.bundle import Bundle, diff_bundles, feature_parity, record_parity, verify
from tether.errors import InputError, IntegrityError, UntrustedArtifactError
from tether.frame import content_hash


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return flights(6_000, seed=1), flights(3_000, seed=2)


@pytest.fixture(scope="module")
def bundle(data: tuple[pl.DataFrame, pl.DataFrame]) -> Bundle:
    train, valid = data
    return Bundle.build(
        fitted(train),
        train=train,
        valid=valid,
        target="late",
        id_column="flight_id",
        segments=["carrier"],
        cost={"fp": 1.0, "fn": 5.0},
        owner="ops-analytics",
        on_call="oncall@example.com",
        latency_budget_ms=50,
        seed=7,
        n_resamples=100,
    )


def test_batch_predictions_are_the_fitted_models(bundle, data) -> None:
    train, valid = data
    expected = fitted(train).predict_proba(valid.select(FEATURES))[:, 1]
    out = bundle.predict(valid)
    assert out.columns == ["flight_id", "prediction", "score"]
    np.testing.assert_array_equal(out["score"].to_numpy(), expected)
    assert out["prediction"].to_list() == (expected >= 0.5).astype(int).tolist()


def test_the_bundle_keeps_validation_scores_labels_and_segments_for_the_monitor(
    bundle, data, tmp_path
) -> None:
    _, valid = data
    bundle.save(tmp_path / "b")
    kept = Bundle.load(tmp_path / "b").reference_scores
    assert kept is not None
    assert kept.columns == ["score", "label", "carrier"]
    np.testing.assert_array_equal(kept["score"].to_numpy(), bundle.scores(valid))
    assert kept["label"].to_list() == valid["late"].to_list()
    assert kept["carrier"].to_list() == valid["carrier"].to_list()


def test_save_load_round_trip_keeps_version_and_outputs(bundle, data, tmp_path) -> None:
    version = bundle.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    assert version == bundle.version == loaded.version
    assert loaded.predict(data[1]).equals(bundle.predict(data[1]))
    assert loaded.metrics.equals(bundle.metrics)
    assert bundle.save(tmp_path / "b") == version  # same content again: a no-op


def test_save_refuses_a_folder_holding_something_else(bundle, tmp_path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        bundle.save(tmp_path / "b")


def test_version_is_the_hash_of_a_manifest_listing_every_file(bundle, tmp_path) -> None:
    import hashlib

    bundle.save(tmp_path / "b")
    raw = (tmp_path / "b" / "manifest.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == bundle.version
    listed = json.loads(raw)["files"]
    stored = {
        os.path.relpath(os.path.join(d, f), tmp_path / "b")
        for d, _, fs in os.walk(tmp_path / "b")
        for f in fs
    } - {"manifest.json"}
    assert set(listed) == stored
    assert {"contract.yaml", "reference.json", "lineage.json", "baseline.json"} <= stored


@pytest.mark.parametrize("damage", ["flip", "truncate", "extra", "missing"])
def test_tampered_bundle_is_refused(bundle, tmp_path, damage) -> None:
    root = tmp_path / "b"
    bundle.save(root)
    target = root / "contract.yaml"
    if damage == "flip":
        raw = bytearray(target.read_bytes())
        raw[10] ^= 1
        target.write_bytes(bytes(raw))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-5])
    elif damage == "extra":
        (root / "model" / "evil.pkl").write_bytes(b"x")
    else:
        target.unlink()
    with pytest.raises(IntegrityError):
        Bundle.load(root)


def test_an_edited_manifest_no_longer_matches_its_version(bundle, tmp_path) -> None:
    root = tmp_path / "b"
    bundle.save(root)
    manifest = json.loads((root / "manifest.json").read_bytes())
    manifest["metadata"]["threshold"] = 0.01
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="modified"):
        Bundle.load(root, version=bundle.version)


def test_bundle_captures_contract_reference_and_prediction_profile(bundle, data) -> None:
    train, _ = data
    assert bundle.contract.target == "late"
    assert bundle.contract.id_column == "flight_id"
    assert set(FEATURES) <= set(bundle.contract.columns)
    assert bundle.reference.rows == train.height
    assert bundle.reference["carrier"].categories is not None
    assert bundle.prediction_profile.rows == data[1].height
    assert "score" in bundle.prediction_profile


def test_baseline_metrics_have_intervals_overall_and_per_segment(bundle) -> None:
    overall = bundle.metrics.filter(pl.col("segment") == "all")
    auc = overall.filter(pl.col("metric") == "roc_auc").row(0, named=True)
    assert auc["low"] <= auc["estimate"] <= auc["high"]
    assert 0.6 < auc["estimate"] < 0.9  # the planted signal, well above chance
    carriers = bundle.metrics.filter(pl.col("segment") == "carrier")["value"].unique().sort()
    assert carriers.to_list() == ["AA", "B6", "DL", "EV", "UA"]
    assert {"ece", "brier"} <= set(overall["metric"])
    assert bundle.calibration["rows"].sum() == 3_000


def test_expected_cost_uses_the_confusion_counts(bundle, data) -> None:
    valid = data[1]
    scores = bundle.scores(valid)
    y = valid["late"].to_numpy()
    fp = int(((scores >= 0.5) & (y == 0)).sum())
    fn = int(((scores < 0.5) & (y == 1)).sum())
    assert bundle.cost["total"] == pytest.approx(fp * 1.0 + fn * 5.0)
    assert bundle.cost["per_prediction"] == pytest.approx((fp + 5 * fn) / valid.height)


def test_importance_ranks_the_driving_features_above_origin(bundle) -> None:
    ranked = bundle.importance["feature"].to_list()
    assert ranked.index("origin") == len(ranked) - 1  # origin does not enter the target


def test_lineage_records_data_environment_and_owner(bundle, data) -> None:
    train, valid = data
    assert bundle.lineage["train"]["hash"] == content_hash(train)
    assert bundle.lineage["valid"]["rows"] == valid.height
    assert bundle.lineage["seed"] == 7
    assert "numpy" in bundle.lineage["environment"]["packages"]
    assert bundle.lineage["params"]["model__max_iter"] == 500
    assert bundle.metadata["owner"] == "ops-analytics"
    assert bundle.metadata["latency_budget_ms"] == 50
    assert set(bundle.lineage["build"]["seconds"]) >= {"contract", "baseline_metrics", "onnx"}


def test_online_path_is_onnx_and_matches_the_batch_path(bundle, data) -> None:
    assert bundle.online_path == "onnx"
    assert bundle.metadata["onnx"]["parity"]["ok"]
    parity = record_parity(bundle, data[1], rows=2_000)
    assert parity.ok, parity.to_dict()
    assert parity.result.rows >= 2_000  # edge rows on top
    assert parity.result.max_abs_diff <= 1e-5


def test_predict_record_matches_predict_on_edge_values(bundle) -> None:
    records = [
        {"distance": None, "dep_hour": 9.0, "carrier": "AA", "origin": "JFK"},
        {"distance": 1e7, "dep_hour": 23.0, "carrier": "ZZ-unseen", "origin": "LGA"},
        {"distance": 500.0, "dep_hour": 5.0, "carrier": None, "origin": "EWR"},
    ]
    for record in records:
        online = bundle.predict_record(record)
        batch = bundle.predict(bundle.record_frame(record)).row(0, named=True)
        assert online["score"] == pytest.approx(batch["score"], abs=1e-5)


def test_a_model_that_does_not_convert_stays_native_and_says_why(data) -> None:
    train, valid = data
    bundle = Bundle.build(
        fitted(train, HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        train=train,
        valid=valid,
        target="late",
        n_resamples=20,
    )
    assert bundle.online_path == "native"
    assert bundle.metadata["onnx"]["reason"]
    parity = record_parity(bundle, valid, rows=300)
    assert parity.ok
    assert parity.result.max_abs_diff == 0.0


class _Handmade(ClassifierMixin, BaseEstimator):
    """A classifier skops cannot store safely: only a pickle holds it."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.clip(X["dep_hour"].to_numpy() / 24.0, 0, 1)
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def test_untrusted_pickle_needs_trusted_to_build_and_to_load(data, tmp_path) -> None:
    train, valid = data
    model = _Handmade().fit(train, train["late"])
    with pytest.raises(UntrustedArtifactError):
        Bundle.build(model, train=train, valid=valid, target="late", features=FEATURES)
    bundle = Bundle.build(
        model, train=train, valid=valid, target="late", features=FEATURES, trusted=True,
        n_resamples=20,
    )  # fmt: skip
    assert bundle.metadata["model"]["kind"] == "pickle"
    bundle.save(tmp_path / "b")
    with pytest.raises(UntrustedArtifactError):
        Bundle.load(tmp_path / "b")
    assert Bundle.load(tmp_path / "b", trusted=True).version == bundle.version


def test_regression_bundle_has_error_metrics_and_cost(data) -> None:
    train, valid = data
    features = ["dep_hour"]
    model = LinearRegression().fit(train.select(features), train["distance"].fill_null(0))
    frame_t = train.with_columns(pl.col("distance").fill_null(0))
    frame_v = valid.with_columns(pl.col("distance").fill_null(0))
    bundle = Bundle.build(
        model, train=frame_t, valid=frame_v, target="distance", features=features,
        cost={"over": 1.0, "under": 2.0}, n_resamples=20,
    )  # fmt: skip
    assert bundle.task == "regression"
    assert {"mae", "rmse", "r2"} <= set(bundle.metrics["metric"])
    assert bundle.predict(frame_v).columns == ["prediction"]
    residual = bundle.scores(frame_v) - frame_v["distance"].to_numpy()
    expected = residual[residual > 0].sum() - 2.0 * residual[residual < 0].sum()
    assert bundle.cost["total"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "nope"}, "target column 'nope'"),
        ({"cost": {"fp": 1.0, "loss": 2.0}}, "cost keys \\['loss'\\]"),
        ({"threshold": 1.5}, "threshold must lie"),
        ({"segments": ["gate"]}, "valid lacks segment columns \\['gate'\\]"),
        ({"features": ["distance", "wind"]}, "lacks model features \\['wind'\\]"),
    ],
)
def test_bad_build_arguments_name_the_field(data, options, message) -> None:
    train, valid = data
    kwargs = {"train": train, "valid": valid, "target": "late"} | options
    with pytest.raises(InputError, match=message):
        Bundle.build(fitted(train), **kwargs)


def test_empty_validation_data_is_refused(data) -> None:
    train, valid = data
    with pytest.raises(InputError, match="valid has no rows"):
        Bundle.build(fitted(train), train=train, valid=valid.head(0), target="late")


def test_unknown_target_labels_are_named(data) -> None:
    train, valid = data
    bad = valid.with_columns(pl.when(pl.col("flight_id") == valid["flight_id"][0])
                             .then(7).otherwise(pl.col("late")).alias("late"))  # fmt: skip
    with pytest.raises(InputError, match="values \\[7\\]"):
        Bundle.build(fitted(train), train=train, valid=bad, target="late")


def test_feature_parity_names_the_skewed_column(bundle, data) -> None:
    valid = data[1].head(500)
    service = bundle.transform(valid)
    assert feature_parity(bundle, valid, service).ok
    skewed = service.with_columns(pl.col("num__distance") + 0.5).drop("cat__origin_JFK")
    report = feature_parity(bundle, valid, skewed.with_columns(pl.lit(1.0).alias("extra")))
    status = dict(zip(report.columns["column"], report.columns["status"], strict=True))
    assert status["num__distance"] == "mismatch"
    assert status["cat__origin_JFK"] == "missing"
    assert status["extra"] == "extra"
    assert status["num__dep_hour"] == "match"
    assert any(line.startswith("num__distance: 500 of 500 rows differ") for line in
               report.problems())  # fmt: skip


def test_feature_parity_matches_rows_by_id(bundle, data) -> None:
    valid = data[1].head(200)
    service = bundle.transform(valid).with_columns(valid["flight_id"]).reverse()
    assert feature_parity(bundle, valid, service, id_column="flight_id").ok


def test_diff_names_data_parameter_and_metric_changes(bundle, data) -> None:
    valid = data[1]
    other_train = flights(6_000, seed=3)
    other = Bundle.build(
        fitted(other_train, __import__("sklearn.linear_model").linear_model.LogisticRegression(
            C=0.001, max_iter=500)),
        train=other_train, valid=valid, target="late", id_column="flight_id",
        segments=["carrier"], n_resamples=100, seed=7,
    )  # fmt: skip
    changes = diff_bundles(bundle, other)
    fields = {c["field"] for c in changes.data}
    assert "train.hash" in fields
    assert "valid.hash" not in fields
    assert {"field": "model__C", "a": 1.0, "b": 0.001} in changes.parameters
    auc = changes.metrics.filter((pl.col("segment") == "all") & (pl.col("metric") == "roc_auc"))
    assert auc.height == 1
    assert auc["delta"][0] == pytest.approx(auc["b"][0] - auc["a"][0])
    assert any(line.startswith("metric roc_auc overall") for line in changes.summary())


def test_verify_re_trains_from_the_entry_point(tmp_path, monkeypatch, data) -> None:
    train, valid = data
    (tmp_path / "trainer_mod.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from sklearn.ensemble import RandomForestClassifier
            import bundle_data

            def train(frame, config):
                # random_state=None draws from NumPy's global RNG, which verify seeds
                model = bundle_data.pipeline(RandomForestClassifier(
                    n_estimators=config["n_estimators"], random_state=None))
                return model.fit(frame.select(bundle_data.FEATURES), frame["late"].to_numpy())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from tether.bundle import seed_everything

    seed_everything(11)
    import trainer_mod

    model = trainer_mod.train(train, {"n_estimators": 10})
    bundle = Bundle.build(
        model, train=train, valid=valid, target="late", seed=11, n_resamples=20,
        params={"n_estimators": 10}, entry_point="trainer_mod:train",
    )  # fmt: skip
    result = verify(bundle, train=train, valid=valid)
    assert result.reproduced, result.summary()
    assert result.predictions["max_abs_diff"] == 0.0
    with pytest.raises(InputError, match="not the data the model was built from"):
        verify(bundle, train=train.head(100), valid=valid)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_boosted_tree_bundles_store_native_boosters_and_serve_onnx(data, tmp_path, library):
    train, valid = data
    if library == "lightgbm":
        from lightgbm import LGBMClassifier

        estimator = LGBMClassifier(n_estimators=40, num_leaves=15, random_state=0, verbose=-1)
    else:
        from xgboost import XGBClassifier

        estimator = XGBClassifier(n_estimators=40, max_depth=4, random_state=0)
    bundle = Bundle.build(
        fitted(train, estimator, scale=False), train=train, valid=valid, target="late",
        n_resamples=20,
    )  # fmt: skip
    assert bundle.metadata["model"]["kind"] == library
    assert bundle.online_path == "onnx", bundle.metadata["onnx"]
    bundle.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b", version=bundle.version)
    np.testing.assert_array_equal(loaded.scores(valid), bundle.scores(valid))
    assert record_parity(loaded, valid, rows=500).ok
    explanation = loaded.explain(valid.head(50))
    assert explanation.method == library
    total = explanation.base_value + explanation.contributions.to_numpy().sum(axis=1)
    np.testing.assert_allclose(total, explanation.output, atol=1e-4)


def test_online_path_answers_what_onnx_cannot_like_the_batch_path(data) -> None:
    # No imputer: the native model refuses a missing value, ONNX would return NaN.
    train, valid = data
    frame_t = train.drop_nulls("distance")
    features = ["distance", "dep_hour"]
    model = LogisticRegression().fit(frame_t.select(features), frame_t["late"])
    bundle = Bundle.build(
        model, train=frame_t, valid=valid.drop_nulls("distance"), target="late",
        features=features, n_resamples=20,
    )  # fmt: skip
    assert bundle.online_path == "onnx"
    assert bundle.metadata["onnx"]["edge_parity"]["native_refused"] > 0
    with pytest.raises(InputError, match=r"the model refused the record: .*NaN"):
        bundle.predict_record({"distance": None, "dep_hour": 9.0})
    with pytest.raises(InputError, match="is text"):
        bundle.predict_record({"distance": "1.5", "dep_hour": 9.0})


def test_a_classifier_without_probabilities_is_refused(data) -> None:
    from sklearn.linear_model import RidgeClassifier

    train, valid = data
    with pytest.raises(InputError, match="without predict_proba"):
        Bundle.build(fitted(train, RidgeClassifier()), train=train, valid=valid, target="late")


def test_undefined_metrics_are_stored_as_null_json(data, tmp_path) -> None:
    train, valid = data
    one_class = valid.filter(pl.col("late") == 0)
    bundle = Bundle.build(fitted(train), train=train, valid=one_class, target="late",
                          n_resamples=20)  # fmt: skip
    bundle.save(tmp_path / "b")
    raw = (tmp_path / "b" / "baseline.json").read_text()
    assert "NaN" not in raw
    json.loads(raw)  # strict JSON
    auc = bundle.metrics.filter((pl.col("segment") == "all") & (pl.col("metric") == "roc_auc"))
    assert auc["estimate"][0] is None


def test_baseline_tables_keep_their_columns_and_types(bundle, tmp_path) -> None:
    bundle.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    assert loaded.metrics.columns[:3] == ["segment", "value", "metric"]
    assert loaded.metrics.schema == bundle.metrics.schema
    assert loaded.importance.columns[0] == "feature"


def test_feature_parity_refuses_repeated_ids(bundle, data) -> None:
    valid = data[1].head(100)
    service = bundle.transform(valid).with_columns(valid["flight_id"])
    doubled = pl.concat([service, service.head(3)])
    with pytest.raises(InputError, match="repeats ids in the features data"):
        feature_parity(bundle, valid, doubled, id_column="flight_id")


def test_parity_worst_rows_are_rows_of_the_whole_frame() -> None:
    from tether.bundle.parity import parity_of_scored

    scored = np.array([False, True, False, True])  # rows 0 and 2 refused by a scorer
    native, fast = np.array([0.2, 0.7]), np.array([0.2, 0.7001])
    result = parity_of_scored(native, fast, scored, task="binary", threshold=0.5)
    assert result.worst_rows == [3]
