"""The monitoring job's results in the store: checked on the way in, one frame on the way out.

A window's results are saved as a new version of the window (a ``monitor_windows`` row) with its
tidy result rows (``monitor_results``; tables in :mod:`tether.store.schema`). This module holds
what both backends share for that: the columns and their types, the checks a save makes before
anything is written, the SQL (a :class:`Dialect` describes the few places where a backend's
differs) and the frames the reads return. :class:`~tether.store.base.PredictionStore` runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from numbers import Integral
from typing import Any

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.store.rows import Window, check_name, utc

_TIME = pl.Datetime("us", "UTC")

RESULT_COLUMNS: dict[str, pl.DataType] = {
    "check": pl.String(),
    "metric": pl.String(),
    "column": pl.String(),
    "segment": pl.String(),
    "segment_value": pl.String(),
    "value": pl.Float64(),
    "lower": pl.Float64(),
    "upper": pl.Float64(),
    "baseline": pl.Float64(),
    "alert": pl.Boolean(),
    "rows": pl.Int64(),
    "detail": pl.String(),
}
"""The columns ``monitor_results`` holds since schema version 2, in order: the monitor's
:data:`tether.monitor.RESULT_SCHEMA`, written down here because a stored table's columns change
only with a migration (the store's tests check that the two agree). ``check`` and ``metric`` are
never null."""

WINDOW_COLUMNS: dict[str, pl.DataType] = {
    "model": pl.String(),
    "window_start": _TIME,
    "window_end": _TIME,
    "version": pl.Int64(),
    "fingerprint": pl.String(),
    "computed_at": _TIME,
    "bundle_version": pl.String(),
    "rows": pl.Int64(),
    "labeled": pl.Int64(),
    "complete": pl.Boolean(),
}
"""The frame :meth:`~tether.store.base.PredictionStore.read_windows` returns: one row per saved
version of a window, named as :meth:`~tether.store.base.PredictionStore.save_window`'s
arguments."""

RESULT_FRAME_COLUMNS: dict[str, pl.DataType] = {
    "model": pl.String(),
    "window_start": _TIME,
    "window_end": _TIME,
    "version": pl.Int64(),
    "computed_at": _TIME,
    "bundle_version": pl.String(),
    "window_rows": pl.Int64(),  # the window's ``rows``, renamed beside the result's own
    "labeled": pl.Int64(),
    "complete": pl.Boolean(),
    **RESULT_COLUMNS,
}
"""The frame :meth:`~tether.store.base.PredictionStore.read_results` returns."""


@dataclass(frozen=True)
class Dialect:
    """Where a backend's SQL for the monitor's tables differs from the shared statements.

    Parameters
    ----------
    placeholder
        The driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg).
    micros
        A template turning the time column ``{}`` into integer microseconds since the epoch.
    time
        A UTC datetime as the driver binds it to a time column.
    lock
        A statement that takes a lock until the transaction ends on one integer key (its only
        parameter), serializing the savers of one window; None where a write transaction
        already excludes every other writer (SQLite).

    Example
    -------
    >>> sql, params = Dialect("%s", "{}", str).select_windows("m", all_versions=True)
    >>> sql.split(" WHERE ")[1], params
    ('w.model = %s ORDER BY w.window_start, w.window_end, w.version', ('m',))
    """

    placeholder: str
    micros: str
    time: Callable[[datetime], Any]
    lock: str | None = None

    def latest(self) -> str:
        """The newest version of a window and its fingerprint; parameters model, start, end."""
        p = self.placeholder
        return (
            "SELECT version, fingerprint FROM monitor_windows "
            f"WHERE model = {p} AND window_start = {p} AND window_end = {p} "
            "ORDER BY version DESC LIMIT 1"
        )

    def insert_window(self) -> str:
        """One ``monitor_windows`` row, parameters in :data:`WINDOW_COLUMNS` order."""
        columns = ", ".join(_quoted(WINDOW_COLUMNS))
        return (
            f"INSERT INTO monitor_windows ({columns}) "
            f"VALUES ({', '.join(self.placeholder for _ in WINDOW_COLUMNS)})"
        )

    def insert_results(self) -> str:
        """One ``monitor_results`` row: the window's key, version, position, then
        :data:`RESULT_COLUMNS`."""
        names = ["model", "window_start", "window_end", "version", "position", *RESULT_COLUMNS]
        return (
            f"INSERT INTO monitor_results ({', '.join(_quoted(names))}) "
            f"VALUES ({', '.join(self.placeholder for _ in names)})"
        )

    def select_windows(self, model: str, *, all_versions: bool) -> tuple[str, tuple[Any, ...]]:
        """The windows of ``model`` in :data:`WINDOW_COLUMNS` order, times as microseconds."""
        columns = [self._window_column(name) for name in WINDOW_COLUMNS]
        where = f"w.model = {self.placeholder}" + ("" if all_versions else _LATEST)
        order = "w.window_start, w.window_end, w.version"
        return (
            f"SELECT {', '.join(columns)} FROM monitor_windows w WHERE {where} ORDER BY {order}",
            (model,),
        )

    def select_results(
        self, model: str, window: Window, check: str | None, *, all_versions: bool
    ) -> tuple[str, tuple[Any, ...]]:
        """The results of the windows of ``model`` that overlap ``window``, in
        :data:`RESULT_FRAME_COLUMNS` order, times as microseconds."""
        p = self.placeholder
        columns = [
            self._window_column("rows" if name == "window_rows" else name)
            for name in RESULT_FRAME_COLUMNS
            if name not in RESULT_COLUMNS
        ] + [f"r.{name}" for name in _quoted(RESULT_COLUMNS)]
        clauses, params = [f"w.model = {p}"], [model]
        start, end = window
        if end is not None:
            clauses.append(f"w.window_start < {p}")
            params.append(self.time(end))
        if start is not None:
            clauses.append(f"w.window_end > {p}")
            params.append(self.time(start))
        if check is not None:
            clauses.append(f'r."check" = {p}')
            params.append(check)
        join = " AND ".join(
            f"r.{key} = w.{key}" for key in ("model", "window_start", "window_end", "version")
        )
        where = " AND ".join(clauses) + ("" if all_versions else _LATEST)
        return (
            f"SELECT {', '.join(columns)} FROM monitor_windows w JOIN monitor_results r ON {join} "
            f"WHERE {where} ORDER BY w.window_start, w.window_end, w.version, r.position",
            tuple(params),
        )

    def _window_column(self, name: str) -> str:
        if WINDOW_COLUMNS[name] == _TIME:
            return self.micros.format(f"w.{name}")
        return f"w.{_quoted([name])[0]}"


_LATEST = (
    " AND w.version = (SELECT max(x.version) FROM monitor_windows x WHERE x.model = w.model "
    "AND x.window_start = w.window_start AND x.window_end = w.window_end)"
)

MODELS = """WITH RECURSIVE found (model) AS (
    SELECT min(model) FROM predictions
    UNION ALL
    SELECT (SELECT min(p.model) FROM predictions p WHERE p.model > found.model)
    FROM found WHERE found.model IS NOT NULL
) SELECT model FROM found WHERE model IS NOT NULL"""
"""The distinct models of ``predictions``, one index probe per model (a loose index scan on
``(model, created_at)``) instead of a pass over every prediction; the same SQL on both
backends."""


@dataclass(frozen=True)
class SavedWindow:
    """The checked arguments of one save: the window's key and what its results came from.

    Example
    -------
    >>> from datetime import UTC
    >>> at = datetime(2024, 5, 1, tzinfo=UTC)
    >>> saved = SavedWindow.check("m", at, at.replace(day=2), "f0", "v1", 10, 4, True)
    >>> saved.rows, saved.labeled, saved.complete
    (10, 4, True)
    """

    model: str
    start: datetime
    end: datetime
    fingerprint: str
    bundle_version: str
    rows: int
    labeled: int
    complete: bool

    @classmethod
    def check(
        cls,
        model: object,
        window_start: object,
        window_end: object,
        fingerprint: object,
        bundle_version: object,
        rows: object,
        labeled: object,
        complete: object,
    ) -> SavedWindow:
        """The arguments as stored (times in UTC); InputError names the first that breaks its
        rule."""
        start, end = utc(window_start, "window_start"), utc(window_end, "window_end")
        if start >= end:
            raise InputError(
                f"window_start {start} is not before window_end {end}; a window is [start, end)"
            )
        counts = []
        for name, value in (("rows", rows), ("labeled", labeled)):
            if isinstance(value, bool | np.bool_) or not isinstance(value, Integral) or value < 0:
                raise InputError(f"{name} {value!r:.60} is not a whole number >= 0")
            counts.append(int(value))
        if counts[1] > counts[0]:
            raise InputError(f"labeled {labeled} is more than the window's rows {rows}")
        if not isinstance(complete, bool | np.bool_):
            raise InputError(f"complete {complete!r:.60} is not a boolean")
        return cls(
            check_name(model, "model"),
            start,
            end,
            check_name(fingerprint, "fingerprint"),
            check_name(bundle_version, "bundle_version"),
            counts[0],
            counts[1],
            bool(complete),
        )

    def lock_key(self) -> int:
        """A signed 64-bit key of the window (model and bounds), the same in every process."""
        text = f"{self.model}\x00{self.start.isoformat()}\x00{self.end.isoformat()}"
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)


def result_rows(results: object) -> list[tuple[Any, ...]]:
    """The rows of a results frame in :data:`RESULT_COLUMNS` order, after checking it.

    Columns of another type are cast where the value keeps its meaning (any number type to a
    float column, any integer type to ``rows``, categoricals to text, all-null columns to
    anything); non-finite floats become null, as :func:`tether.monitor.result` writes them.
    InputError names the column that is missing, unknown, of a type that does not fit, null in
    ``check`` or ``metric``, or holding a NUL character.

    Example
    -------
    >>> frame = pl.DataFrame({name: [None] for name in RESULT_COLUMNS}).with_columns(
    ...     check=pl.lit("drift"), metric=pl.lit("psi"), value=pl.lit(1), alert=pl.lit(True))
    >>> result_rows(frame)[0][:6]
    ('drift', 'psi', None, None, None, 1.0)
    """
    if not isinstance(results, pl.DataFrame):
        raise InputError(
            f"results is a {type(results).__name__}, not a polars DataFrame of the monitor's "
            "result columns (tether.monitor.results_frame)"
        )
    missing = [name for name in RESULT_COLUMNS if name not in results.columns]
    unknown = [name for name in results.columns if name not in RESULT_COLUMNS]
    if missing or unknown:
        what = f"lacks {missing}" if missing else f"has columns {unknown} that are not stored"
        raise InputError(f"results {what}; its columns must be {list(RESULT_COLUMNS)}")
    exprs = []
    for name, target in RESULT_COLUMNS.items():
        dtype = results.schema[name]
        if not _fits(dtype, target):
            kinds = "a number type" if target == pl.Float64 else str(target)
            raise InputError(f"results column {name!r} is {dtype}; it must be {kinds} (or null)")
        column = pl.col(name).cast(target)
        exprs.append(pl.when(column.is_finite()).then(column) if target == pl.Float64 else column)
    try:
        table = results.select(exprs)
    except pl.exceptions.InvalidOperationError:  # an unsigned value past Int64's range
        raise InputError(
            f"results column 'rows' holds values beyond {np.iinfo(np.int64).max}"
        ) from None
    _check_values(table)
    return table.rows()


def window_frame(rows: Sequence[tuple[Any, ...]]) -> pl.DataFrame:
    """The frame of :data:`WINDOW_COLUMNS` from rows selected by :meth:`Dialect.select_windows`."""
    return _frame(rows, WINDOW_COLUMNS)


def result_frame(rows: Sequence[tuple[Any, ...]]) -> pl.DataFrame:
    """The frame of :data:`RESULT_FRAME_COLUMNS` from rows selected by
    :meth:`Dialect.select_results`."""
    return _frame(rows, RESULT_FRAME_COLUMNS)


def _frame(rows: Sequence[tuple[Any, ...]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    # Times arrive as microseconds and booleans (from SQLite) as 0/1: read both as integers,
    # then cast, which is exact for both.
    raw = {
        name: pl.Int64() if dtype in (_TIME, pl.Boolean) else dtype
        for name, dtype in schema.items()
    }
    frame = pl.DataFrame(list(rows), schema=raw, orient="row", strict=False)
    return frame.cast(schema)  # type: ignore[arg-type]


def _fits(dtype: pl.DataType, target: pl.DataType) -> bool:
    if dtype == target or isinstance(dtype, pl.Null):
        return True
    if target == pl.Float64:
        return dtype.is_numeric()
    if target == pl.Int64:
        return dtype.is_integer()
    if target == pl.String:
        return isinstance(dtype, pl.Categorical | pl.Enum)
    return False


def _check_values(table: pl.DataFrame) -> None:
    nulls = table.select(pl.col("check", "metric").is_null().arg_max()).row(0)
    for name, row in zip(("check", "metric"), nulls, strict=True):
        if row is not None and table[name][row] is None:
            raise InputError(
                f"results column {name!r} is null in row {row}; every result names its check "
                "and metric"
            )
    text = [name for name, dtype in RESULT_COLUMNS.items() if dtype == pl.String]
    with_nul = table.select(pl.col(text).str.contains("\x00", literal=True).any()).row(0)
    for name, found in zip(text, with_nul, strict=True):
        if found:
            raise InputError(
                f"results column {name!r} holds a NUL character, which text columns cannot store"
            )


def _quoted(names: Sequence[str] | dict[str, Any]) -> list[str]:
    # "check", "column" and "rows" are SQL keywords; quoting every name keeps it simple.
    return [f'"{name}"' for name in names]
