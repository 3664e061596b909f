"""Profile of a string or categorical column: value counts, exact while small, sketched beyond."""

from __future__ import annotations

import math

import polars as pl
from datasketches import (
    frequent_items_error_type,
    frequent_strings_sketch,
    hll_sketch,
    hll_union,
    tgt_hll_type,
)

from tether.profile.lengths import StringLengths
from tether.profile.serialize import Fields, encode_sketch
from tether.profile.stats import BatchStats

DEFAULT_MAX_CATEGORIES = 1000
"""Most distinct values a column's counts stay exact for, unless told otherwise."""

HLL_LG_K = 12
"""log2 of the number of HLL registers: the distinct estimate has a relative standard error of
about 1.3% (``HLL_8``, 4096 registers), so it is within 4% of the truth 99.7% of the time."""


def frequent_items_lg_size(max_categories: int) -> int:
    """log2 of the frequent-items map size able to hold ``max_categories`` items.

    The map holds at most 3/4 of its size; an item's count estimate is off by at most
    ``epsilon * rows`` with ``epsilon = 3.5 / 2**lg_size`` (about 0.17% for 1000 categories).

    >>> frequent_items_lg_size(1000)
    11
    """
    return max(3, math.ceil(math.log2(max_categories * 4 / 3)))


class CategorySummary:
    """Counts of the values of a string or categorical column.

    Counts are exact, as a dict of value to count, while the column has at most
    ``max_categories`` distinct values. Once the distinct values of the whole profile exceed that
    (within a build or when merging), the counts move to a frequent-items sketch (Misra-Gries as
    in Anderson et al.) that keeps every value heavier than ``epsilon * rows`` (see
    :func:`frequent_items_lg_size`), plus an HLL sketch estimating the number of distinct values.
    Each batch is fed to the sketches once per distinct value with its count as weight, never once
    per row. Lengths are always exact.

    Parameters
    ----------
    max_categories
        Most distinct values counted exactly.

    Example
    -------
    >>> frame = pl.DataFrame({"carrier": ["AA", "UA", "AA", None]})
    >>> summary = CategorySummary(max_categories=1000)
    >>> stats = BatchStats(frame.select(summary.expressions("carrier", "")), "")
    >>> summary.update(stats)
    >>> summary.items(), summary.distinct, summary.lengths.max
    ([('AA', 2), ('UA', 1)], 2, 2)

    References
    ----------
    Anderson, D., Bevan, P., Lang, K., Liberty, E., Rhodes, L., Thaler, J. (2017). A
    high-performance algorithm for identifying frequent items in data streams. IMC.

    Flajolet, P., Fusy, É., Gandouet, O., Meunier, F. (2007). HyperLogLog: the analysis of a
    near-optimal cardinality estimation algorithm. AofA.
    """

    def __init__(self, max_categories: int) -> None:
        self.max_categories = max_categories
        self.counts: dict[str, int] | None = {}
        self.frequent: frequent_strings_sketch | None = None
        self.distinct_sketch: hll_sketch | None = None
        self.lengths = StringLengths()
        # DataSketches re-serializes a deserialized frequent-items map or HLL set in another item
        # order, so the bytes read are kept and written back unchanged until the sketches change.
        self._bytes_read: dict[str, bytes] = {}

    @property
    def exact(self) -> bool:
        """Whether value counts are exact (otherwise they are sketched)."""
        return self.counts is not None

    def expressions(self, name: str, prefix: str) -> list[pl.Expr]:
        """Expressions that compute one batch's statistics, named ``prefix + statistic``."""
        column = pl.col(name).cast(pl.String)
        return [column.value_counts().implode().alias(prefix + "values")]

    def update(self, stats: BatchStats) -> None:
        """Add one batch: ``stats`` holds the results of :meth:`expressions` on it."""
        pairs = stats.series("values").struct.unnest()
        values = pairs.to_series(0)
        if values.null_count():
            pairs = pairs.filter(values.is_not_null())
            values = pairs.to_series(0)
        if pairs.height == 0:
            return
        counts = pairs.get_column("count")
        # Lengths are measured once per distinct value, not once per row.
        self.lengths.add(values.str.len_chars(), counts)
        self._add(values.to_list(), counts.to_list())

    def _add(self, values: list[str], counts: list[int]) -> None:
        if self.counts is not None:
            for value, count in zip(values, counts, strict=True):
                self.counts[value] = self.counts.get(value, 0) + count
            if len(self.counts) > self.max_categories:
                self._to_sketches()
            return
        assert self.frequent is not None
        assert self.distinct_sketch is not None
        self._bytes_read = {}
        for value, count in zip(values, counts, strict=True):
            self.frequent.update(value, count)
            self.distinct_sketch.update(value)

    def _to_sketches(self) -> None:
        assert self.counts is not None
        counts = self.counts
        self.counts = None
        self.frequent = frequent_strings_sketch(frequent_items_lg_size(self.max_categories))
        self.distinct_sketch = hll_sketch(HLL_LG_K, tgt_hll_type.HLL_8)
        self._add(list(counts), list(counts.values()))

    @property
    def total(self) -> int:
        """Number of non-missing values."""
        return self.lengths.count

    @property
    def distinct(self) -> int:
        """Number of distinct values: exact, or the HLL estimate once sketched."""
        if self.counts is not None:
            return len(self.counts)
        assert self.distinct_sketch is not None
        return round(self.distinct_sketch.get_estimate())

    def items(self) -> list[tuple[str, int]]:
        """Values with their counts, most frequent first.

        Once sketched these are only the values known to be frequent (no false positives), with
        estimated counts; the rest of the rows are in :attr:`other`.
        """
        if self.counts is not None:
            return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        assert self.frequent is not None
        rows = self.frequent.get_frequent_items(frequent_items_error_type.NO_FALSE_POSITIVES)
        return [(value, int(estimate)) for value, estimate, *_ in rows]

    def count(self, value: str) -> int:
        """Number of rows holding ``value`` (an estimate once sketched)."""
        if self.counts is not None:
            return self.counts.get(value, 0)
        assert self.frequent is not None
        return int(self.frequent.get_estimate(value))

    @property
    def other(self) -> int:
        """Rows whose value is not among :meth:`items` (always 0 while counts are exact)."""
        return self.total - sum(count for _, count in self.items())

    def merge(self, other: CategorySummary) -> CategorySummary:
        merged = CategorySummary(min(self.max_categories, other.max_categories))
        merged.lengths = self.lengths.merge(other.lengths)
        if self.counts is not None and other.counts is not None:
            merged.counts = dict(self.counts)
            merged._add(list(other.counts), list(other.counts.values()))
            return merged
        frequent, distinct = self._sketches()
        other_frequent, other_distinct = other._sketches()
        frequent.merge(other_frequent)
        union = hll_union(HLL_LG_K)
        union.update(distinct)
        union.update(other_distinct)
        merged.counts = None
        merged.frequent = frequent
        merged.distinct_sketch = union.get_result(tgt_hll_type.HLL_8)
        return merged

    def _sketches(self) -> tuple[frequent_strings_sketch, hll_sketch]:
        """Copies of this summary's sketches, made from the exact counts if need be."""
        if self.counts is None:
            assert self.frequent is not None
            assert self.distinct_sketch is not None
            return (
                frequent_strings_sketch.deserialize(self.frequent.serialize()),
                hll_sketch.deserialize(self.distinct_sketch.serialize_compact()),
            )
        copy = CategorySummary(self.max_categories)
        copy.counts = dict(self.counts)
        copy._to_sketches()
        assert copy.frequent is not None
        assert copy.distinct_sketch is not None
        return copy.frequent, copy.distinct_sketch

    def to_dict(self) -> dict[str, object]:
        return {
            "max_categories": self.max_categories,
            # Most frequent first, so the same data always writes the same JSON text.
            "counts": None if self.counts is None else dict(self.items()),
            "frequent_items": None
            if self.frequent is None
            else encode_sketch(self._bytes_read.get("frequent_items") or self.frequent.serialize()),
            "distinct": None
            if self.distinct_sketch is None
            else encode_sketch(
                self._bytes_read.get("distinct") or self.distinct_sketch.serialize_compact()
            ),
            "lengths": self.lengths.to_dict(),
        }

    @classmethod
    def from_dict(cls, fields: Fields) -> CategorySummary:
        summary = cls(fields.integer("max_categories"))
        summary.lengths = StringLengths.from_dict(fields.child("lengths"))
        if fields.has("counts"):
            summary.counts = dict(fields.counts("counts"))
        else:
            summary.counts = None
            summary.frequent = fields.sketch("frequent_items", frequent_strings_sketch.deserialize)
            summary._bytes_read = {
                key: fields.sketch_bytes(key) for key in ("frequent_items", "distinct")
            }
            summary.distinct_sketch = fields.sketch("distinct", hll_sketch.deserialize)
        return summary
