"""Helpers for the drift method battery: profiles and binned pairs drawn from known populations."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
from scipy import stats

from tether.drift.base import Binned, DriftMethod
from tether.drift.binning import NEW, fold_rare
from tether.drift.thresholds import calibrate
from tether.profile import ColumnProfile, Profile

CATEGORY_SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.04, 0.03, 0.02, 0.01, 0.005, 0.005])
"""A categorical population with a head and a thin tail of rare categories."""


def numeric_reference(n: int, seed: int = 0) -> ColumnProfile:
    """The profile of ``n`` standard normal values (its bins are the reference's quantiles)."""
    rng = np.random.default_rng(seed)
    return Profile.build(pl.DataFrame({"x": rng.normal(size=n)}))["x"]


def normal_bin_shares(edges: tuple[float, ...], shift: float = 0.0) -> np.ndarray:
    """Population shares of the bins ``(-inf, e0), [e0, e1), ..., [ek, inf)`` of N(shift, 1)."""
    cdf = stats.norm.cdf(np.asarray(edges) - shift)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def numeric_binned(reference: np.ndarray, current: np.ndarray, edges: tuple[float, ...]) -> Binned:
    """Binned counts on ``edges`` as :func:`tether.drift.binning.bin_pair` makes them."""
    inner = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    prior = reference + 0.5
    for tail in (0, -1):
        if reference[tail] == 0:
            prior[tail] = 1.0
    return Binned(
        "x",
        "numeric",
        reference,
        current,
        [str(i) for i in range(reference.size)],
        edges=edges,
        positions=np.array([edges[0] - 1.0, *inner, edges[-1] + 1.0]),
        scale=1.0,
        prior=prior,
    )


def categorical_binned(reference: np.ndarray, current: np.ndarray) -> Binned:
    """Binned counts of categories ``c0, c1, ...`` plus an empty ``new`` bucket, folded."""
    labels = [f"c{i}" for i in range(reference.size)]
    binned = Binned(
        "c",
        "categorical",
        np.append(reference, 0.0),
        np.append(current, 0.0),
        [*labels, NEW],
        new=reference.size,
    )
    return fold_rare(binned)


def evaluate(
    method: DriftMethod, binned: Binned, alpha: float, seed: int = 0, resamples: int = 2000
) -> tuple[float, float, float]:
    """``(statistic, threshold, p_value)`` as :func:`tether.drift.column.column_drift` computes."""
    (result,) = calibrate(
        [method.for_bins(binned)], binned, alpha=alpha, resamples=resamples, seed=seed
    )
    return result
