"""Model storage: exact round trips per model family, refusal of code, damaged files."""

from __future__ import annotations

import io
import json
import zipfile

import lightgbm
import numpy as np
import polars as pl
import pytest
import skops.io as sio
import xgboost
from credit_data import NUMERIC, pipeline
from sklearn.base import BaseEstimator, TransformerMixin, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tether.bundle.serialization import (
    LightGBMModel,
    SavedModel,
    XGBoostModel,
    load_model,
    save_model,
)
from tether.errors import FormatError, InputError, UntrustedArtifactError

MODELS = {
    "logistic": (lambda: pipeline(LogisticRegression()), "binary", "skops", None),
    "hist_gradient_boosting": (
        lambda: pipeline(HistGradientBoostingClassifier(max_iter=10)),
        "multiclass",
        "skops",
        None,
    ),
    "random_forest": (
        lambda: pipeline(RandomForestClassifier(n_estimators=5, random_state=0)),
        "binary",
        "skops",
        None,
    ),
    "ridge": (lambda: pipeline(Ridge()), "regression", "skops", None),
    "lgbm_pipeline": (
        lambda: pipeline(lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1)),
        "multiclass",
        "lightgbm",
        None,
    ),
    "lgbm_binary_pipeline": (
        lambda: pipeline(lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1)),
        "binary",
        "lightgbm",
        None,
    ),
    "xgb_bare": (
        lambda: xgboost.XGBClassifier(n_estimators=10, n_jobs=1),
        "binary",
        "xgboost",
        NUMERIC,
    ),
    "xgb_pipeline": (
        lambda: pipeline(xgboost.XGBClassifier(n_estimators=10, n_jobs=1)),
        "binary",
        "xgboost",
        None,
    ),
    "lgbm_regressor": (
        lambda: lightgbm.LGBMRegressor(n_estimators=10, verbose=-1, n_jobs=1),
        "regression",
        "lightgbm",
        NUMERIC,
    ),
}


def fitted(name: str, frame: pl.DataFrame, labels: dict[str, np.ndarray]) -> tuple[object, str]:
    make, task, _, columns = MODELS[name]
    X = frame.select(columns) if columns else frame
    return make().fit(X, labels[task]), task


def round_trip(model: object, **options: bool) -> object:
    saved = save_model(model, **options)
    # details travel in the bundle's JSON manifest
    details = json.loads(json.dumps(saved.details))
    return load_model(saved.kind, dict(saved.files), details, **options)


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_predicts_exactly_the_same(name, frame, labels):
    model, task = fitted(name, frame, labels)
    X = frame.select(MODELS[name][3]) if MODELS[name][3] else frame
    saved = save_model(model)
    assert saved.kind == MODELS[name][2]
    loaded = round_trip(model)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    if task != "regression":
        assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
        assert np.array_equal(loaded.classes_, model.classes_)
        assert loaded.classes_.dtype == model.classes_.dtype
        assert is_classifier(loaded)
    else:
        assert not hasattr(loaded, "predict_proba")


@pytest.mark.parametrize(
    ("name", "booster"),
    [("lgbm_pipeline", lightgbm.Booster), ("xgb_pipeline", xgboost.Booster)],
)
def test_boosting_pipeline_comes_back_as_preprocessing_plus_native_booster(
    name, booster, frame, labels
):
    model, _ = fitted(name, frame, labels)
    saved = save_model(model)
    assert set(saved.files) == {
        "preprocess.skops",
        "model.lgb.txt" if booster is lightgbm.Booster else "model.xgb.ubj",
    }
    loaded = round_trip(model)
    assert isinstance(loaded, Pipeline)
    assert [name for name, _ in loaded.steps] == ["pre", "model"]
    assert isinstance(loaded[-1].booster, booster)
    assert np.array_equal(loaded[:-1].transform(frame), model[:-1].transform(frame))


def test_bare_booster_models_expose_their_native_booster(frame, labels):
    xgb, _ = fitted("xgb_bare", frame, labels)
    lgb, _ = fitted("lgbm_regressor", frame, labels)
    assert isinstance(round_trip(xgb), XGBoostModel)
    assert isinstance(round_trip(xgb).booster, xgboost.Booster)
    assert isinstance(round_trip(lgb), LightGBMModel)
    assert isinstance(round_trip(lgb).booster, lightgbm.Booster)


def test_loaded_booster_model_cannot_be_refit(frame, labels):
    model, _ = fitted("lgbm_regressor", frame, labels)
    with pytest.raises(InputError, match="cannot be refit"):
        round_trip(model).fit(frame.select(NUMERIC), labels["regression"])


class Doubler(BaseEstimator, TransformerMixin):
    """A user's own transformer: skops could store it, but loading it would import user code."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) * 2


def test_custom_class_is_refused_without_trust_and_pickled_with_it(frame, labels):
    model = Pipeline([("double", Doubler()), ("model", LogisticRegression())])
    X = frame.select("age")
    model.fit(X, labels["binary"])
    with pytest.raises(UntrustedArtifactError, match=r"test_serialization\.Doubler"):
        save_model(model)
    saved = save_model(model, trusted=True)
    assert (saved.kind, list(saved.files)) == ("pickle", ["model.pkl"])
    with pytest.raises(UntrustedArtifactError, match="is a pickle; load with trusted=True"):
        load_model(saved.kind, saved.files, saved.details)
    loaded = load_model(saved.kind, saved.files, saved.details, trusted=True)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_builtin_callables_are_refused_but_library_ones_are_not():
    with pytest.raises(UntrustedArtifactError, match=r"builtins\.exec"):
        save_model(FunctionTransformer(exec))
    assert save_model(FunctionTransformer(np.log1p)).kind == "skops"


def retype(data: bytes, old: str, new: str) -> bytes:
    """A skops file whose schema names ``new`` where it named ``old``: a forged file."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "schema.json":
                assert old.encode() in content
                content = content.replace(old.encode(), new.encode())
            target.writestr(item, content)
    return out.getvalue()


def test_skops_file_naming_an_unknown_type_is_refused(frame, labels):
    model, _ = fitted("logistic", frame, labels)
    saved = save_model(model)
    forged = retype(saved.files["model.skops"], "sklearn.linear_model._logistic", "evil.payload")
    assert "evil.payload.LogisticRegression" in sio.get_untrusted_types(data=forged)
    with pytest.raises(UntrustedArtifactError, match=r"evil\.payload\.LogisticRegression"):
        load_model("skops", {"model.skops": forged}, saved.details)


def test_forged_preprocessing_of_a_boosting_pipeline_is_refused(frame, labels):
    model, _ = fitted("lgbm_pipeline", frame, labels)
    saved = save_model(model)
    files = dict(saved.files)
    files["preprocess.skops"] = retype(files["preprocess.skops"], '"sklearn.impute._base"', '"os"')
    with pytest.raises(UntrustedArtifactError, match=r"os\.SimpleImputer"):
        load_model(saved.kind, files, saved.details)


@pytest.mark.parametrize(
    ("kind", "name", "content"),
    [
        ("skops", "model.skops", b"not a zip file"),
        ("skops", "model.skops", b""),
        ("lightgbm", "model.lgb.txt", b"tree\nversion=v4\nnonsense"),
        ("xgboost", "model.xgb.ubj", b"\x00\x01garbage"),
        ("pickle", "model.pkl", b"\x80\x05garbage"),
    ],
)
def test_damaged_bytes_raise_format_error(kind, name, content, frame, labels):
    model, _ = fitted(
        {"lightgbm": "lgbm_regressor", "xgboost": "xgb_bare"}.get(kind, "ridge"), frame, labels
    )
    details = save_model(model).details | {"pipeline": False}
    with pytest.raises(FormatError, match=name):
        load_model(kind, {name: content}, details, trusted=True)


def test_truncated_skops_file_raises_format_error(frame, labels):
    model, _ = fitted("logistic", frame, labels)
    saved = save_model(model)
    data = saved.files["model.skops"]
    with pytest.raises(FormatError, match="corrupt or unreadable"):
        load_model("skops", {"model.skops": data[: len(data) // 2]}, saved.details)


def test_unknown_kind_and_missing_file_raise_format_error():
    saved = save_model(Ridge().fit([[0.0], [1.0]], [0.0, 1.0]))
    with pytest.raises(FormatError, match="'onnx' is unknown"):
        load_model("onnx", saved.files, saved.details)
    with pytest.raises(FormatError, match=r"lack 'model\.skops'"):
        load_model("skops", {}, saved.details)


def test_saved_model_details_describe_the_model(frame, labels):
    model, _ = fitted("lgbm_pipeline", frame, labels)
    saved = save_model(model)
    assert isinstance(saved, SavedModel)
    assert saved.details["classes"] == ["high", "low", "mid"]
    assert saved.details["objective"] == "multiclass"
    # two numeric columns, three cities and the null category
    assert saved.details["n_features"] == 6
    assert saved.details["versions"]["lightgbm"] == lightgbm.__version__
    assert saved.details["estimator"] == "sklearn.pipeline.Pipeline"
