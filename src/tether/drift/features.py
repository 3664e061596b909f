"""The columns a model of the data uses, and how they become numbers.

Multivariate drift detectors and performance estimators that train a model on the reference (the
domain classifier, DLE's nanny models) share these rules: which columns take part (date and time
columns only when named), what kind each is (numeric, temporal, categorical, or empty when the
reference has no value), that the current data has them in a compatible type, and how a column
reads as float64 (non-finite values as missing) or as its most frequent categories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tether.errors import InputError

__all__ = [
    "FeatureColumn",
    "as_codes",
    "as_number",
    "column_kind",
    "current_columns",
    "feature_columns",
    "ranked_levels",
]


@dataclass(frozen=True)
class FeatureColumn:
    """One column taking part: its name, kind and reference dtype.

    Example
    -------
    >>> feature_columns(pl.DataFrame({"x": [1.0], "c": ["a"]}), None, "example")[1]
    FeatureColumn(name='c', kind='categorical', dtype=String)
    """

    name: str
    kind: str  # "numeric", "temporal", "categorical" or "empty" (all missing in the reference)
    dtype: pl.DataType


def column_kind(dtype: pl.DataType) -> str | None:
    """``numeric`` (booleans too), ``temporal``, ``categorical``, ``empty`` (the Null type) or
    None for types a model of the data cannot take (lists, structs, binary)."""
    if dtype == pl.Null:
        return "empty"
    if dtype.is_numeric() or dtype == pl.Boolean:
        return "numeric"
    if dtype.is_temporal():
        return "temporal"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "categorical"
    return None


def feature_columns(
    frame: pl.DataFrame, columns: list[str] | None, who: str
) -> list[FeatureColumn]:
    """The reference's columns that take part (``columns``, or all but dates and times), each
    with its kind; ``who`` names the caller in error messages."""
    if frame.height == 0:
        raise InputError(f"{who}: the reference has no rows; pass a non-empty reference")
    if columns is None:
        # A timestamp separates any later window from its reference by construction, so date
        # and time columns are used only when named.
        names = [c for c, d in frame.schema.items() if not d.is_temporal()]
    else:
        names = list(columns)
    if not names:
        raise InputError(
            f"{who}: the reference has no columns to compare (date and time columns are used "
            "only when named in columns=); pass at least one column"
        )
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise InputError(f"{who}: columns {missing} are not in the reference")
    out = []
    for name in names:
        column = frame.get_column(name)
        kind = column_kind(column.dtype)
        if kind is None:
            raise InputError(
                f"{who}: column {name!r} has type {column.dtype}, which is not numeric, temporal "
                "or categorical; drop or flatten it"
            )
        if column.null_count() == frame.height or _all_non_finite(column, kind):
            kind = "empty"
        out.append(FeatureColumn(name, kind, column.dtype))
    return out


def _all_non_finite(column: pl.Series, kind: str) -> bool:
    if kind != "numeric" or not column.dtype.is_float():
        return False
    return not bool(column.is_finite().any())


def current_columns(frame: pl.DataFrame, schema: list[FeatureColumn], who: str) -> pl.DataFrame:
    """The current frame's reference columns, checked for presence and compatible types."""
    if frame.height == 0:
        raise InputError(f"{who}: the current data has no rows; pass at least one row")
    missing = [c.name for c in schema if c.name not in frame.columns]
    if missing:
        raise InputError(f"{who}: columns {missing} of the reference are not in the current data")
    for column in schema:
        dtype = frame.schema[column.name]
        kind = column_kind(dtype)
        if column.kind == "empty" or kind == "empty":
            continue
        if kind != column.kind:
            raise InputError(
                f"{who}: column {column.name!r} is {dtype} in the current data but "
                f"{column.dtype} in the reference; pass the same types"
            )
    return frame.select(c.name for c in schema)


def as_number(column: FeatureColumn) -> pl.Expr:
    """The column as float64 with non-finite values (NaN, inf) taken as missing."""
    value = pl.col(column.name)
    if column.kind == "temporal":
        value = value.to_physical()
    value = value.cast(pl.Float64)
    return pl.when(value.is_finite()).then(value).otherwise(None)


def ranked_levels(values: pl.Series, limit: int) -> tuple[list[str], np.ndarray]:
    """The ``limit`` most frequent non-missing values (ties by value) and their counts."""
    counts = (
        values.drop_nulls()
        .value_counts(name="count")
        .sort(["count", values.name], descending=[True, False])
        .head(limit)
    )
    return counts.get_column(values.name).to_list(), counts.get_column("count").to_numpy()


def as_codes(
    frame: pl.DataFrame, columns: list[FeatureColumn], levels: dict[str, list[str]]
) -> np.ndarray:
    """``columns`` of ``frame`` as a float64 matrix for a tree model: numbers and times as
    numbers, each category as its index in ``levels`` (any other value one code past the
    last), a column empty in the reference as whether a value is present; missing as NaN.

    Example
    -------
    >>> frame = pl.DataFrame({"x": [1.5, None], "c": ["b", "z"]})
    >>> as_codes(frame, feature_columns(frame, None, "example"), {"c": ["a", "b"]}).tolist()
    [[1.5, 1.0], [nan, 2.0]]
    """
    exprs = []
    for column in columns:
        if column.kind == "empty":
            value = pl.col(column.name).is_not_null().cast(pl.Float64)
        elif column.kind == "categorical":
            names = levels[column.name]
            value = (
                pl.col(column.name)
                .cast(pl.String)
                .replace_strict(
                    names, list(range(len(names))), default=len(names), return_dtype=pl.Int64
                )
                .cast(pl.Float64)
            )
        else:
            value = as_number(column)
        exprs.append(value.alias(column.name))
    return frame.select(exprs).to_numpy().astype(np.float64)  # nulls become NaN
