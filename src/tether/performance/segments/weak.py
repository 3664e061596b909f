"""WeakSegments: the segments of the inputs where the model does significantly worse."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from tether.drift.features import current_columns, feature_columns
from tether.errors import InputError
from tether.frame import Data, read
from tether.performance.segments.conditions import CONDITION, ColumnConditions
from tether.performance.segments.losses import EXPECTED, LOSS, ROWS, RowLosses
from tether.performance.segments.search import Found, LatticeSearch, Limits

MAX_CONDITIONS = 10_000
"""Most ``bins`` and ``max_levels``."""
KINDS = ("worse", "worse_than_expected", "low_confidence")
"""Values of the ``kind`` column of :meth:`WeakSegments.find`."""


class WeakSegments:
    """Segments of up to three conditions where the model does significantly worse.

    An average hides the segment that is failing. ``fit`` learns on the reference the
    conditions each column offers (see
    :class:`~tether.performance.segments.conditions.ColumnConditions`): ``bins`` equal-mass
    ranges of a numeric or date column (``lo <= x < hi``; a value holding a range's share of the
    rows, such as the zeros of a zero-inflated column, gets a range of its own and the other
    values are cut at their own quantiles), else its ``max_levels`` most frequent values (``x =
    v``; other values stay in the rest), and ``x is missing``. ``find`` tests conjunctions
    over different columns, on per-cell sums so that memory is O(cells), not O(rows x
    candidates): every single condition, every pair (one ``np.bincount`` per pair of columns
    on combined codes) and, for triples, a third condition added to the ``beam`` best pairs
    -- a weak triple makes its pairs weak too, since they contain it. Pairs enter
    the beam by the smallest of their z against the rest and of the tests of rule (a) below,
    so neither the children of one strong condition nor the crossings of two fill it (with
    ``expected``, the best by the same on the excess join them).

    *Tests.* A candidate is tested when it has at least ``max(min_rows, min_support * n)``
    rows and leaves ``min_rows`` outside; smaller ones are neither tested nor counted. Its
    mean loss is compared with the rest's by a Welch z (variances from sums of squares),
    one-sided. ``q_value`` is Benjamini-Hochberg (BH) over every tested candidate of every
    depth, plus every triple the beam left untested that could have the support (an upper
    bound from the pair counts, counted with p = 1): triples chosen by their pairs' statistics
    would otherwise let the noise that put a pair in the beam pass for a discovery. BH holds
    for independent or positively dependent tests; segments sharing rows are positively
    correlated.

    *Redundancy.* Of the discoveries (``q_value <= alpha`` and ``gap >= min_gap``): (c) of
    segments with the same rows (e.g. from two equal columns) the fewest conditions stay;
    (a) a child's p-value becomes the largest of its own and, for each parent (the child
    with one condition dropped, the extra one), of its Welch test against the parent's
    remainder (the parent minus the child: the extra condition must add something) and of
    the interaction contrast ``child - (parent - child) - (extra - child) + (neither)`` (the
    extra condition must add more inside the parent than outside it; variance the sum of the
    four cells'): where two conditions are weak independently, their effects add up on their
    crossing, which is then worse than the rest and than each parent's remainder, but is no
    segment of its own; (b) taken by mean loss, largest first (so children before their
    parents), a segment's p-value also takes the test of its rows against the rest's, both
    away from the rows of the segments kept before it (of their extra conditions, for those
    that share a condition with it; an ancestor leaves nothing out), and once more away from
    all others kept (1 if that gap is below ``min_gap``). A parent weak only through a kept
    child, or a segment weak only where it overlaps kept ones (the same segment on a
    correlated column, a segment crossing two weak ones), then compares equal; one weak by
    itself stays worse even when other columns are weak too, since the rows left out leave
    both sides (with many columns weak at once, though, few rows are left and a weak one can
    be lost). The largest p-value is an intersection-union test. A segment is reported if it
    passes BH again, counting only the reported segments as discoveries, since the redundant
    ones lowered the bar for all.

    *Expectation.* With ``expected``, every candidate is also compared with what the model's
    own scores expect: ``z = (sum loss - sum expected) / sqrt(sum variance)``, the variance
    ``variance`` if given, else ``expected (1 - expected)`` for a 0/1 loss whose expected
    values are all within [0, 1], else ``n`` times the sample variance of ``loss - expected``
    in the segment; ``q_value_expected`` is BH over the same hypotheses, and the same rules
    apply to the excess ``loss - expected``, except in (a): flipped labels raise the error
    most where the scores are surest (by ``f (1 - 2 expected)`` for a share ``f`` flipped),
    which would split a segment into its surest parts, so a child's tests compare the share
    of labels flipped, ``sum(loss - expected) / sum(1 - 2 expected)``, for a 0/1 loss
    expected within [0, 1/2] (a binary classifier's), and otherwise both the loss and the
    excess. Those reported are ``worse_than_expected`` -- the model is worse than it believes
    -- even when not worse than the rest (a confident region gone wrong; their ``gap`` and
    ``impact`` are then negative). The others reported, worse than the rest but as their
    scores said, are ``low_confidence``: a calibrated model is less accurate where it is less
    certain, which is not a weak segment. "As their scores said" is tested: their own excess
    is not significant (``q_value_expected > alpha`` or ``excess < min_gap``), or it is not
    (p-value > ``alpha``) on their rows away from the segments reported as worse than
    expected, as rule (b) leaves rows out (e.g. an uncertain range that holds part of a weak
    segment). One whose excess stays significant there (e.g. a part of a segment reported as
    worse than expected) is neither, and is not reported. Without ``expected``, all are
    ``worse``.

    Parameters
    ----------
    max_conditions
        Most conditions in a segment, 1 to 3.
    bins
        Equal-mass ranges per numeric column (2 to 10,000).
    max_levels
        Most frequent values searched per column that is not cut into ranges (1 to 10,000).
    min_support
        Smallest share of the rows a segment must cover to be tested.
    min_rows
        Fewest rows a segment, and the rest, must have to be tested.
    alpha
        False discovery rate.
    min_gap
        Smallest gap of mean loss over the rest worth reporting, in loss units.
    beam
        Pairs extended to triples.
    columns
        Names of the columns searched (a list, not one string); default all but dates and
        times.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> n = 20_000
    >>> flights = pl.DataFrame({
    ...     "carrier": rng.choice(["AA", "DL", "UA", "WN"], n),
    ...     "dep_hour": rng.integers(5, 23, n),
    ...     "distance": rng.gamma(2.0, 400.0, n),
    ... })
    >>> weak = ((flights["carrier"] == "UA") & (flights["dep_hour"] >= 19)).to_numpy()
    >>> error = (rng.random(n) < np.where(weak, 0.40, 0.15)).astype(float)
    >>> found = WeakSegments().fit(flights).find(flights, error)
    >>> print(found["description"][0])
    carrier = 'UA' and dep_hour >= 19 (5.5% of rows): error 42.1% against 15.1% elsewhere.
    >>> found.height
    1

    References
    ----------
    Chung, Y., Kraska, T., Polyzotis, N., Tae, K. H. & Whang, S. E. (2019). Slice Finder:
    automated data slicing for model validation. ICDE.
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical and
    powerful approach to multiple testing. JRSS B, 57(1), 289-300.
    Benjamini, Y. & Yekutieli, D. (2001). The control of the false discovery rate in multiple
    testing under dependency. Annals of Statistics, 29(4), 1165-1188.
    Deepchecks. WeakSegmentsPerformance check (pairs of features, no significance test).
    https://docs.deepchecks.com
    """

    def __init__(
        self,
        *,
        max_conditions: int = 3,
        bins: int = 5,
        max_levels: int = 20,
        min_support: float = 0.01,
        min_rows: int = 50,
        alpha: float = 0.05,
        min_gap: float = 0.0,
        beam: int = 50,
        columns: list[str] | None = None,
    ) -> None:
        self.max_conditions = max_conditions
        self.bins = bins
        self.max_levels = max_levels
        self.min_support = min_support
        self.min_rows = min_rows
        self.alpha = alpha
        self.min_gap = min_gap
        self.beam = beam
        self.columns = columns

    def _check_params(self) -> None:
        who = type(self).__name__
        for name, low, high in (
            ("max_conditions", 1, 3),
            # Condition codes are int16 and a pair of columns is summed on the product of
            # their conditions: a column offers at most 2 * bins ranges (a value with a range's
            # share of the rows gets its own) or max_levels values, plus two codes.
            ("bins", 2, MAX_CONDITIONS),
            ("max_levels", 1, MAX_CONDITIONS),
            ("min_rows", 2, None),
            ("beam", 1, None),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral)
                or int(value) < low
                or (high is not None and int(value) > high)
            ):
                rule = f"an integer from {low} to {high}" if high else f"an integer >= {low}"
                raise InputError(f"{who}: {name} is {value!r}; it must be {rule}")
        for name, ok, rule in (
            ("min_support", lambda v: 0.0 <= v < 1.0, "a number within [0, 1)"),
            ("alpha", lambda v: 0.0 < v < 1.0, "a number within (0, 1)"),
            ("min_gap", lambda v: 0.0 <= v < np.inf, "a finite number >= 0"),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
                raise InputError(f"{who}: {name} is {value!r}; it must be {rule}")
        columns = self.columns
        if columns is not None and (
            isinstance(columns, str)
            or not isinstance(columns, Iterable)
            or not all(isinstance(c, str) for c in columns)
        ):
            raise InputError(
                f"{who}: columns is {columns!r}; it must be None (all columns) or a list of "
                "column names, each a string (a single string is not taken as a list)"
            )

    def fit(self, reference: Data) -> WeakSegments:
        """Learn the conditions each column offers from ``reference``.

        Sets ``conditions_``: one row per condition (``column, kind, value, low, high``, as in
        the ``conditions`` of :meth:`find`), in the order they are searched.
        """
        self._check_params()
        frame = read(reference)
        schema = feature_columns(frame, self.columns, type(self).__name__)
        self.columns_ = [
            ColumnConditions.learn(frame, feature, self.bins, self.max_levels) for feature in schema
        ]
        self.conditions_ = pl.DataFrame(
            [c.condition(k) for c in self.columns_ for k in range(c.n_conditions)],
            schema=CONDITION.to_schema(),
        )
        return self

    def find(
        self,
        frame: Data,
        loss: ArrayLike,
        *,
        expected: ArrayLike | None = None,
        variance: ArrayLike | None = None,
    ) -> pl.DataFrame:
        """Segments of ``frame`` whose mean ``loss`` is significantly higher than the rest's
        (or, given ``expected``, than the model's scores expected).

        ``loss`` holds one finite value per row (e.g. :func:`error_loss`), ``expected`` the
        loss the model's own scores expect of each row (e.g. :func:`expected_error`) and
        ``variance`` its variance. One row per reported segment, largest ``impact = size *
        gap`` first: ``rank, segment, conditions, size, support, loss, rest_loss, gap, z,
        p_value, q_value``, with ``expected`` also ``expected_loss, excess, z_expected,
        p_value_expected, q_value_expected``, then ``kind`` (one of :data:`KINDS`), ``impact``
        and ``description`` (one sentence). A frame too small for any segment to have
        ``min_rows`` rows inside and outside gives no rows; an empty frame is an error.
        """
        who = type(self).__name__
        if not hasattr(self, "columns_"):
            raise InputError(f"{who} is not fitted; call fit(reference) before find(frame)")
        data = current_columns(read(frame), [c.feature for c in self.columns_], who)
        losses = RowLosses.check(data.height, loss, expected, variance)
        limits = Limits(
            max_conditions=self.max_conditions,
            min_support=self.min_support,
            min_rows=self.min_rows,
            alpha=self.alpha,
            min_gap=self.min_gap,
            beam=self.beam,
        )
        codes = [column.codes(data) for column in self.columns_]
        found = LatticeSearch(self.columns_, codes, losses, limits).run()
        return _table(found, self.columns_, losses)


def _table(found: Found, columns: list[ColumnConditions], losses: RowLosses) -> pl.DataFrame:
    seg, size = found.aggs, found.aggs[ROWS]
    rest = found.total[:, None] - seg
    segments = [
        [(c, k) for c, k in zip(cs, ks, strict=True) if c >= 0]
        for cs, ks in zip(found.cols.tolist(), found.conds.tolist(), strict=True)
    ]
    out: dict[str, Any] = {
        "segment": [" and ".join(columns[c].words(k) for c, k in conds) for conds in segments],
        "conditions": [[columns[c].condition(k) for c, k in conds] for conds in segments],
        "size": size.astype(np.int64),
        "support": size / losses.n,
        "loss": seg[LOSS] / size + losses.shift,
        "rest_loss": rest[LOSS] / rest[ROWS] + losses.shift,
        "gap": found.gap,
        "z": found.z,
        "p_value": found.p,
        "q_value": found.q,
    }
    if found.worse_than_expected is not None:
        out["expected_loss"] = seg[EXPECTED] / size
        out["excess"] = out["loss"] - out["expected_loss"]
        out["z_expected"] = found.z_expected
        out["p_value_expected"] = found.p_expected
        out["q_value_expected"] = found.q_expected
        kind = np.where(found.worse_than_expected, "worse_than_expected", "low_confidence")
        out["kind"] = kind.tolist()
    else:
        out["kind"] = ["worse"] * len(size)
    out["impact"] = size * found.gap
    schema: dict[str, Any] = {name: pl.Float64 for name in out}
    schema |= {"segment": pl.String, "conditions": pl.List(CONDITION), "size": pl.Int64}
    schema["kind"] = pl.String
    table = pl.DataFrame(out, schema=schema).sort("impact", descending=True, maintain_order=True)
    descriptions = [_describe(row, losses.binary) for row in table.iter_rows(named=True)]
    table = table.with_columns(pl.Series("description", descriptions, dtype=pl.String))
    return table.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))


def _describe(row: dict[str, Any], rate: bool) -> str:
    """One sentence on a segment, e.g. ``x = 'a' (3.2% of rows): error 41.0% against 18.0%
    elsewhere; the scores expected 20.5%.`` (``rate``: the loss is 0/1, shown in percent)."""

    def show(value: float) -> str:
        return f"{value:.1%}" if rate else f"{value:.4g}"

    measure = "error" if rate else "mean loss"
    text = (
        f"{row['segment']} ({row['support']:.1%} of rows): {measure} {show(row['loss'])} "
        f"against {show(row['rest_loss'])} elsewhere"
    )
    if row["kind"] == "worse_than_expected":
        text += f"; the scores expected {show(row['expected_loss'])}"
    elif row["kind"] == "low_confidence":
        text += (
            f"; the scores expected {show(row['expected_loss'])}, so the model is less "
            "certain here rather than wrong"
        )
    return text + "."


def find_weak_segments(
    frame: Data,
    loss: ArrayLike,
    *,
    expected: ArrayLike | None = None,
    variance: ArrayLike | None = None,
    reference: Data | None = None,
    **params: Any,
) -> pl.DataFrame:
    """:class:`WeakSegments` (``params``) fitted on ``reference`` (default ``frame``), then
    :meth:`WeakSegments.find` on ``frame``."""
    search = WeakSegments(**params).fit(reference if reference is not None else frame)
    return search.find(frame, loss, expected=expected, variance=variance)
