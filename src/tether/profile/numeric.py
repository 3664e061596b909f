"""Profile of a numeric, integer or datetime column: moments, extremes, quantiles, histogram."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl
from datasketches import kll_doubles_sketch

from tether.profile.histogram import Histogram, edges_from_sample
from tether.profile.moments import Moments
from tether.profile.quantiles import SAMPLE_ROWS, SampledQuantiles, sketch_of
from tether.profile.serialize import Fields, encode_float
from tether.profile.stats import BatchStats


def physical(column: pl.Expr, *, floating: bool) -> pl.Expr:
    """A column's values as numbers: floats as float64, integers and datetimes as their integer."""
    return column.cast(pl.Float64) if floating else column.to_physical()


def finite(values: pl.Expr, *, floating: bool) -> pl.Expr:
    """The finite, non-missing values among ``values`` (an expression from :func:`physical`)."""
    return values.filter(values.is_finite()) if floating else values.drop_nulls()


def _moment_expressions(values: pl.Expr, prefix: str) -> list[pl.Expr]:
    as_float = values.cast(pl.Float64)
    expressions = [
        values.count().alias("count"),
        values.min().alias("min"),
        values.max().alias("max"),
        as_float.mean().alias("mean"),
        # Polars computes the variance in a numerically stable pass; times the count it is M2.
        as_float.var(ddof=0).alias("var"),
        (values == 0).sum().alias("zeros"),
        (values < 0).sum().alias("negatives"),
        # -1 is the other sentinel a broken upstream writes for "unknown" into a number field
        (values == -1).sum().alias("minus_ones"),
    ]
    return [e.name.prefix(prefix) for e in expressions]


class NumericSummary:
    """What is known about the values of a numeric, integer or datetime column.

    NaN and infinite values are counted and then set aside: moments, extremes, zeros, negatives,
    quantiles and the histogram describe only the finite values. Datetimes are described on their
    physical integer value (days for dates, the time unit for datetimes); extremes stay exact
    integers, while quantiles and bins work on float64, so nanosecond timestamps are resolved to
    about 0.25 microseconds there.

    A batch is summarized by one ``select`` shared with every other column (moments on all
    values, NaN and infinity counts, and cumulative counts below each bin edge), plus a second,
    small ``select`` only for what that first one cannot give: the moments of the finite values
    when the batch has NaN or infinite values, and the values themselves for the quantile sketch
    when the column is too sparse to sample. The quantile sketch is fed a row sample of the batch
    (see :class:`~tether.profile.quantiles.SampledQuantiles`).

    Parameters
    ----------
    floating
        Whether the column holds floats (which may be NaN or infinite) rather than integers or
        datetimes.
    edges
        Histogram bin edges to count on, or ``None`` to take them from the first batch that has
        finite values (see :func:`~tether.profile.histogram.edges_from_sample`).

    Example
    -------
    >>> frame = pl.DataFrame({"x": [1.0, 2.0, float("nan"), None, -3.0]})
    >>> summary = NumericSummary(floating=True, edges=(0.0, 2.0))
    >>> summary.feed(np.array([1.0, 2.0, -3.0]), stride=1)
    >>> stats = BatchStats(frame.select(summary.expressions("x", prefix="")), prefix="")
    >>> again = frame.select(summary.second_expressions("x", "", stats))
    >>> summary.update(stats, BatchStats(again, prefix=""))
    >>> summary.nan, summary.moments.count, summary.min, summary.negatives
    (1, 3, -3.0, 1)
    >>> summary.histogram.counts.tolist()
    [1, 1, 1]

    References
    ----------
    Karnin, Z., Lang, K., Liberty, E. (2016). Optimal quantile approximation in streams. FOCS.
    """

    def __init__(self, *, floating: bool, edges: tuple[float, ...] | None = None) -> None:
        self.floating = floating
        self.nan = 0
        self.inf = 0
        self.moments = Moments()
        self.min: int | float | None = None
        self.max: int | float | None = None
        self.zeros = 0
        self.negatives = 0
        self.minus_ones = 0
        self.quantiles = SampledQuantiles()
        self.histogram = Histogram(edges) if edges is not None else None
        # State of the batch being added, from choose_edges() and feed() to update(): inner edges
        # to complete with the batch's extremes, and the sketch of its sample (None when the
        # sample is too thin and the finite values are read whole instead).
        self._inner: tuple[float, ...] | None = None
        self._stride = 1
        self._sketch: kll_doubles_sketch | None = None

    def choose_edges(
        self, sample: np.ndarray, bins: int, whole: Callable[[], np.ndarray] | None
    ) -> None:
        """Pick bin edges from the first batch's sampled finite values, if none are set yet.

        ``whole`` gives all the batch's finite values when ``sample`` is a strict subsample.
        """
        if self.histogram is not None:
            return
        edges, complete = edges_from_sample(sample, bins, whole)
        if complete:
            self.histogram = Histogram(edges) if edges else None
        else:
            self._inner = edges

    def feed(self, sample: np.ndarray, stride: int) -> None:
        """Sketch the finite values of a batch's rows sampled at one in ``stride``.

        A sample thinner than ``SAMPLE_ROWS / stride`` values (a column with fewer finite values
        than :data:`~tether.profile.quantiles.SAMPLE_ROWS`, whose sample would be poor) is set
        aside: the column's finite values are then read whole by :meth:`second_expressions`.
        """
        self._stride = stride
        thick = stride == 1 or sample.size >= SAMPLE_ROWS // stride
        self._sketch = sketch_of(sample, self.quantiles.k) if thick else None

    def expressions(self, name: str, prefix: str) -> list[pl.Expr]:
        """The statistics of a batch for its single ``select``, named ``prefix + statistic``.

        Moments are taken over all non-missing values; when they show NaN or infinite values (see
        :meth:`_maybe_nonfinite`), :meth:`update` uses the counts and finite-only moments of
        :meth:`second_expressions` instead.
        """
        values = physical(pl.col(name), floating=self.floating)
        expressions = _moment_expressions(values, prefix)
        edges = self._inner if self.histogram is None else self.histogram.edges
        if edges:
            expressions += Histogram(edges).expressions(values.cast(pl.Float64), prefix)
        return expressions

    def _maybe_nonfinite(self, stats: BatchStats) -> bool:
        """Whether the batch may hold NaN or infinite values, from the first ``select``.

        A NaN makes the mean NaN and an infinity makes an extreme infinite, so finite mean and
        extremes rule both out without a pass of their own; an overflowing mean only costs the
        second ``select`` for nothing.
        """
        if not self.floating or stats.integer("count") == 0:
            return False
        return not all(math.isfinite(stats.real(key) or 0.0) for key in ("mean", "min", "max"))

    def second_expressions(self, name: str, prefix: str, stats: BatchStats) -> list[pl.Expr]:
        """What the first ``select`` could not give, for a second one (usually nothing).

        The NaN and infinity counts and the moments of the finite values when the batch may have
        NaN or infinite values; and all finite values, to sketch them unsampled, when
        :meth:`feed` found the sample too thin.
        """
        values = physical(pl.col(name), floating=self.floating)
        expressions = []
        if self._maybe_nonfinite(stats):
            expressions += [
                values.is_nan().sum().alias(prefix + "nan"),
                (values == math.inf).sum().alias(prefix + "+inf"),
                (values == -math.inf).sum().alias(prefix + "-inf"),
                *_moment_expressions(finite(values, floating=True), prefix + "finite_"),
            ]
        if self._sketch is None and stats.integer("count") > 0:
            values = finite(values, floating=self.floating).cast(pl.Float64)
            expressions.append(values.implode().alias(prefix + "values"))
        return expressions

    def update(self, stats: BatchStats, second: BatchStats) -> None:
        """Add one batch, after :meth:`feed` was given its sample.

        ``stats`` and ``second`` hold the results of :meth:`expressions` and
        :meth:`second_expressions` on it.
        """
        inner, self._inner = self._inner, None
        sketch, self._sketch = self._sketch, None
        moments = stats
        neg_inf = 0
        if self._maybe_nonfinite(stats):
            self.nan += second.integer("nan")
            # -inf is below every edge, so it is taken off the cumulative counts.
            neg_inf = second.integer("-inf")
            self.inf += second.integer("+inf") + neg_inf
            moments = BatchStats(second.frame, second.prefix + "finite_")
        count = moments.integer("count")
        if count == 0:
            return
        self.moments = self.moments.merge(
            Moments(count, moments.real("mean"), (moments.real("var") or 0.0) * count)
        )
        low, high = moments.number("min"), moments.number("max")
        self.min = _extreme(min, self.min, low)
        self.max = _extreme(max, self.max, high)
        self.zeros += moments.integer("zeros")
        self.negatives += moments.integer("negatives")
        self.minus_ones += moments.integer("minus_ones")
        edges = inner if self.histogram is None else self.histogram.edges
        below = [stats.integer(f"below_{i}") - neg_inf for i in range(len(edges or ()))]
        if self.histogram is not None:
            self.histogram.add_below(below, count)
        elif inner is not None:
            assert low is not None
            assert high is not None
            self.histogram = Histogram.from_inner(inner, below, count, float(low), float(high))
        if sketch is None:
            self.quantiles.update(second.series("values").to_numpy(), 1, count)
        else:
            self.quantiles.add(sketch, self._stride, count)

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (within ``quantiles.rank_error`` in rank), or ``None``."""
        return self.quantiles.quantile(q)

    def merge(self, other: NumericSummary, column: str) -> NumericSummary:
        merged = NumericSummary(floating=self.floating)
        merged.nan = self.nan + other.nan
        merged.inf = self.inf + other.inf
        merged.moments = self.moments.merge(other.moments)
        merged.min = _extreme(min, self.min, other.min)
        merged.max = _extreme(max, self.max, other.max)
        merged.zeros = self.zeros + other.zeros
        merged.negatives = self.negatives + other.negatives
        merged.minus_ones = self.minus_ones + other.minus_ones
        merged.quantiles = self.quantiles.merge(other.quantiles)
        if self.histogram is None or other.histogram is None:
            # A side without edges never saw a finite value, so it adds nothing to the bins.
            source = self.histogram or other.histogram
            merged.histogram = (
                None if source is None else source.merge(Histogram(source.edges), column)
            )
        else:
            merged.histogram = self.histogram.merge(other.histogram, column)
        return merged

    def to_dict(self) -> dict[str, object]:
        def number(value: int | float | None) -> int | float | str | None:
            return value if value is None or isinstance(value, int) else encode_float(value)

        return {
            "nan": self.nan,
            "inf": self.inf,
            "count": self.moments.count,
            "mean": encode_float(self.moments.mean),
            "m2": encode_float(self.moments.m2),
            "min": number(self.min),
            "max": number(self.max),
            "zeros": self.zeros,
            "negatives": self.negatives,
            "minus_ones": self.minus_ones,
            "quantiles": self.quantiles.to_list(),
            "histogram": None if self.histogram is None else self.histogram.to_dict(),
        }

    @classmethod
    def from_dict(cls, fields: Fields, *, floating: bool) -> NumericSummary:
        summary = cls(floating=floating)
        summary.nan = fields.integer("nan")
        summary.inf = fields.integer("inf")
        summary.moments = Moments(
            fields.integer("count"), fields.real("mean"), fields.real("m2") or 0.0
        )
        summary.min = fields.number("min")
        summary.max = fields.number("max")
        summary.zeros = fields.integer("zeros")
        summary.negatives = fields.integer("negatives")
        summary.minus_ones = fields.integer("minus_ones")
        summary.quantiles = SampledQuantiles.from_fields(fields.children("quantiles"))
        if fields.has("histogram"):
            summary.histogram = Histogram.from_dict(fields.child("histogram"))
        return summary


def _extreme(
    pick: Callable[[float, float], float], a: int | float | None, b: int | float | None
) -> int | float | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)
