"""Validating a whole frame against a contract, vectorized.

Every rule of every column becomes one boolean polars expression (true where the cell breaks
the rule); all of them run in one ``select``, so the engine evaluates them in parallel in one pass.
Only the cells that break a rule are then turned into rows of the errors frame, with messages
worded by :mod:`tether.contract.rules` exactly as the record path words them.

>>> from tether.contract.spec import ColumnSpec
>>> specs = {"x": ColumnSpec("x", "int64", min=0, max=10, nullable=False)}
>>> result = validate_frame(specs, pl.DataFrame({"x": [3, None, 11]}))
>>> result.errors.select("row", "rule").rows()
[(1, 'null'), (2, 'above_max')]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tether.contract import dtypes
from tether.contract.result import COUNT_SCHEMA, ERROR_SCHEMA, ValidationResult
from tether.contract.rules import (
    DATE,
    DATETIME,
    INTEGER,
    NUMBER,
    RULES,
    column_message,
    error_policy,
    message_parts,
    show,
)
from tether.contract.spec import ColumnSpec
from tether.frame import Data, read

Check = tuple[str, pl.Expr, pl.Expr]
"""A rule name, the boolean expression true where a cell breaks it, and a cheap aggregation that
is true when some cell may break it (a screen: false only when no cell can)."""

_NAIVE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f")
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%.f%#z")


def validate_frame(
    specs: dict[str, ColumnSpec], data: Data, *, strict: bool = False, id_column: str | None = None
) -> ValidationResult:
    """Check every cell of ``data`` against ``specs`` (see :class:`ValidationResult`)."""
    frame = read(data)
    schema = frame.schema
    column_errors = [
        (name, "missing_column")
        for name, spec in specs.items()
        if spec.required and name not in schema
    ]
    if strict:
        column_errors += [(name, "extra_column") for name in frame.columns if name not in specs]

    checks: list[tuple[ColumnSpec, str, pl.Expr, pl.Expr]] = []
    values: list[pl.Expr] = []
    for name, spec in specs.items():
        if name not in schema:
            continue
        value, column_checks = _plan(spec, schema[name])
        checks += [(spec, rule, mask, screen) for rule, mask, screen in column_checks]
        if spec.policy != "flag" and schema[name] != dtypes.to_polars(spec.dtype):
            values.append(value.cast(dtypes.to_polars(spec.dtype), strict=False).alias(name))

    # Screen first, in one pass of cheap aggregations (a column's min and max rule out both of
    # its range rules); only the rules a screen cannot rule out get row masks, none on clean data.
    screens = frame.select(
        screen.fill_null(False).alias(str(i)) for i, (*_, screen) in enumerate(checks)
    )
    suspects = [i for i, flagged in enumerate(screens.row(0) if checks else ()) if flagged]
    masks = frame.select(checks[i][2].fill_null(False).alias(str(i)) for i in suspects)
    totals = masks.sum().row(0) if suspects else ()
    failing = [
        (i, checks[i][:3], int(total)) for i, total in zip(suspects, totals, strict=True) if total
    ]
    masks = masks.select(str(i) for i, _, _ in failing)

    rejecting = [str(i) for i, (spec, _, _), _ in failing if spec.policy != "flag"]
    if rejecting:
        rejected = masks.select(pl.any_horizontal(rejecting)).to_series()
        rejected_rows = rejected.arg_true().cast(pl.Int64).alias("row")
        valid_rows = frame.with_columns(values).filter(~rejected)
    else:
        rejected_rows = pl.Series("row", [], dtype=pl.Int64)
        valid_rows = frame.with_columns(values)

    errors = _errors(frame, masks, failing, column_errors, id_column)
    counts = pl.DataFrame(
        [(rule, name, 1) for name, rule in column_errors]
        + [(rule, spec.name, total) for _, (spec, rule, _), total in failing],
        schema=COUNT_SCHEMA,
        orient="row",
    )
    return ValidationResult(
        rows=frame.height,
        errors=errors,
        counts=counts,
        valid_rows=valid_rows,
        rejected_rows=rejected_rows,
        column_problems=len(column_errors),
    )


def _plan(spec: ColumnSpec, dtype: pl.DataType) -> tuple[pl.Expr, list[Check]]:
    """The column's value in the contract's domain and the checks of its rules, in rule order."""
    column = pl.col(spec.name)
    converted = _convert(spec, dtype, column)
    checks: list[Check] = []
    if converted is None:
        # Nothing in this column can become the contract's type.
        raw: pl.Expr = pl.lit(None, dtype=dtypes.to_polars(spec.dtype))
        checks.append(_check("wrong_type", column.is_not_null()))
    else:
        raw, may_fail = converted
        if may_fail:
            checks.append(_check("wrong_type", column.is_not_null() & raw.is_null()))
    if not spec.nullable:
        checks.append(("null", column.is_null(), column.null_count() > 0))
    checks += _value_checks(spec, raw, float_domain=_float_domain(spec, dtype))
    return raw, checks


def _float_domain(spec: ColumnSpec, dtype: pl.DataType) -> bool:
    """Whether numeric checks see floats (so NaN, inf and fractions are possible)."""
    return spec.kind == "float" or (spec.kind == "int" and dtypes.input_kind(dtype) != "int")


def _convert(spec: ColumnSpec, dtype: pl.DataType, column: pl.Expr) -> tuple[pl.Expr, bool] | None:
    """The column in the domain its rules check, and whether some values may fail to convert.

    None when no value of this input type is acceptable (a ``wrong_type`` for every value).
    Widening never needs ``coerce``: ints are accepted by float columns, whole floats by int
    columns, categoricals by string columns, any unit or zone by aware datetime columns.
    """
    kind, given = spec.kind, dtypes.input_kind(dtype)
    coerce = spec.policy == "coerce"
    if kind == "null":
        return column, False
    if given == "null":
        return column.cast(dtypes.to_polars(spec.dtype)), False
    if kind in ("int", "float"):
        if given == "int":
            if kind == "float":
                return column.cast(pl.Float64), False
            return column.cast(pl.Int64, strict=False), isinstance(dtype, pl.UInt64)
        if given == "float":
            return column.cast(pl.Float64), False
        if given == "string" and coerce:
            text = column.cast(pl.String)
            whole = text.str.contains(INTEGER.pattern)
            parsed = (
                pl.when(whole)
                .then(text.cast(pl.Int64, strict=False).cast(pl.Float64))
                .when(text.str.contains(NUMBER.pattern))
                .then(text.cast(pl.Float64, strict=False))
            )
            return parsed, True
        return None
    if kind == "bool":
        if given == "bool":
            return column, False
        if given == "string" and coerce:
            lowered = column.cast(pl.String).str.to_lowercase()
            return lowered.replace_strict(
                {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
            ), True
        return None
    if kind == "string":
        if given == "string":
            return column.cast(pl.String), False
        if given == "int" and coerce:
            return column.cast(pl.String), False
        return None
    if kind == "date":
        if given == "date":
            return column, False
        if given == "string" and coerce:
            text = column.cast(pl.String)
            day = text.str.to_date("%Y-%m-%d", strict=False)
            return pl.when(text.str.contains(DATE.pattern)).then(day), True
        return None
    return _convert_datetime(spec, dtype, given, column, coerce)


def _convert_datetime(
    spec: ColumnSpec, dtype: pl.DataType, given: str | None, column: pl.Expr, coerce: bool
) -> tuple[pl.Expr, bool] | None:
    target = dtypes.to_polars(spec.dtype)
    assert isinstance(target, pl.Datetime)
    unit, zone = target.time_unit, target.time_zone
    if given == "datetime":
        assert isinstance(dtype, pl.Datetime)
        moved = column.dt.cast_time_unit(unit)
        if (dtype.time_zone is None) == (zone is None):
            return (moved.dt.convert_time_zone(zone) if zone else moved), False
        if not coerce:
            return None
        return _set_zone(moved, aware=dtype.time_zone is not None, zone=zone), False
    if given == "date" and coerce:
        return _set_zone(column.cast(pl.Datetime(unit)), aware=False, zone=zone), False
    if given == "string" and coerce:
        text = column.cast(pl.String).str.replace(" ", "T", literal=True)
        naive = pl.coalesce(
            [text.str.to_datetime(f, time_unit=unit, strict=False) for f in _NAIVE_FORMATS]
        )
        aware = pl.coalesce(
            [text.str.to_datetime(f, time_unit=unit, strict=False) for f in _AWARE_FORMATS]
        )
        parsed = pl.coalesce(
            [_set_zone(aware, aware=True, zone=zone), _set_zone(naive, aware=False, zone=zone)]
        )
        return pl.when(column.cast(pl.String).str.contains(DATETIME.pattern)).then(parsed), True
    return None


def _set_zone(values: pl.Expr, *, aware: bool, zone: str | None) -> pl.Expr:
    """Datetimes moved into the contract's zone: naive ones are read in it, aware ones converted;
    for a naive contract, aware ones are converted to UTC and the zone dropped."""
    if zone is None:
        return values.dt.convert_time_zone("UTC").dt.replace_time_zone(None) if aware else values
    if aware:
        return values.dt.convert_time_zone(zone)
    return values.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")


def _check(rule: str, mask: pl.Expr) -> Check:
    """A check screened by its own mask, for rules with no cheaper test."""
    return rule, mask, mask.any()


def _value_checks(spec: ColumnSpec, raw: pl.Expr, *, float_domain: bool) -> list[Check]:
    checks: list[Check] = []
    kind = spec.kind
    if kind in ("int", "float", "date", "datetime"):
        target = dtypes.to_polars(spec.dtype)
        in_range: pl.Expr = raw
        if float_domain:
            if not spec.allow_nan:
                checks.append(_check("nan", raw.is_nan()))
            if not spec.allow_inf:
                # min and max skip NaN, so only an infinity makes them infinite
                infinite = (raw.min() == float("-inf")) | (raw.max() == float("inf"))
                checks.append(("inf", raw.is_infinite(), infinite))
            # NaN compares as the largest float in polars, and ±inf is its own rule
            finite = raw.is_finite()
            if spec.whole:
                checks.append(_check("not_integer", finite & (raw != raw.floor())))
            in_range = pl.when(finite).then(raw)
            target = pl.Float64()
        if spec.min is not None:
            low = pl.lit(spec.min, dtype=target)
            checks.append(("below_min", in_range < low, raw.min() < low))
        if spec.max is not None:
            high = pl.lit(spec.max, dtype=target)
            checks.append(("above_max", in_range > high, raw.max() > high))
    elif kind == "string":
        if spec.categories is not None:
            checks.append(_check("unseen_category", ~raw.is_in(list(spec.categories))))
        if spec.max_length is not None:
            lengths = raw.str.len_chars()
            checks.append(("too_long", lengths > spec.max_length, lengths.max() > spec.max_length))
        if spec.anchored_pattern is not None:
            checks.append(_check("bad_format", ~raw.str.contains(spec.anchored_pattern)))
    return checks


def _errors(
    frame: pl.DataFrame,
    masks: pl.DataFrame,
    failing: list[tuple[int, tuple[ColumnSpec, str, pl.Expr], int]],
    column_errors: list[tuple[str, str]],
    id_column: str | None,
) -> pl.DataFrame:
    """The tidy errors frame: one row per broken rule in one cell, column problems first."""
    order = {name: i for i, name in enumerate([*frame.columns])}
    parts = [
        pl.DataFrame(
            [
                (None, None, name, None, rule, "reject", column_message(rule, name))
                for name, rule in column_errors
            ],
            schema=ERROR_SCHEMA,
            orient="row",
        ).with_columns(_order=pl.lit(-1), _rule=pl.lit(RULES.index("missing_column")))
    ]
    has_id = id_column is not None and id_column in frame.columns
    for i, (spec, rule, _), _ in failing:
        rows = masks.get_column(str(i)).arg_true()
        shown = _shown(frame.get_column(spec.name).gather(rows))
        prefix, suffix = message_parts(rule, spec.name, spec.dtype, spec.limit(rule))
        ids = (
            frame.get_column(id_column).gather(rows).cast(pl.String)  # type: ignore[arg-type]
            if has_id
            else pl.Series([None] * rows.len(), dtype=pl.String)
        )
        parts.append(
            pl.DataFrame(
                {
                    "row": rows.cast(pl.Int64),
                    "id": ids,
                    "column": pl.Series([spec.name] * rows.len(), dtype=pl.String),
                    "value": shown,
                }
            ).with_columns(
                rule=pl.lit(rule),
                policy=pl.lit(error_policy(spec.policy)),
                message=pl.lit(prefix) + pl.col("value") + pl.lit(suffix),
                _order=pl.lit(order[spec.name]),
                _rule=pl.lit(RULES.index(rule)),
            )
        )
    errors = pl.concat(parts, how="vertical_relaxed")
    return errors.sort("row", "_order", "_rule", nulls_last=False).drop("_order", "_rule")


def _shown(values: pl.Series) -> pl.Series:
    """Each value as :func:`~tether.contract.rules.show` prints it, once per distinct value."""
    if values.null_count() == values.len():
        return pl.Series([show(None)] * values.len(), dtype=pl.String)
    if values.dtype.is_float():
        # by bit pattern, so -0.0 and 0.0 keep their own text
        bits = values.cast(pl.Float64).to_numpy().view(np.int64)
        distinct, inverse = np.unique(bits, return_inverse=True)
        texts = np.array([show(float(v)) for v in distinct.view(np.float64)], dtype=object)
        return pl.Series(texts[inverse], dtype=pl.String)
    try:
        keys = values.unique()
        shown = [show(v) for v in keys.to_list()]
        return values.replace_strict(keys, shown, return_dtype=pl.String).fill_null(show(None))
    except pl.exceptions.PolarsError:
        # nested values (lists, structs) cannot serve as replacement keys
        return pl.Series([show(v) for v in values.to_list()], dtype=pl.String)
