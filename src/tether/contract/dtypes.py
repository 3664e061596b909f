"""Canonical dtype names of a contract, and how they map to polars types.

A contract names a column's type with one short string that a person can read and edit:
``int64``, ``float64``, ``bool``, ``string``, ``date``, ``datetime[us]``, ``datetime[us, UTC]``
(any unit ``ns``/``us``/``ms``, any IANA time zone) and ``null`` (the column was entirely missing
in training, so any value is accepted). Integer widths collapse to ``int64`` and float widths to
``float64``: the range rules, not the storage width, say which values are allowed.

>>> canonical(pl.Datetime("us", "UTC"))
'datetime[us, UTC]'
>>> kind("datetime[ns]"), to_polars("float64")
('datetime', Float64)
"""

from __future__ import annotations

import re
import zoneinfo

import polars as pl

KINDS = ("int", "float", "bool", "string", "date", "datetime", "null")
"""The families of values a contract distinguishes; every dtype belongs to one."""

_DATETIME = re.compile(r"^datetime\[(ns|us|ms)(?:, ([^\]]+))?\]$")
_SIMPLE = {
    "int64": pl.Int64,
    "float64": pl.Float64,
    "bool": pl.Boolean,
    "string": pl.String,
    "date": pl.Date,
    "null": pl.Null,
}
_KIND_OF_SIMPLE = {
    "int64": "int",
    "float64": "float",
    "bool": "bool",
    "string": "string",
    "date": "date",
    "null": "null",
}


def canonical(dtype: pl.DataType) -> str | None:
    """The contract dtype name of a polars type, or None when contracts do not support it."""
    if dtype.is_integer():
        return "int64"
    if dtype.is_float():
        return "float64"
    if isinstance(dtype, pl.Boolean):
        return "bool"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "string"
    if isinstance(dtype, pl.Date):
        return "date"
    if isinstance(dtype, pl.Datetime):
        zone = f", {dtype.time_zone}" if dtype.time_zone else ""
        return f"datetime[{dtype.time_unit}{zone}]"
    if isinstance(dtype, pl.Null):
        return "null"
    return None


def kind(name: str) -> str:
    """The kind (one of :data:`KINDS`) of a valid contract dtype name."""
    return "datetime" if name.startswith("datetime") else _KIND_OF_SIMPLE[name]


def input_kind(dtype: pl.DataType) -> str | None:
    """The kind of a column arriving in data, or None for types no contract accepts."""
    name = canonical(dtype)
    return None if name is None else kind(name)


def time_zone(name: str) -> str | None:
    """The time zone of a ``datetime[...]`` dtype name (None when naive or not a datetime)."""
    match = _DATETIME.match(name)
    return match.group(2) if match else None


def to_polars(name: str) -> pl.DataType:
    """The polars type a column of contract dtype ``name`` is stored as."""
    match = _DATETIME.match(name)
    if match:
        return pl.Datetime(match.group(1), match.group(2))  # type: ignore[arg-type]
    return _SIMPLE[name]()


def check(name: object) -> str | None:
    """Why ``name`` is not a valid dtype name, or None when it is."""
    if not isinstance(name, str):
        return f"expected a dtype name, got {name!r}"
    match = _DATETIME.match(name)
    if match:
        if match.group(2) is None:
            return None
        try:
            zoneinfo.ZoneInfo(match.group(2))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone {match.group(2)!r} in dtype {name!r}"
        return None
    if name in _SIMPLE:
        return None
    return (
        f"unknown dtype {name!r} (expected one of {', '.join(_SIMPLE)}, "
        "datetime[<ns|us|ms>] or datetime[<unit>, <time zone>])"
    )
