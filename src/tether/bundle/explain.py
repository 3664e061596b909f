"""Per-row feature contributions of a model's raw input columns.

:func:`explain` splits a model's output for each row into a base value plus one contribution per
raw feature column (the columns before preprocessing). It uses an exact method where the final
estimator has one (linear models, tree ensembles, LightGBM, XGBoost) and maps the attributions of
the transformed columns back to the raw ones; any other model is explained by permutation
sampling over raw rows. Every method is additive: ``base_value + sum(contributions) == output``.

The class explained for a classifier is always the one at index 1 of ``classes_``: the positive
class of a binary model, the second class of a multiclass one. A single explained class keeps
``base_value`` one number for every row, which a per-row predicted class would not.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.tree import BaseDecisionTree

from tether.errors import InputError, first_line
from tether.performance.metrics import check_task

Units = Literal["log_odds", "probability", "value"]
Method = Literal["linear", "tree_shap", "lightgbm", "xgboost", "sampling_shapley"]

EXPLAINED_CLASS = 1
"""Index in ``classes_`` (and in ``predict_proba`` columns) of the class a classifier is explained
for."""

_SKLEARN_TREES = (
    BaseDecisionTree,
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

# An exact method whose attributions miss the model's own output by more than this (relative)
# explains another quantity (a GLM's link scale, a booster objective with a link): such models go
# to sampling. XGBoost computes in float32, so its honest error is ~1e-6 relative.
_ADDS_UP_RTOL = 1e-5

# Cells (coalition rows x features) built per model call when sampling; bounds memory to tens of MB.
_MAX_COALITION_CELLS = 4_000_000

# PolynomialFeatures names its outputs "a b" and "a^2".
_POWER = re.compile(r"\^\d+$")


@dataclass(frozen=True, eq=False)
class Explanation:
    """Per-row contributions of the raw features to a model's output.

    ``base_value + contributions.sum_horizontal() == output`` for every row (see :func:`explain`
    for the precision of each method).

    Parameters
    ----------
    contributions
        One column per raw feature, one row per explained row.
    base_value
        The expected output the contributions start from, in ``units``.
    output
        The model's own output for each row, in ``units``.
    units
        ``"log_odds"``, ``"probability"`` or ``"value"``.
    method
        ``"linear"``, ``"tree_shap"``, ``"lightgbm"``, ``"xgboost"`` or ``"sampling_shapley"``.

    Example
    -------
    >>> e = Explanation(
    ...     pl.DataFrame({"a": [1.0, -2.0], "b": [0.5, 0.25]}), 0.1, np.array([1.6, -1.65]),
    ...     "value", "linear",
    ... )
    >>> e.top(1)
    shape: (2, 3)
    ┌─────┬─────────┬──────────────┐
    │ row ┆ feature ┆ contribution │
    │ --- ┆ ---     ┆ ---          │
    │ u32 ┆ str     ┆ f64          │
    ╞═════╪═════════╪══════════════╡
    │ 0   ┆ a       ┆ 1.0          │
    │ 1   ┆ a       ┆ -2.0         │
    └─────┴─────────┴──────────────┘
    >>> e.to_frame().columns
    ['a', 'b', 'base_value', 'output']
    """

    contributions: pl.DataFrame
    base_value: float
    output: np.ndarray
    units: Units
    method: Method

    def to_frame(self) -> pl.DataFrame:
        """The contributions with ``base_value`` and ``output`` columns appended."""
        clash = [c for c in ("base_value", "output") if c in self.contributions.columns]
        if clash:
            raise InputError(f"features {clash} clash with the columns to_frame() appends")
        return self.contributions.with_columns(
            pl.lit(self.base_value, dtype=pl.Float64).alias("base_value"),
            pl.Series("output", self.output, dtype=pl.Float64),
        )

    def top(self, k: int) -> pl.DataFrame:
        """The ``k`` largest contributions by absolute value of each row, as ``row``, ``feature``,
        ``contribution`` (ties keep the feature order)."""
        if k < 1:
            raise InputError(f"k={k} must be at least 1")
        return (
            self.contributions.with_row_index("row")
            .unpivot(index="row", variable_name="feature", value_name="contribution")
            .sort(
                [pl.col("row"), pl.col("contribution").abs()],
                descending=[False, True],
                maintain_order=True,
            )
            .group_by("row", maintain_order=True)
            .head(k)
        )


def explain(
    model: Any,
    frame: pl.DataFrame,
    *,
    features: list[str],
    task: str,
    background: pl.DataFrame,
    seed: int = 0,
    max_background: int = 200,
    permutations: int = 16,
) -> Explanation:
    """Additive per-row contributions of the raw ``features`` to ``model``'s output on ``frame``.

    A :class:`~sklearn.pipeline.Pipeline` is split into its preprocessing (``model[:-1]``) and its
    final estimator (``model[-1]``); a bare estimator sees the raw columns. The final estimator
    picks the method:

    - ``linear`` (anything with ``coef_`` and ``intercept_``): ``coef * (x - mean)`` on the
      transformed columns, the mean taken over the transformed background; exact SHAP values for
      a linear model with independent features. Units: the decision function of a classifier
      (``log_odds``; the class's softmax margin for a multiclass model) or ``value``.
    - ``tree_shap`` (scikit-learn trees and forests, via the optional ``shap`` package),
      ``lightgbm`` (``booster_`` or a ``booster`` attribute holding a ``lightgbm.Booster``;
      ``pred_contrib``) and ``xgboost`` (``get_booster()`` or a ``booster`` attribute holding an
      ``xgboost.Booster``; ``pred_contribs``): exact path-dependent TreeSHAP, whose base value is
      the model's mean output over its training data as recorded in the trees (not the
      background). Units: ``probability`` for forests and single trees, ``log_odds`` (raw margin)
      for boosted classifiers, ``value`` for regressors.
    - ``sampling_shapley`` for anything else with ``predict_proba`` (classifiers) or ``predict``
      (regressors) over raw polars frames, in ``probability`` or ``value`` units.

    An exact method is used only when its attributions add up to the model's own output (to 1e-5
    relative); one that does not (a GLM's or a booster's log link on a regressor) falls back to
    sampling, as does a missing ``shap``, a model shap cannot read, or a preprocessing step that
    cannot name its outputs. ``output`` is always the model's own output; additivity
    holds to rounding: about 1e-12 for ``linear``, ``lightgbm``, ``tree_shap`` and sampling, and
    float32 precision (about 1e-6 relative to the margin) for ``xgboost``, which computes in
    float32.

    Transformed columns map back to raw columns through each step's ``get_feature_names_out``:
    an output named like one input (scalers, imputers, selectors, passthrough) or prefixed by
    ``input_`` (one-hot columns, which therefore sum to their column's contribution) belongs to
    that input; a PolynomialFeatures product is split equally among its factors; any other
    output (PCA, a transformer that cannot name its outputs inside a ColumnTransformer) is split
    equally among all the inputs of its transformer. Columns dropped by ``remainder="drop"``
    contribute 0.

    Sampling estimates interventional Shapley values with the background as the reference
    distribution: each of ``permutations`` permutations (used as antithetic pairs, a permutation
    and its reverse sharing one background row, so the count is rounded up to even) walks from
    the background row to ``x`` one feature at a time, and its marginal contributions telescope
    to ``f(x) - f(z)``. The gap between the mean of ``f(z)`` over a row's references and the
    background mean (``base_value``) is then shared among the features in proportion to the
    variance of their samples (the least-squares projection onto the efficiency constraint, as
    Covert & Lee do for KernelSHAP, with a diagonal covariance), so a feature that never moves
    the output gets exactly 0 and the contributions add up to ``output`` to rounding (1e-12).
    Coalition rows for many rows are built and scored in one model call per chunk of at most 4
    million cells.

    Parameters
    ----------
    model
        A fitted model: a Pipeline or a bare estimator, called on raw polars frames.
    frame
        Rows to explain; must hold ``features``.
    features
        The model's raw input columns, in the order it was fitted on.
    task
        ``"binary"``, ``"multiclass"`` or ``"regression"``; classifiers are explained for the
        class at index 1 (:data:`EXPLAINED_CLASS`).
    background
        Training rows (raw features): the reference distribution of ``linear`` and sampling.
    seed
        Seeds the background subsample, the permutations and the reference rows.
    max_background
        Background rows kept (a seeded sample without replacement).
    permutations
        Permutations per row for sampling.

    Example
    -------
    >>> from sklearn.linear_model import LogisticRegression
    >>> train = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 10, "z": [1.0, 0.0] * 20})
    >>> model = LogisticRegression().fit(train, [0, 0, 1, 1] * 10)
    >>> e = explain(model, train.head(3), features=["x", "z"], task="binary", background=train)
    >>> e.method, e.units
    ('linear', 'log_odds')
    >>> bool(np.allclose(e.base_value + e.contributions.sum_horizontal(), e.output))
    True

    References
    ----------
    Lundberg, S. M. & Lee, S.-I. (2017). A unified approach to interpreting model predictions.
    NeurIPS 30.
    Lundberg, S. M. et al. (2020). From local explanations to global understanding with
    explainable AI for trees. Nature Machine Intelligence 2, 56-67.
    Štrumbelj, E. & Kononenko, I. (2014). Explaining prediction models and individual predictions
    with feature contributions. Knowledge and Information Systems 41, 647-665.
    Mitchell, R., Cooper, J., Frank, E. & Holmes, G. (2022). Sampling permutations for Shapley
    value estimation. JMLR 23(43).
    Covert, I. & Lee, S.-I. (2021). Improving KernelSHAP: practical Shapley value estimation
    using linear regression. AISTATS.
    """
    rows, reference = _checked(
        model, frame, features, task, background, max_background, permutations
    )
    rng = np.random.default_rng(seed)
    if reference.height > max_background:
        reference = reference[np.sort(rng.choice(reference.height, max_background, replace=False))]
    exact = _exact(model, rows, reference, task)
    if exact is not None:
        return exact
    return _sampling(model, rows, reference, task, rng, permutations)


def _checked(
    model: Any,
    frame: pl.DataFrame,
    features: list[str],
    task: str,
    background: pl.DataFrame,
    max_background: int,
    permutations: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    check_task(task)
    if not features:
        raise InputError("features=[] must name at least one column")
    if len(set(features)) != len(features):
        raise InputError(f"features={features} must not repeat a column")
    if max_background < 1:
        raise InputError(f"max_background={max_background} must be at least 1")
    if permutations < 1:
        raise InputError(f"permutations={permutations} must be at least 1")
    fitted_on = getattr(model, "feature_names_in_", None)
    if fitted_on is not None and list(fitted_on) != list(features):
        raise InputError(
            f"features={features} differ from the columns the model was fitted on "
            f"{list(fitted_on)}; pass them in that order"
        )
    selected = []
    for name, data in (("frame", frame), ("background", background)):
        if not isinstance(data, pl.DataFrame):
            raise InputError(f"{name} is a {type(data).__name__}; explain needs a polars DataFrame")
        missing = [c for c in features if c not in data.columns]
        if missing:
            raise InputError(f"{name} is missing feature columns {missing}")
        if data.height == 0:
            raise InputError(f"{name} has 0 rows; explain needs at least one")
        selected.append(data.select(features))
    return selected[0], selected[1]


def _exact(
    model: Any, rows: pl.DataFrame, reference: pl.DataFrame, task: str
) -> Explanation | None:
    preprocess, final = None, model
    if isinstance(model, Pipeline):
        preprocess, final = (model[:-1] if len(model) > 1 else None), model[-1]
    kind = _exact_kind(final)
    if kind is None:
        return None
    native = rows if preprocess is None else preprocess.transform(rows)
    values = _dense(native)
    mapping = _raw_mapping(preprocess, rows.columns)
    if values is None or mapping is None or mapping.shape[0] != values.shape[1]:
        return None
    classifier = task != "regression"
    if kind == "linear":
        reference_values = _dense(
            reference if preprocess is None else preprocess.transform(reference)
        )
        if reference_values is None:
            return None
        attribution = _linear(final, native, values, reference_values, classifier)
    elif kind == "tree_shap":
        attribution = _tree_shap(final, native, values, classifier)
    elif kind == "lightgbm":
        attribution = _lightgbm(_booster(final), values, classifier)
    else:
        attribution = _xgboost(_booster(final), values, classifier)
    if attribution is None:
        return None
    transformed, base, output, units = attribution
    if not np.all(
        np.abs(base + transformed.sum(axis=1) - output) <= _ADDS_UP_RTOL * (1 + np.abs(output))
    ):
        return None
    contributions = pl.DataFrame(transformed @ mapping, schema=rows.columns, orient="row")
    return Explanation(contributions, base, output, units, kind)


def _exact_kind(final: Any) -> Method | None:
    booster = _booster(final)
    if booster is not None:
        return "lightgbm" if _is_booster(booster, "lightgbm") else "xgboost"
    if isinstance(final, _SKLEARN_TREES):
        return "tree_shap"
    if hasattr(final, "coef_") and hasattr(final, "intercept_"):
        return "linear"
    return None


def _booster(final: Any) -> Any:
    """The native LightGBM or XGBoost booster of an sklearn wrapper or a loaded-bundle adapter."""
    # Unfitted wrappers raise errors deriving from both AttributeError and ValueError.
    candidates = [getattr(final, "booster", None), getattr(final, "booster_", None)]
    if hasattr(final, "get_booster"):
        with contextlib.suppress(AttributeError, ValueError):
            candidates.append(final.get_booster())
    for candidate in candidates:
        if _is_booster(candidate, "lightgbm") or _is_booster(candidate, "xgboost"):
            return candidate
    return None


def _is_booster(candidate: Any, package: str) -> bool:
    # Checked by module name so neither optional package is imported for models that use neither.
    kind = type(candidate)
    return kind.__name__ == "Booster" and kind.__module__.split(".")[0] == package


def _dense(values: Any) -> np.ndarray | None:
    if sp.issparse(values):
        values = values.toarray()
    elif hasattr(values, "to_numpy"):
        values = values.to_numpy()
    array = np.asarray(values)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        return None
    return array.astype(np.float64, copy=False)


def _class_column(values: Any) -> np.ndarray:
    """The explained class's column of a 2-D output, or a 1-D output as it is."""
    array = np.asarray(values, dtype=np.float64)
    return array[:, EXPLAINED_CLASS] if array.ndim == 2 else array


Attribution = tuple[np.ndarray, float, np.ndarray, Units]


def _linear(
    final: Any, native: Any, values: np.ndarray, reference: np.ndarray, classifier: bool
) -> Attribution | None:
    coef = final.coef_
    coef = np.atleast_2d(coef.toarray() if sp.issparse(coef) else np.asarray(coef, np.float64))
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64))
    row = 0 if coef.shape[0] == 1 else EXPLAINED_CLASS
    if coef.shape[1] != values.shape[1]:
        return None
    weights, mean = coef[row], reference.mean(axis=0)
    if classifier:
        if not hasattr(final, "decision_function"):
            return None
        output = _class_column(final.decision_function(native))
    else:
        output = _class_column(final.predict(native))
    base = float(mean @ weights + intercept[min(row, intercept.size - 1)])
    units: Units = "log_odds" if classifier else "value"
    return (values - mean) * weights, base, output, units


def _tree_shap(final: Any, native: Any, values: np.ndarray, classifier: bool) -> Attribution | None:
    try:
        import shap
    except ImportError:
        return None
    try:
        explainer = shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
        shap_values = np.asarray(explainer.shap_values(values, check_additivity=False))
    except Exception:  # shap raises its own error types for models it cannot read
        return None
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if shap_values.ndim == 3:
        transformed = shap_values[:, :, EXPLAINED_CLASS]
        base = float(expected[EXPLAINED_CLASS])
    else:
        transformed, base = shap_values, float(expected[0])
    units: Units
    if not classifier:
        units, output = "value", _class_column(final.predict(native))
    elif hasattr(final, "decision_function"):
        units, output = "log_odds", _class_column(final.decision_function(native))
    else:
        units, output = "probability", _class_column(final.predict_proba(native))
    return transformed.astype(np.float64), base, output, units


def _lightgbm(booster: Any, values: np.ndarray, classifier: bool) -> Attribution | None:
    if booster.num_feature() != values.shape[1]:
        return None  # an adapter that preprocesses inside itself: only sampling sees its input
    contrib = np.asarray(booster.predict(values, pred_contrib=True), dtype=np.float64)
    outputs = booster.num_model_per_iteration()
    contrib = contrib.reshape(len(values), outputs, -1)[:, 0 if outputs == 1 else EXPLAINED_CLASS]
    output = _class_column(booster.predict(values, raw_score=classifier))
    return contrib[:, :-1], float(contrib[0, -1]), output, "log_odds" if classifier else "value"


def _xgboost(booster: Any, values: np.ndarray, classifier: bool) -> Attribution | None:
    import xgboost

    if booster.num_features() != values.shape[1]:
        return None
    matrix = xgboost.DMatrix(values, feature_names=booster.feature_names)
    contrib = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=np.float64)
    if contrib.ndim == 3:
        contrib = contrib[:, EXPLAINED_CLASS]
    output = _class_column(booster.predict(matrix, output_margin=classifier))
    return contrib[:, :-1], float(contrib[0, -1]), output, "log_odds" if classifier else "value"


def _raw_mapping(preprocess: Pipeline | None, features: list[str]) -> np.ndarray | None:
    """Matrix (transformed columns x raw features) whose rows say how each transformed column's
    contribution is shared among the raw features; every row sums to 1, so sums are kept."""
    mapping = np.eye(len(features))
    if preprocess is None:
        return mapping
    names = list(features)
    try:
        for _, step in preprocess.steps:
            if step is None or step == "passthrough":
                continue
            block, names = _step_mapping(step, names)
            mapping = block @ mapping
    except (AttributeError, ValueError, TypeError, NotFittedError):
        # A step that cannot name its outputs leaves the later steps unmappable.
        return None
    return mapping


def _step_mapping(step: Any, names: list[str]) -> tuple[np.ndarray, list[str]]:
    if isinstance(step, ColumnTransformer):
        mapping = _column_transformer_mapping(step, names)
        try:
            outputs = [str(n) for n in step.get_feature_names_out()]
        except AttributeError:
            # Placeholders serve a later step fitted without names; one fitted with names rejects
            # them, and the whole preprocessing is then unmappable.
            outputs = [f"x{i}" for i in range(mapping.shape[0])]
        return mapping, outputs
    if isinstance(step, Pipeline):
        mapping = np.eye(len(names))
        for _, inner in step.steps:
            if inner is None or inner == "passthrough":
                continue
            block, names = _step_mapping(inner, names)
            mapping = block @ mapping
        return mapping, names
    outputs = [str(n) for n in step.get_feature_names_out(names)]
    return _mapping_by_names(outputs, names), outputs


def _column_transformer_mapping(transformer: ColumnTransformer, names: list[str]) -> np.ndarray:
    slices = transformer.output_indices_
    width = max((s.stop for s in slices.values()), default=0)
    mapping = np.zeros((width, len(names)))
    for name, inner, columns in transformer.transformers_:
        rows = slices.get(name, slice(0, 0))
        if inner == "drop" or rows.stop <= rows.start:
            continue
        inputs = _column_indices(columns, names)
        if inner == "passthrough":
            block = np.eye(len(inputs))
        else:
            try:
                block, _ = _step_mapping(inner, [names[i] for i in inputs])
            except (AttributeError, ValueError, TypeError, NotFittedError):
                block = np.zeros((0, len(inputs)))
            if block.shape[0] != rows.stop - rows.start:
                block = np.full((rows.stop - rows.start, len(inputs)), 1.0 / len(inputs))
        mapping[rows, inputs] = block
    return mapping


def _column_indices(columns: Any, names: list[str]) -> np.ndarray:
    if isinstance(columns, str):
        columns = [columns]
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):
            # Label slices include their stop, as in pandas.
            start = 0 if columns.start is None else names.index(columns.start)
            stop = len(names) if columns.stop is None else names.index(columns.stop) + 1
            return np.arange(start, stop)
        return np.arange(len(names))[columns]
    array = np.asarray(columns)
    if array.dtype == bool:
        return np.flatnonzero(array)
    if array.dtype.kind in "iu":
        return array.astype(np.intp)
    position = {name: i for i, name in enumerate(names)}
    return np.array([position[str(c)] for c in array], dtype=np.intp)


def _mapping_by_names(outputs: list[str], inputs: list[str]) -> np.ndarray:
    position = {name: i for i, name in enumerate(inputs)}
    # Longest first, so an output "a_b_x" of input "a_b" is not taken for a category of "a".
    by_length = sorted(inputs, key=len, reverse=True)
    mapping = np.zeros((len(outputs), len(inputs)))
    for row, output in enumerate(outputs):
        if output in position:
            sources = [position[output]]
        else:
            prefix = next((n for n in by_length if output.startswith(f"{n}_")), None)
            factors = {_POWER.sub("", token) for token in output.split(" ")}
            if prefix is not None:
                sources = [position[prefix]]
            elif factors <= position.keys():
                sources = [position[f] for f in factors]
            else:
                sources = list(range(len(inputs)))
        mapping[row, sources] = 1.0 / len(sources)
    return mapping


def _sampling(
    model: Any,
    rows: pl.DataFrame,
    reference: pl.DataFrame,
    task: str,
    rng: np.random.Generator,
    permutations: int,
) -> Explanation:
    if task == "regression":
        units: Units = "value"

        def score(data: pl.DataFrame) -> np.ndarray:
            return _class_column(model.predict(data))

    else:
        if not hasattr(model, "predict_proba"):
            raise InputError(
                f"{type(model).__name__} has no predict_proba; task={task!r} needs it to be "
                "explained by sampling"
            )
        units = "probability"

        def score(data: pl.DataFrame) -> np.ndarray:
            return _class_column(model.predict_proba(data))

    try:
        pool = pl.concat([rows, reference], how="vertical_relaxed")
    except pl.exceptions.PolarsError as exc:
        mismatched = [c for c in rows.columns if rows.schema[c] != reference.schema[c]]
        raise InputError(
            f"background columns {mismatched} have types that do not combine with the frame's: "
            f"{first_line(exc)}"
        ) from None
    base = float(score(reference).mean())
    pairs = math.ceil(permutations / 2)
    width = rows.width
    chunk = max(1, _MAX_COALITION_CELLS // (2 * pairs * (width + 1) * width))
    parts = [
        _sampled_chunk(
            score, pool, start, min(start + chunk, rows.height), rows.height, base, pairs, rng
        )
        for start in range(0, rows.height, chunk)
    ]
    contributions = np.concatenate([p[0] for p in parts])
    output = np.concatenate([p[1] for p in parts])
    frame = pl.DataFrame(contributions, schema=rows.columns, orient="row")
    return Explanation(frame, base, output, units, "sampling_shapley")


def _sampled_chunk(
    score: Any,
    pool: pl.DataFrame,
    start: int,
    stop: int,
    n_rows: int,
    base: float,
    pairs: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Shapley estimates and model outputs for rows ``start:stop`` of ``pool`` (whose rows from
    ``n_rows`` on are the background), with one model call."""
    count, width = stop - start, pool.width
    forward = rng.random((count, pairs, width)).argsort(axis=-1)
    # Antithetic pairs: a permutation and its reverse, sharing one reference row.
    order = np.stack([forward, forward[..., ::-1]], axis=2).reshape(count, 2 * pairs, width)
    rank = order.argsort(axis=-1)
    references = n_rows + rng.integers(0, pool.height - n_rows, size=(count, pairs))
    references = np.repeat(references, 2, axis=1)
    steps = np.arange(width + 1)
    # Coalition k of a permutation takes its first k features from the row, the rest from the
    # reference: feature j comes from the row when its rank is below k.
    from_row = rank[:, :, None, :] < steps[None, None, :, None]
    source = np.where(
        from_row,
        np.arange(start, stop)[:, None, None, None],
        references[:, :, None, None],
    ).reshape(-1, width)
    coalitions = pool.select(
        pl.col(name).gather(source[:, j]) for j, name in enumerate(pool.columns)
    )
    scores = score(coalitions).reshape(count, 2 * pairs, width + 1)
    # Step k adds feature order[k]; rank maps each feature back to the step that added it.
    marginal = np.take_along_axis(np.diff(scores, axis=-1), rank, axis=-1)
    samples = marginal.reshape(count, pairs, 2, width).mean(axis=2)
    estimate = samples.mean(axis=1)
    output = scores[:, 0, -1]
    gap = output - base - estimate.sum(axis=1)
    return estimate + _efficiency_weights(samples) * gap[:, None], output


def _efficiency_weights(samples: np.ndarray) -> np.ndarray:
    """Per row, the shares of the efficiency gap: each feature's sample variance over the total
    (the least-squares projection onto the efficiency constraint with a diagonal covariance; the
    full covariance, estimated from a few samples, can give huge weights of both signs); where no
    feature varied, equal shares among the features that ever moved the output. The shares sum
    to 1 and are 0 for a feature that never moved the output."""
    variance = samples.var(axis=1)
    total = variance.sum(axis=1, keepdims=True)
    moved = (samples != 0).any(axis=1).astype(np.float64)
    moved[moved.sum(axis=1) == 0] = 1.0
    fallback = moved / moved.sum(axis=1, keepdims=True)
    return np.where(total > 0, variance / np.where(total > 0, total, 1.0), fallback)
