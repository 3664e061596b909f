"""Quantiles of a column from a uniform row sample of each batch, mergeable across sample rates."""

from __future__ import annotations

import math

import numpy as np
from datasketches import kll_doubles_sketch

from tether.profile.serialize import Fields, encode_sketch

KLL_K = 200
"""Size parameter of the KLL quantile sketch.

At ``k = 200`` the rank of any value read from the sketch is off by at most about 1.33% of the
number of values it was fed (single-sided normalized rank error, 99% confidence). The error does
not grow with the row count.
"""

KLL_RANK_ERROR = kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
"""Rank error of the KLL sketch alone (about 0.0133), before any sampling error."""

SAMPLE_ROWS = 65_536
"""Most rows of a batch whose values are fed to the quantile sketches.

Feeding a KLL sketch costs about 34 ns a value and holds the GIL, so a batch of ``n`` rows is
sampled at one row in ``stride``, the smallest power of two with ``n / stride <= SAMPLE_ROWS``:
batches up to 65,536 rows feed every row, a million rows feed one in 16. The sampling adds a rank
error of about ``1.5 / sqrt(sampled values)`` (0.6% at 62,500 values, three standard errors).
"""

_SEED = 0x7E7E4
"""Fixed part of the sampling seed, so the same data always gives the same sample."""


def sample_stride(rows: int) -> int:
    """The smallest power of two ``s`` with ``rows / s <= SAMPLE_ROWS``.

    >>> sample_stride(1_000), sample_stride(100_000), sample_stride(1_000_000)
    (1, 2, 16)
    """
    stride = 1
    while rows > stride * SAMPLE_ROWS:
        stride *= 2
    return stride


def sample_rows(rows: int) -> tuple[int, np.ndarray | None]:
    """The sampling stride for a batch of ``rows`` rows and the indices of the sampled rows.

    The sample is jittered-systematic: one row drawn uniformly from each block of ``stride``
    consecutive rows. Indices past the end of a last, partial block are dropped rather than
    clipped, so every row is sampled with probability exactly ``1 / stride``. The generator is
    seeded from the row count, so the same batch always gives the same sample. With stride 1 every
    row is taken and the indices are ``None``.

    >>> stride, rows = sample_rows(200_000)
    >>> stride, rows.size <= 200_000 // 4 + 1, bool((np.diff(rows) > 0).all())
    (4, True, True)
    """
    stride = sample_stride(rows)
    if stride == 1:
        return 1, None
    starts = np.arange(0, rows, stride)
    rng = np.random.default_rng([_SEED, rows])
    indices = starts + rng.integers(0, stride, size=starts.size)
    return stride, indices[indices < rows]


def sketch_of(sample: np.ndarray, k: int = KLL_K) -> kll_doubles_sketch:
    """A fresh KLL sketch fed ``sample`` (about 34 ns a value; holds the GIL)."""
    sketch = kll_doubles_sketch(k)
    if sample.size:
        # The sketch binding accepts only writable arrays; polars hands out read-only views.
        sketch.update(sample if sample.flags.writeable else sample.copy())
    return sketch


class _Group:
    """One KLL sketch fed at one sampling stride, and how many values it stands for."""

    def __init__(self, sketch: kll_doubles_sketch, represented: int = 0) -> None:
        self.sketch = sketch
        self.represented = represented


class SampledQuantiles:
    """Quantiles of a stream of values, from KLL sketches fed a known-rate sample of each batch.

    Each batch's values are sampled at one row in ``stride`` (see :func:`sample_rows`), a power
    of two, so every value is in the sample with the known probability ``1 / stride``. The state
    keeps one KLL sketch per stride together with the exact number of values (``represented``)
    the batches fed into it had. Sketches of equal stride merge as KLL sketches do, since their
    sampled values stand for the same number of values each; different strides stay separate
    groups, at most ``log2(rows / SAMPLE_ROWS)`` of them. A query weighs the groups' distributions
    by their represented counts, ``F(x) = sum_g represented_g * rank_g(x) / sum_g
    represented_g``, and inverts that.

    The rank of a value read back is off by at most :attr:`rank_error`: the KLL error
    (:data:`KLL_RANK_ERROR`, 99% confidence) plus, for sampled groups, three standard errors of a
    sample proportion, ``1.5 * sqrt(sum_g w_g**2 / sampled_g)`` with ``w_g`` a group's share of
    the represented values (one row per block is a stratified sample, whose error is at most that
    of a simple random sample of the same size).

    Parameters
    ----------
    k
        Size parameter of each KLL sketch.

    Example
    -------
    >>> values = np.random.default_rng(0).lognormal(size=1_000_000)
    >>> stride, rows = sample_rows(values.size)
    >>> quantiles = SampledQuantiles().update(values[rows], stride, represented=values.size)
    >>> stride, quantiles.n, round(quantiles.rank_error, 4)
    (16, 1000000, 0.0193)
    >>> median = quantiles.quantile(0.5)
    >>> bool(abs((values <= median).mean() - 0.5) <= quantiles.rank_error)
    True

    References
    ----------
    Karnin, Z., Lang, K., Liberty, E. (2016). Optimal quantile approximation in streams. FOCS.

    Cochran, W. G. (1977). Sampling Techniques, 3rd ed., ch. 5 (stratified sampling) and ch. 8
    (systematic sampling). Wiley.
    """

    def __init__(self, k: int = KLL_K) -> None:
        self.k = k
        self.groups: dict[int, _Group] = {}

    def update(
        self, sample: np.ndarray, stride: int = 1, represented: int | None = None
    ) -> SampledQuantiles:
        """Add finite ``sample`` values drawn with probability ``1 / stride`` from ``represented``.

        ``represented`` is the exact number of values the sample was drawn from; it defaults to
        the sample size, which is right only for ``stride = 1``.
        """
        return self.add(sketch_of(sample, self.k), stride, represented)

    def add(
        self, sketch: kll_doubles_sketch, stride: int, represented: int | None = None
    ) -> SampledQuantiles:
        """Like :meth:`update`, with the sample already fed to a fresh ``sketch`` (now owned)."""
        if represented is None:
            represented = sketch.n
        if represented == 0:
            return self
        group = self.groups.get(stride)
        if group is None:
            self.groups[stride] = _Group(sketch, represented)
        else:
            group.sketch.merge(sketch)
            group.represented += represented
        return self

    @property
    def n(self) -> int:
        """Number of values the state stands for (exact: the sum of represented counts)."""
        return sum(group.represented for group in self.groups.values())

    def _answering(self) -> list[tuple[int, _Group]]:
        # A sampled group whose sample caught no value has no distribution to offer; the others
        # answer for it (the build feeds sparse columns unsampled, so this is rare).
        return [(s, g) for s, g in sorted(self.groups.items()) if not g.sketch.is_empty()]

    def is_empty(self) -> bool:
        """Whether no sketch holds a value (so :meth:`quantile` is ``None``)."""
        return not self._answering()

    @property
    def rank_error(self) -> float:
        """Bound on the rank error of :meth:`quantile` and :meth:`rank` (KLL plus sampling)."""
        groups = self._answering()
        total = sum(g.represented for _, g in groups)
        if total == 0:
            return KLL_RANK_ERROR
        spread = sum(
            (g.represented / total) ** 2 / g.sketch.n for stride, g in groups if stride > 1
        )
        return KLL_RANK_ERROR + 1.5 * math.sqrt(spread)

    def rank(self, value: float, inclusive: bool = True) -> float:
        """Share of values below ``value`` (or equal to it, when ``inclusive``)."""
        groups = self._answering()
        total = sum(g.represented for _, g in groups)
        if total == 0:
            return math.nan
        return sum(g.represented * g.sketch.get_rank(value, inclusive) for _, g in groups) / total

    def quantile(self, q: float) -> float | None:
        """The smallest value whose (inclusive) rank is at least ``q``; ``None`` when empty."""
        groups = self._answering()
        if not groups:
            return None
        if len(groups) == 1:
            return float(groups[0][1].sketch.get_quantile(q))
        if q <= 0.0:
            return float(min(g.sketch.get_min_value() for _, g in groups))
        if q >= 1.0:
            return float(max(g.sketch.get_max_value() for _, g in groups))
        items: list[float] = []
        weights: list[float] = []
        for _, group in groups:
            # Each retained item stands for its KLL weight in the sketch's stream, which in turn
            # stands for represented / n values of the data.
            scale = group.represented / group.sketch.n
            for item, weight in group.sketch:
                items.append(item)
                weights.append(weight * scale)
        order = np.argsort(items, kind="stable")
        cumulative = np.cumsum(np.asarray(weights)[order])
        index = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
        return float(np.asarray(items)[order][min(index, len(items) - 1)])

    def merge(self, other: SampledQuantiles) -> SampledQuantiles:
        """The quantiles of both streams together; neither input changes."""
        merged = SampledQuantiles(self.k)
        for source in (self, other):
            for stride, group in source.groups.items():
                mine = merged.groups.get(stride)
                if mine is None:
                    copy = kll_doubles_sketch.deserialize(group.sketch.serialize())
                    merged.groups[stride] = _Group(copy, group.represented)
                else:
                    mine.sketch.merge(group.sketch)
                    mine.represented += group.represented
        return merged

    def to_list(self) -> list[dict[str, object]]:
        """The groups as JSON-ready values, by increasing stride."""
        return [
            {
                "stride": stride,
                "represented": group.represented,
                "sketch": encode_sketch(group.sketch.serialize()),
            }
            for stride, group in sorted(self.groups.items())
        ]

    @classmethod
    def from_fields(cls, groups: list[Fields]) -> SampledQuantiles:
        """Read the groups written by :meth:`to_list`."""
        quantiles = cls()
        for fields in groups:
            stride = fields.integer("stride")
            if stride < 1 or stride & (stride - 1):
                raise fields.wrong("stride", "a power of two")
            if stride in quantiles.groups:
                raise fields.wrong("stride", "different from the other groups' strides")
            sketch = fields.sketch("sketch", kll_doubles_sketch.deserialize)
            quantiles.groups[stride] = _Group(sketch, fields.integer("represented"))
        if quantiles.groups:
            quantiles.k = min(group.sketch.k for group in quantiles.groups.values())
        return quantiles
