"""Counts of values on fixed bin edges, with open tails."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.profile.serialize import Fields, encode_float

DEFAULT_BINS = 20
"""Bins between the open tails when edges are taken from the data."""


EDGE_SAMPLE_MIN = 4_096
"""Fewest sampled values edges are taken from; a thinner sample is replaced by the whole batch."""


def edges_from_sample(
    sample: np.ndarray, bins: int, whole: Callable[[], np.ndarray] | None = None
) -> tuple[tuple[float, ...], bool]:
    """Bin edges, or inner bin edges, taken from a sorted sample of a batch's finite values.

    With at most ``bins`` distinct values each value gets its own bin; otherwise the edges are the
    quantiles at ``i / bins`` of the sample (deduplicated, so heavy values do not make empty
    bins), which a sample of tens of thousands of values places within about 1% in rank. The
    first edge is the batch's minimum and the last the float just above its maximum, so the two
    open tails hold exactly the values below and above the batch's range.

    Returns ``(edges, complete)``. Quantile edges are returned without the two outer edges
    (``complete`` is false): :meth:`Histogram.from_inner` adds them from the batch's exact
    extremes once its ``select`` has counted on the inner ones. ``whole`` gives all the batch's
    finite values, sorted, when ``sample`` is a strict subsample of them; it is called only when
    the sample is thinner than :data:`EDGE_SAMPLE_MIN` or has at most ``bins`` distinct values
    (it may have missed a rare value).

    >>> edges_from_sample(np.array([1.0, 3.0, 3.0]), bins=20)
    ((1.0, 3.0, 3.0000000000000004), True)
    >>> edges_from_sample(np.arange(100.0), bins=4)
    ((24.75, 49.5, 74.25), False)
    """
    inner = _distinct(sample)
    if whole is not None and (inner.size <= bins or sample.size < EDGE_SAMPLE_MIN):
        sample = whole()
        inner = _distinct(sample)
    if inner.size == 0:
        return (), True
    if inner.size <= bins:
        top = np.nextafter(inner[-1], np.inf)
        return (*(float(e) for e in inner), float(top)), True
    # Linear interpolation between order statistics, as np.quantile's default, on sorted values;
    # weighing both ends (rather than adding a difference) cannot overflow for finite values.
    position = np.linspace(0.0, 1.0, bins + 1)[1:-1] * (sample.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, sample.size - 1)
    fraction = position - low
    quantiles = sample[low] * (1.0 - fraction) + sample[high] * fraction
    return tuple(float(e) for e in np.unique(quantiles)), False


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array."""
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


class Histogram:
    """Counts of values in bins ``(-inf, e0), [e0, e1), ..., [ek, +inf)`` on fixed edges.

    The edges never move once chosen, so two histograms on the same edges add bin by bin: this is
    what makes a profile mergeable and lets current data be binned exactly like the reference.
    No edges at all means a single bin holding every value.

    Parameters
    ----------
    edges
        Increasing finite bin edges.

    Example
    -------
    >>> frame = pl.DataFrame({"x": [-5.0, 0.0, 0.5, 1.0, 7.0]})
    >>> hist = Histogram((0.0, 1.0, 2.0))
    >>> below = frame.select(hist.expressions(pl.col("x"), prefix="")).row(0)
    >>> hist.add_below(list(below), finite=5).counts.tolist()
    [1, 2, 1, 1]
    """

    def __init__(self, edges: tuple[float, ...]) -> None:
        self.edges = edges
        self.counts = np.zeros(len(edges) + 1, dtype=np.int64)

    def expressions(self, values: pl.Expr, prefix: str) -> list[pl.Expr]:
        """How many of a batch's ``values`` lie below each edge, named ``prefix + below_i``.

        These are cumulative counts, one cheap comparison-sum per edge inside the batch's single
        ``select``; :meth:`add_below` turns them into bin counts. NaN and null are below no edge,
        but -inf is below every one: the caller subtracts those.
        """
        return [(values < e).sum().alias(f"{prefix}below_{i}") for i, e in enumerate(self.edges)]

    def add_below(self, below: list[int], finite: int) -> Histogram:
        """Add a batch of ``finite`` finite values, ``below[i]`` of which lie below edge ``i``.

        A value equal to an edge is not below it, so it lands in the bin starting at that edge.
        """
        cumulative = np.asarray([0, *below, finite], dtype=np.int64)
        self.counts += np.diff(cumulative)
        return self

    @classmethod
    def from_inner(
        cls, inner: tuple[float, ...], below: list[int], finite: int, low: float, high: float
    ) -> Histogram:
        """The histogram of a batch counted on inner edges, closed with its extremes.

        The edges become ``low`` (the batch's minimum), the inner edges above it, and the float
        just above ``high`` (its maximum); the tails are then empty by construction.

        >>> Histogram.from_inner((2.0, 3.0), below=[1, 3], finite=4, low=1.0, high=9.0).counts
        array([0, 1, 2, 1, 0])
        """
        kept = [(e, b) for e, b in zip(inner, below, strict=True) if e > low]
        histogram = cls((low, *(e for e, _ in kept), float(np.nextafter(high, np.inf))))
        return histogram.add_below([0, *(b for _, b in kept), finite], finite)

    def merge(self, other: Histogram, column: str) -> Histogram:
        if self.edges != other.edges:
            raise InputError(
                f"column {column!r}: histograms have different bin edges ({len(self.edges)} vs "
                f"{len(other.edges)} edges); build both profiles with the same reference= to merge"
            )
        merged = Histogram(self.edges)
        merged.counts = self.counts + other.counts
        return merged

    def to_dict(self) -> dict[str, object]:
        return {
            "edges": [encode_float(e) for e in self.edges],
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_dict(cls, fields: Fields) -> Histogram:
        edges = tuple(fields.reals("edges"))
        counts = fields.integers("counts")
        if len(counts) != len(edges) + 1:
            raise fields.wrong("counts", f"a list of {len(edges) + 1} counts (one per bin)")
        histogram = cls(edges)
        histogram.counts = np.asarray(counts, dtype=np.int64)
        return histogram
