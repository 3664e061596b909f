"""``tether.drift``: compare current data, or each window of it, with a reference."""

from __future__ import annotations

from typing import Any

import polars as pl

from tether.drift.column import column_drift
from tether.drift.report import SCHEMA, DriftReport, bound_text
from tether.drift.windows import Window, split
from tether.errors import InputError
from tether.frame import Data, read
from tether.profile import Profile


def drift(
    reference: Data | Profile,
    current: Data | Profile,
    *,
    columns: list[str] | None = None,
    exclude: list[str] | None = None,
    methods: list[str] | None = None,
    alpha: float = 0.01,
    correction: str = "holm",
    time_column: str | None = None,
    every: str | None = None,
    rows: int | None = None,
    chunks: int | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> DriftReport:
    """Which columns of ``current`` drifted from ``reference``, how much, and why.

    ``reference`` and ``current`` are tables, paths, or :class:`~tether.profile.Profile` objects
    (a current profile must have been built with ``reference=`` the reference profile, so both
    are binned alike). With ``every`` (and ``time_column``), ``rows`` or ``chunks``, current
    data is cut into windows and each is compared with the reference; the report then has one
    set of rows per window.

    Parameters
    ----------
    columns, exclude
        Columns to test (default: every column both sides have) and columns to leave out.
        The ``time_column`` is always left out: time always moves forward.
    methods
        Drift methods to run (names from :data:`tether.drift.METHODS`); default: the primary
        method of each column's kind and its companions.
    alpha
        False-alarm rate of each column verdict (and of each window's dataset verdict).
    correction
        ``"holm"`` or ``"bh"``: how a window's dataset verdict controls errors over its columns.
    resamples, seed
        Size and seed of the resampling that calibrates thresholds at each sample size.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = pl.DataFrame({"x": rng.normal(size=5_000), "y": rng.normal(size=5_000)})
    >>> cur = pl.DataFrame({"x": rng.normal(0.5, 1, 5_000), "y": rng.normal(size=5_000)})
    >>> drift(ref, cur).drifted
    ['x']
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    reference_profile = reference if isinstance(reference, Profile) else Profile.build(reference)
    windowed = any(value is not None for value in (every, rows, chunks))
    if isinstance(current, Profile):
        if windowed:
            raise InputError("windows need current data, not a profile: pass the table or path")
        parts: list[tuple[Window, Profile]] = [(Window(0, None, None), current)]
    elif windowed:
        frame = read(current)
        parts = [
            (window, Profile.build(part, reference=reference_profile))
            for window, part in split(
                frame, time_column=time_column, every=every, rows=rows, chunks=chunks
            )
        ]
    else:
        parts = [(Window(0, None, None), Profile.build(current, reference=reference_profile))]

    skip = set(exclude or []) | ({time_column} if time_column else set())
    names = _columns(reference_profile, parts[0][1] if parts else None, columns, skip)
    records: list[dict[str, Any]] = []
    for window, profile in parts:
        for name in names:
            if name not in profile.columns:
                continue
            for row in column_drift(
                reference_profile[name],
                profile[name],
                methods=methods,
                alpha=alpha,
                resamples=resamples,
                seed=seed,
            ):
                records.append(
                    {
                        "window": window.index,
                        "window_start": bound_text(window.start),
                        "window_end": bound_text(window.end),
                        **row,
                    }
                )
    frame_rows = pl.DataFrame(records, schema=SCHEMA) if records else pl.DataFrame(schema=SCHEMA)
    return DriftReport(frame_rows, alpha=alpha, correction=correction)


def _columns(
    reference: Profile, current: Profile | None, wanted: list[str] | None, skip: set[str]
) -> list[str]:
    if wanted is not None:
        unknown = [name for name in wanted if name not in reference.columns]
        if unknown:
            raise InputError(
                f"columns {unknown} are not in the reference (it has {list(reference.columns)})"
            )
        return [name for name in wanted if name not in skip]
    shared = [name for name in reference.columns if current is None or name in current.columns]
    return [name for name in shared if name not in skip]
