"""Model-output drift: what the model says, watched while the labels are still on their way.

Labels often arrive weeks after the prediction, so realized accuracy is the last signal to move.
The model's own outputs move first: the distribution of its scores or predicted classes
(:func:`prediction_drift`) and how sure it is (:func:`confidence_drift`: mean top-class
probability and mean entropy). A model fed inputs it was not trained on tends to become less
confident, or, worse, confidently wrong in one direction; both show here before any label does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import polars as pl
from scipy import special, stats

from tether.errors import InputError
from tether.frame import read

__all__ = [
    "ConfidenceDriftResult",
    "PredictionFrames",
    "confidence_drift",
    "prediction_drift",
]

_SUM_TOLERANCE = 1e-3
"""How far a probability row may sum from 1 (float32 outputs and rounding drift that far)."""


class PredictionFrames(NamedTuple):
    """Reference and current predictions as frames with the same columns, ready for drift."""

    reference: pl.DataFrame
    current: pl.DataFrame


def _as_frame(data: Any, name: str, side: str) -> pl.DataFrame:
    """A 1-D array/list/Series as one column ``name``; a 2-D array as ``name_0``, ``name_1``…;
    any table tether reads as itself."""
    if isinstance(data, pl.Series):
        frame = data.rename(name).to_frame()
    elif isinstance(data, np.ndarray | list | tuple):
        array = np.asarray(data)
        if array.ndim == 1:
            frame = pl.DataFrame({name: array})
        elif array.ndim == 2:
            frame = pl.DataFrame({f"{name}_{k}": array[:, k] for k in range(array.shape[1])})
        else:
            raise InputError(f"{side} must be 1-D or 2-D, got an array of shape {array.shape}")
    else:
        frame = read(data)
    if frame.height == 0 or frame.width == 0:
        raise InputError(f"{side} is empty; pass at least one prediction")
    return frame


def prediction_drift(
    reference_scores: Any,
    current_scores: Any,
    *,
    name: str = "prediction",
    kind: Literal["auto", "score", "class"] = "auto",
) -> PredictionFrames:
    """The model's reference and current predictions as frames for the univariate drift engine.

    Prediction drift is univariate drift on the model's output column(s), so this function does
    not compute a statistic of its own: it puts the predictions in the shape
    :func:`tether.drift` takes (same columns on both sides, scores as floats, predicted classes
    as categories), and the engine's calibrated methods, thresholds and reasons apply unchanged.
    Scores (probabilities, regression outputs) are compared as distributions; predicted classes
    as category shares, which is the class-distribution drift of a classifier.

    Parameters
    ----------
    reference_scores, current_scores
        Predictions: a 1-D array, list or polars Series (one column called ``name``), a 2-D
        array (columns ``name_0``, ``name_1``…, e.g. class probabilities), or any table tether
        reads (its columns as they are).
    name
        Column name for array input.
    kind
        ``"score"``: numeric outputs, compared as distributions; ``"class"``: predicted labels,
        compared as categories (integer class ids included); ``"auto"``: floats are scores,
        everything else (integers, booleans, strings) classes.

    Examples
    --------
    >>> ref, cur = prediction_drift([0, 1, 1, 0], [1, 1, 1, 0])
    >>> ref.get_column("prediction").to_list(), cur.dtypes
    (['0', '1', '1', '0'], [String])
    >>> prediction_drift(np.array([[0.2, 0.8]]), np.array([[0.6, 0.4]])).current.columns
    ['prediction_0', 'prediction_1']
    """
    if kind not in ("auto", "score", "class"):
        raise InputError(f"kind must be 'auto', 'score' or 'class', got {kind!r}")
    reference = _as_frame(reference_scores, name, "reference_scores")
    current = _as_frame(current_scores, name, "current_scores")
    if reference.columns != current.columns:
        raise InputError(
            f"reference_scores has columns {reference.columns} but current_scores has "
            f"{current.columns}; pass predictions of the same model output"
        )
    casts = []
    for column in reference.columns:
        dtypes = (reference.schema[column], current.schema[column])
        floats = all(d.is_float() or d == pl.Null for d in dtypes)
        if kind == "class" or (kind == "auto" and not floats):
            casts.append(pl.col(column).cast(pl.String))
        elif all(d.is_numeric() or d == pl.Boolean or d == pl.Null for d in dtypes):
            casts.append(pl.col(column).cast(pl.Float64))
        else:
            raise InputError(
                f"column {column!r} is {dtypes[0]} / {dtypes[1]}, not numeric; pass kind='class' "
                "to compare predicted labels"
            )
    return PredictionFrames(reference.select(casts), current.select(casts))


def _probabilities(data: Any, side: str) -> np.ndarray:
    """A (rows, classes) float64 matrix of probabilities, checked."""
    if isinstance(data, np.ndarray | list | tuple | pl.Series):
        matrix = np.asarray(data, dtype=np.float64)
    else:
        frame = read(data)
        if frame.width == 0:
            raise InputError(f"{side} has no columns; pass one probability column per class")
        bad = [c for c, d in frame.schema.items() if not (d.is_numeric() or d == pl.Null)]
        if bad:
            raise InputError(
                f"{side}: columns {bad} are not numeric; pass only probability columns"
            )
        matrix = frame.cast(pl.Float64).to_numpy()
    if matrix.ndim == 1 or (matrix.ndim == 2 and matrix.shape[1] == 1):
        # One column: the probability of the positive class of a binary classifier.
        positive = matrix.reshape(-1)
        matrix = np.column_stack([1.0 - positive, positive])
    if matrix.ndim != 2:
        raise InputError(f"{side} must be a (rows, classes) matrix, got shape {matrix.shape}")
    if matrix.shape[0] < 2:
        raise InputError(
            f"{side} has {matrix.shape[0]} rows; a confidence comparison needs at least 2 per side"
        )
    finite = np.isfinite(matrix)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise InputError(
            f"{side}: row {row}, class {col} is {matrix[row, col]}; probabilities must be finite"
        )
    out_of_range = (matrix < -1e-9) | (matrix > 1.0 + 1e-9)
    if out_of_range.any():
        row, col = np.argwhere(out_of_range)[0]
        raise InputError(
            f"{side}: row {row}, class {col} is {matrix[row, col]:.6g}; probabilities must be "
            "in [0, 1]"
        )
    sums = matrix.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise InputError(
            f"{side}: row {row} sums to {sums[row]:.6g}; each row of class probabilities must "
            "sum to 1 (pass predict_proba output)"
        )
    return np.clip(matrix, 0.0, 1.0)


@dataclass(frozen=True)
class ConfidenceDriftResult:
    """What :func:`confidence_drift` found: one row per measure in ``metrics``.

    Columns of ``metrics``: ``metric`` (``max_probability`` or ``entropy``), ``reference`` and
    ``current`` means, ``difference`` (current minus reference) with its ``ci_low``/``ci_high``
    (two-sided ``1 - alpha`` Welch interval), ``p_value`` (Welch t-test), ``effect_size``
    (Cohen's d: the difference over the root mean of the two variances) and ``drifted``.
    """

    metrics: pl.DataFrame = field(repr=False)
    drifted: bool
    alpha: float
    min_effect: float
    n_reference: int
    n_current: int
    reason: str = ""

    def to_frame(self) -> pl.DataFrame:
        """The per-measure table."""
        return self.metrics

    def to_dict(self) -> dict[str, Any]:
        """The result as plain Python values (JSON-ready)."""
        return {
            "method": "confidence",
            "drifted": self.drifted,
            "alpha": self.alpha,
            "min_effect": self.min_effect,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "metrics": self.metrics.to_dicts(),
            "reason": self.reason,
        }


def _welch(
    reference: np.ndarray, current: np.ndarray, alpha: float
) -> tuple[float, float, float, float, float]:
    """Difference of means, its interval, the two-sided p-value, and Cohen's d."""
    n1, n2 = reference.size, current.size
    v1, v2 = float(reference.var(ddof=1)), float(current.var(ddof=1))
    difference = float(current.mean() - reference.mean())
    se = math.sqrt(v1 / n1 + v2 / n2)
    pooled = math.sqrt((v1 + v2) / 2.0)
    if pooled > 0:
        effect = difference / pooled
    else:
        effect = 0.0 if difference == 0 else math.copysign(math.inf, difference)
    if se == 0.0:
        # Both sides constant: the difference is known exactly.
        return difference, difference, difference, float(difference == 0.0), effect
    df = (v1 / n1 + v2 / n2) ** 2 / (
        (v1 / n1) ** 2 / max(n1 - 1, 1) + (v2 / n2) ** 2 / max(n2 - 1, 1)
    )
    t = difference / se
    p_value = float(2.0 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
    return difference, difference - half, difference + half, p_value, effect


def confidence_drift(
    reference_proba: Any,
    current_proba: Any,
    *,
    alpha: float = 0.01,
    min_effect: float = 0.1,
) -> ConfidenceDriftResult:
    """Did the classifier become more or less sure of itself?

    For each row of a probability matrix: the top-class probability, and the entropy of the
    row divided by ``log(classes)`` (0: certain, 1: a uniform guess, comparable across class
    counts). Their means are compared between reference and current with a Welch t-test
    (unequal variances; the row means are averages of thousands of bounded values, so the
    t approximation is accurate at the sizes monitoring sees) and a two-sided ``1 - alpha``
    interval on the difference. At large sizes every tiny difference is significant, so a
    measure drifts only when ``p < alpha`` *and* its effect size (Cohen's d) reaches
    ``min_effect``. Use it as the first warning when labels are late; it says the model's
    inputs changed in a way the model noticed, not that accuracy fell (check that with
    performance estimation).

    Parameters
    ----------
    reference_proba, current_proba
        Class probabilities, rows summing to 1: a numpy ``(rows, classes)`` array, a table of
        probability columns, or a 1-D array / single column of positive-class probabilities of a
        binary classifier.
    alpha
        Significance level of the test and one minus the interval's confidence.
    min_effect
        Smallest absolute Cohen's d that counts as drift (0.1 is small; 0.5 medium).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sure = rng.dirichlet([8.0, 1.0, 1.0], size=2_000)
    >>> unsure = rng.dirichlet([2.0, 1.0, 1.0], size=2_000)
    >>> confidence_drift(sure, rng.dirichlet([8.0, 1.0, 1.0], size=2_000)).drifted
    False
    >>> result = confidence_drift(sure, unsure)
    >>> result.drifted
    True
    >>> result.metrics.select("metric", pl.col("difference").round(2), "drifted").rows()
    [('max_probability', -0.19, True), ('entropy', 0.26, True)]

    References
    ----------
    NannyML, "Estimation of performance" (confidence-based: CBPE) and Evidently's prediction
    drift presets motivate watching outputs before labels; B. L. Welch, "The generalization of
    'Student's' problem when several different population variances are involved",
    Biometrika 34, 1947.
    """
    if not 0.0 < alpha < 0.5:
        raise InputError(f"alpha must be between 0 and 0.5, got {alpha}")
    if min_effect < 0:
        raise InputError(f"min_effect must be >= 0, got {min_effect}")
    reference = _probabilities(reference_proba, "reference_proba")
    current = _probabilities(current_proba, "current_proba")
    if reference.shape[1] != current.shape[1]:
        raise InputError(
            f"reference_proba has {reference.shape[1]} classes but current_proba has "
            f"{current.shape[1]}; pass outputs of the same classifier"
        )
    classes = reference.shape[1]
    scale = math.log(classes)
    measures = {
        "max_probability": (reference.max(axis=1), current.max(axis=1)),
        "entropy": (
            special.entr(reference).sum(axis=1) / scale,
            special.entr(current).sum(axis=1) / scale,
        ),
    }
    rows = []
    for metric, (ref, cur) in measures.items():
        difference, low, high, p_value, effect = _welch(ref, cur, alpha)
        drifted = p_value < alpha and abs(effect) >= min_effect
        rows.append(
            (
                metric,
                float(ref.mean()),
                float(cur.mean()),
                difference,
                low,
                high,
                p_value,
                effect,
                drifted,
            )
        )
    metrics = pl.DataFrame(
        rows,
        schema={
            "metric": pl.String,
            "reference": pl.Float64,
            "current": pl.Float64,
            "difference": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "p_value": pl.Float64,
            "effect_size": pl.Float64,
            "drifted": pl.Boolean,
        },
        orient="row",
    )
    drifted = bool(metrics.get_column("drifted").any())
    parts = [
        f"{m} {r:.3f} -> {c:.3f} (d={e:+.2f}{', drifted' if f else ''})"
        for m, r, c, e, f in metrics.select(
            "metric", "reference", "current", "effect_size", "drifted"
        ).rows()
    ]
    return ConfidenceDriftResult(
        metrics=metrics,
        drifted=drifted,
        alpha=alpha,
        min_effect=min_effect,
        n_reference=reference.shape[0],
        n_current=current.shape[0],
        reason="; ".join(parts),
    )
