"""Storing a fitted model without pickle, and loading it back without running stored code.

A bundle outlives the process that trained it and may come from someone else, so its model is
stored in formats whose loading constructs objects from data instead of executing it:

- ``skops``: scikit-learn estimators (pipelines and column transformers included) in the skops
  format, a zip of JSON that names every type it builds; loading refuses any type outside
  :data:`SAFE_TYPE_PREFIXES` / :data:`SAFE_BUILTINS` unless the caller trusts the file.
- ``lightgbm`` / ``xgboost``: a LightGBM or XGBoost scikit-learn-API model (bare, or the last
  step of a pipeline) as its booster's own text / UBJSON file, its preprocessing as skops, and
  what ``predict`` / ``predict_proba`` need (classes, objective) in ``details``. Loading rebuilds
  a :class:`LightGBMModel` / :class:`XGBoostModel` around the native booster.
- ``pickle``: anything else, only with ``trusted=True``. Unpickling runs whatever code the file
  names, so a pickle is as dangerous as running a script from the same origin; it is refused on
  load unless the caller passes ``trusted=True`` again.
"""

from __future__ import annotations

import dataclasses
import pickle
import platform
import sys
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import scipy
import sklearn
import skops
import skops.io as sio
from scipy import special
from sklearn.base import BaseEstimator, is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array

from tether.errors import FormatError, InputError, UntrustedArtifactError, first_line

KINDS = ("skops", "lightgbm", "xgboost", "pickle")
"""How a model can be stored, safest first."""

SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
"""Module paths whose types a skops file may name and still load without ``trusted=True``.

skops never unpickles: it rebuilds each object from JSON and arrays by calling the named class's
``__new__`` and setting its state (``__setstate__`` or ``__dict__``), and stores functions as
references to importable names. Classes of scikit-learn, NumPy and SciPy do nothing but store
that state when rebuilt this way, so naming them runs no code from the file; a referenced library
function is only called later by the estimator holding it, on the model's input. What the
allowlist cannot promise is that crafted *values* are harmless: skops notes that scikit-learn's
tree predictors index their node arrays without bounds checks, so a forged tree can crash (not
hijack) the process. Bundles are checksummed, so that needs a forged bundle, not a damaged one.
"""

SAFE_BUILTINS = frozenset(
    {"builtins.ellipsis", "builtins.frozenset", "builtins.object", "builtins.range"}
)
"""Builtin types skops reports as unknown but that are inert values (never callables such as
``builtins.exec`` or ``builtins.print``); skops itself already trusts ``int``, ``str``, ``list``,
``dict`` and the other primitives and containers."""

SKOPS_FILE = "model.skops"
PREPROCESS_FILE = "preprocess.skops"
LIGHTGBM_FILE = "model.lgb.txt"
XGBOOST_FILE = "model.xgb.ubj"
PICKLE_FILE = "model.pkl"

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """A fitted model as files, with what loading them back needs.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    files
        File name -> bytes (``model.skops``; or ``preprocess.skops`` and ``model.lgb.txt`` /
        ``model.xgb.ubj``; or ``model.pkl``).
    details
        JSON-serializable facts: estimator type, classes, library versions, what was stored how.

    Example
    -------
    >>> from sklearn.linear_model import LogisticRegression
    >>> saved = save_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    >>> saved.kind, sorted(saved.files), saved.details["classes"]
    ('skops', ['model.skops'], [0, 1])
    """

    kind: str
    files: dict[str, bytes]
    details: dict[str, Any]


def save_model(model: Any, *, trusted: bool = False) -> SavedModel:
    """Store a fitted model in the safest format that holds it.

    LightGBM / XGBoost scikit-learn-API models, bare or ending a pipeline, keep their booster in
    its native format (their preprocessing goes to skops); other scikit-learn objects go to skops.
    A model skops cannot store, or that names types outside the safe list, is refused unless
    ``trusted`` is set, in which case it is pickled (see the module docstring for the risk).

    Parameters
    ----------
    model
        A fitted estimator or pipeline.
    trusted
        Allow falling back to pickle.

    Example
    -------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> model = DecisionTreeRegressor(max_depth=2).fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 4.0])
    >>> saved = save_model(model)
    >>> loaded = load_model(saved.kind, saved.files, saved.details)
    >>> saved.kind, bool(np.array_equal(loaded.predict([[1.5]]), model.predict([[1.5]])))
    ('skops', True)
    """
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    library = _native_library(final)
    try:
        if library is not None:
            return _save_native(model, final, library)
        return SavedModel(
            "skops",
            {SKOPS_FILE: _skops_bytes(model)},
            _common_details(model, final) | {"stored": {SKOPS_FILE: "skops: whole estimator"}},
        )
    except UntrustedArtifactError:
        if not trusted:
            raise
    try:
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickling fails in many ways (lambdas, open handles, C objects)
        raise InputError(
            f"model of type {_type_name(model)} cannot be stored: {first_line(exc)}"
        ) from None
    stored = {PICKLE_FILE: "pickle (loading runs code; needs trusted=True)"}
    details = _common_details(model, final) | {"stored": stored}
    return SavedModel("pickle", {PICKLE_FILE: data}, details)


def load_model(
    kind: str, files: Mapping[str, bytes], details: Mapping[str, Any], *, trusted: bool = False
) -> Any:
    """Rebuild a model stored by :func:`save_model`, refusing stored code unless ``trusted``.

    The result has ``predict`` and, for classifiers, ``predict_proba`` and ``classes_``, and
    accepts the frames the original accepted. LightGBM / XGBoost pipelines come back as a
    :class:`~sklearn.pipeline.Pipeline` whose ``[:-1]`` is the preprocessing and ``[-1]`` the
    booster adapter (its ``booster`` attribute is the native booster).

    Parameters
    ----------
    kind, files, details
        The fields of a :class:`SavedModel`.
    trusted
        Load pickles and skops types outside the safe list.

    Example
    -------
    >>> from sklearn.linear_model import LinearRegression
    >>> saved = save_model(LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0]))
    >>> load_model(saved.kind, saved.files, saved.details).predict([[2.0]]).round(6).tolist()
    [5.0]
    """
    if kind == "skops":
        return _load_skops(_file(files, SKOPS_FILE), SKOPS_FILE, trusted=trusted)
    if kind in ("lightgbm", "xgboost"):
        return _load_native(kind, files, details, trusted=trusted)
    if kind == "pickle":
        if not trusted:
            raise UntrustedArtifactError(
                "this bundle's model is a pickle; load with trusted=True only if you trust its "
                "origin"
            )
        return _parse(PICKLE_FILE, lambda: pickle.loads(_file(files, PICKLE_FILE)))
    raise FormatError(f"model kind {kind!r} is unknown; expected one of {', '.join(KINDS)}")


class _BoosterModel(BaseEstimator):
    """A loaded boosting model: the native booster plus what its scikit-learn class added."""

    def __init__(self, booster: Any, classes: np.ndarray | None = None) -> None:
        self.booster = booster
        self.classes = classes

    @property
    def classes_(self) -> np.ndarray:
        if self.classes is None:
            raise AttributeError("a regression model has no classes_")
        return self.classes

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor" if self.classes is None else "classifier"
        return tags

    def fit(self, X: Any, y: Any = None) -> _BoosterModel:
        raise InputError(
            "a model loaded from a bundle cannot be refit; refit the original estimator and "
            "build a new bundle"
        )

    def predict(self, X: Any) -> np.ndarray:
        if self.classes is None:
            return self._output(X)
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]

    @available_if(lambda self: self.classes is not None)
    def predict_proba(self, X: Any) -> np.ndarray:
        output = self._output(X)
        # binary boosters return P(second class) only; their sklearn classes stack it this way
        return output if output.ndim == 2 else np.vstack((1.0 - output, output)).transpose()

    def _output(self, X: Any) -> np.ndarray:
        raise NotImplementedError


class LightGBMModel(_BoosterModel):
    """A LightGBM booster answering like the ``LGBMClassifier`` / ``LGBMRegressor`` it came from.

    ``predict_proba`` and ``predict`` repeat ``lightgbm.sklearn`` on the booster's output, so a
    loaded model scores exactly as the fitted one; ``booster`` is the native ``lightgbm.Booster``
    (for SHAP contributions: ``booster.predict(X, pred_contrib=True)``).

    Parameters
    ----------
    booster
        A ``lightgbm.Booster``.
    classes
        The classifier's ``classes_``; ``None`` for a regressor.

    Example
    -------
    >>> import lightgbm
    >>> X, y = np.arange(40.0).reshape(-1, 1), np.arange(40) % 3 == 0
    >>> fitted = lightgbm.LGBMClassifier(n_estimators=3, min_child_samples=2, verbose=-1, n_jobs=1)
    >>> saved = save_model(fitted.fit(X, y))
    >>> model = load_model(saved.kind, saved.files, saved.details)
    >>> type(model).__name__, bool(np.array_equal(model.predict_proba(X), fitted.predict_proba(X)))
    ('LightGBMModel', True)
    """

    def _output(self, X: Any) -> np.ndarray:
        if not hasattr(X, "__arrow_c_stream__"):
            # lightgbm.sklearn validates non-dataframe input this way before predicting
            X = check_array(X, accept_sparse=True, ensure_all_finite=False, ensure_min_samples=1)
        return np.asarray(self.booster.predict(X))


class XGBoostModel(_BoosterModel):
    """An XGBoost booster answering like the ``XGBClassifier`` / ``XGBRegressor`` it came from.

    Predicts in place with the original ``missing`` value and iteration range (the best
    iteration after early stopping), as ``xgboost.sklearn`` does; ``booster`` is the native
    ``xgboost.Booster``.

    Parameters
    ----------
    booster
        An ``xgboost.Booster``.
    classes
        The classifier's ``classes_``; ``None`` for a regressor.
    objective
        The training objective (``multi:softmax`` returns margins turned into probabilities).
    missing
        The value the model treats as missing.
    iteration_range
        Trees used to predict; ``(0, 0)`` means all.

    Example
    -------
    >>> import xgboost
    >>> X, y = np.arange(20.0).reshape(-1, 1), np.arange(20.0) ** 2
    >>> fitted = xgboost.XGBRegressor(n_estimators=3, n_jobs=1).fit(X, y)
    >>> saved = save_model(fitted)
    >>> model = load_model(saved.kind, saved.files, saved.details)
    >>> type(model).__name__, bool(np.array_equal(model.predict(X), fitted.predict(X)))
    ('XGBoostModel', True)
    """

    def __init__(
        self,
        booster: Any,
        classes: np.ndarray | None = None,
        objective: str = "reg:squarederror",
        missing: float = np.nan,
        iteration_range: tuple[int, int] = (0, 0),
    ) -> None:
        super().__init__(booster, classes)
        self.objective = objective
        self.missing = missing
        self.iteration_range = iteration_range

    def _output(self, X: Any) -> np.ndarray:
        softmax = self.objective == "multi:softmax"
        output = self.booster.inplace_predict(
            X,
            iteration_range=self.iteration_range,
            predict_type="margin" if softmax else "value",
            missing=self.missing,
        )
        return special.softmax(output, axis=1) if softmax else output


def _native_library(final: Any) -> str | None:
    for library, base in (("lightgbm", "LGBMModel"), ("xgboost", "XGBModel")):
        module = sys.modules.get(library)
        # a custom (callable) objective lives in Python code no native file can hold
        if module is not None and isinstance(final, getattr(module, base)):
            return None if callable(final.objective) else library
    return None


def _save_native(model: Any, final: Any, library: str) -> SavedModel:
    files: dict[str, bytes] = {}
    stored: dict[str, str] = {}
    pipeline = final is not model
    if pipeline:
        files[PREPROCESS_FILE] = _skops_bytes(model[:-1])
        stored[PREPROCESS_FILE] = "skops: the pipeline's steps before the model"
    details = _common_details(model, final, library) | {
        "pipeline": pipeline,
        "step": model.steps[-1][0] if pipeline else None,
        "n_features": int(final.n_features_in_),
    }
    if library == "lightgbm":
        files[LIGHTGBM_FILE] = final.booster_.model_to_string().encode()
        stored[LIGHTGBM_FILE] = "lightgbm Booster.model_to_string"
        details |= {"objective": final.objective_, "feature_names": final.booster_.feature_name()}
    else:
        booster = final.get_booster()
        files[XGBOOST_FILE] = bytes(booster.save_raw(raw_format="ubj"))
        stored[XGBOOST_FILE] = "xgboost Booster.save_raw(ubj)"
        missing = float(final.missing)
        details |= {
            "objective": final.objective,
            "feature_names": booster.feature_names,
            "missing": None if np.isnan(missing) else missing,
            "iteration_range": _xgboost_iterations(final),
        }
    return SavedModel(library, files, details | {"stored": stored})


def _xgboost_iterations(final: Any) -> list[int]:
    # xgboost.sklearn predicts with the best iteration after early stopping, all trees otherwise
    if final.booster == "gblinear":
        return [0, 0]
    try:
        return [0, int(final.best_iteration) + 1]
    except AttributeError:
        return [0, 0]


def _load_native(
    kind: str, files: Mapping[str, bytes], details: Mapping[str, Any], *, trusted: bool
) -> Any:
    try:
        library = __import__(kind)
    except ImportError:
        raise InputError(
            f"this bundle's model needs the {kind} package; install it (pip install "
            "'tether[boosting]') to load the bundle"
        ) from None
    classes = _classes(details)
    model: _BoosterModel
    if kind == "lightgbm":
        text = _file(files, LIGHTGBM_FILE)
        booster = _parse(LIGHTGBM_FILE, lambda: library.Booster(model_str=text.decode()))
        model = LightGBMModel(booster, classes)
    else:
        booster = library.Booster()
        raw = bytearray(_file(files, XGBOOST_FILE))
        _parse(XGBOOST_FILE, lambda: booster.load_model(raw))
        missing = _detail(details, "missing")
        model = XGBoostModel(
            booster,
            classes,
            objective=_detail(details, "objective"),
            missing=np.nan if missing is None else float(missing),
            iteration_range=tuple(_detail(details, "iteration_range")),
        )
    if not _detail(details, "pipeline"):
        return model
    preprocess = _load_skops(_file(files, PREPROCESS_FILE), PREPROCESS_FILE, trusted=trusted)
    if not isinstance(preprocess, Pipeline):
        raise FormatError(f"model file {PREPROCESS_FILE!r} does not hold a Pipeline")
    return Pipeline([*preprocess.steps, (_detail(details, "step"), model)])


def _skops_bytes(model: Any) -> bytes:
    try:
        data = sio.dumps(model, compression=zipfile.ZIP_DEFLATED)
    except Exception as exc:  # skops raises whatever the object's state makes it raise
        raise UntrustedArtifactError(
            f"skops cannot store a {_type_name(model)} ({first_line(exc)}); pass trusted=True "
            "to store it as a pickle"
        ) from None
    refused = _refused(_unknown_types(data, SKOPS_FILE))
    if refused:
        raise UntrustedArtifactError(
            f"the model holds types outside tether's safe list ({_SAFE_LIST}): "
            f"{', '.join(refused)}; pass trusted=True to store it as a pickle"
        )
    return data


def _load_skops(data: bytes, name: str, *, trusted: bool) -> Any:
    unknown = _unknown_types(data, name)
    refused = _refused(unknown)
    if refused and not trusted:
        raise UntrustedArtifactError(
            f"{name} names types outside tether's safe list ({_SAFE_LIST}): {', '.join(refused)}; "
            "load with trusted=True only if you trust its origin"
        )
    return _parse(name, lambda: sio.loads(data, trusted=unknown))


def _unknown_types(data: bytes, name: str) -> list[str]:
    """Types a skops file names that skops does not trust by default (read without loading)."""
    return _parse(name, lambda: sio.get_untrusted_types(data=data))


def _refused(types: list[str]) -> list[str]:
    return [
        name for name in types if not (name.startswith(SAFE_TYPE_PREFIXES) or name in SAFE_BUILTINS)
    ]


_SAFE_LIST = ", ".join(f"{prefix}*" for prefix in SAFE_TYPE_PREFIXES)


def _parse(name: str, parse: Callable[[], _T]) -> _T:
    try:
        return parse()
    except Exception as exc:  # any failure to read stored bytes means they are damaged
        raise FormatError(
            f"model file {name!r} is corrupt or unreadable: {type(exc).__name__}: {first_line(exc)}"
        ) from None


def _file(files: Mapping[str, bytes], name: str) -> bytes:
    if name not in files:
        raise FormatError(f"model files lack {name!r}; found {sorted(files)}")
    return files[name]


def _detail(details: Mapping[str, Any], key: str) -> Any:
    if key not in details:
        raise FormatError(f"model details lack {key!r}; found {sorted(details)}")
    return details[key]


def _common_details(model: Any, final: Any, *libraries: str) -> dict[str, Any]:
    classes = getattr(final, "classes_", None) if is_classifier(final) else None
    return {
        "estimator": _type_name(model),
        "final_estimator": _type_name(final),
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "classes_dtype": None if classes is None else np.asarray(classes).dtype.str,
        "versions": _versions(*libraries),
    }


def _classes(details: Mapping[str, Any]) -> np.ndarray | None:
    values = _detail(details, "classes")
    if values is None:
        return None
    dtype = np.dtype(_detail(details, "classes_dtype"))
    # object (e.g. str) classes must stay object: np.asarray would turn them into '<U' arrays
    return np.array(values, dtype=dtype)


def _versions(*libraries: str) -> dict[str, str]:
    versions = {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    for library in libraries:
        versions[library] = sys.modules[library].__version__
    return versions


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"
