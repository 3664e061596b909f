"""``ColumnSpec``: what a contract says about one column."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from tether.contract import dtypes, keys
from tether.contract.rules import POLICIES, ROLES

Bound = int | float | dt.date | dt.datetime
"""A min or max: a number for numeric columns, a date or datetime for temporal ones."""

_KEYS = (
    "dtype",
    "role",
    "policy",
    "nullable",
    "missing_rate",
    "min",
    "max",
    "integer",
    "allow_nan",
    "allow_inf",
    "categories",
    "max_length",
    "pattern",
)


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """What a contract says about one column; checked when built, so a spec is always usable.

    Parameters
    ----------
    name : the column name.
    dtype : canonical dtype name (see :mod:`tether.contract.dtypes`), e.g. ``"float64"``.
    role : ``feature``, ``target``, ``id``, ``time`` or ``prediction``.
    policy : ``reject`` (a broken value rejects its row), ``flag`` (reported, row kept) or
        ``coerce`` (convert text and numbers first; what does not convert, or breaks a rule
        after conversion, rejects its row).
    nullable : whether a missing value (None/null) is allowed.
    missing_rate : the fraction of missing values seen in training (informational).
    min, max : inclusive bounds of numeric, date and datetime columns.
    integer : a float column whose values must be whole numbers (int columns always must).
    allow_nan, allow_inf : whether NaN / ±inf are allowed in a float column.
    categories : the allowed values of a string column.
    max_length : the longest allowed string, in characters.
    pattern : a regular expression the whole string must match (anchors optional).

    Example
    -------
    >>> spec = ColumnSpec("dep_delay", "float64", min=-43.0, max=1720.0, integer=True)
    >>> spec.to_dict()["max"], spec.required
    (1720.0, True)
    >>> ColumnSpec("x", "float64", min=2.0, max=1.0)
    Traceback (most recent call last):
    ...
    tether.errors.ContractError: columns.x.min: 2.0 is greater than max 1.0
    """

    name: str
    dtype: str
    role: str = "feature"
    policy: str = "reject"
    nullable: bool = True
    missing_rate: float | None = None
    min: Bound | None = None
    max: Bound | None = None
    integer: bool = False
    allow_nan: bool = False
    allow_inf: bool = False
    categories: tuple[str, ...] | None = None
    max_length: int | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        path = f"columns.{self.name}"
        problem = dtypes.check(self.dtype)
        if problem:
            keys.fail(f"{path}.dtype", problem)
        keys.text(self.role, f"{path}.role", ROLES)
        keys.text(self.policy, f"{path}.policy", POLICIES)
        kind = self.kind
        for key in ("min", "max"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, _bound(value, self.dtype, f"{path}.{key}"))
        if self.min is not None and self.max is not None and self.min > self.max:  # type: ignore[operator]
            keys.fail(f"{path}.min", f"{_plain(self.min)} is greater than max {_plain(self.max)}")
        only = {"integer": "float", "allow_nan": "float", "allow_inf": "float"}
        only.update(categories="string", max_length="string", pattern="string")
        for key, needed in only.items():
            if getattr(self, key) not in (None, False) and kind != needed:
                keys.fail(f"{path}.{key}", f"only applies to {needed} columns, not {self.dtype}")
        if self.categories is not None:
            object.__setattr__(self, "categories", _categories(self.categories, path))
        if self.pattern is not None:
            _check_pattern(self.pattern, f"{path}.pattern")

    @property
    def kind(self) -> str:
        """The kind of values (``int``, ``float``, ``string`` …) this column holds."""
        return dtypes.kind(self.dtype)

    @property
    def required(self) -> bool:
        """Whether data must have this column (target and prediction may be absent)."""
        return self.role not in ("target", "prediction")

    @property
    def whole(self) -> bool:
        """Whether values must be whole numbers (int columns, and float columns marked integer)."""
        return self.kind == "int" or self.integer

    @property
    def anchored_pattern(self) -> str | None:
        """The pattern wrapped so a search matches only the whole value, in Python and polars."""
        return None if self.pattern is None else f"^(?:{self.pattern})$"

    def limit(self, rule: str) -> object:
        """The bound a value rule checks, as shown in its message."""
        return {
            "below_min": self.min,
            "above_max": self.max,
            "unseen_category": self.categories,
            "too_long": self.max_length,
            "bad_format": self.pattern,
        }.get(rule)

    def describe(self) -> str:
        """The value rules of this column in a few words, for tables a person reads.

        >>> ColumnSpec("carrier", "string", categories=("AA", "UA")).describe()
        'one of 2 values: AA, UA'
        >>> ColumnSpec("distance", "int64", min=0, max=5500).describe()
        'between 0 and 5500'
        """
        parts = []
        if self.min is not None and self.max is not None:
            parts.append(f"between {_plain(self.min)} and {_plain(self.max)}")
        elif self.min is not None:
            parts.append(f"at least {_plain(self.min)}")
        elif self.max is not None:
            parts.append(f"at most {_plain(self.max)}")
        if self.integer:
            parts.append("whole numbers")
        if self.categories is not None:
            shown = ", ".join(self.categories[:5]) + (", …" if len(self.categories) > 5 else "")
            parts.append(f"one of {len(self.categories)} values: {shown}")
        if self.pattern is not None:
            parts.append(f"matches {self.pattern}")
        if self.max_length is not None and self.categories is None:
            parts.append(f"at most {self.max_length} characters")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain YAML-ready values; keys that hold their default are left out."""
        out: dict[str, Any] = {"dtype": self.dtype, "role": self.role, "policy": self.policy}
        out["nullable"] = self.nullable
        for key in _KEYS[4:]:
            value = getattr(self, key)
            if value is None or value is False:
                continue
            if isinstance(value, dt.date):
                value = value.isoformat()
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, name: str, data: object) -> ColumnSpec:
        """Read a spec from :meth:`to_dict` output, naming the key path of anything wrong."""
        path = f"columns.{name}"
        entry = keys.mapping(data, path, _KEYS)
        if "dtype" not in entry:
            keys.fail(f"{path}.dtype", "missing (every column needs a dtype)")
        fields: dict[str, Any] = {"dtype": entry["dtype"]}
        for key in ("role", "policy"):
            if key in entry:
                fields[key] = keys.text(entry[key], f"{path}.{key}")
        for key in ("nullable", "integer", "allow_nan", "allow_inf"):
            if key in entry:
                fields[key] = keys.boolean(entry[key], f"{path}.{key}")
        if "missing_rate" in entry:
            rate = keys.number(entry["missing_rate"], f"{path}.missing_rate")
            if not 0 <= rate <= 1:
                keys.fail(f"{path}.missing_rate", f"expected a fraction in [0, 1], got {rate!r}")
            fields["missing_rate"] = float(rate)
        for key in ("min", "max"):
            if key in entry:
                fields[key] = entry[key]
        if "categories" in entry:
            fields["categories"] = entry["categories"]
        if "max_length" in entry:
            fields["max_length"] = keys.integer(entry["max_length"], f"{path}.max_length", 1)
        if "pattern" in entry:
            fields["pattern"] = keys.text(entry["pattern"], f"{path}.pattern")
        return cls(name, **fields)


def _bound(value: object, dtype: str, path: str) -> Bound:
    """A min/max converted to the type the column's values are compared with."""
    kind = dtypes.kind(dtype)
    if kind == "int":
        number = keys.number(value, path)
        if isinstance(number, float) and not number.is_integer():
            keys.fail(path, f"expected an integer for an int64 column, got {number!r}")
        return int(number)
    if kind == "float":
        number = float(keys.number(value, path))
        if math.isnan(number):
            keys.fail(path, "expected a number, got nan")
        return number
    if kind == "date":
        return _date(value, path)
    if kind == "datetime":
        return _datetime(value, dtypes.time_zone(dtype), path)
    keys.fail(path, f"only numeric, date and datetime columns have bounds, not {dtype}")


def _date(value: object, path: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    keys.fail(path, f"expected an ISO date like 2024-01-31, got {value!r}")


def _datetime(value: object, zone: str | None, path: str) -> dt.datetime:
    parsed: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        keys.fail(path, f"expected an ISO timestamp like 2024-01-31T08:00:00, got {value!r}")
    if zone is None:
        if parsed.tzinfo is not None:
            keys.fail(path, f"the column is naive (no time zone), got {value!r}")
        return parsed
    import zoneinfo

    tz = zoneinfo.ZoneInfo(zone)
    # A naive bound in an aware column is read in the column's own zone.
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed.astimezone(tz)


def _categories(values: object, path: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        keys.fail(f"{path}.categories", f"expected a list of strings, got {values!r}")
    for i, value in enumerate(values):
        keys.text(value, f"{path}.categories[{i}]")
    return tuple(values)


def _check_pattern(pattern: str, path: str) -> None:
    # Both engines must accept it: Python's re (record path) and polars' Rust regex (batch path).
    try:
        re.compile(pattern)
        pl.Series([""]).str.contains(pattern)
    except (re.error, pl.exceptions.PolarsError) as exc:
        keys.fail(path, f"invalid regular expression {pattern!r} ({str(exc).splitlines()[0]})")


def _plain(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else repr(value)


def specs_from_mapping(data: object, path: str = "columns") -> dict[str, ColumnSpec]:
    """Column specs from the ``columns`` mapping of a parsed contract, in file order."""
    entries: Mapping[str, Any] = keys.mapping(data, path)
    return {name: ColumnSpec.from_dict(name, entry) for name, entry in entries.items()}
