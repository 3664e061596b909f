"""Inferring column specs from training data.

Per column, the spec records the dtype, the role, whether missing values were seen (a column
with none becomes ``nullable: false``) and the observed missing rate, and then what the values
look like, with tolerance so that ordinary new data passes:

* **Numeric range** (``min``/``max``). First the *core* extremes: with at least
  :data:`OUTLIER_MIN_ROWS` finite values, up to :data:`OUTLIER_MAX_FRACTION` of them (at least
  one) at each end are set aside as outliers when they stand apart from the rest by a gap larger
  than :data:`OUTLIER_GAP` times the range of the remaining values; so one wild value does not
  define the contract (it will be reported if it comes again), while a long but continuous tail
  is kept. Then the band is the core range widened by :data:`MARGIN` of its width on each side,
  rounded outward to two significant digits of that margin, and never crossing zero for a column
  that was never negative (or never positive). Integer columns get integer bounds.
* **Whole numbers**: a float column whose finite values are all whole (at least
  :data:`INTEGER_MIN_ROWS` of them, e.g. counts read through pandas with NaN) gets
  ``integer: true``. NaN and ±inf are allowed only if training had them.
* **Categories**: a string column with at most :data:`MAX_CATEGORIES` distinct values that are
  at most :data:`CATEGORY_RATIO` of its non-missing values gets the set of values seen.
* **Other strings**: ``max_length`` is :data:`LENGTH_HEADROOM` times the longest value seen (at
  least :data:`MIN_MAX_LENGTH`); with at least :data:`PATTERN_MIN_ROWS` values all made of ASCII
  letters, digits and ``_.:/-``, ``pattern`` is the character classes seen, e.g.
  ``^[A-Z0-9]{2}$`` (fixed length when every value has the same length). Free text (spaces,
  other characters) gets no pattern.
* **Dates and datetimes**: the same core band on the timeline, rounded outward to whole days; the
  ``time`` column gets no max, since serving data always comes after training.
* **Identifiers** (the ``id`` column) get no range and no category set: new ids are the normal
  case in serving data. Their dtype, nullability, length and pattern still apply.

>>> import polars as pl
>>> specs = infer_specs(pl.DataFrame({"n": list(range(1, 101))}), {})
>>> specs["n"].min, specs["n"].max, specs["n"].nullable
(0, 110, False)
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from tether.contract import dtypes
from tether.contract.spec import ColumnSpec
from tether.errors import InputError

MARGIN = 0.1
"""Fraction of the core range added on each side of a numeric or temporal band."""

OUTLIER_GAP = 2.0
"""An extreme value is an outlier when its gap to the rest exceeds this many ranges of the rest."""

OUTLIER_MIN_ROWS = 100
"""Below this many values none is called an outlier: the band covers every value seen."""

OUTLIER_MAX_FRACTION = 0.001
"""At most this fraction of the values (and at least one) is set aside at each end."""

INTEGER_MIN_ROWS = 20
"""Whole float values mark a column ``integer`` only when there are at least this many."""

MAX_CATEGORIES = 200
"""A string column with more distinct values than this has no category set (airports: ~100)."""

CATEGORY_RATIO = 0.05
"""Distinct values must be at most this fraction of the non-missing values to form categories."""

LENGTH_HEADROOM = 2
"""``max_length`` is this many times the longest string seen…"""

MIN_MAX_LENGTH = 16
"""…and at least this many characters."""

PATTERN_MIN_ROWS = 20
"""A string shape is inferred only from at least this many values."""

_SHAPE_CLASSES = (
    ("[A-Z]", "A-Z"),
    ("[a-z]", "a-z"),
    ("[0-9]", "0-9"),
    ("[_]", "_"),
    ("[.]", "."),
    ("[:]", ":"),
    ("[/]", "/"),
    ("[-]", "-"),
)
"""Character classes a string shape is built from: (probe regex, text inside the class)."""
_SHAPE = r"^[A-Za-z0-9_.:/-]*$"
_DAY_IN = {"ns": 86_400 * 10**9, "us": 86_400 * 10**6, "ms": 86_400 * 10**3}
_INT64 = (-(2**63), 2**63 - 1)


def infer_specs(frame: pl.DataFrame, roles: dict[str, str]) -> dict[str, ColumnSpec]:
    """A spec per column of ``frame`` in data order; ``roles`` maps column names to roles."""
    return {
        name: _infer_column(frame.get_column(name), roles.get(name, "feature"))
        for name in frame.columns
    }


def _infer_column(column: pl.Series, role: str) -> ColumnSpec:
    dtype = dtypes.canonical(column.dtype)
    if dtype is None:
        raise InputError(
            f"column {column.name!r} has type {column.dtype}, which a contract cannot describe: "
            "drop or flatten it before Contract.infer"
        )
    rows = column.len()
    nulls = column.null_count()
    common: dict[str, Any] = {
        "role": role,
        "nullable": rows == 0 or nulls > 0,
        "missing_rate": float(f"{nulls / rows:.4g}") if rows else None,
    }
    values = column.drop_nulls()
    kind = dtypes.kind(dtype)
    if role == "id":
        rules = _string_rules(values.cast(pl.String), categories=False) if kind == "string" else {}
        return ColumnSpec(column.name, dtype, **common, **rules)
    if kind == "float":
        return ColumnSpec(column.name, dtype, **common, **_float_rules(values))
    if kind == "int":
        return ColumnSpec(column.name, dtype, **common, **_band(values, whole=True))
    if kind == "string":
        return ColumnSpec(column.name, dtype, **common, **_string_rules(values.cast(pl.String)))
    if kind in ("date", "datetime"):
        return ColumnSpec(column.name, dtype, **common, **_time_band(values, dtype, role))
    return ColumnSpec(column.name, dtype, **common)


def _float_rules(values: pl.Series) -> dict[str, Any]:
    finite = values.filter(values.is_finite())
    whole = finite.len() >= INTEGER_MIN_ROWS and bool((finite == finite.floor()).all())
    return {
        "allow_nan": bool(values.is_nan().any()),
        "allow_inf": bool(values.is_infinite().any()),
        "integer": whole,
        **_band(finite, whole=False),
    }


def _band(values: pl.Series, *, whole: bool) -> dict[str, Any]:
    """``min``/``max`` of a numeric column: the core range widened by the margin, rounded out."""
    if values.len() == 0:
        return {}
    core_lo, core_hi = core_extremes(values)
    margin = MARGIN * (float(core_hi) - float(core_lo))
    lo, hi = float(core_lo) - margin, float(core_hi) + margin
    if core_lo >= 0:
        lo = max(lo, 0.0)
    if core_hi <= 0:
        hi = min(hi, 0.0)
    lo, hi = _round_out(lo, hi, margin)
    if whole:
        low = math.floor(lo) if math.isfinite(lo) else _INT64[0]
        high = math.ceil(hi) if math.isfinite(hi) else _INT64[1]
        # floats lose precision beyond 2**53: the exact core values keep the band covering them
        return {"min": max(_INT64[0], min(low, core_lo)), "max": min(_INT64[1], max(high, core_hi))}
    return {
        "min": min(lo, core_lo) if math.isfinite(lo) else core_lo,
        "max": max(hi, core_hi) if math.isfinite(hi) else core_hi,
    }


def _round_out(lo: float, hi: float, margin: float) -> tuple[float, float]:
    """Round ``lo`` down and ``hi`` up to two significant digits of ``margin`` (readable bounds)."""
    if not (math.isfinite(margin) and margin > 0):
        return lo, hi
    exponent = math.floor(math.log10(margin)) - 1
    step = 10.0**exponent
    if step == 0 or not math.isfinite(lo / step) or not math.isfinite(hi / step):
        return lo, hi
    digits = max(0, -exponent)
    return round(math.floor(lo / step) * step, digits), round(math.ceil(hi / step) * step, digits)


def core_extremes(values: pl.Series) -> tuple[float | int, float | int]:
    """The smallest and largest values once isolated outliers are set aside (see module doc).

    >>> core_extremes(pl.Series([float(i) for i in range(200)] + [1e9]))
    (0.0, 199.0)
    """
    lowest, highest = values.min(), values.max()
    if values.len() < OUTLIER_MIN_ROWS:
        return lowest, highest  # type: ignore[return-value]
    cap = max(1, int(values.len() * OUTLIER_MAX_FRACTION))
    top = values.top_k(cap + 1).sort(descending=True).to_list()
    bottom = values.bottom_k(cap + 1).sort().to_list()
    high = _past_gap(top, inner=bottom[-1])
    low = -_past_gap([-v for v in bottom], inner=-top[-1])
    return low, high


def _past_gap(extremes: list[float | int], inner: float | int) -> float | int:
    """The first value inside the widest set of ``extremes`` (largest first) isolated by a gap."""
    for j in range(len(extremes) - 2, -1, -1):
        rest = extremes[j + 1] - inner
        if extremes[j] - extremes[j + 1] > OUTLIER_GAP * rest:
            return extremes[j + 1]
    return extremes[0]


def _string_rules(values: pl.Series, *, categories: bool = True) -> dict[str, Any]:
    rows = values.len()
    if rows == 0:
        return {}
    distinct = values.n_unique()
    if categories and distinct <= MAX_CATEGORIES and distinct <= CATEGORY_RATIO * rows:
        return {"categories": tuple(sorted(values.unique().to_list()))}
    lengths = values.str.len_chars()
    shortest, longest = int(lengths.min()), int(lengths.max())  # type: ignore[arg-type]
    rules: dict[str, Any] = {"max_length": max(LENGTH_HEADROOM * longest, MIN_MAX_LENGTH)}
    if rows >= PATTERN_MIN_ROWS and longest > 0 and bool(values.str.contains(_SHAPE).all()):
        seen = "".join(chars for probe, chars in _SHAPE_CLASSES if values.str.contains(probe).any())
        count = f"{{{longest}}}" if shortest == longest else ("+" if shortest else "*")
        rules["pattern"] = f"^[{seen}]{count}$"
    return rules


def _time_band(values: pl.Series, dtype: str, role: str) -> dict[str, Any]:
    """``min``/``max`` of a date or datetime column: the core band rounded out to whole days."""
    if values.len() == 0:
        return {}
    unit = values.dtype.time_unit if isinstance(values.dtype, pl.Datetime) else None
    day = _DAY_IN[unit] if unit else 1
    physical = values.to_physical()
    core_lo, core_hi = core_extremes(physical)
    margin = max(int(MARGIN * (core_hi - core_lo)), day)
    lo = (core_lo - margin) // day * day
    hi = -((-(core_hi + margin)) // day) * day
    target = values.dtype
    python_range = pl.Series([dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)])
    floor, ceiling = python_range.cast(pl.Datetime(unit or "us")).to_physical().to_list()
    if unit is None:
        floor, ceiling = floor // _DAY_IN["us"], ceiling // _DAY_IN["us"]
    # stay inside what Python dates can hold, but always around every core value
    lo, hi = min(max(lo, floor), core_lo), max(min(hi, ceiling), core_hi)
    bounds = pl.Series([lo, hi], dtype=physical.dtype).cast(target).to_list()
    band: dict[str, Any] = {"min": bounds[0]}
    if role != "time":
        band["max"] = bounds[1]
    return band
