"""Profile of one column: counts common to every type, plus the summary for its kind."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import polars as pl

from tether.errors import InputError
from tether.profile.batch import add_batch
from tether.profile.boolean import BooleanSummary
from tether.profile.categorical import DEFAULT_MAX_CATEGORIES, CategorySummary
from tether.profile.histogram import DEFAULT_BINS
from tether.profile.numeric import NumericSummary
from tether.profile.serialize import Fields
from tether.profile.stats import BatchStats

KINDS = ("numeric", "integer", "boolean", "categorical", "string", "datetime")
"""Every kind a column can have."""


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("Float", "Decimal"))


def _is_integer(dtype: str) -> bool:
    return dtype.startswith(("Int", "UInt"))


def _is_temporal(dtype: str) -> bool:
    return dtype.startswith("Date")


def _is_text(dtype: str) -> bool:
    return dtype.startswith(("String", "Categorical", "Enum", "Null"))


class ColumnProfile:
    """What a profile knows about one column.

    Every column has ``count`` (rows) and ``missing`` (nulls), and one summary for its kind:
    ``numeric`` (a :class:`~tether.profile.numeric.NumericSummary`) for integer, float, date and
    datetime columns, ``boolean`` (a :class:`~tether.profile.boolean.BooleanSummary`), or
    ``categories`` (a :class:`~tether.profile.categorical.CategorySummary`) for strings,
    categoricals and enums; the other two are ``None``. The kind is read from the dtype and, for
    text, from whether counts are still exact: ``categorical`` while they are, ``string`` after.

    Parameters
    ----------
    name
        Column name.
    dtype
        The polars dtype, as its string.
    numeric, boolean, categories
        The summary for the column's kind; exactly one is given.
    count, missing
        Rows seen and rows that were null.

    Example
    -------
    >>> column = ColumnProfile.empty("dep_delay", pl.Float64)
    >>> column.update(pl.Series("dep_delay", [3.0, None, 12.0]))
    >>> column.kind, column.count, column.missing, column.mean
    ('numeric', 3, 1, 7.5)
    """

    def __init__(
        self,
        name: str,
        dtype: str,
        *,
        numeric: NumericSummary | None = None,
        boolean: BooleanSummary | None = None,
        categories: CategorySummary | None = None,
        count: int = 0,
        missing: int = 0,
    ) -> None:
        self.name = name
        self.dtype = dtype
        self.numeric = numeric
        self.boolean = boolean
        self.categories = categories
        self.count = count
        self.missing = missing

    @classmethod
    def empty(
        cls,
        name: str,
        dtype: pl.DataType,
        *,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        reference: ColumnProfile | None = None,
    ) -> ColumnProfile:
        """A profile of no rows yet, for a column of this dtype.

        A numeric column with a numeric ``reference`` takes its bin edges, so it is binned exactly
        like the reference (a reference that saw no finite values gives one bin for everything).
        """
        text = str(dtype)
        if isinstance(dtype, pl.Boolean):
            return cls(name, text, boolean=BooleanSummary())
        if _is_text(text):
            return cls(name, text, categories=CategorySummary(max_categories))
        if dtype.is_numeric() or isinstance(dtype, pl.Date | pl.Datetime):
            edges = None
            if reference is not None and reference.numeric is not None:
                histogram = reference.numeric.histogram
                edges = () if histogram is None else histogram.edges
            return cls(name, text, numeric=NumericSummary(floating=_is_float(text), edges=edges))
        raise InputError(
            f"column {name!r} has type {dtype}, which Profile does not support: profile numbers, "
            "booleans, strings, categoricals, dates and datetimes; drop or convert it"
        )

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`."""
        if self.boolean is not None:
            return "boolean"
        if self.categories is not None:
            return "categorical" if self.categories.exact else "string"
        if _is_temporal(self.dtype):
            return "datetime"
        return "integer" if _is_integer(self.dtype) else "numeric"

    def expressions(self, prefix: str) -> list[pl.Expr]:
        """Expressions computing this column's statistics on a batch, named ``prefix + ...``."""
        summary = self.numeric or self.boolean or self.categories
        assert summary is not None
        return [
            pl.col(self.name).null_count().alias(prefix + "missing"),
            *summary.expressions(self.name, prefix),
        ]

    def update(self, column: pl.Series, *, bins: int = DEFAULT_BINS) -> None:
        """Add one batch of this column (``bins`` is used only if bin edges are not chosen yet).

        :meth:`Profile.build <tether.profile.Profile.build>` adds all columns of a batch at once
        instead, so their statistics come from one ``select``.
        """
        add_batch({self.name: self}, column.to_frame(self.name), bins)

    def add(self, rows: int, stats: BatchStats, second: BatchStats) -> None:
        """Add one batch of ``rows`` rows from its statistics (see :func:`~.batch.add_batch`)."""
        self.count += rows
        self.missing += stats.integer("missing")
        if self.numeric is not None:
            self.numeric.update(stats, second)
        elif self.boolean is not None:
            self.boolean.update(stats)
        elif self.categories is not None:
            self.categories.update(stats)

    def check_dtype(self, dtype: pl.DataType) -> None:
        """Raise ``InputError`` if a batch brings this column with another type."""
        if str(dtype) != self.dtype:
            raise InputError(
                f"column {self.name!r} changed type between batches: {self.dtype} then {dtype}"
            )

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        if other.dtype != self.dtype:
            raise InputError(
                f"column {self.name!r} has type {self.dtype} in one profile and {other.dtype} in "
                "the other; profiles merge only when every column has the same type"
            )
        merged = ColumnProfile(
            self.name,
            self.dtype,
            count=self.count + other.count,
            missing=self.missing + other.missing,
        )
        if self.numeric is not None and other.numeric is not None:
            merged.numeric = self.numeric.merge(other.numeric, self.name)
        elif self.boolean is not None and other.boolean is not None:
            merged.boolean = self.boolean.merge(other.boolean)
        elif self.categories is not None and other.categories is not None:
            merged.categories = self.categories.merge(other.categories)
        return merged

    @property
    def missing_rate(self) -> float | None:
        return self.missing / self.count if self.count else None

    @property
    def mean(self) -> float | dt.date | dt.datetime | None:
        """Mean of finite values; share of true for booleans; a datetime for datetimes."""
        if self.boolean is not None:
            return self.boolean.mean
        if self.numeric is None:
            return None
        return self._shown(self.numeric.moments.mean)

    @property
    def std(self) -> float | None:
        """Sample standard deviation (in the physical unit for datetimes: days or the time unit)."""
        if self.boolean is not None:
            return self.boolean.std
        return None if self.numeric is None else self.numeric.moments.std

    @property
    def min(self) -> float | dt.date | dt.datetime | None:
        return None if self.numeric is None else self._shown(self.numeric.min)

    @property
    def max(self) -> float | dt.date | dt.datetime | None:
        return None if self.numeric is None else self._shown(self.numeric.max)

    def quantile(self, q: float) -> float | dt.date | dt.datetime | None:
        """Value at quantile ``q`` from the sampled KLL sketches (rank error about 1.3-2%).

        The bound for this column is ``numeric.quantiles.rank_error``.
        """
        return None if self.numeric is None else self._shown(self.numeric.quantile(q))

    @property
    def distinct(self) -> int | None:
        """Distinct non-missing values: exact for booleans and counted categories, an HLL
        estimate for sketched strings, ``None`` for numbers (not tracked)."""
        if self.boolean is not None:
            return (self.boolean.true > 0) + (self.boolean.false > 0)
        return None if self.categories is None else self.categories.distinct

    def _shown(self, value: int | float | None) -> Any:
        """A physical value as the user sees it: datetimes for datetime columns."""
        if value is None or not _is_temporal(self.dtype):
            return value
        if self.dtype == "Date":
            return pl.Series([round(value)], dtype=pl.Int32).cast(pl.Date).item()
        unit = re.search(r"time_unit='(\w+)'", self.dtype)
        zone = re.search(r"time_zone='([^']+)'", self.dtype)
        datetime = pl.Datetime(unit.group(1) if unit else "us", zone.group(1) if zone else None)  # type: ignore[arg-type]
        return pl.Series([round(value)], dtype=pl.Int64).cast(datetime).item()

    def summary_row(self) -> dict[str, object]:
        """One row of :meth:`Profile.summary <tether.profile.Profile.summary>`."""
        numeric, categories = self.numeric, self.categories
        top = categories.items()[:1] if categories is not None else []
        lengths = categories.lengths if categories is not None else None
        return {
            "column": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "missing_rate": self.missing_rate,
            "nan": numeric.nan if numeric is not None else 0,
            "inf": numeric.inf if numeric is not None else 0,
            "min": _text(self.min),
            "max": _text(self.max),
            "mean": self.mean if isinstance(self.mean, float) else None,
            "std": self.std if self.kind != "datetime" else None,
            "p50": _text(self.quantile(0.5)),
            "zeros": numeric.zeros if numeric is not None else None,
            "negatives": numeric.negatives if numeric is not None else None,
            "distinct": self.distinct,
            "distinct_is_estimate": categories is not None and not categories.exact,
            "top": top[0][0] if top else None,
            "top_count": top[0][1] if top else None,
            "length_min": lengths.min if lengths is not None else None,
            "length_max": lengths.max if lengths is not None else None,
            "length_mean": lengths.mean if lengths is not None else None,
        }

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = {
            "name": self.name,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
        }
        if self.numeric is not None:
            result["numeric"] = self.numeric.to_dict()
        elif self.boolean is not None:
            result["boolean"] = self.boolean.to_dict()
        elif self.categories is not None:
            result["categories"] = self.categories.to_dict()
        return result

    @classmethod
    def from_dict(cls, fields: Fields) -> ColumnProfile:
        dtype = fields.text("dtype")
        column = cls(
            fields.text("name"),
            dtype,
            count=fields.integer("count"),
            missing=fields.integer("missing"),
        )
        if dtype == "Boolean":
            column.boolean = BooleanSummary.from_dict(fields.child("boolean"))
        elif _is_text(dtype):
            column.categories = CategorySummary.from_dict(fields.child("categories"))
        else:
            column.numeric = NumericSummary.from_dict(
                fields.child("numeric"), floating=_is_float(dtype)
            )
        return column


SUMMARY_SCHEMA = {
    "column": pl.String,
    "kind": pl.String,
    "dtype": pl.String,
    "count": pl.Int64,
    "missing": pl.Int64,
    "missing_rate": pl.Float64,
    "nan": pl.Int64,
    "inf": pl.Int64,
    "min": pl.String,
    "max": pl.String,
    "mean": pl.Float64,
    "std": pl.Float64,
    "p50": pl.String,
    "zeros": pl.Int64,
    "negatives": pl.Int64,
    "distinct": pl.Int64,
    "distinct_is_estimate": pl.Boolean,
    "top": pl.String,
    "top_count": pl.Int64,
    "length_min": pl.Int64,
    "length_max": pl.Int64,
    "length_mean": pl.Float64,
}
"""Columns of :meth:`Profile.summary <tether.profile.Profile.summary>`; ``min``, ``max`` and
``p50`` are text so numbers and datetimes share one column (the exact values are on
:class:`ColumnProfile`)."""


def _text(value: object) -> str | None:
    return None if value is None else str(value)
