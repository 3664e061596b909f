"""The ONNX form of a model: conversion, a fast one-row scorer, parity with the native model.

A scikit-learn pipeline takes milliseconds to score one row from a polars frame; its ONNX form
run by onnxruntime takes tens of microseconds. The bundle keeps the ONNX form as its online path
only where :func:`check_parity` shows it answers like the native model on real rows and on
:func:`edge_rows`, so everything here reports failure as data instead of raising.

The ONNX graph has one input per raw feature: numeric columns as float32 (skl2onnx's imputer is
float-only) and string columns as strings. A missing string is fed as :data:`MISSING_STRING`,
the name skl2onnx gives scikit-learn's ``None`` category; see :class:`OnnxScorer`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import numbers
import os
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnxruntime
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from tether.errors import FormatError, InputError, first_line
from tether.performance.metrics import check_task

OPSETS = {"": 18, "ai.onnx.ml": 3}
"""ONNX opsets written: 18 runs on every onnxruntime tether supports, and onnxmltools' tree
converters support the ``ai.onnx.ml`` domain only up to version 3."""

MISSING_STRING = "None"
"""What a missing string is fed as. skl2onnx writes scikit-learn's ``None`` category (a null seen
in training) as the string ``"None"``, so a null hits that category, as it does natively; a null
never seen in training is an unknown category both ways. The two disagree only when training had
the literal string ``"None"`` and no nulls: the native model then treats a null as unknown."""

UNSEEN = ("__tether_unseen__", "__tether_ünseen_未見_✓__", "")
"""Category strings :func:`edge_rows` writes: never seen in training (ASCII and unicode), empty."""

_REASON_CHARS = 300


@dataclasses.dataclass(frozen=True)
class OnnxConversion:
    """The result of :func:`convert_to_onnx`: the ONNX bytes or why there are none.

    Parameters
    ----------
    model
        Serialized ONNX model; ``None`` when conversion failed.
    reason
        One line saying which converter failed and how; ``None`` on success.
    inputs
        Feature -> ONNX input kind, ``"float"`` or ``"string"``.

    Example
    -------
    >>> OnnxConversion(None, "skl2onnx: unsupported model", {"x": "float"}).model is None
    True
    """

    model: bytes | None
    reason: str | None
    inputs: dict[str, str]


def convert_to_onnx(
    model: Any, sample: pl.DataFrame, *, features: list[str], task: str
) -> OnnxConversion:
    """Convert a fitted model (pipeline or bare estimator) that takes ``features`` to ONNX.

    scikit-learn models convert with skl2onnx; LightGBM and XGBoost ones, bare or ending a
    pipeline, with onnxmltools' converters registered into skl2onnx. A bare model is first put
    behind a passthrough column selection so that every feature is its own input. The result is
    loaded and run by onnxruntime on ``sample`` before it counts as converted. Never raises for
    a model that does not convert: the failure is the ``reason``.

    Parameters
    ----------
    model
        A fitted model taking a polars frame of ``features``.
    sample
        Rows of the features (training rows); their dtypes choose the input kinds.
    features
        The model's raw input columns, in order.
    task
        ``binary``, ``multiclass`` or ``regression``.

    Example
    -------
    >>> from sklearn.linear_model import LogisticRegression
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    >>> model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    >>> conversion = convert_to_onnx(model, frame, features=["x"], task="binary")
    >>> conversion.reason, conversion.inputs
    (None, {'x': 'float'})
    """
    check_task(task)
    _check_columns(sample, features, "sample")
    inputs: dict[str, str] = {}
    for name in features:
        kind = _input_kind(sample.schema[name])
        if kind is None:
            reason = (
                f"tether: feature {name!r} has type {sample.schema[name]}; ONNX inputs must be "
                "numeric, boolean or string columns"
            )
            return OnnxConversion(None, reason, inputs)
        inputs[name] = kind
    rows = sample.select(features)
    try:
        converted = _convert(model, rows, inputs, task)
    except Exception as exc:  # converters fail in many ways; each is a reason, not a crash
        return OnnxConversion(None, _reason(_converter(exc), exc), inputs)
    try:
        OnnxScorer(converted, inputs, task=task).score(rows.head(10))
    except Exception as exc:  # an operator onnxruntime cannot run
        return OnnxConversion(None, _reason("onnxruntime", exc), inputs)
    return OnnxConversion(converted, None, inputs)


class OnnxScorer:
    """An onnxruntime session scoring frames or single records.

    The session runs on one thread (``intra_op_num_threads=1``): one row is too little work to
    split, and thread hand-offs would cost more than the arithmetic. :meth:`score_record` builds
    the inputs straight from Python values, so one record costs tens of microseconds. Numeric
    nulls become NaN (what the native pipeline's imputers see); string nulls become
    :data:`MISSING_STRING`.

    Parameters
    ----------
    model_bytes
        A serialized ONNX model (from :func:`convert_to_onnx`).
    inputs
        Feature -> ``"float"`` or ``"string"``, naming every ONNX input.
    task
        ``binary`` / ``multiclass`` (scores are class probabilities) or ``regression``.

    Example
    -------
    >>> from sklearn.linear_model import LinearRegression
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0]})
    >>> model = LinearRegression().fit(frame, [1.0, 3.0, 5.0])
    >>> conversion = convert_to_onnx(model, frame, features=["x"], task="regression")
    >>> scorer = OnnxScorer(conversion.model, conversion.inputs, task="regression")
    >>> scorer.score_record({"x": 10.0}).round(3).tolist()
    [21.0]
    """

    def __init__(self, model_bytes: bytes, inputs: Mapping[str, str], *, task: str) -> None:
        check_task(task)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                model_bytes, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for any bad model
            raise FormatError(
                f"the ONNX model is corrupt or unreadable: {first_line(exc)}"
            ) from None
        names = [node.name for node in session.get_inputs()]
        if sorted(names) != sorted(inputs) or not set(inputs.values()) <= {"float", "string"}:
            raise FormatError(
                f"the ONNX model's inputs {names} do not match the recorded inputs {dict(inputs)}"
            )
        outputs = [node.name for node in session.get_outputs()]
        # skl2onnx classifiers output (label, probabilities), regressors (prediction,)
        position = 0 if task == "regression" else 1
        if len(outputs) <= position:
            raise FormatError(f"the ONNX model has outputs {outputs}; a {task} model needs more")
        self.task = task
        self.inputs = dict(inputs)
        self._session = session
        self._output = [outputs[position]]
        self._floats = tuple(name for name in names if inputs[name] == "float")
        self._strings = tuple(name for name in names if inputs[name] == "string")

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        """Class probabilities ``(n, k)`` (float32), or predictions ``(n,)`` for regression."""
        _check_columns(frame, list(self.inputs), "frame")
        try:
            # one select per kind: polars' per-call overhead, not the data, dominates small frames
            floats = frame.select(pl.col(self._floats).cast(pl.Float32)).to_numpy(order="fortran")
            strings = frame.select(pl.col(self._strings).cast(pl.String).fill_null(MISSING_STRING))
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"frame does not fit the ONNX inputs: {first_line(exc)}") from None
        # a column of a Fortran-ordered array is contiguous, as onnxruntime needs
        feed = {name: floats[:, index : index + 1] for index, name in enumerate(self._floats)}
        for name in self._strings:
            feed[name] = strings.get_column(name).to_numpy().astype(object).reshape(-1, 1)
        return self._run(feed)

    def score_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """The one-row fast path: what :meth:`score` returns for a one-row frame of ``record``.

        A feature the record lacks is missing, as in a frame; a string where a number belongs is
        refused, as the native model's frame would refuse it (NumPy would parse ``"1.5"``).
        """
        feed = {}
        for name in self._floats:
            value = record.get(name)
            if value is None:
                value = math.nan
            elif isinstance(value, str | bytes):
                raise InputError(f"feature {name!r}: {value!r} is text; the model needs a number")
            elif not isinstance(value, numbers.Real):
                raise InputError(f"feature {name!r}: {value!r} is not a number")
            feed[name] = np.array([[value]], np.float32)
        for name in self._strings:
            value = record.get(name)
            feed[name] = np.array([[MISSING_STRING if value is None else str(value)]], object)
        return self._run(feed)

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        output = self._session.run(self._output, feed)[0]
        return output.reshape(-1) if self.task == "regression" else output


@dataclasses.dataclass(frozen=True)
class ParityResult:
    """How closely the fast path's scores match the native model's on the same rows.

    Parameters
    ----------
    ok
        ``max_abs_diff <= tolerance`` and no unexplained label mismatch.
    rows
        Rows compared.
    max_abs_diff
        Largest absolute score difference (infinite where one side is NaN and the other not).
    label_mismatches
        Rows whose predicted label differs.
    unexplained_label_mismatches
        Of those, rows whose native score was not within tolerance of the decision boundary.
    tolerance
        The absolute tolerance applied (for regression: scaled, see :func:`check_parity`).
    worst_rows
        Up to ten row positions with the largest non-zero differences, largest first.

    Example
    -------
    >>> check_parity(np.array([0.2, 0.7]), np.array([0.2, 0.7]), task="binary").to_dict()["ok"]
    True
    """

    ok: bool
    rows: int
    max_abs_diff: float
    label_mismatches: int
    unexplained_label_mismatches: int
    tolerance: float
    worst_rows: list[int]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (an infinite difference becomes ``None``)."""
        out = dataclasses.asdict(self)
        out["max_abs_diff"] = self.max_abs_diff if math.isfinite(self.max_abs_diff) else None
        return out


def check_parity(
    native: np.ndarray,
    fast: np.ndarray,
    *,
    task: str,
    threshold: float = 0.5,
    tolerance: float = 1e-5,
) -> ParityResult:
    """Compare native scores with fast-path scores row by row.

    A label may flip only where the native score sits on the decision boundary: within
    ``tolerance`` of ``threshold`` (binary), or with its top two class probabilities within
    ``2 * tolerance`` (multiclass: each of the two may move by ``tolerance``). For regression the
    tolerance is relative, ``tolerance * max(1, max |native|)``: float32 arithmetic keeps about
    seven significant digits of the largest prediction, whatever its unit.

    Parameters
    ----------
    native, fast
        Binary: ``(n,)`` scores of the positive class (or ``(n, 2)`` probabilities);
        multiclass: ``(n, k)`` probabilities; regression: ``(n,)`` predictions.
    task
        ``binary``, ``multiclass`` or ``regression``.
    threshold
        Binary decision threshold on the positive-class score (label is
        ``score >= threshold``, as in the bundle and the metrics).
    tolerance
        Largest acceptable absolute score difference.

    Example
    -------
    >>> native = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    >>> fast = np.array([[0.7, 0.2, 0.1], [0.399999, 0.400001, 0.2]])
    >>> result = check_parity(native, fast, task="multiclass")
    >>> result.ok, result.label_mismatches, result.unexplained_label_mismatches
    (True, 1, 0)
    """
    check_task(task)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance must be a finite number >= 0; got {tolerance!r}")
    native, fast = np.asarray(native, dtype=np.float64), np.asarray(fast, dtype=np.float64)
    if task == "binary":
        native, fast = _positive_scores(native, "native"), _positive_scores(fast, "fast")
    if native.shape != fast.shape:
        raise InputError(f"native scores {native.shape} and fast scores {fast.shape} differ")
    agree = (native == fast) | (np.isnan(native) & np.isnan(fast))
    with np.errstate(invalid="ignore"):
        diff = np.where(agree, 0.0, np.abs(native - fast))
    # NaN against a number, or opposite infinities
    diff = np.where(np.isnan(diff), np.inf, diff)
    row_diff = diff.max(axis=1) if diff.ndim == 2 else diff
    if task == "regression":
        finite = np.abs(native[np.isfinite(native)])
        tolerance *= max(1.0, float(finite.max()) if finite.size else 1.0)
        flipped = explained = np.zeros(len(native), dtype=bool)
    elif task == "binary":
        flipped = (native >= threshold) != (fast >= threshold)
        explained = np.abs(native - threshold) <= tolerance
    else:
        flipped = native.argmax(axis=1) != fast.argmax(axis=1)
        top = np.sort(native, axis=1)
        explained = top[:, -1] - top[:, -2] <= 2 * tolerance
    worst = np.argsort(-row_diff, kind="stable")[:10]
    max_diff = float(row_diff.max()) if row_diff.size else 0.0
    unexplained = int((flipped & ~explained).sum())
    return ParityResult(
        ok=max_diff <= tolerance and unexplained == 0,
        rows=len(native),
        max_abs_diff=max_diff,
        label_mismatches=int(flipped.sum()),
        unexplained_label_mismatches=unexplained,
        tolerance=tolerance,
        worst_rows=[int(row) for row in worst if row_diff[row] > 0],
    )


def edge_rows(
    sample: pl.DataFrame, features: list[str], *, seed: int = 0, rows: int = 1000
) -> pl.DataFrame:
    """Rows drawn from ``sample`` with feature values replaced by edge cases, dtypes kept.

    Per feature, a third of the rows get one of: null; NaN (float columns); for numbers the
    observed min and max, 10 spans beyond each (clipped to the dtype), 0 and -1; for strings and
    categoricals the unseen categories of :data:`UNSEEN`; for booleans both values. Each edit
    lands on about ``rows / (3 * edits)`` rows, so every edit appears once ``rows`` is a few
    dozen; rows usually carry edits in several columns at once, as bad records do.

    Parameters
    ----------
    sample
        Real rows (training or validation) to start from.
    features
        Columns to edit; other columns are kept as drawn.
    seed
        Seed of the row draw and of which rows get which edit.
    rows
        Rows to return.

    Example
    -------
    >>> sample = pl.DataFrame({"x": [1.0, 2.0, 3.0], "city": ["a", "b", "a"]})
    >>> edges = edge_rows(sample, ["x", "city"], rows=60)
    >>> edges.schema == sample.schema, edges["x"].null_count() > 0, edges["x"].max()
    (True, True, 23.0)
    >>> sorted(set(edges["city"].drop_nulls()) - {"a", "b"}) == sorted(UNSEEN)
    True
    """
    _check_columns(sample, features, "sample")
    if sample.height == 0:
        raise InputError("edge rows are drawn from sample rows; the sample is empty")
    if rows < 1:
        raise InputError(f"rows must be >= 1; got {rows}")
    rng = np.random.default_rng(seed)
    drawn = sample[rng.integers(0, sample.height, rows)]
    edited = []
    for name in features:
        column = drawn.get_column(name)
        values = pl.Series(name, _edge_values(sample.get_column(name)), dtype=column.dtype)
        slot = rng.permutation(rows) % (3 * len(values))
        where = np.flatnonzero(slot < len(values))
        edited.append(column.clone().scatter(where, values.gather(slot[where])))
    return drawn.with_columns(edited)


def _edge_values(column: pl.Series) -> list[Any]:
    dtype = column.dtype
    if dtype == pl.Boolean:
        return [None, True, False]
    if dtype in (pl.String, pl.Categorical):
        return [None, *UNSEEN]
    if not (dtype.is_integer() or dtype.is_float()):
        return [None]
    present = column.drop_nulls().cast(pl.Float64).drop_nans().to_numpy()
    low, high = (float(present.min()), float(present.max())) if present.size else (0.0, 1.0)
    span = max(high - low, 1.0)
    numbers = [low, high, high + 10 * span, low - 10 * span, 0.0, -1.0]
    if dtype.is_float():
        limit = float(np.finfo(np.float32 if dtype == pl.Float32 else np.float64).max)
        return [None, math.nan, *np.clip(numbers, -limit, limit).tolist()]
    info = np.iinfo(_numpy_int(dtype))
    return [None, *(int(np.clip(round(number), info.min, info.max)) for number in numbers)]


def _numpy_int(dtype: pl.DataType) -> np.dtype:
    return pl.Series([], dtype=dtype).to_numpy().dtype


def _convert(model: Any, rows: pl.DataFrame, inputs: dict[str, str], task: str) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if not isinstance(model, Pipeline):
        # one ONNX input per feature, as for pipelines, so the scorer's feed is the same
        select = ColumnTransformer([("features", "passthrough", list(rows.columns))])
        model = Pipeline([("features", select.fit(rows)), ("model", model)])
    final = model.steps[-1][1]
    library = type(final).__module__.split(".")[0]
    if library in ("lightgbm", "xgboost"):
        _register_converters(library)
    if library == "xgboost" and final.get_booster().feature_names is not None:
        # onnxmltools reads split features as "f<index>"; a copy keeps the user's model intact
        final = copy.deepcopy(final)
        final.get_booster().feature_names = None
        model = Pipeline([*model.steps[:-1], (model.steps[-1][0], final)])
    initial_types = [
        (name, FloatTensorType([None, 1]) if kind == "float" else StringTensorType([None, 1]))
        for name, kind in inputs.items()
    ]
    options = None if task == "regression" else {id(final): {"zipmap": False}}
    onnx_model = to_onnx(model, initial_types=initial_types, options=options, target_opset=OPSETS)
    return bytes(onnx_model.SerializeToString())


@functools.cache
def _register_converters(library: str) -> None:
    """Teach skl2onnx (process-wide) to convert a boosting library's sklearn-API models."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    if library == "lightgbm":
        import lightgbm
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        classifier, regressor, convert = (
            lightgbm.LGBMClassifier,
            lightgbm.LGBMRegressor,
            convert_lightgbm,
        )
        alias = "LightGbmLGBM"
    else:
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        classifier, regressor, convert = (
            xgboost.XGBClassifier,
            xgboost.XGBRegressor,
            convert_xgboost,
        )
        alias = "XGBoostXGB"
    update_registered_converter(
        classifier,
        f"{alias}Classifier",
        calculate_linear_classifier_output_shapes,
        convert,
        options=classifier_options,
    )
    update_registered_converter(
        regressor, f"{alias}Regressor", calculate_linear_regressor_output_shapes, convert
    )


def _converter(exc: BaseException) -> str:
    """The converter package whose code raised ``exc`` (innermost frame wins)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        for package in ("onnxmltools", "skl2onnx"):
            if f"{os.sep}{package}{os.sep}" in frame.filename:
                return package
    return "skl2onnx"


def _reason(source: str, exc: BaseException) -> str:
    reason = f"{source}: {type(exc).__name__}: {first_line(exc)}"
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


def _input_kind(dtype: pl.DataType) -> str | None:
    if dtype.is_numeric() or dtype == pl.Boolean:
        return "float"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return "string"
    return None


def _positive_scores(scores: np.ndarray, name: str) -> np.ndarray:
    if scores.ndim == 2 and scores.shape[1] == 2:
        return scores[:, 1]
    if scores.ndim != 1:
        raise InputError(f"binary {name} scores must be (n,) or (n, 2); got {scores.shape}")
    return scores


def _check_columns(frame: pl.DataFrame, features: list[str], name: str) -> None:
    columns = set(frame.columns)
    missing = [feature for feature in features if feature not in columns]
    if missing:
        raise InputError(f"{name} lacks feature columns {missing}")
