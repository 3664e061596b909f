"""What :meth:`Bundle.build <tether.bundle.Bundle.build>` computes, and in what order.

Everything a later stage needs is computed here, once, from the training and validation data:
the contract, the reference profile, the model's scores on validation data and their profile,
baseline metrics overall and per segment with bootstrap intervals, the calibration curve,
permutation importance, the expected business cost, the ONNX form with its parity check, and the
lineage. The result is serialized and loaded back, so a freshly built bundle and one read from a
registry are the same object.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from tether import __version__
from tether.bundle import layout
from tether.bundle.bundle import (
    DLE_FILE,
    FAIRNESS_FILE,
    MODEL_DIR,
    ONNX_FILE,
    Bundle,
    encode_target,
    model_scores,
    output_columns,
    table_to_json,
)
from tether.bundle.lineage import TrainingRun, data_lineage, environment, git_lineage
from tether.bundle.onnx import OnnxScorer, check_parity, convert_to_onnx, edge_rows
from tether.bundle.parity import parity_of_scored, scored_rows, scores_where_possible
from tether.bundle.serialization import save_model
from tether.contract import Contract
from tether.contract import dtypes as contract_dtypes
from tether.errors import InputError, TetherError
from tether.frame import Data, read
from tether.performance import (
    baseline_metrics,
    permutation_importance,
    reliability_curve,
)
from tether.performance.baseline import OTHER, range_edges, segment_labels
from tether.performance.business import check_cost, outcome_cost
from tether.performance.estimation import DLE
from tether.performance.fairness import fairness, min_resamples, representation
from tether.profile import Profile


def build_bundle(
    model: Any,
    train: Data,
    valid: Data,
    target: str,
    *,
    features: Sequence[str] | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    contract: Contract | None = None,
    segments: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    cost: Mapping[str, float] | None = None,
    latency_budget_ms: float | None = None,
    owner: str | None = None,
    on_call: str | None = None,
    description: str = "",
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    training: TrainingRun | None = None,
    entry_point: str | None = None,
    threshold: float = 0.5,
    n_resamples: int = 200,
    importance_rows: int = 5000,
    importance_repeats: int = 5,
    background_rows: int = 200,
    parity_rows: int = 20_000,
    onnx: bool = True,
    trusted: bool = False,
    repo: str = ".",
) -> Bundle:
    """Build a bundle of a fitted ``model`` (preprocessing included).

    Parameters
    ----------
    model
        The fitted model taking the raw feature columns: a scikit-learn Pipeline, or a
        LightGBM/XGBoost model (with its preprocessing as a Pipeline). Anything that only
        pickles needs ``trusted=True`` here and when loading.
    train, valid
        Training and validation data (anything :func:`tether.frame.read` accepts), with the
        target column.
    target
        The target column.
    features
        The model's input columns; default ``model.feature_names_in_``, else every column of
        ``train`` but the target, id and time columns.
    id_column, time_column
        Row id and event time columns (lineage records the time range of the data).
    contract
        The data contract; inferred from ``train`` when not given.
    segments, sensitive
        Columns whose values define segments (metrics per value) and sensitive attributes
        (tracked for fairness); both are reported per value in the baseline metrics.
    cost
        Business cost per outcome, see :data:`tether.performance.business.COST_KEYS`.
    latency_budget_ms, owner, on_call, description
        Operational metadata carried to serving and alerts.
    params, seed, training, entry_point
        Training configuration, the seed used, the :class:`~tether.bundle.lineage.TrainingRun`
        that timed the fit, and the ``module:function`` that trains the model for
        ``tether bundle verify``.
    threshold
        Decision threshold on the positive class score (binary).
    n_resamples
        Bootstrap resamples for the metric intervals.
    importance_rows, importance_repeats
        Rows and shuffles of the permutation importance.
    background_rows
        Training rows stored in the bundle as the explanation background.
    parity_rows
        Validation rows on which ONNX and native outputs are compared.
    onnx
        Whether to convert the model to ONNX for the fast online path.
    trusted
        Allow a pickled model (unsafe to load from an unknown source).
    repo
        Folder inside the git work tree whose commit is recorded.
    """
    seconds: dict[str, float] = {}
    started = _now()
    with _timed(seconds, "read"):
        train_frame, valid_frame = read(train), read(valid)
        for name, frame in (("train", train_frame), ("valid", valid_frame)):
            if frame.height == 0:
                raise InputError(f"{name} has no rows; a bundle needs data to measure the model")
            if target not in frame.columns:
                raise InputError(f"target column {target!r} is not in {name} ({frame.columns})")
        roles = [c for c in (target, id_column, time_column) if c is not None]
        feature_list = _features(model, train_frame, features, roles)
        for name, frame in (("train", train_frame), ("valid", valid_frame)):
            _require(frame, feature_list, f"{name} lacks model features")
        _require(valid_frame, [*segments, *sensitive], "valid lacks segment columns")
        if time_column is not None:
            for name, frame in (("train", train_frame), ("valid", valid_frame)):
                _require(frame, [time_column], f"{name} lacks the time column")
        _check_options(threshold, n_resamples, latency_budget_ms)
    task, classes = _task(model)
    if cost is not None:
        cost = check_cost(cost, task)

    with _timed(seconds, "contract"):
        columns = list(dict.fromkeys([*feature_list, *roles]))
        if contract is None:
            contract = Contract.infer(
                train_frame.select(columns),
                target=target,
                id_column=id_column,
                time_column=time_column,
            )
    with _timed(seconds, "reference_profile"):
        reference = Profile.build(train_frame.select(columns))
    with _timed(seconds, "predict_valid"):
        y_true = encode_target(valid_frame[target], task, classes)
        scores = model_scores(model, valid_frame.select(feature_list), task)
        prediction_profile = Profile.build(_score_frame(scores, task, classes))
    with _timed(seconds, "baseline_metrics"):
        segment_frame = valid_frame.select(list(dict.fromkeys([*segments, *sensitive])))
        metrics = baseline_metrics(
            task,
            y_true,
            scores,
            segments=segment_frame if segment_frame.width else None,
            threshold=threshold,
            max_segment_levels=MAX_SEGMENT_LEVELS,
            n_resamples=n_resamples,
            seed=seed or 0,
        )
        segment_edges = _segment_edges(segment_frame)
        representation = _representation(train_frame, segment_frame, segment_edges)
        calibration = reliability_curve(y_true, scores) if task != "regression" else pl.DataFrame()
        expected_cost = (
            None if cost is None else outcome_cost(cost, task, y_true, scores, threshold=threshold)
        )
    with _timed(seconds, "fairness"):
        fairness_files = _fairness(
            task, classes, train_frame, valid_frame, target, list(sensitive), segment_edges,
            scores, y_true, threshold, n_resamples, seed or 0,
        )  # fmt: skip
    with _timed(seconds, "estimation"):
        estimation, estimator_bytes = _estimation(
            task, valid_frame.select(feature_list), y_true, scores, cost, seed or 0
        )
    with _timed(seconds, "importance"):
        importance = permutation_importance(
            lambda frame: model_scores(model, frame, task),
            valid_frame.select(feature_list),
            y_true,
            task=task,
            n_repeats=importance_repeats,
            max_rows=importance_rows,
            threshold=threshold,
            seed=seed or 0,
        )
    with _timed(seconds, "serialize"):
        saved = save_model(model, trusted=trusted)
    with _timed(seconds, "onnx"):
        onnx_meta, onnx_bytes = _onnx(
            model, train_frame, valid_frame.select(feature_list), scores, task, len(classes),
            threshold, parity_rows, onnx,
        )  # fmt: skip
    with _timed(seconds, "lineage"):
        lineage: dict[str, Any] = {
            "git": git_lineage(repo),
            "train": data_lineage(train_frame, time_column=time_column),
            "valid": data_lineage(valid_frame, time_column=time_column),
            "environment": environment(),
            "training": training.to_dict() if training is not None else None,
            "params": dict(params) if params is not None else _model_params(model),
            "seed": seed,
            "entry_point": entry_point,
            "features": feature_list,
        }
    background = train_frame.select(feature_list).sample(
        n=min(background_rows, train_frame.height), seed=seed or 0
    )
    created_by = lineage["environment"]["user"] or "unknown"
    metadata = {
        "task": task,
        "target": target,
        "features": feature_list,
        "feature_schema": _schema(train_frame, feature_list),
        "classes": classes,
        "threshold": threshold,
        "id_column": id_column,
        "time_column": time_column,
        "segments": list(segments),
        "sensitive": list(sensitive),
        "segment_edges": segment_edges,
        "segment_schema": _schema(segment_frame, segment_frame.columns),
        "representation": representation,
        "owner": owner,
        "on_call": on_call,
        "description": description,
        "latency_budget_ms": latency_budget_ms,
        "cost": dict(cost) if cost is not None else None,
        "model": {"kind": saved.kind, "details": saved.details, "summary": _summary(model)},
        "onnx": onnx_meta,
        "estimation": estimation,
        "created_at": started,
        "created_by": created_by,
        "tether_version": __version__,
    }
    lineage["build"] = {"seconds": seconds, "built_by": created_by}
    files = {f"{MODEL_DIR}{path}": content for path, content in saved.files.items()}
    if onnx_bytes is not None:
        files[ONNX_FILE] = onnx_bytes
    if estimator_bytes is not None:
        files[DLE_FILE] = estimator_bytes
    if fairness_files is not None:
        files[FAIRNESS_FILE] = _json(fairness_files)
    files |= {
        "contract.yaml": contract.to_yaml().encode(),
        "reference.json": reference.to_json().encode(),
        "predictions.json": prediction_profile.to_json().encode(),
        "baseline.json": _json(
            {
                "metrics": table_to_json(metrics),
                "calibration": table_to_json(calibration),
                "importance": table_to_json(importance),
                "cost": expected_cost,
            }
        ),
        "lineage.json": _json(lineage),
        "background.parquet": _parquet(background),
        "reference_scores.parquet": _parquet(
            _reference_scores(scores, y_true, task, classes, segment_frame, seed or 0)
        ),
        "reference_rows.parquet": _parquet(
            valid_frame.select(feature_list).sample(
                n=min(REFERENCE_ROWS, valid_frame.height), seed=seed or 0
            )
        ),
    }
    manifest = layout.encode_manifest(files, metadata)
    version = layout.version_of(manifest)
    bundle = Bundle.from_stored(json.loads(manifest), files, version, trusted=trusted)
    _check_round_trip(scores, bundle, valid_frame)
    return bundle


def _features(
    model: Any, train: pl.DataFrame, given: Sequence[str] | None, roles: list[str]
) -> list[str]:
    if given is not None:
        names = list(given)
    elif hasattr(model, "feature_names_in_"):
        names = [str(name) for name in model.feature_names_in_]
    else:
        names = [c for c in train.columns if c not in roles]
    if not names:
        raise InputError("the model has no feature columns; pass features=[...]")
    clash = sorted(set(names) & set(roles))
    if clash:
        raise InputError(f"features {clash} are also the target, id or time column")
    return names


def _segment_edges(segments: pl.DataFrame) -> dict[str, list[float]]:
    """Interval edges of the numeric segment columns the baseline cut into deciles, so the
    monitor cuts production rows at the same places."""
    found = {name: range_edges(segments[name], MAX_SEGMENT_LEVELS) for name in segments.columns}
    return {name: edges for name, edges in found.items() if edges is not None}


def _representation(
    train: pl.DataFrame, valid: pl.DataFrame, edges: dict[str, list[float]]
) -> dict[str, dict[str, Any]]:
    """Rows per level of each segment column in the training data (the validation data for a
    column training lacks): the support the model had there, which the monitor compares with
    production. Levels beyond the most frequent :data:`MAX_REPRESENTED_LEVELS` are summed in
    ``"(other)"``."""
    support = {}
    for name in valid.columns:
        source = "train" if name in train.columns else "valid"
        column = (train if source == "train" else valid)[name]
        counts = (
            segment_labels(column, edges.get(name)).alias("level").value_counts(name="rows")
            .sort(["rows", "level"], descending=[True, False])
        )  # fmt: skip
        kept = dict(counts.head(MAX_REPRESENTED_LEVELS).iter_rows())
        rest = int(counts["rows"][MAX_REPRESENTED_LEVELS:].sum())
        if rest:
            kept[OTHER] = kept.get(OTHER, 0) + rest
        support[name] = {"source": source, "rows": column.len(), "levels": kept}
    return support


def _fairness(
    task: str,
    classes: list[Any],
    train: pl.DataFrame,
    valid: pl.DataFrame,
    target: str,
    sensitive: list[str],
    edges: dict[str, list[float]],
    scores: np.ndarray,
    y_true: np.ndarray,
    threshold: float,
    n_resamples: int,
    seed: int,
) -> dict[str, Any] | None:
    """The fairness baseline of the sensitive attributes: who the training data holds and how
    often their label is positive (:func:`~tether.performance.fairness.representation`), and
    the model's group metrics and disparities on validation
    (:func:`~tether.performance.fairness.fairness`). Attributes are cut into the levels the
    monitor will use. When the model cannot be measured (a multiclass model has no single
    decision), the reason is kept instead."""
    if not sensitive:
        return None
    source = train if all(name in train.columns for name in sensitive) else valid
    positive = classes[1] if task == "binary" else None
    training = representation(
        source.select(
            *(segment_labels(source[name], edges.get(name)) for name in sensitive),
            *([target] if positive is not None else []),
        ),
        sensitive,
        target=target if positive is not None else None,
        positive=positive,
    )
    found: dict[str, Any] = {
        "training": {"source": "train" if source is train else "valid",
                     "groups": training.to_dicts()},
        "validation": None,
        "reason": None,
    }  # fmt: skip
    groups = valid.select(segment_labels(valid[name], edges.get(name)) for name in sensitive)
    try:
        # its intervals carry the monitor's and the gate's alerts: never fewer than it needs
        report = fairness(
            task, scores, groups, y_true=y_true, threshold=threshold,
            n_resamples=max(n_resamples, min_resamples(0.95)), seed=seed,
        )  # fmt: skip
    except InputError as exc:  # a multiclass model, no attribute with two groups to compare
        found["reason"] = str(exc)
    else:
        found["validation"] = report.to_dict()
    return found


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} {missing} (it has {frame.columns})")


def _check_options(threshold: float, n_resamples: int, latency_budget_ms: float | None) -> None:
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    if n_resamples < 10:
        raise InputError(f"n_resamples must be at least 10 for an interval, got {n_resamples}")
    if latency_budget_ms is not None and not latency_budget_ms > 0:
        raise InputError(f"latency_budget_ms must be positive, got {latency_budget_ms}")


def _task(model: Any) -> tuple[str, list[Any]]:
    if not hasattr(model, "predict") and not hasattr(model, "predict_proba"):
        raise InputError(f"{type(model).__name__} has neither predict nor predict_proba")
    classes = getattr(model, "classes_", None)
    if classes is not None and not hasattr(model, "predict_proba"):
        raise InputError(
            f"{type(model).__name__} is a classifier without predict_proba: tether needs scores "
            "to measure and monitor it; wrap it in sklearn's CalibratedClassifierCV"
        )
    if classes is not None:
        labels = [c.item() if hasattr(c, "item") else c for c in np.asarray(classes)]
        if len(labels) < 2:
            raise InputError(f"the model knows {len(labels)} class; a classifier needs two")
        return ("binary" if len(labels) == 2 else "multiclass"), labels
    return "regression", []


def _estimation(
    task: str,
    features: pl.DataFrame,
    y_true: np.ndarray,
    scores: np.ndarray,
    cost: Mapping[str, float] | None,
    seed: int,
) -> tuple[dict[str, Any], bytes | None]:
    """How the monitor estimates this model's performance without labels. Classifiers: CBPE,
    fitted from the stored validation scores when the monitor loads the bundle. Regressors: DLE,
    whose nanny models need the validation features, so they are trained here (LightGBM)."""
    if task != "regression":
        return {"method": "cbpe", "reason": None}, None
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        reason = "DLE needs LightGBM (the 'boosting' extra); the monitor will not estimate"
        return {"method": None, "reason": reason}, None
    try:
        dle = DLE(cost=cost, seed=seed).fit(features, y_true, scores)
    except InputError as exc:  # a validation set too small to train and check nanny models
        return {"method": None, "reason": f"DLE could not be fitted: {exc}"}, None
    return {"method": "dle", "reason": None}, dle.to_bytes()


MAX_SEGMENT_LEVELS = 50
"""Levels per segment column in the baseline; numeric columns with more are cut at deciles."""

MAX_REPRESENTED_LEVELS = 1000
"""Levels per segment column whose training support the bundle keeps."""

REFERENCE_ROWS = 20_000
"""Validation rows (features only) kept for the weak-segment search: where its numeric ranges
are cut, and what production is compared with."""

REFERENCE_SCORE_ROWS = 100_000
"""Most validation rows whose scores a bundle keeps (a seeded sample beyond that)."""


def _reference_scores(
    scores: np.ndarray,
    y_true: np.ndarray,
    task: str,
    classes: list[Any],
    segments: pl.DataFrame,
    seed: int,
) -> pl.DataFrame:
    """Validation scores (the columns a store read has), the encoded label and the segment
    columns, sampled to :data:`REFERENCE_SCORE_ROWS`."""
    frame = _score_frame(scores, task, classes).with_columns(label=pl.Series(y_true))
    taken = set(frame.columns)
    segments = segments.rename({c: f"segment_{c}" for c in segments.columns if c in taken})
    frame = pl.concat([frame, segments], how="horizontal")
    if frame.height > REFERENCE_SCORE_ROWS:
        # in validation order: CBPE's reference chunks are consecutive rows (often time)
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(frame.height, REFERENCE_SCORE_ROWS, replace=False))
        frame = frame[keep]
    return frame


def _score_frame(scores: np.ndarray, task: str, classes: list[Any]) -> pl.DataFrame:
    matrix = scores.reshape(len(scores), -1)
    return pl.DataFrame(
        {name: matrix[:, i] for i, name in enumerate(output_columns(task, classes))}
    )


def _onnx(
    model: Any,
    train: pl.DataFrame,
    valid: pl.DataFrame,
    valid_scores: np.ndarray,
    task: str,
    n_classes: int,
    threshold: float,
    parity_rows: int,
    enabled: bool,
) -> tuple[dict[str, Any], bytes | None]:
    meta: dict[str, Any] = {
        "converted": False,
        "reason": "disabled (onnx=False)",
        "inputs": {},
        "parity": None,
        "edge_parity": None,
        "online_path": "native",
    }
    if not enabled:
        return meta, None
    features = valid.columns
    conversion = convert_to_onnx(
        model, train.select(features).head(1000), features=features, task=task
    )
    meta |= {"converted": conversion.model is not None, "reason": conversion.reason}
    if conversion.model is None:
        return meta, None
    meta["inputs"] = conversion.inputs
    scorer = OnnxScorer(conversion.model, conversion.inputs, task=task)
    rows = np.arange(valid.height)
    if valid.height > parity_rows:
        rows = np.sort(np.random.default_rng(0).choice(valid.height, parity_rows, replace=False))
    sample = valid[rows]
    fast = scorer.score(sample)
    meta["parity"] = check_parity(
        valid_scores[rows], fast[:, 1] if task == "binary" else fast, task=task,
        threshold=threshold,
    ).to_dict()  # fmt: skip
    edges = edge_rows(sample, features, seed=0)
    shape = (edges.height, n_classes) if task == "multiclass" else (edges.height,)
    native, refused = scores_where_possible(
        lambda part: model_scores(model, part, task), edges, np.full(shape, np.nan)
    )
    scored = scored_rows(edges.height, refused)
    fast = scorer.score(edges.filter(pl.Series(scored)))
    result = parity_of_scored(
        native[scored], fast[:, 1] if task == "binary" else fast, scored, task=task,
        threshold=threshold,
    )  # fmt: skip
    # Rows the native model refuses (e.g. NaN into an estimator without an imputer) say nothing
    # about ONNX; the online path answers them natively too (Bundle.score_record).
    meta["edge_parity"] = result.to_dict() | {"native_refused": len(refused)}
    if meta["parity"]["ok"] and meta["edge_parity"]["ok"]:
        meta["online_path"] = "onnx"
    else:
        meta["reason"] = "ONNX output differs from the native model; online path stays native"
    return meta, conversion.model


def _check_round_trip(scores: np.ndarray, bundle: Bundle, valid: pl.DataFrame) -> None:
    rows = min(200, valid.height)
    if not np.array_equal(scores[:rows], bundle.scores(valid.head(rows)), equal_nan=True):
        raise TetherError(
            "the stored model predicts differently from the fitted one; it does not round-trip "
            "through its serialization (report this with the model's type)"
        )


def _schema(frame: pl.DataFrame, features: list[str]) -> dict[str, str]:
    schema = {}
    for name in features:
        dtype = contract_dtypes.canonical(frame.schema[name])
        if dtype is None:
            raise InputError(f"column {name!r} has type {frame.schema[name]}, not supported")
        schema[name] = dtype
    return schema


def _model_params(model: Any) -> dict[str, Any]:
    get_params = getattr(model, "get_params", None)
    if get_params is None:
        return {}
    return {
        key: value
        for key, value in sorted(get_params(deep=True).items())
        if value is None or isinstance(value, bool | int | float | str)
    }


def _summary(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:
        return f"Pipeline({' > '.join(type(step).__name__ for _, step in steps)})"
    return type(model).__name__


def _json(value: Any) -> bytes:
    # Strict JSON (no NaN literal, which other languages' readers reject): non-finite numbers
    # are written as null, as the profiles do.
    return json.dumps(
        _finite(value), sort_keys=True, indent=1, allow_nan=False, default=_not_json
    ).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _not_json(value: object) -> Any:
    if isinstance(value, np.generic):
        return _finite(value.item())
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise InputError(
        f"{type(value).__name__} value {value!r:.60} cannot be stored as JSON; pass params as "
        "numbers, strings, lists and dicts"
    )


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, statistics=False)
    return buffer.getvalue()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[phase] = round(time.perf_counter() - start, 4)
