"""Validating one record (a dict) against a contract, without polars, in microseconds.

When a contract is built, each column's rules are compiled into one checker closure. A checker
first tries a fast test that only values that surely pass can satisfy (e.g. a float inside the
band); anything else goes through the full evaluation, which applies the same conversions and
rules, in the same order, with the same messages, as the batch path
(:mod:`tether.contract.validate`).

>>> from tether.contract.spec import ColumnSpec
>>> check = compile_checker(ColumnSpec("dep_delay", "float64", min=-43.0, max=1720.0))
>>> check(3.0) is None
True
>>> check(9999.0)[0]["message"]
'dep_delay: value 9999.0 above max 1720.0 (rule above_max)'
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import zoneinfo
from collections.abc import Callable
from typing import Any

from tether.contract import dtypes
from tether.contract.rules import (
    DATE,
    DATETIME,
    INTEGER,
    NUMBER,
    TRUE_FALSE,
    error_policy,
    message_parts,
    show,
)
from tether.contract.spec import ColumnSpec

Problem = dict[str, Any]
"""One broken rule: ``column``, ``value`` (shown as text), ``rule``, ``policy``, ``message``."""

Checker = Callable[[Any], "list[Problem] | None"]
"""A compiled column check: the problems of one value, or None when it passes."""

_WRONG = object()
_INT64 = (-(2**63), 2**63 - 1)
_BIG = sys.float_info.max


def compile_checker(spec: ColumnSpec) -> Checker:
    """The checker closure of one column (see the module docstring)."""
    convert = _converter(spec)
    rules = _value_rules(spec)
    policy = error_policy(spec.policy)
    parts = {
        rule: message_parts(rule, spec.name, spec.dtype, spec.limit(rule))
        for rule in ("wrong_type", "null", *(rule for rule, _ in rules))
    }
    nullable = spec.nullable

    def problem(rule: str, value: object) -> Problem:
        shown = show(value)
        prefix, suffix = parts[rule]
        return {
            "column": spec.name,
            "value": shown,
            "rule": rule,
            "policy": policy,
            "message": prefix + shown + suffix,
        }

    def full(value: Any) -> list[Problem] | None:
        if value is None:
            return None if nullable else [problem("null", None)]
        if hasattr(value, "item") and type(value).__module__ == "numpy":
            value = value.item()  # numpy scalars check (and print) as the Python values they hold
        raw = convert(value)
        if raw is _WRONG:
            return [problem("wrong_type", value)]
        found = [problem(rule, value) for rule, broken in rules if broken(raw)]
        return found or None

    return _with_fast_path(spec, full)


def _with_fast_path(spec: ColumnSpec, full: Checker) -> Checker:
    """``full`` behind a cheap test that lets surely-valid values through at once."""
    kind = spec.kind
    if kind in ("int", "float"):
        lo: Any = _INT64[0] if kind == "int" else -_BIG
        hi: Any = _INT64[1] if kind == "int" else _BIG
        lo = lo if spec.min is None else spec.min
        hi = hi if spec.max is None else spec.max
        if kind == "int":

            def check_int(value: Any) -> list[Problem] | None:
                if type(value) is int and lo <= value <= hi:
                    return None
                return full(value)

            return check_int
        whole = spec.whole

        def check_float(value: Any) -> list[Problem] | None:
            # NaN and ±inf fail the comparison and take the full path
            if type(value) is float and lo <= value <= hi and (not whole or value.is_integer()):
                return None
            return full(value)

        return check_float
    if kind == "string":
        categories = None if spec.categories is None else frozenset(spec.categories)
        longest = spec.max_length
        pattern = None if spec.anchored_pattern is None else re.compile(spec.anchored_pattern)

        def check_string(value: Any) -> list[Problem] | None:
            if (
                type(value) is str
                and (categories is None or value in categories)
                and (longest is None or len(value) <= longest)
                and (pattern is None or pattern.fullmatch(value))
            ):
                return None
            return full(value)

        return check_string
    if kind == "bool":

        def check_bool(value: Any) -> list[Problem] | None:
            return None if type(value) is bool else full(value)

        return check_bool
    return full


def _converter(spec: ColumnSpec) -> Callable[[Any], Any]:
    """Value -> the value its rules check, or ``_WRONG`` when it is not and cannot become valid."""
    kind = spec.kind
    coerce = spec.policy == "coerce"

    if kind == "null":
        return lambda value: value
    if kind == "int":

        def to_int(value: Any) -> Any:
            if type(value) is int:
                return value if _INT64[0] <= value <= _INT64[1] else _WRONG
            if type(value) is float:
                return value
            if coerce and type(value) is str:
                return _parse_number(value)
            return _WRONG

        return to_int
    if kind == "float":

        def to_float(value: Any) -> Any:
            if type(value) is float:
                return value
            if type(value) is int:
                return float(value) if _INT64[0] <= value <= _INT64[1] else _WRONG
            if coerce and type(value) is str:
                return _parse_number(value)
            return _WRONG

        return to_float
    if kind == "bool":

        def to_bool(value: Any) -> Any:
            if type(value) is bool:
                return value
            if coerce and type(value) is str:
                return TRUE_FALSE.get(value.lower(), _WRONG)
            return _WRONG

        return to_bool
    if kind == "string":

        def to_string(value: Any) -> Any:
            if type(value) is str:
                return value
            if coerce and type(value) is int:
                return str(value)
            return _WRONG

        return to_string
    if kind == "date":

        def to_date(value: Any) -> Any:
            if type(value) is dt.date:
                return value
            if coerce and type(value) is str and DATE.match(value):
                try:
                    return dt.date.fromisoformat(value)
                except ValueError:
                    return _WRONG
            return _WRONG

        return to_date
    return _datetime_converter(spec, coerce)


def _datetime_converter(spec: ColumnSpec, coerce: bool) -> Callable[[Any], Any]:
    name = dtypes.time_zone(spec.dtype)
    zone = None if name is None else zoneinfo.ZoneInfo(name)

    def in_zone(value: dt.datetime) -> Any:
        """Mirror of the batch path's zone handling (see ``validate._set_zone``)."""
        if (value.tzinfo is None) == (zone is None):
            return value
        if not coerce:
            return _WRONG
        if zone is None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.replace(tzinfo=zone)

    def to_datetime(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return in_zone(value)
        if coerce and type(value) is dt.date:
            return in_zone(dt.datetime.combine(value, dt.time()))
        if coerce and type(value) is str and DATETIME.match(value):
            try:
                return in_zone(dt.datetime.fromisoformat(value))
            except ValueError:
                return _WRONG
        return _WRONG

    return to_datetime


def _parse_number(text: str) -> Any:
    """Text to a float as the ``coerce`` policy reads it (gated by the same patterns as batch)."""
    if INTEGER.match(text):
        whole = int(text)
        return float(whole) if _INT64[0] <= whole <= _INT64[1] else _WRONG
    if NUMBER.match(text):
        return float(text)
    return _WRONG


def _value_rules(spec: ColumnSpec) -> list[tuple[str, Callable[[Any], bool]]]:
    """Each value rule of the column with its test, in the order the batch path reports them."""
    rules: list[tuple[str, Callable[[Any], bool]]] = []
    kind = spec.kind
    if kind in ("int", "float"):
        if not spec.allow_nan:
            rules.append(("nan", lambda v: type(v) is float and math.isnan(v)))
        if not spec.allow_inf:
            rules.append(("inf", lambda v: type(v) is float and math.isinf(v)))
        if spec.whole:
            rules.append(("not_integer", lambda v: _finite(v) and not float(v).is_integer()))
        lo, hi = spec.min, spec.max
        if lo is not None:
            rules.append(("below_min", lambda v: _finite(v) and v < lo))
        if hi is not None:
            rules.append(("above_max", lambda v: _finite(v) and v > hi))
    elif kind == "string":
        if spec.categories is not None:
            allowed = frozenset(spec.categories)
            rules.append(("unseen_category", lambda v: v not in allowed))
        longest = spec.max_length
        if longest is not None:
            rules.append(("too_long", lambda v: len(v) > longest))
        if spec.anchored_pattern is not None:
            pattern = re.compile(spec.anchored_pattern)
            rules.append(("bad_format", lambda v: pattern.fullmatch(v) is None))
    elif kind in ("date", "datetime"):
        first, last = spec.min, spec.max
        if first is not None:
            rules.append(("below_min", lambda v: v < first))
        if last is not None:
            rules.append(("above_max", lambda v: v > last))
    return rules


def _finite(value: float | int) -> bool:
    return type(value) is int or math.isfinite(value)
