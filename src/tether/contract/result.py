"""``ValidationResult``: what a contract found in a frame."""

from __future__ import annotations

import dataclasses

import polars as pl

ERROR_SCHEMA = {
    "row": pl.Int64,
    "id": pl.String,
    "column": pl.String,
    "value": pl.String,
    "rule": pl.String,
    "policy": pl.String,
    "message": pl.String,
}
"""Columns of :attr:`ValidationResult.errors`, one row per broken rule in one cell."""

COUNT_SCHEMA = {"rule": pl.String, "column": pl.String, "count": pl.Int64}
"""Columns of :attr:`ValidationResult.counts`."""


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """What :meth:`tether.contract.Contract.validate` found in a frame.

    Parameters
    ----------
    rows : number of rows validated.
    errors : one row per broken rule in one cell (:data:`ERROR_SCHEMA`): ``row`` (null for a
        column-level problem such as a missing column), ``id`` (the id column's value, as text),
        ``column``, ``value`` (its repr, at most 100 characters), ``rule``, ``policy``
        (``reject`` or ``flag``) and ``message``; sorted by row, then column, then rule.
    counts : one row per (rule, column) that fired, with how many cells broke it.
    valid_rows : the rows no rule rejected, with ``coerce`` conversions applied and
        ``reject``/``coerce`` columns cast to the contract's dtype.
    rejected_rows : positions (0-based) of the rejected rows.
    column_problems : number of column-level problems (missing or, when strict, extra columns).

    Example
    -------
    >>> from tether.contract import Contract
    >>> contract = Contract.infer(pl.DataFrame({"x": [1.0, 2.0, 3.0]}))
    >>> result = contract.validate(pl.DataFrame({"x": [2.0, 99.0]}))
    >>> result.ok, result.rows, result.rejected, result.rejected_rows.to_list()
    (False, 2, 1, [1])
    >>> result.errors["message"][0]
    'x: value 99.0 above max 3.2 (rule above_max)'
    """

    rows: int
    errors: pl.DataFrame
    counts: pl.DataFrame
    valid_rows: pl.DataFrame
    rejected_rows: pl.Series
    column_problems: int

    @property
    def rejected(self) -> int:
        """Number of rejected rows."""
        return self.rejected_rows.len()

    @property
    def ok(self) -> bool:
        """True when no row is rejected and no required column is missing (or extra, if strict)."""
        return self.rejected == 0 and self.column_problems == 0
