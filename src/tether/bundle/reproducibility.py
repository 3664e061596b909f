"""Reproducing a training run: seed the global random state, re-run, compare the results.

A bundle records the training entry point (``"package.module:function"``) and the seed;
:func:`~tether.bundle.verification.verify` resolves the entry point with
:func:`resolve_entry_point`, calls it as ``function(train, config)`` with the training frame and
the recorded parameters under :func:`seed_everything` with the recorded seed, and compares what
comes out with :func:`compare_predictions` and :func:`compare_metrics`. The data is checked
first: its content hash must equal the recorded one, or the comparison would prove nothing. The
differences between the recorded and the current environment are listed too; they explain most
failures to reproduce.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import random
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from tether.errors import InputError

MAX_SEED = 2**32 - 1
"""Largest seed: NumPy's legacy ``RandomState`` takes 32-bit seeds."""

_ENTRY_POINT = re.compile(r"^(?P<module>\w+(\.\w+)*):(?P<attribute>\w+(\.\w+)*)$")


def seed_everything(seed: int) -> dict[str, str]:
    """Seed every global random number generator a training script may draw from.

    Seeds Python's :mod:`random`, NumPy's legacy global ``RandomState`` (``np.random.seed``,
    what scikit-learn uses for ``random_state=None``; ``np.random.default_rng()`` generators
    are not global and are not affected) and, when it is installed, torch
    (``torch.manual_seed``, which seeds the CPU and every CUDA device); torch is found with
    :func:`importlib.util.find_spec` and never imported when absent. ``PYTHONHASHSEED`` is set
    in ``os.environ``, which only affects child processes (a worker pool, a re-run script): the
    hash seed of the running interpreter was fixed when it started.

    LightGBM and XGBoost have no global seed, and neither reads NumPy's global RNG, so this
    function cannot seed them: pass ``random_state`` to the estimator. With
    ``random_state=None``, LightGBM (4.x ``sklearn.py``) passes nothing to its C++ library,
    which then uses its fixed default seeds (``data_random_seed=1``, ``bagging_seed=3``,
    ``feature_fraction_seed=2``, ...), and XGBoost (3.x) leaves its native ``seed`` at 0, the
    same model as ``random_state=0``; both repeat run to run whatever the global seed, so the
    seed recorded here does not describe them. Multithreaded LightGBM can still differ in the
    last bits across machines and thread counts unless fitted with ``deterministic=True``.
    ``xgboost.cv`` calls ``np.random.seed`` itself, overwriting the global state.

    Returns what was done per library, keys sorted: ``"seeded"``, ``"not installed"``,
    ``"needs random_state on the estimator"`` or ``"set for child processes"``.

    Parameters
    ----------
    seed
        An integer in ``[0, 2**32 - 1]``.

    Example
    -------
    >>> seeding = seed_everything(42)
    >>> first = (random.random(), float(np.random.rand()))
    >>> _ = seed_everything(42)
    >>> (random.random(), float(np.random.rand())) == first
    True
    >>> seeding["numpy"], seeding["PYTHONHASHSEED"]
    ('seeded', 'set for child processes')
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InputError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be in [0, {MAX_SEED}], got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    # The legacy global state is the point: it is what random_state=None estimators draw from.
    np.random.seed(seed)  # noqa: NPY002
    os.environ["PYTHONHASHSEED"] = str(seed)
    done = {"PYTHONHASHSEED": "set for child processes", "numpy": "seeded", "random": "seeded"}
    if _installed("torch"):
        import torch

        torch.manual_seed(seed)
        done["torch"] = "seeded"
    else:
        done["torch"] = "not installed"
    for library in ("lightgbm", "xgboost"):
        installed = _installed(library)
        done[library] = "needs random_state on the estimator" if installed else "not installed"
    return dict(sorted(done.items()))


def compare_predictions(
    recorded: np.ndarray, reproduced: np.ndarray, *, tolerance: float = 1e-6
) -> dict[str, Any]:
    """How far reproduced predictions are from the recorded ones, element by element.

    Returns ``{"rows", "max_abs_diff", "mismatched_rows", "within_tolerance", "tolerance"}``.
    Numeric predictions (scores, probabilities of shape ``(rows, classes)``) match when their
    absolute difference is at most ``tolerance``; NaN matches NaN, and NaN against a number is
    an infinite difference. Other predictions (class labels) must be equal, and
    ``max_abs_diff`` is then None. ``mismatched_rows`` counts rows with any element off.

    Parameters
    ----------
    recorded
        Predictions stored with the model.
    reproduced
        Predictions of the re-trained model on the same rows; same shape.
    tolerance
        Largest absolute difference that still counts as the same prediction.

    Example
    -------
    >>> compare_predictions(np.array([0.1, 0.5]), np.array([0.1, 0.5 + 1e-9]))["within_tolerance"]
    True
    """
    _check_tolerance(tolerance)
    old, new = np.asarray(recorded), np.asarray(reproduced)
    if old.shape != new.shape:
        raise InputError(
            f"reproduced predictions have shape {new.shape}, recorded ones {old.shape}: "
            "they must match"
        )
    if old.ndim == 0:
        raise InputError("predictions must be an array with one row per prediction, got a scalar")
    numeric = all(
        np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_) for a in (old, new)
    )
    if numeric:
        left, right = old.astype(np.float64), new.astype(np.float64)
        diff = np.abs(left - right)
        both_nan = np.isnan(left) & np.isnan(right)
        diff[both_nan] = 0.0
        diff[np.isnan(diff)] = np.inf
        off = diff > tolerance
        max_abs_diff: float | None = float(diff.max()) if diff.size else 0.0
    else:
        off = old != new
        max_abs_diff = None
    mismatched = int(off.reshape(off.shape[0], -1).any(axis=1).sum()) if off.size else 0
    return {
        "rows": int(old.shape[0]),
        "max_abs_diff": max_abs_diff,
        "mismatched_rows": mismatched,
        "within_tolerance": mismatched == 0,
        "tolerance": float(tolerance),
    }


def compare_metrics(
    recorded: dict[str, float], reproduced: dict[str, float], *, tolerance: float = 1e-6
) -> list[dict[str, Any]]:
    """Each metric of the recorded run next to its reproduced value, sorted by metric name.

    Returns one ``{"metric", "recorded", "reproduced", "abs_diff", "within_tolerance"}`` per
    metric in either dict. A metric missing on one side has None there and in ``abs_diff`` and
    is not within tolerance; NaN matches NaN (an undefined metric stayed undefined).

    Parameters
    ----------
    recorded
        Metric name -> value stored with the model.
    reproduced
        Metric name -> value of the re-run.
    tolerance
        Largest absolute difference that still counts as the same value.

    Example
    -------
    >>> for row in compare_metrics({"auc": 0.91, "logloss": 0.3}, {"auc": 0.91, "logloss": 0.2}):
    ...     print(row["metric"], row["within_tolerance"])
    auc True
    logloss False
    """
    _check_tolerance(tolerance)
    rows = []
    for metric in sorted(recorded.keys() | reproduced.keys()):
        old = _metric_value(recorded, metric, "recorded")
        new = _metric_value(reproduced, metric, "reproduced")
        if old is None or new is None:
            abs_diff = None
        elif math.isnan(old) and math.isnan(new):
            abs_diff = 0.0
        elif math.isnan(old) or math.isnan(new):
            abs_diff = math.inf
        else:
            abs_diff = abs(old - new)
        rows.append(
            {
                "metric": metric,
                "recorded": old,
                "reproduced": new,
                "abs_diff": abs_diff,
                "within_tolerance": abs_diff is not None and abs_diff <= tolerance,
            }
        )
    return rows


def resolve_entry_point(spec: str) -> Callable[..., Any]:
    """Import the callable named by ``"package.module:function"``.

    The part after the colon may be dotted (``"pkg.train:Trainer.fit"``), as in Python entry
    points. The module is imported, so its top-level code runs: resolve only specs you trust.

    Parameters
    ----------
    spec
        ``module:attribute``, both made of Python identifiers.

    Example
    -------
    >>> resolve_entry_point("json:dumps")([1, 2])
    '[1, 2]'
    """
    match = _ENTRY_POINT.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise InputError(f"entry point {spec!r} is malformed: it must be 'package.module:function'")
    module_name, attribute = match["module"], match["attribute"]
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise InputError(
                f"entry point {spec!r}: module {module_name!r} is not importable (no module "
                f"named {exc.name!r})"
            ) from exc
        raise InputError(f"entry point {spec!r}: importing {module_name!r} failed ({exc})") from exc
    except Exception as exc:
        # The module is user code: whatever it raises on import, say where it came from.
        raise InputError(
            f"entry point {spec!r}: importing {module_name!r} failed ({type(exc).__name__}: {exc})"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise InputError(
                f"entry point {spec!r}: {getattr(target, '__name__', module_name)!r} has no "
                f"attribute {part!r}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise InputError(
            f"entry point {spec!r} names a {type(target).__name__}, which is not callable"
        )
    return target


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _check_tolerance(tolerance: float) -> None:
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance must be a finite number >= 0, got {tolerance!r}")


def _metric_value(metrics: dict[str, float], metric: str, side: str) -> float | None:
    if metric not in metrics:
        return None
    value = metrics[metric]
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{side} metric {metric!r} is {value!r}; metrics must be numbers") from exc
