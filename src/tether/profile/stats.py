"""One batch's statistics for one column, as computed by the batch's single ``select``."""

from __future__ import annotations

import polars as pl


class BatchStats:
    """Typed access to the one-row result of a batch ``select``, for one column's keys.

    Every column of a profile adds its expressions to one ``select`` per batch, each aliased with
    the column's own prefix so names never clash; this reads them back.

    Parameters
    ----------
    frame
        The one-row frame the ``select`` returned.
    prefix
        The prefix this column's expressions were aliased with.

    Example
    -------
    >>> frame = pl.DataFrame({"x": [1, 2, 3]}).select(pl.col("x").sum().alias("x\\0sum"))
    >>> BatchStats(frame, "x\\0").integer("sum")
    6
    """

    def __init__(self, frame: pl.DataFrame, prefix: str) -> None:
        self.frame = frame
        self.prefix = prefix

    def has(self, key: str) -> bool:
        """Whether the ``select`` computed ``key`` for this column."""
        return self.prefix + key in self.frame.columns

    def value(self, key: str) -> object:
        return self.frame.get_column(self.prefix + key).item()

    def integer(self, key: str) -> int:
        value = self.value(key)
        return 0 if value is None else int(value)  # type: ignore[call-overload]

    def optional_integer(self, key: str) -> int | None:
        value = self.value(key)
        return None if value is None else int(value)  # type: ignore[call-overload]

    def real(self, key: str) -> float | None:
        value = self.value(key)
        return None if value is None else float(value)  # type: ignore[arg-type]

    def number(self, key: str) -> int | float | None:
        value = self.value(key)
        return value if value is None or isinstance(value, int | float) else float(value)  # type: ignore[arg-type]

    def series(self, key: str) -> pl.Series:
        """A list-valued statistic (such as value counts) as one flat series."""
        series: pl.Series = self.frame.get_column(self.prefix + key)[0]
        return series
