"""The standard synthetic frame every benchmark uses.

20 numeric columns (normal, lognormal, uniform and integer counts), 5 categorical columns of which
one has 10,000 levels (Zipf-distributed, as real ids are), 2% missing values in every column,
fixed seed. Large sizes are written to parquet chunk by chunk so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

NUMERIC_COLUMNS = 20
CATEGORICAL_LEVELS = (10_000, 50, 20, 8, 3)
MISSING_RATE = 0.02
CHUNK_ROWS = 1_000_000


def standard_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """``rows`` rows of the standard frame; the same seed gives the same frame."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray | pl.Series] = {}
    for i in range(NUMERIC_COLUMNS):
        match i % 4:
            case 0:
                values = rng.normal(100.0 * i, 10.0 + i, rows)
            case 1:
                values = rng.lognormal(1.0, 0.8, rows)
            case 2:
                values = rng.uniform(-1.0, 1.0, rows)
            case _:
                values = rng.poisson(3 + i, rows).astype(np.float64)
        columns[f"num_{i:02d}"] = _with_missing(pl.Series(values), rng)
    for j, levels in enumerate(CATEGORICAL_LEVELS):
        codes = (
            (rng.zipf(1.3, rows) - 1) % levels if levels > 100 else rng.integers(0, levels, rows)
        )
        names = pl.Series(codes).cast(pl.String)
        columns[f"cat_{j}"] = _with_missing(("L" + names) if levels > 100 else ("c" + names), rng)
    return pl.DataFrame(columns)


def write_standard_parquet(
    path: Path, rows: int, seed: int = 0, make: Callable[..., pl.DataFrame] | None = None
) -> Path:
    """Write ``rows`` rows of the standard frame (or of ``make(rows, seed=...)``) to ``path`` in
    chunks of :data:`CHUNK_ROWS`, seeding chunk ``i`` with ``seed + i``; reuse it if present."""
    make = make or standard_frame
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    writer = None
    for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
        chunk = make(min(CHUNK_ROWS, rows - start), seed=seed + index).to_arrow()
        writer = writer or pq.ParquetWriter(partial, chunk.schema)
        writer.write_table(chunk, row_group_size=250_000)
    assert writer is not None
    writer.close()
    partial.rename(path)
    return path


def _with_missing(values: pl.Series, rng: np.random.Generator) -> pl.Series:
    mask = pl.Series(rng.random(values.len()) < MISSING_RATE)
    return pl.select(pl.when(mask).then(None).otherwise(values)).to_series()
