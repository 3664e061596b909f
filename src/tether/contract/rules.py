"""Rule names, policies and the one place their messages are worded.

The batch path (:mod:`tether.contract.validate`) and the record path
(:mod:`tether.contract.record`) both word their messages here, so the same broken value gets the
same message whichever path saw it. A message is ``prefix + shown value + suffix``; the batch path
builds the middle part vectorized, the record path calls :func:`value_message`.

>>> value_message("above_max", "dep_delay", 9999.0, "float64", 1720.0)
'dep_delay: value 9999.0 above max 1720.0 (rule above_max)'
>>> show("x" * 200)[-5:]
'xxxx…'
"""

from __future__ import annotations

import datetime as dt
import re

RULES = (
    "missing_column",
    "extra_column",
    "wrong_type",
    "null",
    "nan",
    "inf",
    "not_integer",
    "below_min",
    "above_max",
    "unseen_category",
    "too_long",
    "bad_format",
)
"""Every rule a contract checks, in the order problems are reported within one cell."""

COLUMN_RULES = ("missing_column", "extra_column")
"""Rules about a whole column; they carry no row and no value."""

POLICIES = ("reject", "flag", "coerce")
"""What a broken value does: reject its row, only be reported, or be converted first."""

ROLES = ("feature", "target", "id", "time", "prediction")
"""What a column is for; target and prediction columns may be absent from serving data."""

MAX_SHOWN_CHARS = 100
"""Longest value text in an error; longer ones are cut and end with an ellipsis."""

NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
"""Text the ``coerce`` policy converts to a number (both paths gate on this same pattern)."""

INTEGER = re.compile(r"^[+-]?[0-9]+$")
"""Text the ``coerce`` policy converts to an integer without going through a float."""

TRUE_FALSE = {"true": True, "false": False}
"""Text (compared lower-cased) the ``coerce`` policy converts to a bool."""

DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
"""ISO dates the ``coerce`` policy converts to a date."""

DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
"""ISO 8601 timestamps the ``coerce`` policy converts to a datetime (date only means midnight)."""


def show(value: object) -> str:
    """How a value appears in errors: ``repr``, ISO text for dates and times, at most 100 chars."""
    text = value.isoformat() if isinstance(value, dt.date) else repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        return text[: MAX_SHOWN_CHARS - 1] + "…"
    return text


def error_policy(policy: str) -> str:
    """The policy an error reports: ``coerce`` rejects what survives conversion broken."""
    return "flag" if policy == "flag" else "reject"


def message_parts(rule: str, column: str, dtype: str, limit: object = None) -> tuple[str, str]:
    """The text before and after the shown value in the message of a value rule.

    ``limit`` is the bound the rule checks: min, max, max length, the category list or pattern.
    """
    prefix = f"{column}: value "
    if rule == "wrong_type":
        return prefix, f" is not {dtype} (rule wrong_type)"
    if rule == "null":
        return prefix, " in a non-nullable column (rule null)"
    if rule in ("nan", "inf"):
        return prefix, f" not allowed (rule {rule})"
    if rule == "not_integer":
        return prefix, " is not an integer (rule not_integer)"
    if rule == "below_min":
        return prefix, f" below min {show(limit)} (rule below_min)"
    if rule == "above_max":
        return prefix, f" above max {show(limit)} (rule above_max)"
    if rule == "unseen_category":
        count = len(limit) if isinstance(limit, tuple | list) else 0
        return prefix, f" not among the {count} allowed categories (rule unseen_category)"
    if rule == "too_long":
        return prefix, f" longer than max length {limit} (rule too_long)"
    if rule == "bad_format":
        return prefix, f" does not match pattern {limit!r} (rule bad_format)"
    raise ValueError(f"{rule!r} is not a value rule")


def value_message(rule: str, column: str, value: object, dtype: str, limit: object = None) -> str:
    """The message of a value rule broken by ``value``."""
    prefix, suffix = message_parts(rule, column, dtype, limit)
    return prefix + show(value) + suffix


def column_message(rule: str, column: str) -> str:
    """The message of a column rule (``missing_column`` or ``extra_column``)."""
    if rule == "missing_column":
        return f"{column}: required column is missing (rule missing_column)"
    return f"{column}: column is not in the strict contract (rule extra_column)"
