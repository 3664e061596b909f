"""The gate's fairness check: a challenger trained on biased labels widens a disparity the
champion did not have; one trained like the champion passes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
from serve_data import fitted, flights

from tether.bundle import Bundle
from tether.checks import check_fairness
from tether.errors import InputError


def _bundle(train: pl.DataFrame, valid: pl.DataFrame, **options: object) -> Bundle:
    return Bundle.build(fitted(train), train=train, valid=valid, target="late",
                        id_column="flight_id", n_resamples=50, seed=3, **options)  # fmt: skip


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return flights(6_000, 41), flights(4_000, 42)


@pytest.fixture(scope="module")
def champion(data) -> Bundle:
    return _bundle(*data, sensitive=["origin"])


def test_a_challenger_trained_like_the_champion_passes(data, champion) -> None:
    _, valid = data
    retrained = _bundle(flights(6_000, 43), valid, sensitive=["origin"])
    verdict = check_fairness(retrained, champion, valid, n_resamples=100)
    assert verdict.passed, verdict.summary()
    assert verdict.summary()[0].startswith("fairness: no disparity grew")
    assert "given 4,000 rows" in verdict.rows


def test_a_challenger_trained_on_biased_labels_fails(data, champion) -> None:
    train, valid = data
    rng = np.random.default_rng(0)
    # half of JFK's on-time flights recorded as late: the model learns to flag JFK
    biased = train.with_columns(
        pl.when((pl.col("origin") == "JFK") & pl.Series(rng.random(train.height) < 0.5))
        .then(1).otherwise(pl.col("late")).alias("late")
    )  # fmt: skip
    challenger = _bundle(biased, valid, sensitive=["origin"])
    verdict = check_fairness(challenger, champion, valid, n_resamples=100)
    assert not verdict.passed
    grew = verdict.changes.filter(pl.col("grew"))
    assert "demographic_parity_difference" in grew["metric"].to_list()
    assert any("origin demographic_parity_difference" in line for line in verdict.summary())
    # the stored validation reports agree: both bundles were validated on the same rows
    assert not check_fairness(challenger, champion).passed


def test_the_check_says_what_it_lacks(data, champion) -> None:
    train, valid = data
    plain = _bundle(train, valid)
    with pytest.raises(InputError, match="declares no sensitive attributes"):
        check_fairness(plain, champion, valid)
    with pytest.raises(InputError, match=r"valid lacks the columns \['origin'\]"):
        check_fairness(champion, champion, valid.drop("origin"))
    with pytest.raises(InputError, match="the champion carries no fairness report"):
        check_fairness(champion, plain)
