"""compare describes planted changes between a reference and a current profile."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tether.profile import Profile

ROWS = 20_000


def _flights(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "dep_delay": rng.normal(10.0, 5.0, ROWS),
            "distance": rng.normal(800.0, 200.0, ROWS),
            "carrier": rng.choice(["AA", "UA", "DL", "WN"], ROWS),
            "late": rng.random(ROWS) < 0.2,
            "legacy": rng.integers(0, 5, ROWS),
        }
    )


@pytest.fixture(scope="module")
def changes() -> dict[str, dict[str, object]]:
    reference = _flights(1)
    current = _flights(2)
    rng = np.random.default_rng(3)
    current = (
        current.with_columns(
            dep_delay=pl.when(pl.Series(rng.random(ROWS) < 0.10)).then(None).otherwise("dep_delay"),
            distance=pl.col("distance") + 100.0,
            carrier=pl.when(pl.Series(rng.random(ROWS) < 0.05))
            .then(pl.lit("XX"))
            .otherwise("carrier"),
        )
        .drop("legacy")
        .with_columns(gate=pl.lit("B12"))
    )
    ref = Profile.build(reference)
    table = ref.compare(Profile.build(current, ref))
    return {row["column"]: row for row in table.iter_rows(named=True)}


def test_missing_rate_increase_is_described(changes: dict) -> None:
    row = changes["dep_delay"]
    assert row["missing_rate_ref"] == 0.0
    assert row["missing_rate_cur"] == pytest.approx(0.10, abs=0.01)
    assert row["change"].startswith("missing rate 0.0% -> 10.")


def test_mean_shift_is_described_in_reference_sd(changes: dict) -> None:
    row = changes["distance"]
    assert row["mean_shift_sd"] == pytest.approx(0.5, abs=0.03)
    assert row["change"] == "mean moved +0.5 sd"


def test_new_category_is_described(changes: dict) -> None:
    row = changes["carrier"]
    assert row["new_categories"] == 1
    assert row["top_new"] == "'XX'"
    assert row["new_category_share"] == pytest.approx(0.05, abs=0.005)
    assert row["change"].startswith("new category 'XX' in ")
    assert row["vanished_categories"] == 0


def test_unchanged_column_has_no_notable_change(changes: dict) -> None:
    assert changes["late"]["change"] == "no notable change"


def test_columns_on_one_side_are_reported(changes: dict) -> None:
    assert changes["legacy"]["change"] == "column missing from current"
    assert changes["gate"]["change"] == "column new in current"


def test_tail_shares_are_exact_when_built_on_reference_edges() -> None:
    reference = pl.DataFrame({"x": np.arange(100.0)})
    current = pl.DataFrame({"x": np.arange(100.0) + 10.0})
    ref = Profile.build(reference)
    row = ref.compare(Profile.build(current, ref)).row(0, named=True)
    assert row["share_below_ref_min"] == 0.0
    assert row["share_above_ref_max"] == 0.10
    without_reference = ref.compare(Profile.build(current)).row(0, named=True)
    assert without_reference["share_above_ref_max"] == pytest.approx(0.10, abs=0.02)


def test_vanished_category_is_described() -> None:
    ref = Profile.build(pl.DataFrame({"c": ["a"] * 90 + ["b"] * 10}))
    row = ref.compare(Profile.build(pl.DataFrame({"c": ["a"] * 100}))).row(0, named=True)
    assert row["vanished_categories"] == 1
    assert row["change"] == "category 'b' vanished (was 10.0% of rows)"
