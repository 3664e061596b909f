"""Labels as the metrics take them: class indices in the model's order, or numbers.

Labels arrive as JSON from many clients, and the store types a label column by every JSON type
ever written under it, so one client sending ``1.0``, ``"1"`` or ``true`` where the others send
``1`` must not make a window's labels unusable. A label names a class when it equals the class
as a number (``1``, ``1.0``, ``"1"`` and ``true`` all name class ``1``; ``false`` names ``0``)
or, for classes that are not numbers, as text. A label that names no class, or a regression
label that is not a finite number, is unusable: it is counted, and left out of every metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from tether.bundle import Bundle


def encode_labels(bundle: Bundle, labels: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(values, usable)``: class indices (classification; -1 where unusable) or floats
    (regression; NaN where unusable), and the mask of usable labels.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> binary = SimpleNamespace(task="binary", classes=[0, 1])
    >>> encode_labels(binary, pl.Series(["1", "0.0", "true", "yes", None]))[0].tolist()
    [1, 0, 1, -1, -1]
    >>> named = SimpleNamespace(task="binary", classes=["no", "yes"])
    >>> encode_labels(named, pl.Series(["yes", "no", "maybe"]))[0].tolist()
    [1, 0, -1]
    >>> text = SimpleNamespace(task="binary", classes=["0", "1"])
    >>> encode_labels(text, pl.Series([1, 0, 2]))[0].tolist()
    [1, 0, -1]
    """
    if bundle.task == "regression":
        values = _as_number(labels).to_numpy().astype(np.float64)
        return values, np.isfinite(values)
    number, text = _as_number(labels), labels.cast(pl.String)
    # classes read by the same rule as labels, so "1", 1 and true meet whatever side is text
    names = [str(c).lower() if isinstance(c, bool) else str(c) for c in bundle.classes]
    as_numbers = _as_number(pl.Series(names, dtype=pl.String)).to_list()
    by_number = {x: i for i, x in enumerate(as_numbers) if x is not None}
    by_text = {name: i for i, (name, x) in enumerate(zip(names, as_numbers, strict=True))
               if x is None}  # fmt: skip
    codes = (
        pl.select(
            pl.when(number.is_not_null())
            .then(number.replace_strict(by_number, default=-1, return_dtype=pl.Int64))
            .otherwise(text.replace_strict(by_text, default=-1, return_dtype=pl.Int64))
        )
        .to_series()
        .fill_null(-1)
        .to_numpy()
    )
    return codes, codes >= 0


def _as_number(values: pl.Series) -> pl.Series:
    """Numbers as floats; booleans and the text ``true``/``false`` as 1.0/0.0; text that
    reads as a number as that number; anything else null."""
    if values.dtype == pl.Boolean or values.dtype.is_numeric():
        return values.cast(pl.Float64)
    text = values.cast(pl.String).str.strip_chars()
    lowered = text.str.to_lowercase()
    return pl.select(
        pl.when(lowered == "true")
        .then(1.0)
        .when(lowered == "false")
        .then(0.0)
        .otherwise(text.cast(pl.Float64, strict=False))
    ).to_series()
