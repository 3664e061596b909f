"""``Profile``: a mergeable, serializable summary of every column of a table."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.frame import DEFAULT_BATCH_ROWS, Data, iter_batches, read
from tether.profile.batch import add_batch
from tether.profile.categorical import DEFAULT_MAX_CATEGORIES
from tether.profile.column import SUMMARY_SCHEMA, ColumnProfile
from tether.profile.compare import compare
from tether.profile.histogram import DEFAULT_BINS
from tether.profile.serialize import Fields

FORMAT = "tether-profile"
FORMAT_VERSION = 1


class Profile:
    """A summary of every column of a table, built in one vectorized pass per batch.

    Per column it keeps counts of rows, missing, NaN and infinite values; for numbers, dates and
    datetimes the moments, extremes, a histogram on fixed bin edges with open tails, and KLL
    quantiles (fed a row sample of large batches: see
    :class:`~tether.profile.quantiles.SampledQuantiles`); for booleans true and false counts;
    for strings value counts (exact up to ``max_categories`` distinct values, sketched beyond)
    and lengths. Every part merges, so profiles built per batch, partition or day combine into
    the profile of all the data.

    Bin edges come from ``reference`` when given, so current data is binned exactly like the
    reference and profiles built against one reference merge. Without a reference, a column's edges
    come from the first batch in which it has finite values: for an in-memory frame (profiled as
    one batch) that is all of it; for files and iterables it is the first batch. Quantile edges
    are read off the batch's row sample, so they are within about 1% in rank of the batch's own.

    Parameters
    ----------
    data
        Anything :func:`tether.frame.iter_batches` reads: a polars, pandas or pyarrow table (taken
        whole), a path to parquet or csv, a directory or glob of parquet, a lazy frame, or an
        iterable of tables (read batch by batch so memory stays flat).
    reference
        A profile whose histogram edges to use for every numeric column it shares with ``data``.
    bins
        Bins between the tails when edges come from the data.
    max_categories
        Most distinct values of a text column counted exactly before switching to sketches.
    batch_rows
        Rows per batch when reading files or lazy frames.

    Example
    -------
    >>> train = pl.DataFrame(
    ...     {"dep_delay": [3.0, 12.0, None, 45.0], "carrier": ["AA", "UA", "AA", "DL"]}
    ... )
    >>> prof = Profile.build(train)
    >>> prof.rows, prof["dep_delay"].missing, prof["carrier"].categories.counts["AA"]
    (4, 1, 2)
    >>> later = Profile.build(train.head(2), reference=prof)
    >>> prof.merge(later).rows
    6
    >>> Profile.from_json(prof.to_json()).to_dict() == prof.to_dict()
    True
    """

    def __init__(
        self,
        columns: dict[str, ColumnProfile],
        rows: int = 0,
        *,
        bins: int = DEFAULT_BINS,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.bins = bins
        self.max_categories = max_categories

    @classmethod
    def build(
        cls,
        data: Data | Iterable[Any],
        reference: Profile | None = None,
        *,
        bins: int = DEFAULT_BINS,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Profile:
        """Profile ``data``, binning numeric columns on ``reference``'s edges when given."""
        if bins < 1:
            raise InputError(f"bins must be at least 1, got {bins}")
        if max_categories < 1:
            raise InputError(f"max_categories must be at least 1, got {max_categories}")
        profile: Profile | None = None
        for batch in _batches(data, batch_rows):
            if profile is None:
                profile = cls._empty(batch.schema, reference, bins, max_categories)
            profile._update(batch)
        if profile is None:
            raise InputError("Profile.build got no data: the input yielded no batches")
        return profile

    @classmethod
    def _empty(
        cls, schema: pl.Schema, reference: Profile | None, bins: int, max_categories: int
    ) -> Profile:
        references = reference.columns if reference is not None else {}
        columns = {
            name: ColumnProfile.empty(
                name, dtype, max_categories=max_categories, reference=references.get(name)
            )
            for name, dtype in schema.items()
        }
        return cls(columns, bins=bins, max_categories=max_categories)

    def _update(self, batch: pl.DataFrame) -> None:
        if batch.columns != list(self.columns):
            raise InputError(
                f"batches disagree on columns: {list(self.columns)} then {batch.columns}"
            )
        add_batch(self.columns, batch, self.bins)
        self.rows += batch.height

    def __getitem__(self, name: str) -> ColumnProfile:
        if name not in self.columns:
            raise InputError(f"column {name!r} is not in the profile; it has {list(self.columns)}")
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __repr__(self) -> str:
        return f"Profile(rows={self.rows}, columns={list(self.columns)})"

    def merge(self, other: Profile) -> Profile:
        """The profile of both inputs' rows together; neither input changes.

        Both must have the same columns with the same types, and numeric columns the same bin
        edges, which holds when both were built with the same ``reference``.
        """
        if set(self.columns) != set(other.columns):
            only_here = [c for c in self.columns if c not in other.columns]
            only_there = [c for c in other.columns if c not in self.columns]
            raise InputError(
                f"profiles have different columns: {only_here} only in the first, "
                f"{only_there} only in the second; merge profiles of the same table"
            )
        columns = {name: col.merge(other.columns[name]) for name, col in self.columns.items()}
        return Profile(
            columns,
            self.rows + other.rows,
            bins=self.bins,
            max_categories=min(self.max_categories, other.max_categories),
        )

    def summary(self) -> pl.DataFrame:
        """One row per column: kind, counts, extremes, moments, median, distinct and top values."""
        return pl.DataFrame(
            [column.summary_row() for column in self.columns.values()], schema=SUMMARY_SCHEMA
        )

    def compare(self, current: Profile) -> pl.DataFrame:
        """What changed from this (reference) profile to ``current``, one row per column.

        See :func:`tether.profile.compare.compare`.
        """
        return compare(self, current)

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready values (sketches as base64 of their native bytes)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "rows": self.rows,
            "bins": self.bins,
            "max_categories": self.max_categories,
            "columns": [column.to_dict() for column in self.columns.values()],
        }

    @classmethod
    def from_dict(cls, data: object) -> Profile:
        """Read a profile written by :meth:`to_dict`; raise ``FormatError`` naming a bad key."""
        fields = Fields(data, "")
        if fields.data.get("format") != FORMAT:
            raise FormatError(
                f"profile JSON: format must be {FORMAT!r}, got {fields.data.get('format')!r}"
            )
        version = fields.integer("format_version")
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"profile JSON has format_version {version}, this tether reads up to "
                f"{FORMAT_VERSION}; upgrade tether to read it"
            )
        if version < 1:
            raise FormatError(f"profile JSON: format_version must be at least 1, got {version}")
        columns = [ColumnProfile.from_dict(child) for child in fields.children("columns")]
        return cls(
            {column.name: column for column in columns},
            fields.integer("rows"),
            bins=fields.integer("bins"),
            max_categories=fields.integer("max_categories"),
        )

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The profile as JSON text, also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> Profile:
        """Read a profile from JSON text or from a file holding it."""
        if isinstance(text_or_path, str) and text_or_path.lstrip().startswith(("{", "[")):
            text = text_or_path
        else:
            try:
                text = Path(text_or_path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise FormatError(f"profile JSON: cannot read {text_or_path} ({exc})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"profile JSON is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _batches(data: Data | Iterable[Any], batch_rows: int) -> Iterator[pl.DataFrame]:
    """Tables in memory as one batch (slicing them would only cost time); the rest in batches."""
    if isinstance(data, pl.DataFrame | pa.Table | pa.RecordBatch) or _is_pandas(data):
        yield read(data)
    else:
        yield from iter_batches(data, batch_rows=batch_rows)


def _is_pandas(data: object) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"
