"""Direct Loss Estimation (DLE) for regressors."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import polars as pl

from tether.drift.features import (
    FeatureColumn,
    as_codes,
    column_kind,
    current_columns,
    feature_columns,
    ranked_levels,
)
from tether.errors import FormatError, InputError, UnsupportedVersionError, first_line
from tether.frame import Data, read
from tether.performance.estimation.base import (
    PerformanceEstimate,
    PerformanceEstimator,
    check_cost,
)
from tether.performance.metrics import check_finite, check_inputs

FORMAT = "tether-dle"
FORMAT_VERSION = 1

SUPPORTED = ("mae", "rmse")
"""Metrics DLE can estimate."""

TARGETS = {"mae": "absolute", "rmse": "squared"}
"""The per-row loss a nanny model learns for each metric."""

MAX_LEVELS = 255
"""Most categories of a column the nanny model tells apart; the rest share one code."""

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    # the nanny's data is small and the monitor shares the machine: threads contend more
    # than they help (measured: 2 threads often slower than 1 on a busy 2-core machine)
    "num_threads": 1,
    "rounds": 100,
}
"""Nanny model settings: LightGBM parameters plus ``rounds``, the number of trees."""


class DLE(PerformanceEstimator):
    """Direct Loss Estimation: a regressor's MAE and RMSE from its inputs and predictions.

    A second model, the nanny, learns on the reference how large the monitored model's error
    is where: gradient-boosted trees (LightGBM) on the model's features plus its prediction,
    with the row's absolute error as target (and its squared error, for RMSE). Regressed
    with squared loss, the nanny predicts the conditional mean ``E[|y - ŷ| | x]``, so the mean
    of its predictions over a window estimates the window's MAE (``sqrt`` of the mean squared
    one, its RMSE), however the inputs move. The nanny is fitted with LightGBM's default
    settings (as NannyML's is) and a fixed number of trees, without early stopping: a
    window's estimate averages the nanny over thousands of rows, so its row-level noise
    averages out while the shrinkage of an early-stopped model does not (stopping early on
    the noisy per-row losses keeps its predictions near the reference mean, and measurably
    blunts the estimate under shift). A second nanny fitted without ``holdout`` reference
    rows measures on them how far each row's loss scatters around the prediction relative to
    its size (``kappa = sum (loss - pred)^2 / sum pred^2``); assuming the error distribution
    keeps its shape and only its scale changes with ``x``, the realized MAE of a window
    scatters around the estimate with variance ``kappa * sum pred_i^2 / n^2`` (RMSE through
    the delta method). This is conservative: the scatter includes the nanny's
    own error.

    With a cost matrix (``over``, ``under``: cost per unit of over- and under-prediction)
    another nanny learns each row's cost directly, which needs no assumption about the sign of
    the errors.

    The assumption is no concept drift: ``P(y | x)`` unchanged, so the errors the nanny learnt
    where it saw data still hold. Regions of inputs the reference lacks are extrapolated by
    the trees. A realized metric outside the band once labels arrive is a concept drift
    signal (see :func:`~tether.performance.estimation.divergence.divergence`).

    Parameters
    ----------
    metrics
        Metric names from :data:`SUPPORTED` (default both).
    features
        The model's feature columns the nanny learns from; default every column of the
        reference but date and time columns (a clock separates any window from its reference).
    cost
        Cost per unit of ``over``- and ``under``-prediction; adds the expected cost.
    chunk_size
        Rows per reference chunk for the alert thresholds; default a tenth of the reference.
    sigmas
        Width of the band and of the thresholds, in standard deviations.
    min_effect
        Smallest distance of an alert threshold from the reference mean, as a share of it.
    holdout
        Share of the reference held out to measure ``kappa``.
    params
        LightGBM settings that replace those of :data:`DEFAULT_PARAMS`.
    seed
        Seed of the held-out split and of LightGBM.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> def window(n, shift=0.0):
    ...     x = rng.normal(shift, 1.0, n)
    ...     y = 2 * x + rng.normal(0, 0.5 + np.abs(x), n)  # larger errors for larger |x|
    ...     return pl.DataFrame({"x": x}), y, 2 * x
    >>> X_ref, y_ref, pred_ref = window(20_000)
    >>> dle = DLE().fit(X_ref, y_ref, pred_ref)
    >>> X_new, y_new, pred_new = window(5_000, shift=1.0)  # covariate shift only
    >>> result, realized = dle.estimate(X_new, pred_new), dle.realized(y_new, pred_new)
    >>> for name, m in result.metrics.items():
    ...     print(f"{name}: estimated {m.value:.2f} [{m.low:.2f}, {m.high:.2f}], "
    ...           f"realized {realized[name]:.2f}, alert {m.alert}")
    mae: estimated 1.34 [1.29, 1.38], realized 1.34, alert True
    rmse: estimated 1.86 [1.78, 1.93], realized 1.87, alert True

    References
    ----------
    NannyML (2022). Direct loss estimation (DLE). NannyML documentation, "How it works:
    performance estimation". https://nannyml.readthedocs.io
    Ke, G. et al. (2017). LightGBM: a highly efficient gradient boosting decision tree. NeurIPS.
    """

    tasks: ClassVar[tuple[str, ...]] = ("regression",)
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "mae": (0.0, math.inf),
        "rmse": (0.0, math.inf),
    }

    def __init__(
        self,
        metrics: tuple[str, ...] | list[str] | None = None,
        *,
        features: list[str] | None = None,
        cost: Mapping[str, float] | None = None,
        chunk_size: int | None = None,
        sigmas: float = 3.0,
        min_effect: float = 0.05,
        holdout: float = 0.2,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(metrics, chunk_size=chunk_size, sigmas=sigmas, min_effect=min_effect)
        self.features = features
        self.cost = cost
        self.holdout = holdout
        self.params = params
        self.seed = seed

    def _check_params(self) -> None:
        super()._check_params()
        if not (isinstance(self.holdout, float) and 0.0 < self.holdout < 1.0):
            raise InputError(f"DLE: holdout is {self.holdout!r}; it must be a number in (0, 1)")
        if self.params is not None and not isinstance(self.params, Mapping):
            raise InputError(f"DLE: params is a {type(self.params).__name__}; pass a mapping")

    def _settings(self) -> tuple[dict[str, Any], int]:
        """LightGBM parameters and the number of trees."""
        merged = {**DEFAULT_PARAMS, **(self.params or {})}
        rounds = merged.pop("rounds")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise InputError(f"DLE: params['rounds'] is {rounds!r}; it must be a positive int")
        merged.update(verbose=-1, seed=self.seed, deterministic=True, force_row_wise=True)
        return merged, rounds

    # ---------------------------------------------------------------------------- fitting

    def fit(self, reference: Data, y_true: Any, y_pred: Any) -> DLE:
        """Train the nanny models on the reference features, labels and model predictions."""
        self._check_params()
        self.metric_names_ = (
            list(SUPPORTED) if self.metrics is None else self._metric_names("regression", SUPPORTED)
        )
        self.cost_ = check_cost(self.cost, "regression")
        frame = read(reference)
        schema = feature_columns(frame, self.features, "DLE")
        y, pred = check_inputs("regression", y_true, y_pred)
        if len(y) != frame.height:
            raise InputError(
                f"DLE: y_true has {len(y)} rows but the reference has {frame.height}; "
                "they must have one row each"
            )
        rows = len(y)
        held = max(1, round(self.holdout * rows))
        leaf = int(self._settings()[0]["min_data_in_leaf"])
        if rows - held < 2 * leaf:
            raise InputError(
                f"DLE: the reference has {rows} rows; the nanny model (min_data_in_leaf={leaf}) "
                f"needs at least {math.ceil(2 * leaf / (1 - self.holdout)) + 1}"
            )
        self.task_ = "regression"
        self.schema_ = schema
        self.levels_ = {
            c.name: ranked_levels(frame.get_column(c.name).cast(pl.String), MAX_LEVELS)[0]
            for c in schema
            if c.kind == "categorical"
        }
        x = self._matrix(frame, pred)
        targets = {
            TARGETS[name]: _loss(TARGETS[name], y, pred, None) for name in self.metric_names_
        }
        if self.cost_ is not None:
            targets["cost"] = _loss("cost", y, pred, self.cost_)
        order = np.random.default_rng(self.seed).permutation(rows)
        test, train = order[:held], order[held:]
        self.models_ = {}
        self.kappa_ = {}
        for name, target in targets.items():
            self.models_[name], self.kappa_[name] = self._fit_nanny(
                x, target, train, test, self._floored(name)
            )
        self._fit_thresholds(y, pred)
        return self

    def _floored(self, target: str) -> bool:
        """Whether the nanny's predictions of ``target`` are floored at 0: losses are never
        negative; a cost is, when the cost matrix assigns value (a negative cost)."""
        return target != "cost" or min((self.cost_ or {}).values(), default=0.0) >= 0.0

    def _fit_nanny(
        self,
        x: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
        floored: bool,
    ) -> tuple[Any, float]:
        """A booster on all rows, and ``kappa`` measured on ``test`` by one fitted on ``train``."""
        import lightgbm as lgb

        params, rounds = self._settings()
        categorical = [i for i, c in enumerate(self.schema_) if c.kind == "categorical"]

        def booster(rows: np.ndarray | slice) -> Any:
            data = lgb.Dataset(x[rows], target[rows], categorical_feature=categorical)
            return lgb.train(params, data, num_boost_round=rounds)

        held = booster(train).predict(x[test])
        if floored:
            held = np.clip(held, 0.0, None)
        scale = float((held**2).sum())
        kappa = float(((target[test] - held) ** 2).sum()) / scale if scale > 0 else 0.0
        return booster(slice(None)), kappa

    def _matrix(self, frame: pl.DataFrame, pred: np.ndarray) -> np.ndarray:
        """Features as float64 (categories as codes, missing as NaN), the prediction last."""
        return np.column_stack([as_codes(frame, self.schema_, self.levels_), pred])

    def estimate(self, current: Data, y_pred: Any) -> PerformanceEstimate:
        """Estimated metrics (and expected cost) of one window of features and predictions."""
        self._check_fitted()
        frame = current_columns(read(current), self.schema_, "DLE")
        try:
            pred = np.asarray(y_pred, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("DLE: y_pred must be numbers") from None
        if pred.ndim != 1 or len(pred) != frame.height:
            raise InputError(
                f"DLE: y_pred has shape {pred.shape} but the window has {frame.height} rows; "
                "pass one prediction per row"
            )
        check_finite("y_pred", pred)
        x = self._matrix(frame, pred)
        n = frame.height
        predicted = {}
        for name, model in self.models_.items():
            found = model.predict(x)
            predicted[name] = np.clip(found, 0.0, None) if self._floored(name) else found
        values: dict[str, float] = {}
        stds: dict[str, float] = {}
        if "mae" in self.metric_names_:
            loss = predicted["absolute"]
            values["mae"] = float(loss.mean())
            stds["mae"] = math.sqrt(self.kappa_["absolute"] * float((loss**2).sum())) / n
        if "rmse" in self.metric_names_:
            loss = predicted["squared"]
            rmse = math.sqrt(float(loss.mean()))
            mse_std = math.sqrt(self.kappa_["squared"] * float((loss**2).sum())) / n
            values["rmse"] = rmse
            stds["rmse"] = mse_std / (2.0 * rmse) if rmse > 0 else math.nan
        cost = None
        if "cost" in predicted:
            row_cost = predicted["cost"]
            total = float(row_cost.sum())
            cost = {
                "total": total,
                "per_prediction": total / n,
                "std": math.sqrt(self.kappa_["cost"] * float((row_cost**2).sum())),
                "rows": n,
                "outcomes": None,
            }
        return self._estimate(n, values, stds, None, cost)

    def min_effect_of(self, metric: str) -> float:
        """The practical floor of ``metric``'s thresholds: ``min_effect`` of its reference mean."""
        return float(self.min_effect) * self.reference_[metric]["mean"]

    # ---------------------------------------------------------------------------- state

    def to_bytes(self) -> bytes:
        """The fitted estimator as UTF-8 JSON: parameters, statistics, and each nanny model in
        LightGBM's own text format (nothing pickled)."""
        self._check_fitted()
        empty = pl.DataFrame(schema={c.name: c.dtype for c in self.schema_})
        buffer = io.BytesIO()
        empty.write_ipc(buffer)
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": {
                "metrics": None if self.metrics is None else list(self.metrics),
                "features": None if self.features is None else list(self.features),
                "cost": None if self.cost is None else dict(self.cost),
                "chunk_size": self.chunk_size,
                "sigmas": self.sigmas,
                "min_effect": self.min_effect,
                "holdout": self.holdout,
                "params": None if self.params is None else dict(self.params),
                "seed": self.seed,
            },
            "state": {
                **self._reference_state(),
                "schema": base64.b64encode(buffer.getvalue()).decode("ascii"),
                "kinds": [c.kind for c in self.schema_],
                "levels": self.levels_,
                "kappa": self.kappa_,
                "models": {name: m.model_to_string() for name, m in self.models_.items()},
            },
        }
        return json.dumps(document, allow_nan=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> DLE:
        """A fitted estimator from :meth:`to_bytes`' output; ``FormatError`` when malformed."""
        import lightgbm as lgb

        try:
            document = json.loads(data)
        except (ValueError, TypeError) as exc:
            raise FormatError(f"DLE state: not JSON ({first_line(exc)})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            got = document.get("format") if isinstance(document, dict) else None
            raise FormatError(f"DLE state: format must be {FORMAT!r}, got {got!r}")
        version = document.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise FormatError(f"DLE state: format_version must be an integer >= 1, got {version!r}")
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"DLE state has format_version {version}, this tether reads up to "
                f"{FORMAT_VERSION}; upgrade tether to read it"
            )
        try:
            state = document["state"]
            estimator = cls(**document["params"])
            estimator._check_params()
            estimator._load_reference_state(state)
            estimator.cost_ = check_cost(estimator.cost, "regression")
            schema = pl.read_ipc(io.BytesIO(base64.b64decode(state["schema"]))).schema
            kinds = list(state["kinds"])
            if len(kinds) != len(schema) or any(
                kind not in ("empty", column_kind(dtype))
                for kind, dtype in zip(kinds, schema.values(), strict=False)
            ):
                raise ValueError("schema and kinds disagree")
            estimator.schema_ = [
                FeatureColumn(name, kind, dtype)
                for (name, dtype), kind in zip(schema.items(), kinds, strict=True)
            ]
            estimator.levels_ = {str(k): [str(v) for v in vs] for k, vs in state["levels"].items()}
            estimator.kappa_ = {str(k): float(v) for k, v in state["kappa"].items()}
            estimator.models_ = {
                str(name): lgb.Booster(model_str=text) for name, text in state["models"].items()
            }
        except (KeyError, TypeError, ValueError, InputError, pl.exceptions.PolarsError) as exc:
            raise FormatError(
                f"DLE state: missing or malformed field ({first_line(exc)})"
            ) from None
        except lgb.basic.LightGBMError as exc:
            raise FormatError(f"DLE state: a nanny model is corrupt ({first_line(exc)})") from None
        return estimator


def _loss(
    kind: str, y: np.ndarray, pred: np.ndarray, cost: Mapping[str, float] | None
) -> np.ndarray:
    """Each row's loss: absolute or squared error, or its cost (over- or under-prediction)."""
    error = pred - y
    if kind == "absolute":
        return np.abs(error)
    if kind == "squared":
        return error**2
    assert cost is not None
    return cost.get("over", 0.0) * np.clip(error, 0.0, None) + cost.get("under", 0.0) * np.clip(
        -error, 0.0, None
    )
