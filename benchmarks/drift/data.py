"""The drifted frame: a reference and a current version of the standard frame, with known drift.

The reference is the standard frame itself (``benchmarks/synthetic.py``, seed 0, so at 100k, 1M
and 10M rows it is ``benchmarks/data/standard-<size>.parquet``). The current frame comes from the
same generator with other seeds (``CURRENT_SEED`` + chunk number) and then has drift planted in
5 numeric and 2 categorical columns, described exactly in ``PLANTED``; the other 18 columns are
drawn from the same distribution as the reference. Missing values stay at 2% in every column
(drift is planted only in present values). Files are written chunk by chunk (1M rows per chunk),
so memory stays flat at 10M rows.

``fast_frame`` draws the same distributions as the standard frame (not the same values) about
3x faster, for the many trials of the false-alarm and power benchmarks, optionally with a mean
shift in ``num_00`` and a category share shift in ``cat_3``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import polars as pl
import scipy.special
import scipy.stats

from benchmarks.synthetic import (
    CATEGORICAL_LEVELS,
    MISSING_RATE,
    NUMERIC_COLUMNS,
    standard_frame,
    write_standard_parquet,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
CURRENT_SEED = 1_000
NO_DRIFT_SEED = 2_000

LOGNORMAL_SD = math.sqrt((math.exp(0.8**2) - 1) * math.exp(2 * 1.0 + 0.8**2))
UNIFORM_SD = 1 / math.sqrt(3)
CAT_3_SHIFT = 0.08  # share of "c0" in cat_3 goes from 12.5% to 20.5%
CAT_1_NEW_SHARE = 0.03
CAT_1_NEW_VALUES = [f"new_{k}" for k in range(10)]

PLANTED: dict[str, str] = {
    "num_00": "mean +0.25 sd (normal(0, 10): +2.5)",
    "num_05": f"mean +0.25 sd (lognormal(1, 0.8), sd {LOGNORMAL_SD:.3f}: "
    f"+{0.25 * LOGNORMAL_SD:.3f})",
    "num_08": "scale x1.3 about the mean (normal(800, 18) becomes normal(800, 23.4))",
    "num_12": "mean +0.1 sd (normal(1200, 22): +2.2)",
    "num_06": "shape: uniform(-1, 1) becomes normal(0, 1/sqrt(3)) (same mean and sd)",
    "cat_3": "share of 'c0' from 12.5% to 20.5% (+8 points, taken evenly from the other 7 levels)",
    "cat_1": "3% of rows get one of 10 categories never seen in the reference ('new_0'..'new_9')",
}
"""Every planted change, by column. The other 18 columns have no drift."""


def plant(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``frame`` (a standard frame) with the drift in ``PLANTED``; missing values stay missing."""
    rows = frame.height
    c0_share = 1 / CATEGORICAL_LEVELS[3]
    to_c0 = rng.random(rows) < CAT_3_SHIFT / (1 - c0_share)
    to_new = rng.random(rows) < CAT_1_NEW_SHARE
    new_values = pl.Series(CAT_1_NEW_VALUES).gather(rng.integers(0, 10, rows))
    shape = pl.Series(rng.normal(0.0, UNIFORM_SD, rows))
    return frame.with_columns(
        pl.col("num_00") + 0.25 * 10.0,
        pl.col("num_05") + 0.25 * LOGNORMAL_SD,
        (pl.col("num_08") - 800.0) * 1.3 + 800.0,
        pl.col("num_12") + 0.1 * 22.0,
        pl.when(pl.col("num_06").is_not_null()).then(pl.lit(shape)).alias("num_06"),
        pl.when(pl.col("cat_3").is_not_null() & pl.lit(pl.Series(to_c0)))
        .then(pl.lit("c0"))
        .otherwise(pl.col("cat_3"))
        .alias("cat_3"),
        pl.when(pl.col("cat_1").is_not_null() & pl.lit(pl.Series(to_new)))
        .then(pl.lit(new_values))
        .otherwise(pl.col("cat_1"))
        .alias("cat_1"),
    )


def drifted_frame(rows: int, seed: int = CURRENT_SEED) -> pl.DataFrame:
    """``rows`` rows of the current frame: the standard generator with ``seed``, drift planted."""
    return plant(standard_frame(rows, seed=seed), np.random.default_rng(seed + 500_000))


def write_drifted_parquet(path: Path, rows: int, seed: int = CURRENT_SEED) -> Path:
    """Write the current (drifted) frame in 1M-row chunks; reuse the file if present."""
    return write_standard_parquet(path, rows, seed, make=drifted_frame)


def reference_path(size: str) -> Path:
    """The reference: the standard frame at ``size`` (seed 0)."""
    return write_standard_parquet(DATA / f"standard-{size}.parquet", SIZES[size])


def drifted_path(size: str) -> Path:
    """The current frame with the planted drift at ``size``."""
    return write_drifted_parquet(DATA / f"drift-current-{size}.parquet", SIZES[size])


def no_drift_path(size: str, trial: int = 0) -> Path:
    """A current frame with no drift at ``size``: the standard generator with another seed."""
    seed = NO_DRIFT_SEED + 100 * trial
    return write_standard_parquet(DATA / f"nodrift-{size}-{trial}.parquet", SIZES[size], seed=seed)


_LEVELS = [
    pl.Series([("L" if levels > 100 else "c") + str(k) for k in range(levels)])
    for levels in CATEGORICAL_LEVELS
]


_POISSON_CDF = {
    mean: np.cumsum(scipy.stats.poisson.pmf(np.arange(200), mean))
    for mean in range(3, 3 + NUMERIC_COLUMNS)
}


@functools.cache
def _folded_zipf_cdf(levels: int, a: float = 1.3) -> np.ndarray:
    """CDF of ``(zipf(a) - 1) % levels``: P(j) = sum over m of (j + 1 + levels m)^-a / zeta(a),
    a Hurwitz zeta, so sampling it by inverse CDF draws exactly what the standard frame draws."""
    j = np.arange(levels)
    pmf = levels ** (-a) * scipy.special.zeta(a, (j + 1) / levels) / scipy.special.zeta(a)
    return np.cumsum(pmf / pmf.sum())


def fast_frame(
    rows: int, seed: int, *, mean_shift_sd: float = 0.0, share_shift: float = 0.0
) -> pl.DataFrame:
    """A frame with the standard frame's distributions (not its values), drawn quickly.

    ``mean_shift_sd`` moves ``num_00`` (normal(0, 10)) by that many standard deviations;
    ``share_shift`` moves that share of ``cat_3`` rows (8 equally likely levels) to ``"c0"``, taken
    evenly from the others, so the share of ``"c0"`` rises by ``share_shift`` (0.05 = 5 points).
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, pl.Series] = {}
    for i in range(NUMERIC_COLUMNS):
        match i % 4:
            case 0:
                values = rng.normal(100.0 * i, 10.0 + i, rows)
            case 1:
                values = rng.lognormal(1.0, 0.8, rows)
            case 2:
                values = rng.uniform(-1.0, 1.0, rows)
            case _:
                draws = _POISSON_CDF[3 + i].searchsorted(rng.random(rows), side="right")
                values = draws.astype(np.float64)
        if i == 0 and mean_shift_sd:
            values += mean_shift_sd * 10.0
        values[rng.random(rows) < MISSING_RATE] = np.nan
        columns[f"num_{i:02d}"] = pl.Series(f"num_{i:02d}", values, nan_to_null=True)
    for j, levels in enumerate(CATEGORICAL_LEVELS):
        if levels > 100:
            codes = _folded_zipf_cdf(levels).searchsorted(rng.random(rows), side="right")
        else:
            codes = rng.integers(0, levels, rows)
        if j == 3 and share_shift:
            codes[rng.random(rows) < share_shift / (1 - 1 / levels)] = 0
        indices = pl.Series(codes.astype(np.uint32))
        missing = pl.Series(rng.random(rows) < MISSING_RATE)
        indices = pl.select(pl.when(missing).then(None).otherwise(indices)).to_series()
        columns[f"cat_{j}"] = _LEVELS[j].gather(indices).alias(f"cat_{j}")
    return pl.DataFrame(list(columns.values()))


def main() -> None:
    """Write the drifted pairs at 100k, 1M and 10M rows and a few no-drift currents."""
    for size in ("100k", "1m", "10m"):
        print(reference_path(size), drifted_path(size))
    for size, trials in (("10k", 5), ("100k", 3)):
        print(reference_path(size), *(no_drift_path(size, t) for t in range(trials)))


if __name__ == "__main__":
    main()
