"""Cutting the prediction log into monitoring windows that stay the same from run to run.

A window is a calendar period (``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``: polars durations,
truncated in UTC) or a block of a fixed number of predictions counted from ``since``. Both are
stable: a re-run over the same log cuts the same windows with the same bounds, so results can be
stored per window and compared across runs. A window still open (its period not over, or a block
not yet full) is marked incomplete and is recomputed as it fills.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from tether.errors import InputError

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class MonitorWindow:
    """One window of logged predictions: ``[start, end)`` in UTC, and whether it is over.

    Example
    -------
    >>> at = datetime(2024, 5, 1, tzinfo=UTC)
    >>> MonitorWindow(at, at + timedelta(days=1), True).label
    '2024-05-01 00:00 → 2024-05-02 00:00'
    """

    start: datetime
    end: datetime
    complete: bool

    @property
    def label(self) -> str:
        """The bounds as text, for tables and logs."""
        return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M}"


def cut(
    log: pl.DataFrame,
    *,
    every: str | None = None,
    rows: int | None = None,
    now: datetime | None = None,
) -> Iterator[tuple[MonitorWindow, pl.DataFrame]]:
    """Yield each window of ``log`` (a store read, oldest first) with its rows.

    Exactly one of ``every`` (a period) or ``rows`` (predictions per block) is given. A period
    window is complete once ``now`` (default: the current time) has passed its end. A block
    holds ``rows`` predictions in ``created_at`` order, plus any logged in the same microsecond
    as its last (so two blocks never share a bound); it runs from its first prediction's time
    to one microsecond past its last, and is complete once full. The newest block, while not
    full, is incomplete and its bounds still move as traffic arrives.

    Example
    -------
    >>> at = datetime(2024, 5, 1, 23, tzinfo=UTC)
    >>> log = pl.DataFrame({"created_at": [at, at + timedelta(hours=2), at + timedelta(hours=3)]})
    >>> for w, part in cut(log, every="1d", now=at + timedelta(days=1)):
    ...     print(w.label, len(part), w.complete)
    2024-05-01 00:00 → 2024-05-02 00:00 1 True
    2024-05-02 00:00 → 2024-05-03 00:00 2 False
    >>> [(len(part), w.complete) for w, part in cut(log, rows=2)]
    [(2, True), (1, False)]
    """
    if (every is None) == (rows is None):
        raise InputError("choose exactly one of window= (a period such as '1d') or rows=")
    if log.height == 0:
        return
    if every is not None:
        yield from _by_period(log, every, now or datetime.now(UTC))
    else:
        assert rows is not None
        yield from _by_rows(log, rows)


def _by_period(
    log: pl.DataFrame, every: str, now: datetime
) -> Iterator[tuple[MonitorWindow, pl.DataFrame]]:
    try:
        keyed = log.with_columns(pl.col("created_at").dt.truncate(every).alias("__start"))
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"window={every!r} is not a period like '10m', '1h', '1d', '1w', '1mo'"
        ) from exc
    for (start,), part in keyed.group_by("__start", maintain_order=True):
        end = pl.select(pl.lit(start).dt.offset_by(every)).item()
        if not end > start:
            raise InputError(f"window={every!r} must be a positive period like '1h' or '1d'")
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        yield MonitorWindow(start, end, end <= now), part.drop("__start")


def _by_rows(log: pl.DataFrame, rows: int) -> Iterator[tuple[MonitorWindow, pl.DataFrame]]:
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InputError(f"rows={rows!r} must be a positive whole number of predictions")
    times = log.get_column("created_at")
    micros = times.dt.epoch("us").to_numpy()
    offset = 0
    while offset < log.height:
        last = offset + rows - 1
        # a block takes every prediction logged in the microsecond of its last one (a batch
        # request logs its rows at one time), so two blocks never share a bound
        stop = int(np.searchsorted(micros, micros[min(last, log.height - 1)], side="right"))
        complete = last < log.height
        end = times[stop - 1] + _MICROSECOND
        yield MonitorWindow(times[offset], end, complete), log.slice(offset, stop - offset)
        offset = stop


def fingerprint(window: MonitorWindow, part: pl.DataFrame, **config: object) -> str:
    """What a window's results depend on, hashed: its bounds, the predictions in it (count,
    versions, last time), its labels (count and last receipt) and whatever else the caller
    passes in ``config`` (the job's settings and the history its silent checks compare with).

    A run whose fingerprint matches the stored one would compute the same results, so it stores
    nothing; a label that arrives late changes it, and the window gets a new result version.

    Example
    -------
    >>> at = datetime(2024, 5, 1, tzinfo=UTC)
    >>> window = MonitorWindow(at, at + timedelta(days=1), True)
    >>> part = pl.DataFrame({"created_at": [at], "version": ["v1"], "label": [None],
    ...                      "label_received_at": [None]})
    >>> fingerprint(window, part) == fingerprint(window, part)
    True
    >>> fingerprint(window, part) == fingerprint(window, part, alpha=0.05)
    False
    """
    labeled = part.filter(pl.col("label").is_not_null()) if "label" in part.columns else part[:0]
    received = (
        labeled.get_column("label_received_at").max()
        if "label_received_at" in labeled.columns
        else None
    )
    facts = {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "complete": window.complete,
        "rows": part.height,
        "versions": sorted(part.get_column("version").unique().to_list()),
        "last": str(part.get_column("created_at").max()),
        "labeled": labeled.height,
        "last_label": str(received),
        "config": config,
    }
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
