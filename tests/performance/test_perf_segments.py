"""Weak-segment discovery: planted segments found, nothing on null data, the right kind."""

from __future__ import annotations

import itertools
import math
import re
import time
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats

from tether.errors import InputError
from tether.performance.segments import (
    WeakSegments,
    error_loss,
    expected_error,
    find_weak_segments,
)
from tether.performance.segments.losses import RowLosses
from tether.performance.segments.search import LatticeSearch, Limits
from tether.performance.segments.statistics import interaction, mean_loss

BASE, BAD = 0.15, 0.45


def flights(n: int, seed: int) -> tuple[pl.DataFrame, np.random.Generator]:
    """Columns of several kinds; ``dep_hour`` is uniform on 5..22, so its top reference bin is
    ``dep_hour >= 19``; ``origin`` is missing on 3% of rows."""
    rng = np.random.default_rng(seed)
    origin = rng.choice(["JFK", "LGA", "EWR", "BOS"], n).astype(object)
    origin[rng.random(n) < 0.03] = None
    frame = pl.DataFrame(
        {
            "carrier": rng.choice(["AA", "DL", "UA", "WN", "B6"], n),
            "origin": pl.Series(origin.tolist(), dtype=pl.String),
            "dep_hour": rng.integers(5, 23, n),
            "distance": rng.gamma(2.0, 400.0, n),
            "fleet": rng.choice(["narrow", "wide"], n),
            "delay": rng.normal(10.0, 5.0, n),
        }
    )
    return frame, rng


def planted(frame: pl.DataFrame, expr: pl.Expr, rng: np.random.Generator) -> np.ndarray:
    """0/1 loss with error rate BAD where ``expr`` holds, else BASE."""
    weak = frame.select(expr.fill_null(False)).to_series().to_numpy()
    return (rng.random(frame.height) < np.where(weak, BAD, BASE)).astype(float)


def rows_of(frame: pl.DataFrame, conditions: list[dict[str, Any]]) -> np.ndarray:
    """The rows a segment's conditions select, evaluated independently of the search."""
    mask = pl.lit(True)
    for c in conditions:
        col = pl.col(c["column"])
        if c["kind"] == "missing":
            term = col.is_null()
        elif c["kind"] == "value":
            term = col.cast(pl.String) == c["value"]
        else:
            term = pl.lit(True)
            if c["low"] is not None:
                term = term & (col >= c["low"])
            if c["high"] is not None:
                term = term & (col < c["high"])
        mask = mask & term.fill_null(False)
    return frame.select(mask).to_series().to_numpy()


def cond_set(conditions: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {tuple(c.values()) for c in conditions}


def value(column: str, level: str) -> dict[str, Any]:
    return {"column": column, "kind": "value", "value": level, "low": None, "high": None}


def test_a_planted_single_condition_is_found_first_and_its_children_are_not() -> None:
    frame, rng = flights(30_000, seed=1)
    loss = planted(frame, pl.col("carrier") == "UA", rng)
    found = WeakSegments().fit(frame).find(frame, loss)
    assert found["conditions"][0].to_list() == [value("carrier", "UA")]
    assert found["rank"].to_list() == list(range(1, found.height + 1))
    # none of the pairs and triples inside carrier = 'UA' is reported
    for conditions in found["conditions"].to_list()[1:]:
        assert value("carrier", "UA") not in conditions
    first = found.row(0, named=True)
    assert first["kind"] == "worse"
    assert first["loss"] == pytest.approx(BAD, abs=0.03)  # 6000 rows: sd 0.006
    assert first["rest_loss"] == pytest.approx(BASE, abs=0.01)
    assert first["q_value"] <= 0.05
    assert first["impact"] == pytest.approx(first["size"] * first["gap"])


def test_a_planted_pair_is_found_first_and_its_parents_are_not() -> None:
    frame, rng = flights(30_000, seed=2)
    loss = planted(frame, (pl.col("carrier") == "UA") & (pl.col("dep_hour") >= 19), rng)
    found = WeakSegments().fit(frame).find(frame, loss)
    first = found.row(0, named=True)
    assert first["segment"] == "carrier = 'UA' and dep_hour >= 19"
    assert first["size"] == int(((frame["carrier"] == "UA") & (frame["dep_hour"] >= 19)).sum())
    segments = found["segment"].to_list()
    assert "carrier = 'UA'" not in segments
    assert "dep_hour >= 19" not in segments


def test_a_planted_triple_is_found_with_exactly_its_rows_and_no_part_of_it_is() -> None:
    frame, rng = flights(50_000, seed=3)
    weak = (pl.col("carrier") == "UA") & (pl.col("dep_hour") >= 19) & (pl.col("fleet") == "wide")
    loss = planted(frame, weak, rng)
    found = WeakSegments().fit(frame).find(frame, loss)
    conditions = found["conditions"].to_list()
    assert len(conditions[0]) == 3
    truth = frame.select(weak).to_series().to_numpy()
    assert np.array_equal(rows_of(frame, conditions[0]), truth)
    planted_set = cond_set(conditions[0])
    for other in conditions[1:]:
        assert not cond_set(other) < planted_set  # no pair or single of the triple


@pytest.mark.parametrize("seed", [10, 11, 12, 13])
def test_nothing_is_found_when_the_loss_does_not_depend_on_the_columns(seed: int) -> None:
    # BH at alpha = 0.05 under the global null: any finding at all has probability <= 0.05
    # per seed; these seeds are fixed, so the test is deterministic.
    frame, rng = flights(20_000, seed=seed)
    error = (rng.random(frame.height) < 0.2).astype(float)
    assert WeakSegments().fit(frame).find(frame, error).height == 0
    spread = rng.exponential(2.0, frame.height)  # a continuous loss too
    assert WeakSegments().fit(frame).find(frame, spread).height == 0


def _scored(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """A classifier that is calibrated except on ``source = 'partner'``, where positives are
    0.2 more frequent than its scores say; ``source = 'new'`` gets uncertain scores."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["web", "new", "partner"], n, p=[0.7, 0.15, 0.15])
    frame = pl.DataFrame(
        {"source": source, "amount": rng.normal(size=n), "tier": rng.choice(["a", "b"], n)}
    )
    p = np.where(source == "new", rng.uniform(0.35, 0.5, n), rng.uniform(0.01, 0.1, n))
    y = (rng.random(n) < p + np.where(source == "partner", 0.2, 0.0)).astype(int)
    return frame, y, p


def test_a_calibrated_models_uncertain_region_is_low_confidence_not_worse_than_expected() -> None:
    frame, y, p = _scored(40_000, seed=4)
    loss = error_loss("binary", y, p)
    q, v = expected_error("binary", p)
    found = WeakSegments().fit(frame).find(frame, loss, expected=q, variance=v)
    kinds = dict(zip(found["segment"], found["kind"], strict=True))
    assert kinds.get("source = 'new'") == "low_confidence"
    assert kinds.get("source = 'partner'") == "worse_than_expected"
    assert set(kinds) == {"source = 'new'", "source = 'partner'"}
    new = found.filter(pl.col("segment") == "source = 'new'").row(0, named=True)
    # its error matches what its scores expected: within 3 standard errors of the excess
    assert abs(new["excess"]) < 3 * math.sqrt(0.25 / new["size"])
    assert "less certain here rather than wrong" in new["description"]
    # the default variance for a 0/1 loss is expected * (1 - expected): same result without it
    again = WeakSegments().fit(frame).find(frame, loss, expected=q)
    assert again.drop("description").equals(found.drop("description"))


def test_without_labels_the_estimated_error_finds_the_uncertain_region() -> None:
    frame, _, p = _scored(40_000, seed=5)
    q, _ = expected_error("binary", p)
    found = WeakSegments().fit(frame).find(frame, q)
    assert found["segment"].to_list() == ["source = 'new'"]


def test_segments_below_min_support_are_not_tested() -> None:
    frame, rng = flights(30_000, seed=6)
    rare = np.zeros(frame.height, dtype=bool)
    rare[:150] = True  # 0.5% of rows
    frame = frame.with_columns(pl.Series("promo", np.where(rare, "flash", "none")))
    loss = (rng.random(frame.height) < np.where(rare, 0.9, 0.15)).astype(float)
    strict = WeakSegments(min_support=0.01).fit(frame).find(frame, loss)
    assert "promo = 'flash'" not in strict["segment"].to_list()
    assert (strict["size"] >= 300).all()
    loose = WeakSegments(min_support=0.002, min_rows=100).fit(frame).find(frame, loss)
    assert loose["segment"][0] == "promo = 'flash'"
    assert (loose["size"] >= 100).all()


def test_ranges_are_the_reference_quantiles_applied_to_a_shifted_window() -> None:
    rng = np.random.default_rng(7)
    reference = pl.DataFrame({"x": rng.normal(size=10_000), "c": rng.choice(["a", "b"], 10_000)})
    search = WeakSegments().fit(reference)
    ranges = search.conditions_.filter(pl.col("kind") == "range")
    edges = np.quantile(reference["x"], [0.2, 0.4, 0.6, 0.8], method="inverted_cdf")
    assert ranges["low"].drop_nulls().to_list() == edges.tolist()
    assert ranges["high"].drop_nulls().to_list() == edges.tolist()
    current = pl.DataFrame({"x": rng.normal(1.0, 1.0, 20_000), "c": rng.choice(["a", "b"], 20_000)})
    top = current["x"].to_numpy() >= edges[-1]
    loss = (rng.random(20_000) < np.where(top, 0.4, 0.15)).astype(float)
    found = search.find(current, loss)
    first = found.row(0, named=True)
    assert first["conditions"] == [
        {"column": "x", "kind": "range", "value": None, "low": edges[-1], "high": None}
    ]
    assert first["size"] == int(top.sum())  # ~46% of the shifted rows, not the reference's 20%


def test_missing_values_are_a_condition() -> None:
    frame, rng = flights(30_000, seed=8)
    loss = planted(frame, pl.col("origin").is_null(), rng)
    found = WeakSegments().fit(frame).find(frame, loss)
    assert found["segment"][0] == "origin is missing"
    assert found["conditions"][0].to_list() == [
        {"column": "origin", "kind": "missing", "value": None, "low": None, "high": None}
    ]


def test_values_unseen_in_the_reference_stay_in_the_rest() -> None:
    reference, _ = flights(20_000, seed=9)
    current, rng = flights(20_000, seed=10)
    current = current.with_columns(
        pl.when(pl.col("carrier") == "B6").then(pl.lit("ZZ")).otherwise("carrier").alias("carrier")
    )
    weak = (pl.col("carrier") == "ZZ") | (pl.col("origin") == "JFK")
    loss = planted(current, weak, rng)
    found = WeakSegments(max_conditions=2).fit(reference).find(current, loss)
    values = {c["value"] for conds in found["conditions"].to_list() for c in conds}
    assert "ZZ" not in values
    jfk = found.filter(pl.col("segment") == "origin = 'JFK'").row(0, named=True)
    outside = ~(current["origin"] == "JFK").fill_null(False).to_numpy()
    assert jfk["rest_loss"] == pytest.approx(loss[outside].mean(), rel=1e-12)  # ZZ rows too


def test_a_column_copied_under_another_name_gives_one_segment() -> None:
    frame, rng = flights(20_000, seed=11)
    frame = frame.with_columns(pl.col("carrier").alias("airline"))
    loss = planted(frame, pl.col("carrier") == "UA", rng)
    found = WeakSegments().fit(frame).find(frame, loss)
    assert found["segment"].to_list() == ["carrier = 'UA'"]


def test_a_regression_loss_with_an_expected_loss() -> None:
    rng = np.random.default_rng(12)
    n = 20_000
    frame = pl.DataFrame({"zone": rng.choice(["n", "s", "e", "w"], n), "x": rng.normal(size=n)})
    zone = frame["zone"].to_numpy()
    scale = np.where(zone == "n", 3.0, 1.0)  # noisier in the north, and the estimate knows it
    scale = np.where(zone == "s", 2.0, scale)  # noisier in the south, unknown to the estimate
    y = rng.normal(0.0, scale)
    loss = error_loss("regression", y, np.zeros(n))
    expected = np.where(zone == "n", 3.0, 1.0) * math.sqrt(2 / math.pi)  # E|N(0, s)|
    found = WeakSegments().fit(frame).find(frame, loss, expected=expected)
    kinds = dict(zip(found["segment"], found["kind"], strict=True))
    assert kinds == {"zone = 'n'": "low_confidence", "zone = 's'": "worse_than_expected"}
    assert "mean loss" in found["description"][0]


def test_fit_once_find_on_many_windows() -> None:
    reference, _ = flights(20_000, seed=13)
    search = WeakSegments().fit(reference)
    quiet, rng = flights(20_000, seed=14)
    busy, _ = flights(20_000, seed=15)
    assert search.find(quiet, (rng.random(20_000) < BASE).astype(float)).height == 0
    found = search.find(busy, planted(busy, pl.col("fleet") == "wide", rng))
    assert found["segment"].to_list() == ["fleet = 'wide'"]
    same = find_weak_segments(
        busy, planted(busy, pl.col("fleet") == "wide", rng), reference=reference
    )
    assert same["segment"][0] == "fleet = 'wide'"


def test_q_values_are_benjamini_hochberg_over_every_tested_candidate() -> None:
    # Brute force: every single condition and pair, masks from the conditions, Welch z, BH.
    rng = np.random.default_rng(16)
    n = 3000
    frame = pl.DataFrame(
        {
            "a": rng.choice(["p", "q", "r"], n),
            "b": rng.normal(size=n),
            "c": rng.choice(["u", "v"], n),
        }
    )
    weak = ((frame["a"] == "p") & (frame["c"] == "u")).to_numpy()
    loss = (rng.random(n) < np.where(weak, 0.35, 0.15)).astype(float)
    search = WeakSegments(max_conditions=2, min_rows=30, bins=4).fit(frame)
    found = search.find(frame, loss)
    assert found.height >= 1

    conditions = search.conditions_.to_dicts()
    candidates = [[c] for c in conditions] + [
        [c, d]
        for i, c in enumerate(conditions)
        for d in conditions[i + 1 :]
        if c["column"] != d["column"]
    ]
    min_size = max(30, math.ceil(0.01 * n))
    keys, p_values, z_values = [], [], []
    for conds in candidates:
        mask = rows_of(frame, conds)
        size = int(mask.sum())
        if size < min_size or n - size < 30:
            continue
        inside, outside = loss[mask], loss[~mask]
        se = math.sqrt(inside.var(ddof=1) / size + outside.var(ddof=1) / (n - size))
        z = (inside.mean() - outside.mean()) / se
        keys.append(frozenset(cond_set(conds)))
        z_values.append(z)
        p_values.append(stats.norm.sf(z))
    q_values = stats.false_discovery_control(np.array(p_values), method="bh")
    by_key = {k: (z, p, q) for k, z, p, q in zip(keys, z_values, p_values, q_values, strict=True)}
    for row in found.iter_rows(named=True):
        z, p, q = by_key[frozenset(cond_set(row["conditions"]))]
        assert row["z"] == pytest.approx(z, rel=1e-9)
        assert row["p_value"] == pytest.approx(p, rel=1e-6)
        assert row["q_value"] == pytest.approx(q, rel=1e-6)


def test_a_frame_too_small_for_any_segment_gives_an_empty_result() -> None:
    frame, rng = flights(60, seed=17)
    found = WeakSegments().fit(frame).find(frame, rng.random(60))
    assert found.height == 0
    assert found.columns[:4] == ["rank", "segment", "conditions", "size"]
    assert found.schema["conditions"] == pl.List(
        pl.Struct(
            {
                "column": pl.String,
                "kind": pl.String,
                "value": pl.String,
                "low": pl.Float64,
                "high": pl.Float64,
            }
        )
    )


def test_a_date_column_named_in_columns_reads_as_dates() -> None:
    rng = np.random.default_rng(18)
    days = pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 3, 31), eager=True)
    frame = pl.DataFrame({"day": rng.choice(days.to_numpy(), 20_000)}).with_columns(
        pl.col("day").cast(pl.Date)
    )
    late = frame["day"].to_numpy() >= np.datetime64("2024-03-14")
    loss = (rng.random(20_000) < np.where(late, 0.4, 0.15)).astype(float)
    found = WeakSegments(columns=["day"]).fit(frame).find(frame, loss)
    assert found["segment"][0].startswith("day >= 2024-03-1")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_conditions": 0}, "max_conditions is 0; it must be an integer from 1 to 3"),
        ({"max_conditions": 4}, "max_conditions is 4"),
        ({"alpha": 0.0}, "alpha is 0.0; it must be a number within (0, 1)"),
        ({"alpha": 1.0}, "alpha is 1.0"),
        ({"alpha": np.float32(2.0)}, "alpha is np.float32(2.0); it must be a number within"),
        ({"bins": 1}, "bins is 1; it must be an integer from 2 to 10000"),
        # condition codes are int16: more would overflow them
        ({"bins": 20_000}, "bins is 20000; it must be an integer from 2 to 10000"),
        ({"max_levels": 0}, "max_levels is 0"),
        ({"max_levels": 40_000}, "max_levels is 40000; it must be an integer from 1 to 10000"),
        ({"min_support": 1.5}, "min_support is 1.5; it must be a number within [0, 1)"),
        ({"min_rows": 1}, "min_rows is 1"),
        ({"min_gap": -0.1}, "min_gap is -0.1"),
        ({"beam": 0}, "beam is 0"),
        ({"columns": ["nope"]}, "columns ['nope'] are not in the reference"),
        ({"columns": "carrier"}, "columns is 'carrier'; it must be None (all columns) or a list"),
        ({"columns": [3]}, "columns is [3]; it must be None"),
    ],
)
def test_bad_parameters_are_refused_at_fit(params: dict[str, Any], message: str) -> None:
    frame, _ = flights(100, seed=19)
    search = WeakSegments(**params)  # the constructor only stores them
    with pytest.raises(InputError, match=re.escape(message)):
        search.fit(frame)


def test_bad_inputs_to_find_are_refused() -> None:
    frame, rng = flights(500, seed=20)
    loss = rng.random(500)
    with pytest.raises(InputError, match="not fitted; call fit"):
        WeakSegments().find(frame, loss)
    with pytest.raises(InputError, match="the reference has no rows"):
        WeakSegments().fit(frame.head(0))
    search = WeakSegments().fit(frame)
    with pytest.raises(InputError, match=r"loss has shape \(499,\); it must be 1-D"):
        search.find(frame, loss[:-1])
    bad = loss.copy()
    bad[7] = np.nan
    with pytest.raises(InputError, match="loss has nan at row 7; loss must be finite"):
        search.find(frame, bad)
    with pytest.raises(InputError, match=r"columns \['fleet'\] of the reference are not in"):
        search.find(frame.drop("fleet"), loss)
    with pytest.raises(InputError, match="column 'dep_hour' is String in the current data"):
        search.find(frame.with_columns(pl.col("dep_hour").cast(pl.String)), loss)
    with pytest.raises(InputError, match="the current data has no rows"):
        search.find(frame.head(0), loss[:0])
    with pytest.raises(InputError, match=re.escape("variance has -1.0 at row 0")):
        search.find(frame, loss, expected=loss, variance=np.full(500, -1.0))
    with pytest.raises(InputError, match="variance was given without expected"):
        search.find(frame, loss, variance=loss)


def test_error_loss_and_expected_error_for_each_task() -> None:
    assert error_loss("binary", [0, 1, 1, 0], [0.2, 0.4, 0.9, 0.7]).tolist() == [0, 1, 0, 1]
    assert error_loss("binary", [1, 0], [0.3, 0.2], threshold=0.25).tolist() == [0, 0]
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    assert error_loss("multiclass", [0, 1], scores).tolist() == [0, 1]
    assert error_loss("regression", [1.0, -2.0], [1.5, 1.0]).tolist() == [0.5, 3.0]
    q, v = expected_error("binary", [0.9, 0.2, 0.5])
    assert q.tolist() == pytest.approx([0.1, 0.2, 0.5])
    assert v.tolist() == pytest.approx([0.09, 0.16, 0.25])
    q, _ = expected_error("binary", [0.3], threshold=0.25)
    assert q.tolist() == pytest.approx([0.7])  # predicted positive at 0.25: wrong with 1 - p
    q, v = expected_error("multiclass", scores)
    assert q.tolist() == pytest.approx([0.3, 0.4])
    assert v.tolist() == pytest.approx([0.21, 0.24])
    with pytest.raises(InputError, match="task 'regression' has none"):
        expected_error("regression", [1.0])
    with pytest.raises(InputError, match=re.escape("scores has 1.2 at row 0; probabilities")):
        expected_error("binary", [1.2])
    with pytest.raises(InputError, match=r"scores has shape \(2,\); task 'multiclass' needs"):
        expected_error("multiclass", [0.2, 0.3])
    with pytest.raises(InputError, match="y_true holds 2 at row 0"):
        error_loss("binary", [2], [0.5])


def test_a_gap_below_min_gap_is_not_reported() -> None:
    frame, rng = flights(20_000, seed=21)
    loss = planted(frame, pl.col("fleet") == "wide", rng)  # a gap of BAD - BASE = 0.30
    assert WeakSegments(min_gap=0.25).fit(frame).find(frame, loss)["segment"][0] == "fleet = 'wide'"
    assert WeakSegments(min_gap=0.35).fit(frame).find(frame, loss).height == 0


def test_bh_counts_every_triple_that_could_have_the_support() -> None:
    # The beam tests few triples; BH must count all that could be tested (an upper bound),
    # so triples picked by their pairs' noise are judged among all their peers.
    frame, rng = flights(5000, seed=22)
    frame = frame.drop("distance", "delay")
    search = WeakSegments(min_support=0.02).fit(frame)
    codes = [column.codes(frame) for column in search.columns_]
    losses = RowLosses.check(frame.height, rng.random(frame.height), None, None)
    limits = Limits(3, 0.02, 50, 0.05, 0.0, 5)
    cols, _, _, hypotheses = LatticeSearch(search.columns_, codes, losses, limits).candidates()
    depth = (cols >= 0).sum(axis=1)
    conditions = search.conditions_.to_dicts()
    eligible = 0
    for a, b, c in itertools.combinations(conditions, 3):
        if len({a["column"], b["column"], c["column"]}) == 3:
            size = int(rows_of(frame, [a, b, c]).sum())
            eligible += size >= 100 and frame.height - size >= 50
    assert 0 < (depth == 3).sum() < eligible  # the beam of 5 pairs tests a few of them
    assert hypotheses - (depth < 3).sum() >= eligible
    assert hypotheses - (depth < 3).sum() <= math.comb(4, 3) * (5000 // 100)


def test_a_confident_region_gone_wrong_is_worse_than_expected_though_not_worse_than_the_rest() -> (
    None
):
    rng = np.random.default_rng(23)
    n = 40_000
    source = rng.choice(["web", "app"], n, p=[0.8, 0.2])
    frame = pl.DataFrame({"source": source, "tier": rng.choice(["a", "b", "c"], n)})
    # sure of itself on the app (error ~3%), unsure on the web (~35%)
    p = np.where(source == "app", rng.uniform(0.01, 0.05, n), rng.uniform(0.2, 0.5, n))
    y = rng.random(n) < p
    y ^= (source == "app") & (rng.random(n) < 0.12)  # but 12% of app labels go the other way
    loss = error_loss("binary", y.astype(int), p)
    found = WeakSegments().fit(frame).find(frame, loss, expected=expected_error("binary", p)[0])
    app = found.filter(pl.col("segment") == "source = 'app'").row(0, named=True)
    assert app["kind"] == "worse_than_expected"
    assert app["gap"] < 0  # better than the rest: only its own expectation shows the failure
    assert found.filter(pl.col("kind") == "worse_than_expected").height == 1


def test_flipped_labels_in_a_segment_do_not_make_its_surest_part_a_second_segment() -> None:
    # Flipping a share f of labels raises the error by f (1 - 2q): most where the scores are
    # surest. The sure part of the segment is worse than expected, but no worse than the rest
    # of its segment, so only the segment is reported.
    rng = np.random.default_rng(24)
    n = 60_000
    frame = pl.DataFrame(
        {"amount": rng.uniform(0, 100, n), "source": rng.choice(["web", "app", "partner"], n)}
    )
    p = 0.02 + 0.45 * frame["amount"].to_numpy() / 100  # surer at small amounts
    y = rng.random(n) < p
    y ^= (frame["source"] == "partner").to_numpy() & (rng.random(n) < 0.25)
    loss = error_loss("binary", y.astype(int), p)
    q, v = expected_error("binary", p)
    found = WeakSegments().fit(frame).find(frame, loss, expected=q, variance=v)
    worse = found.filter(pl.col("kind") == "worse_than_expected")
    assert worse["segment"].to_list() == ["source = 'partner'"]


def test_the_same_segment_on_a_correlated_column_is_reported_once() -> None:
    rng = np.random.default_rng(25)
    n = 30_000
    x = rng.normal(size=n)
    frame = pl.DataFrame(
        {"x": x, "x_twin": x + rng.normal(0, 0.1, n), "c": rng.choice(["a", "b", "c"], n)}
    )
    search = WeakSegments().fit(frame)
    top = search.conditions_.filter((pl.col("column") == "x") & (pl.col("kind") == "range"))
    weak = (frame["x"] >= top["low"].max()).to_numpy() & (frame["c"] == "a").to_numpy()
    loss = (rng.random(n) < np.where(weak, BAD, BASE)).astype(float)
    found = search.find(frame, loss)
    assert found.height == 1
    assert np.array_equal(rows_of(frame, found["conditions"][0].to_list()), weak)


def test_a_segment_overlapping_two_weak_ones_is_not_reported() -> None:
    # c = 'a' and d = 'u' holds a part of each planted segment: weak there, nowhere else
    frame, rng = flights(40_000, seed=26)
    frame = frame.with_columns(
        pl.Series("c", rng.choice(["a", "b"], frame.height)),
        pl.Series("d", rng.choice(["u", "v"], frame.height)),
    )
    first = (pl.col("c") == "a") & (pl.col("carrier") == "UA")
    second = (pl.col("d") == "u") & (pl.col("fleet") == "wide")
    loss = planted(frame, first | second, rng)
    found = WeakSegments().fit(frame).find(frame, loss)
    truth = {frozenset(rows_of(frame, c).nonzero()[0]) for c in found["conditions"].to_list()}
    assert truth == {
        frozenset(frame.select(e).to_series().to_numpy().nonzero()[0]) for e in (first, second)
    }


def test_a_part_of_a_weak_segment_on_a_finer_column_is_not_reported_beside_it() -> None:
    # c = 'a' (or 'b') is part of c_group = 'ab': its share of the planted rows is as weak, but
    # nothing is left of it once the whole segment's rows are taken out.
    rng = np.random.default_rng(0)
    n = 40_000
    c = rng.choice(["a", "b", "c", "d"], n, p=[0.3, 0.2, 0.25, 0.25])
    frame = pl.DataFrame(
        {"c": c, "c_group": np.where(np.isin(c, ["a", "b"]), "ab", "cd"), "x": rng.normal(size=n)}
    )
    search = WeakSegments().fit(frame)
    top = search.conditions_.filter((pl.col("column") == "x") & (pl.col("kind") == "range"))
    weak = (frame["c_group"] == "ab").to_numpy() & (frame["x"].to_numpy() >= top["low"].max())
    loss = (rng.random(n) < np.where(weak, BAD, BASE)).astype(float)
    found = search.find(frame, loss)
    assert found.height == 1
    assert np.array_equal(rows_of(frame, found["conditions"][0].to_list()), weak)


def test_additive_effects_of_several_columns_are_each_reported() -> None:
    # Six columns each add 0.06 to the error rate in their top fifth. Away from the others'
    # top fifths, each one's top fifth is still worse: all six are reported on their own.
    rng = np.random.default_rng(27)
    n = 60_000
    frame = pl.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    search = WeakSegments(max_conditions=2).fit(frame)
    tops = (
        search.conditions_.filter(pl.col("kind") == "range")
        .group_by("column")
        .agg(pl.col("low").max())
    )
    rate = 0.1 + sum(0.06 * (frame[column].to_numpy() >= low) for column, low in tops.iter_rows())
    loss = (rng.random(n) < rate).astype(float)
    found = search.find(frame, loss)
    singles = [s for s in found["segment"] if " and " not in s]
    assert sorted(singles) == sorted(f"{c} >= {low:.6g}" for c, low in tops.iter_rows())


def test_numpy_scalars_are_accepted_as_parameters() -> None:
    frame, rng = flights(20_000, seed=28)
    loss = planted(frame, pl.col("fleet") == "wide", rng)
    plain = WeakSegments(min_support=0.02, alpha=0.05, bins=4, min_rows=60)
    numpy = WeakSegments(
        min_support=np.float32(0.02),
        alpha=np.float64(0.05),
        bins=np.int64(4),
        min_rows=np.int32(60),
    )
    found = numpy.fit(frame).find(frame, loss)
    assert found["segment"].to_list() == ["fleet = 'wide'"]
    assert found.equals(plain.fit(frame).find(frame, loss))


def test_a_regression_loss_of_zeros_and_ones_takes_an_expected_loss_above_one() -> None:
    # An absolute error that happens to be 0/1 is not a Bernoulli loss once its expected value
    # exceeds 1: the excess's variance is then estimated within each segment, as for any loss.
    rng = np.random.default_rng(29)
    n = 20_000
    frame = pl.DataFrame({"zone": rng.choice(["n", "s", "e", "w"], n)})
    zone = frame["zone"].to_numpy()
    loss = (rng.random(n) < np.where(zone == "s", 0.6, 0.3)).astype(float)
    expected = np.where(zone == "n", 1.5, 0.3)
    found = WeakSegments(max_conditions=1).fit(frame).find(frame, loss, expected=expected)
    south = found.filter(pl.col("segment") == "zone = 's'").row(0, named=True)
    assert south["kind"] == "worse_than_expected"
    excess = loss[zone == "s"] - expected[zone == "s"]
    z = excess.sum() / math.sqrt(len(excess) * excess.var(ddof=1))
    assert south["z_expected"] == pytest.approx(z, rel=1e-9)
    assert "zone = 'n'" not in found["segment"].to_list()  # its loss is far below 1.5


def test_the_crossing_of_two_additive_conditions_is_not_a_segment_but_an_interaction_is() -> None:
    # carrier = 'UA', fleet = 'wide' and distance's top fifth each add 0.06 to the error rate
    # wherever they hold: their crossings are worse than the rest and than each parent's
    # remainder, yet add nothing beyond the sum (interaction contrast ~0, z ~ N(0, 1)). The
    # pair origin = 'JFK' and dep_hour >= 19 is weak only where both hold: a true interaction.
    frame, rng = flights(80_000, seed=30)
    search = WeakSegments().fit(frame)
    top = search.conditions_.filter((pl.col("column") == "distance") & (pl.col("kind") == "range"))
    far = float(top["low"].max())
    singles = [pl.col("carrier") == "UA", pl.col("fleet") == "wide", pl.col("distance") >= far]
    rate = 0.1 + sum(0.06 * frame.select(e).to_series().to_numpy() for e in singles)
    both = (pl.col("origin") == "JFK") & (pl.col("dep_hour") >= 19)
    rate += 0.2 * frame.select(both.fill_null(False)).to_series().to_numpy()
    loss = (rng.random(frame.height) < rate).astype(float)
    found = search.find(frame, loss)
    assert sorted(found["segment"].to_list()) == sorted(
        [
            "carrier = 'UA'",
            f"distance >= {far:.6g}",
            "fleet = 'wide'",
            "origin = 'JFK' and dep_hour >= 19",
        ]
    )


def test_the_interaction_contrast_is_the_difference_in_differences_of_the_four_cells() -> None:
    rng = np.random.default_rng(31)
    n = 5000
    a, b = rng.random(n) < 0.3, rng.random(n) < 0.4
    loss = rng.exponential(1.0 + 0.5 * (a & b))
    losses = RowLosses.check(n, loss, None, None)
    sums = [losses.total(mask) for mask in (a & b, a, b, np.ones(n, dtype=bool))]
    child, parent, extra, total = (x[:, None] for x in sums)
    effect, z = interaction(child, parent, extra, total, mean_loss)
    cells = [a & b, a & ~b, ~a & b, ~a & ~b]
    means = [loss[c].mean() for c in cells]
    se = math.sqrt(sum(loss[c].var(ddof=1) / c.sum() for c in cells))
    did = means[0] - means[1] - means[2] + means[3]
    assert effect[0] == pytest.approx(did, rel=1e-9)
    assert z[0] == pytest.approx(did / se, rel=1e-9)


def test_a_weak_tail_of_a_zero_inflated_column_is_found() -> None:
    # 92% zeros: equal-mass cuts would all fall on 0. Zero gets a range of its own and the
    # other values are cut into the ranges left, so the top of the tail can be searched.
    rng = np.random.default_rng(32)
    n = 50_000
    gain = np.where(rng.random(n) < 0.92, 0.0, np.round(rng.lognormal(8, 1, n)))
    frame = pl.DataFrame({"capital_gain": gain, "c": rng.choice(["a", "b"], n)})
    search = WeakSegments().fit(frame)
    ranges = search.conditions_.filter(pl.col("kind") == "range")
    assert ranges["high"][0] == gain[gain > 0].min()  # "capital_gain < it": the zeros alone
    assert ranges.height == 5  # zero, then the other values in 4 equal-mass ranges
    low = float(ranges["low"].max())
    assert (gain >= low).mean() == pytest.approx(0.08 / 4, abs=0.003)  # 1000 rows: sd ~0.0006
    loss = (rng.random(n) < np.where(gain >= low, 0.4, 0.15)).astype(float)
    found = search.find(frame, loss)
    assert found["segment"].to_list() == [f"capital_gain >= {low:.6g}"]


@pytest.mark.parametrize("seed", [0, 1, 8])
def test_a_segment_worse_than_expected_by_itself_is_never_low_confidence(seed: int) -> None:
    # Labels flipped in a = 'p'; scores sure for large |x|. Parts of a = 'p' crossed with x
    # ranges are worse than the rest, and worse than expected, but redundant with a = 'p' in
    # the search against the expectation: they must not be called low confidence. A segment
    # is low confidence only if, away from a = 'p' (unless a part of it), its error is what
    # its scores expect: z <= 1.645, one-sided at alpha = 0.05.
    rng = np.random.default_rng(seed)
    n = 30_000
    frame = pl.DataFrame(
        {
            "a": rng.choice(list("pqrs"), n),
            "b": rng.choice(list("uvw"), n),
            "x": rng.normal(size=n),
        }
    )
    sure = np.tanh(rng.uniform(0.5, 3) * frame["x"].to_numpy())
    p = np.clip(0.5 + 0.5 * sure * np.where(rng.random(n) < 0.5, 1, -1), 0.001, 0.999)
    y = (rng.random(n) < p).astype(int)
    flipped = (frame["a"] == "p").to_numpy()
    flip = flipped & (rng.random(n) < rng.uniform(0.1, 0.3))
    loss = error_loss("binary", np.where(flip, 1 - y, y), p)
    q, v = expected_error("binary", p)
    found = WeakSegments().fit(frame).find(frame, loss, expected=q)
    worse = found.filter(pl.col("kind") == "worse_than_expected")
    assert worse["segment"].to_list() == ["a = 'p'"]
    low = found.filter(pl.col("kind") == "low_confidence")
    assert low.height >= 1  # the uncertain middle of x
    for conditions in low["conditions"].to_list():
        inside = rows_of(frame, conditions)
        if value("a", "p") not in conditions:
            inside &= ~flipped
        z = (loss[inside] - q[inside]).sum() / math.sqrt(v[inside].sum())
        assert z <= stats.norm.isf(0.05)


def test_only_segments_with_an_interaction_reach_the_row_level_redundancy_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 200k rows x 20 columns, 20 conditions each adding 0.03 to the error rate. Rule (b) reads
    # rows for every segment that reaches it, the cost that dominated a search (1M rows: 18 of
    # 21 s) when every crossing of two additive conditions passed rule (a) and reached it.
    # Only the single conditions (and crossings with a chance interaction, z > ~3) reach it now.
    rng = np.random.default_rng(33)
    n = 200_000
    frame = pl.DataFrame(
        {f"c{i}": rng.choice([f"L{j}" for j in range(12)], n) for i in range(10)}
        | {f"x{i}": rng.normal(size=n) for i in range(10)}
    )
    weak = [(frame[f"c{i}"] == "L0").to_numpy() for i in range(10)]
    weak += [frame[f"x{i}"].to_numpy() > 0.84 for i in range(10)]
    loss = (rng.random(n) < 0.05 + 0.03 * np.sum(weak, axis=0)).astype(float)
    reaching: list[int] = []
    explained = LatticeSearch._explained

    def spy(self: LatticeSearch, found: np.ndarray, *args: Any) -> np.ndarray:
        reaching.append(len(found))
        return explained(self, found, *args)

    monkeypatch.setattr(LatticeSearch, "_explained", spy)
    search = WeakSegments().fit(frame)
    started = time.process_time()
    found = search.find(frame, loss)
    assert time.process_time() - started < 5.0  # CPU time, ~0.4 s measured: a loose bar
    assert reaching == [pytest.approx(20, abs=3)]
    assert (found["conditions"].list.len() == 1).all()
