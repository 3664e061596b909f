"""Permutation importance: how much worse the model gets when one feature's values are shuffled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.performance.metrics import check_inputs, check_task, check_threshold, resolve

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
"""Metric used when none is given: threshold-free, so importance is not an artifact of a cut."""


def permutation_importance(
    score_fn: Callable[[pl.DataFrame], Any],
    frame: pl.DataFrame,
    y_true: Any,
    *,
    task: str,
    metric: str | None = None,
    features: list[str] | None = None,
    n_repeats: int = 5,
    max_rows: int = 5000,
    threshold: float = 0.5,
    seed: int = 0,
) -> pl.DataFrame:
    """Drop in quality when each feature is shuffled, with the other features left as they are.

    Shuffling a column breaks its link with the target and the other columns while keeping its
    distribution; the drop in the metric (positive when the feature matters, whichever way the
    metric points) is averaged over ``n_repeats`` shuffles, and ``std`` is their spread. A
    random sample of ``max_rows`` rows is used. For speed ``score_fn`` is called once per
    feature, on a frame stacking the ``n_repeats`` shuffled copies. Correlated features share
    their importance: shuffling one leaves its twin to carry the signal.

    Parameters
    ----------
    score_fn
        Maps a raw frame to scores in the conventions of ``task`` (e.g. a pipeline's
        ``predict_proba(frame)[:, 1]``).
    frame
        The model's input rows.
    y_true
        Labels of those rows.
    task
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    metric
        Metric name (default :data:`DEFAULT_METRIC` of the task).
    features
        Columns to shuffle (default: all of ``frame``).
    n_repeats
        Shuffles per feature.
    max_rows
        Rows sampled from ``frame`` (all if it has fewer).
    threshold
        Score at or above which a binary prediction is positive.
    seed
        Seed of the row sample and the shuffles.

    Example
    -------
    >>> frame = pl.DataFrame({"x": [0.1, 0.4, 0.6, 0.9] * 25, "z": [1.0, 0.0] * 50})
    >>> table = permutation_importance(
    ...     lambda f: f["x"].to_numpy(), frame, [0, 0, 1, 1] * 25, task="binary"
    ... )
    >>> table.select("feature", "importance", "baseline").rows()
    [('x', 0.51, 1.0), ('z', 0.0, 1.0)]

    References
    ----------
    Breiman, L. (2001). Random forests. Machine Learning, 45(1), 5-32.
    Fisher, A., Rudin, C. & Dominici, F. (2019). All models are wrong, but many are useful:
    learning a variable's importance by studying an entire class of prediction models
    simultaneously. Journal of Machine Learning Research, 20(177), 1-81.
    """
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"frame is a {type(frame).__name__}; it must be a polars DataFrame")
    labels = np.asarray(y_true)
    if frame.height != len(labels):
        raise InputError(
            f"frame has {frame.height} rows but y_true has {len(labels)}; "
            "they must have one row each"
        )
    check_task(task)
    chosen = resolve(task, [metric or DEFAULT_METRIC[task]])[0]
    check_threshold(threshold)
    features = frame.columns if features is None else features
    unknown = [f for f in features if f not in frame.columns]
    if unknown:
        raise InputError(
            f"features {unknown} are not columns of frame; choose from {frame.columns}"
        )
    for name, value in (("n_repeats", n_repeats), ("max_rows", max_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} is {value!r}; it must be a positive integer")

    rng = np.random.default_rng(seed)
    if frame.height > max_rows:
        rows = np.sort(rng.choice(frame.height, size=max_rows, replace=False))
        frame, labels = frame[rows], labels[rows]
    y, scores = check_inputs(task, labels, score_fn(frame))
    baseline = float(chosen.compute(y, scores, None, threshold))
    direction = 1.0 if chosen.higher_is_better else -1.0
    stacked_y = np.tile(labels, n_repeats)
    seeds = rng.integers(0, 2**63, size=(len(features), n_repeats))

    records = []
    for feature, feature_seeds in zip(features, seeds, strict=True):
        shuffled = pl.concat(
            [frame.with_columns(pl.col(feature).shuffle(int(s))) for s in feature_seeds]
        )
        _, stacked = check_inputs(task, stacked_y, score_fn(shuffled))
        values = np.array(
            [chosen.compute(y, part, None, threshold) for part in np.split(stacked, n_repeats)]
        )
        drops = direction * (baseline - values)
        records.append(
            {
                "feature": feature,
                "importance": float(drops.mean()),
                "std": float(drops.std(ddof=1)) if n_repeats > 1 else 0.0,
                "baseline": baseline,
            }
        )
    table = pl.DataFrame(
        records,
        schema={
            "feature": pl.String,
            "importance": pl.Float64,
            "std": pl.Float64,
            "baseline": pl.Float64,
        },
    )
    return table.sort("importance", descending=True, maintain_order=True)
