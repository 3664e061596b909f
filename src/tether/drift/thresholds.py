"""Thresholds that mean the same at any sample size, and multiple-testing corrections.

A statistic alone says nothing: the Jensen-Shannon distance between two samples of one
population is 0.05 at a thousand rows and 0.002 at a million. The threshold of a method on a
column is therefore the ``1 - alpha`` quantile of its statistic under the null that the current
data is drawn from the reference's population, *at the current sample size*, with the
reference's own sampling noise included:

1. draw population bin shares ``p* ~ Dirichlet(prior)``, where ``prior`` is the reference
   counts plus 0.5 (:attr:`~tether.drift.base.Binned.prior`; the reference is itself a finite
   sample, and this is the posterior of its population under the Jeffreys prior; open tails
   the reference never reached get 1, new categories their Good-Turing mass). For
   quantile-binned numeric references, whose counts vary less than a multinomial's, this is
   conservative;
2. draw ``current* ~ Multinomial(n_current, p*)`` and keep the reference side as observed;
3. evaluate the vectorized statistic over all ``B`` resampled pairs (``B = 2000`` by default,
   fixed seed), in chunks of at most :data:`CHUNK_CELLS` cells so memory stays flat at
   thousands of categories;
4. the p-value is ``(1 + #{null >= observed}) / (B + 1)``. Beyond the largest resampled value
   (p-values below ``1 / (B + 1)``, which Holm needs across many columns) the null is extended
   by a scaled chi-square ``g * chi2(h)`` fitted on ``statistic ** tail_power`` by matching the
   mean and variance of the draws (Satterthwaite), and its survival function gives the p-value.
   The threshold is the value beyond which the p-value is below ``alpha``, so "statistic above
   threshold" and "p-value below alpha" always agree.

Categorical columns are tested on every category of either side, rare ones folded on their
pooled counts (:func:`~tether.drift.binning.fold_rare`), and their null is the permutation
null instead: each category's pooled count is split at random between the two sides
(multivariate hypergeometric), which is exact for any statistic. The Dirichlet posterior above
treats each category on its own; with a long tail of categories it believes the reference's
lucky rare categories (those seen 5 to 9 times in 100,000 Zipf values hold 14% less share in
fresh data) and raises false alarms at large current sizes. The permutation null depends on
the current counts, so its cache entries serve repeated calls on the same data only.

Where an analytic null is valid (chi-square homogeneity with every expected count at least 5)
it is used directly (:meth:`~tether.drift.base.DriftMethod.analytic_null`).

The resampled null draws are cached (a bounded LRU dict of :data:`CACHE_SIZE` entries) per
reference column (a digest of its binned counts and prior), method and its parameters,
``n_current``, ``B`` and seed; ``alpha`` is not part of the key since one set of draws serves
every ``alpha``. Windows of equal size against one reference therefore resample once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from scipy import stats

from tether.drift.base import Binned, DriftMethod

DEFAULT_RESAMPLES = 2000
"""Resampled pairs per null distribution."""

CHUNK_CELLS = 2_000_000
"""Most resampled counts (draws times bins) held in memory at once."""

CACHE_SIZE = 1024
"""Null distributions kept in the cache (each is ``B`` floats)."""

_CACHE: OrderedDict[tuple[object, ...], NullDistribution] = OrderedDict()


class NullDistribution:
    """Resampled values of a statistic under the null, with a scaled chi-square for the tail.

    Parameters
    ----------
    draws
        The statistic on each resampled pair.
    tail_power
        The power of the statistic that the scaled chi-square is fitted on.

    Example
    -------
    >>> null = NullDistribution(np.random.default_rng(0).chisquare(3, 2000), tail_power=1.0)
    >>> round(null.threshold(0.05), 1), round(null.p_value(7.8), 2), null.p_value(40.0) < 1e-6
    (7.9, 0.05, True)
    """

    def __init__(self, draws: np.ndarray, tail_power: float) -> None:
        self.draws = np.sort(np.asarray(draws, dtype=np.float64))
        self.tail_power = tail_power
        scaled = self.draws**tail_power
        mean, variance = float(scaled.mean()), float(scaled.var())
        if mean > 0 and variance > 0:
            self._g: float | None = variance / (2.0 * mean)
            self._h = 2.0 * mean * mean / variance
        else:
            self._g, self._h = None, 0.0

    @property
    def resamples(self) -> int:
        return int(self.draws.size)

    def _tail_sf(self, value: float) -> float:
        if self._g is None:
            return 0.0 if value > self.draws[-1] else 1.0
        return float(stats.chi2.sf(value**self.tail_power / self._g, self._h))

    def _tail_isf(self, alpha: float) -> float:
        if self._g is None:
            return float(self.draws[-1])
        return float((self._g * stats.chi2.isf(alpha, self._h)) ** (1.0 / self.tail_power))

    def p_value(self, value: float) -> float:
        """``(1 + #{draws >= value}) / (B + 1)``, or the fitted tail beyond every draw."""
        # A relative tolerance so that equal statistics computed in another order count as ties.
        tolerance = 1e-9 * abs(value) + 1e-15
        above = self.resamples - int(np.searchsorted(self.draws, value - tolerance, side="left"))
        if above > 0:
            return (1.0 + above) / (self.resamples + 1.0)
        return min(1.0 / (self.resamples + 1.0), self._tail_sf(value))

    def threshold(self, alpha: float) -> float:
        """The value a statistic must exceed for its p-value to be below ``alpha``."""
        # p < alpha  <=>  #{draws >= value} <= allowed, the largest integer below alpha(B+1) - 1.
        allowed = int(np.ceil(alpha * (self.resamples + 1.0) - 1.0)) - 1
        if allowed >= 0:
            return float(self.draws[self.resamples - 1 - allowed])
        return max(float(self.draws[-1]), self._tail_isf(alpha))


def _digest(binned: Binned) -> str:
    assert binned.prior is not None
    hasher = hashlib.blake2b(digest_size=16)
    for array in (binned.reference, binned.prior):
        hasher.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    if binned.null == "permutation":
        hasher.update(np.ascontiguousarray(binned.current, dtype=np.float64).tobytes())
    return hasher.hexdigest()


def _draw_current(binned: Binned, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` current count vectors: shares from ``Dirichlet(prior)``, then a multinomial."""
    prior = binned.prior
    assert prior is not None
    gamma = rng.standard_gamma(np.broadcast_to(prior, (size, prior.size)))
    population = gamma / gamma.sum(axis=1, keepdims=True)
    return rng.multinomial(binned.n_current, population).astype(np.float64)


def _draw_split(
    binned: Binned, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` random splits of each bin's pooled count into reference and current counts."""
    pooled = np.rint(binned.reference + binned.current).astype(np.int64)
    reference = rng.multivariate_hypergeometric(
        pooled, binned.n_reference, size=size, method="marginals"
    ).astype(np.float64)
    return reference, pooled - reference


def null_distributions(
    methods: Sequence[DriftMethod], binned: Binned, *, resamples: int, seed: int
) -> list[NullDistribution]:
    """The null distribution of each method's statistic on this column, at its current size.

    Methods already in the cache are not resampled; the others share one set of draws.
    """
    n_current = binned.n_current
    digest = _digest(binned)
    keys = [(m.key(), digest, n_current, resamples, seed) for m in methods]
    found = {i: _CACHE[key] for i, key in enumerate(keys) if key in _CACHE}
    missing = [i for i in range(len(keys)) if i not in found]
    if missing:
        assert binned.prior is not None
        rng = np.random.default_rng([seed, n_current, binned.bins])
        chunk = max(1, min(resamples, CHUNK_CELLS // max(binned.bins, 1)))
        draws: list[list[np.ndarray]] = [[] for _ in missing]
        for start in range(0, resamples, chunk):
            size = min(chunk, resamples - start)
            if binned.null == "permutation":
                reference, current = _draw_split(binned, size, rng)
            else:
                reference, current = binned.reference, _draw_current(binned, size, rng)
            for slot, i in enumerate(missing):
                draws[slot].append(methods[i].statistic(reference, current))
        for slot, i in enumerate(missing):
            found[i] = NullDistribution(np.concatenate(draws[slot]), methods[i].tail_power)
    # Store and refresh only after every answer is in hand: evicting while answers are still
    # being read could drop one this call needs.
    for i, key in enumerate(keys):
        _CACHE[key] = found[i]
        _CACHE.move_to_end(key)
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return [found[i] for i in range(len(keys))]


def calibrate(
    methods: Sequence[DriftMethod], binned: Binned, *, alpha: float, resamples: int, seed: int
) -> list[tuple[float, float, float]]:
    """``(statistic, threshold, p_value)`` of each method on this column at level ``alpha``.

    Methods must already be set up for the bins (:meth:`~tether.drift.base.DriftMethod.for_bins`).
    Analytic nulls are used where a method offers one; the rest share one resampled null.

    >>> from tether.drift.chi2 import ChiSquare
    >>> from tether.drift.ks import KolmogorovSmirnov
    >>> binned = Binned("x", "numeric", np.array([250.0] * 4), np.array([180.0, 240, 260, 320]),
    ...                 ["a", "b", "c", "d"])
    >>> [(round(s, 3), round(t, 3), round(p, 3)) for s, t, p in
    ...  calibrate([KolmogorovSmirnov()], binned, alpha=0.01, resamples=2000, seed=0)]
    [(0.08, 0.06, 0.001)]
    """
    observed = [float(m.statistic(binned.reference, binned.current)) for m in methods]
    analytic = [m.analytic_null(binned) for m in methods]
    resampled = [m for m, null in zip(methods, analytic, strict=True) if null is None]
    nulls = iter(null_distributions(resampled, binned, resamples=resamples, seed=seed))
    result = []
    for value, exact in zip(observed, analytic, strict=True):
        if exact is None:
            null = next(nulls)
            result.append((value, null.threshold(alpha), null.p_value(value)))
        else:
            isf, sf = exact.isf, exact.sf  # type: ignore[attr-defined]
            result.append((value, float(isf(alpha)), float(sf(value))))
    return result


def clear_cache() -> None:
    """Forget every cached null distribution."""
    _CACHE.clear()


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise error rate ``alpha``.

    The p-values are sorted; the ``i``-th smallest (from 0) is rejected while it is at most
    ``alpha / (m - i)``, and testing stops at the first that is not. The chance that *any*
    column without drift is flagged stays below ``alpha``, whatever the dependence between
    columns; it is uniformly more powerful than Bonferroni. Use it when one false alarm is
    costly (a page at night).

    >>> holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    [True, False, False, True]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    rejected = np.zeros(m, dtype=bool)
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        if p[index] > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected.tolist()


def benjamini_hochberg(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses the Benjamini-Hochberg procedure rejects at false discovery rate ``alpha``.

    With the p-values sorted, find the largest ``k`` (from 1) with ``p_(k) <= k alpha / m`` and
    reject the ``k`` smallest. The expected share of flagged columns that did not drift stays
    below ``alpha`` (for independent or positively dependent tests). It flags more than Holm
    when many columns drift, at the price of occasional false alarms among many true ones; use
    it for reports and triage rather than paging.

    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    [True, True, True, True]
    >>> benjamini_hochberg([0.01, 0.2, 0.03, 0.005], alpha=0.05)
    [True, False, True, True]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    passing = np.nonzero(p[order] <= alpha * np.arange(1, m + 1) / max(m, 1))[0]
    rejected = np.zeros(m, dtype=bool)
    if passing.size:
        rejected[order[: passing[-1] + 1]] = True
    return rejected.tolist()
