"""Fairness: fairlearn's definitions, interval coverage, compare(), Adult, COMPAS, bad input."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_positive_rate,
)
from fairness_data import adult, compas
from polars.testing import assert_frame_equal
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mean_absolute_error, precision_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.performance.baseline import range_edges, segment_labels
from tether.performance.fairness import (
    DISPARITIES_SCHEMA,
    GROUP_METRICS,
    GROUPS_SCHEMA,
    FairnessReport,
    fairness,
    min_resamples,
    representation,
)

N = 4000


def _population(seed: int = 0, n: int = N) -> dict[str, Any]:
    """Binary labels and scores that depend on sex and race, so every disparity is non-zero."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n, p=[0.45, 0.55])
    race = rng.choice(["white", "black", "asian"], n, p=[0.6, 0.3, 0.1])
    y = (rng.random(n) < np.where(sex == "male", 0.35, 0.2)).astype(int)
    lift = 0.1 * (sex == "male") + 0.05 * (race == "black")
    scores = np.clip(0.3 * y + 0.5 * rng.random(n) + lift, 0.0, 1.0)
    return {"sex": sex, "race": race, "y": y, "scores": scores}


def _value(report: FairnessReport, attribute: str, metric: str) -> dict[str, Any]:
    rows = report.disparities.filter(
        (pl.col("attribute") == attribute) & (pl.col("metric") == metric)
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def _group_values(report: FairnessReport, attribute: str, metric: str) -> dict[str, float]:
    rows = report.groups.filter((pl.col("attribute") == attribute) & (pl.col("metric") == metric))
    return dict(zip(rows["group"], rows["value"], strict=True))


def _precision(y_true: Any, y_pred: Any) -> float:
    """sklearn's precision, NaN (as tether) rather than 0 without predicted positives."""
    return float(precision_score(y_true, y_pred, zero_division=np.nan))


def _base_rate(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(y_true))


FAIRLEARN_METRICS = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "precision": _precision,
    "base_rate": _base_rate,
}


def _fairlearn_sensitive(data: dict[str, Any], attribute: str) -> Any:
    if " & " in attribute:
        first, second = attribute.split(" & ")
        return pd.DataFrame({first: data[first], second: data[second]})
    return data[attribute]


def _group_name(key: Any) -> str:
    return " & ".join(key) if isinstance(key, tuple) else str(key)


@pytest.mark.parametrize("attribute", ["sex", "race", "sex & race"])
def test_group_metrics_equal_fairlearn_metric_frame_where_defined(attribute: str) -> None:
    # every group here has positives, negatives and selections, so every rate is defined;
    # test_undefined_rates_are_null_not_zero covers the rates fairlearn sets to 0
    data = _population()
    report = fairness(
        "binary",
        data["scores"],
        pl.DataFrame({"sex": data["sex"], "race": data["race"]}),
        y_true=data["y"],
        n_resamples=40,
    )
    predicted = (data["scores"] >= 0.5).astype(int)
    frame = MetricFrame(
        metrics=FAIRLEARN_METRICS,
        y_true=data["y"],
        y_pred=predicted,
        sensitive_features=_fairlearn_sensitive(data, attribute),
    )
    scores = MetricFrame(
        metrics=mean_prediction,
        y_true=data["y"],
        y_pred=data["scores"],
        sensitive_features=_fairlearn_sensitive(data, attribute),
    ).by_group
    for metric in FAIRLEARN_METRICS:
        expected = {_group_name(k): v for k, v in frame.by_group[metric].items()}
        assert _group_values(report, attribute, metric) == pytest.approx(expected, rel=1e-12)
    mean_score = _group_values(report, attribute, "mean_score")
    assert mean_score == pytest.approx({_group_name(k): v for k, v in scores.items()}, rel=1e-12)
    gap = _group_values(report, attribute, "calibration_gap")
    base = _group_values(report, attribute, "base_rate")
    assert gap == pytest.approx({g: mean_score[g] - base[g] for g in gap}, abs=1e-15)
    counts = report.groups.filter(pl.col("attribute") == attribute).unique("group")
    columns = attribute.split(" & ")
    sizes = pl.DataFrame({c: data[c] for c in columns}).group_by(columns).len().rows()
    expected_rows = {" & ".join(row[:-1]): row[-1] for row in sizes}
    assert dict(zip(counts["group"], counts["rows"], strict=True)) == expected_rows
    assert counts["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("attribute", ["sex", "race", "sex & race"])
def test_disparities_equal_fairlearn_functions_where_defined(attribute: str) -> None:
    data = _population(seed=1)
    report = fairness(
        "binary",
        data["scores"],
        pl.DataFrame({"sex": data["sex"], "race": data["race"]}),
        y_true=data["y"],
        n_resamples=40,
    )
    predicted = (data["scores"] >= 0.5).astype(int)
    kwargs = {"sensitive_features": _fairlearn_sensitive(data, attribute)}
    expected = {
        "demographic_parity_difference": demographic_parity_difference(
            data["y"], predicted, **kwargs
        ),
        "demographic_parity_ratio": demographic_parity_ratio(data["y"], predicted, **kwargs),
        "equalized_odds_difference": equalized_odds_difference(data["y"], predicted, **kwargs),
        "equal_opportunity_difference": equal_opportunity_difference(
            data["y"], predicted, **kwargs
        ),
        "predictive_parity_difference": MetricFrame(
            metrics=FAIRLEARN_METRICS["precision"], y_true=data["y"], y_pred=predicted, **kwargs
        ).difference(),
    }
    for metric, value in expected.items():
        row = _value(report, attribute, metric)
        assert row["value"] == pytest.approx(value, rel=1e-12), metric
        assert row["low"] <= row["value"] <= row["high"]
    assert (
        _value(report, attribute, "demographic_parity_ratio")["groups"]
        == (_value(report, attribute, "demographic_parity_difference")["groups"])
    )
    assert report.disparities["attribute"].unique(maintain_order=True).to_list() == [
        "sex",
        "race",
        "sex & race",
    ]


def test_undefined_rates_are_null_not_zero_and_left_out_of_the_disparities() -> None:
    # group c has no positive labels and none of it is selected: its true positive rate and
    # precision have no denominator. fairlearn 0.15 reports them as 0 and compares that 0;
    # tether leaves them out, so its disparities are fairlearn's over the groups where defined
    rng = np.random.default_rng(0)
    n = 3000
    group = rng.choice(["a", "b", "c"], n, p=[0.45, 0.45, 0.1])
    scores = rng.random(n)
    y = (rng.random(n) < 0.3).astype(int)
    y[group == "c"] = 0
    scores[group == "c"] *= 0.4
    predicted = (scores >= 0.5).astype(int)
    report = fairness("binary", scores, pl.DataFrame({"g": group}), y_true=y, n_resamples=50)
    c = {row["metric"]: row for row in report.groups.filter(pl.col("group") == "c").to_dicts()}
    assert c["true_positive_rate"]["value"] is None
    assert c["true_positive_rate"]["detail"] == (
        "no positive labels: true_positive_rate undefined, not compared"
    )
    assert c["precision"]["value"] is None
    assert c["precision"]["detail"] == "none selected: precision undefined, not compared"
    assert not c["true_positive_rate"]["compared"]
    assert not c["precision"]["compared"]
    assert c["selection_rate"]["compared"]
    assert c["selection_rate"]["detail"] is None
    assert c["false_positive_rate"]["value"] == 0.0  # defined: c has negatives
    fairlearn_tpr = MetricFrame(
        metrics=true_positive_rate, y_true=y, y_pred=predicted, sensitive_features=group
    ).by_group
    assert fairlearn_tpr["c"] == 0.0  # where tether has null
    fairlearn_difference = equal_opportunity_difference(y, predicted, sensitive_features=group)
    assert fairlearn_difference > 0.5  # c's 0 against a's 0.52
    defined = group != "c"

    def difference(metric: Any, rows: np.ndarray) -> float:
        frame = MetricFrame(
            metrics=metric, y_true=y[rows], y_pred=predicted[rows], sensitive_features=group[rows]
        )
        return float(frame.difference())

    everyone = np.ones(n, dtype=bool)
    expected = {
        "equal_opportunity_difference": difference(true_positive_rate, defined),
        "predictive_parity_difference": difference(_precision, defined),
        "equalized_odds_difference": max(
            difference(true_positive_rate, defined), difference(false_positive_rate, everyone)
        ),
        "demographic_parity_difference": demographic_parity_difference(
            y, predicted, sensitive_features=group
        ),
    }
    for metric, value in expected.items():
        row = _value(report, "g", metric)
        assert row["value"] == pytest.approx(value, rel=1e-12), metric
    assert _value(report, "g", "equal_opportunity_difference")["value"] < 0.05


def test_disparity_names_the_highest_and_lowest_groups() -> None:
    data = _population(seed=2)
    report = fairness(
        "binary", data["scores"], pl.DataFrame({"sex": data["sex"]}), y_true=data["y"]
    )
    rates = _group_values(report, "sex", "selection_rate")
    assert rates["male"] > rates["female"]
    row = _value(report, "sex", "demographic_parity_difference")
    assert row["groups"] == "male vs female"
    assert row["value"] == pytest.approx(rates["male"] - rates["female"], rel=1e-12)
    assert row["n_groups"] == 2
    precision = _group_values(report, "sex", "precision")
    high, low = sorted(precision, key=precision.__getitem__, reverse=True)
    assert _value(report, "sex", "predictive_parity_difference")["groups"] == f"{high} vs {low}"


def test_small_and_missing_groups_are_shown_but_not_compared() -> None:
    data = _population(seed=3)
    race = data["race"].astype(object)
    race[:20] = "pacific"  # 20 rows: below min_group_rows = 30
    race[20:120] = None  # 100 rows: enough, but a missing value
    report = fairness(
        "binary",
        data["scores"],
        pl.DataFrame({"race": race}),
        y_true=data["y"],
        n_resamples=50,
    )
    groups = report.groups.unique("group", maintain_order=True)
    assert dict(zip(groups["group"], groups["compared"], strict=True)) == {
        "white": True,
        "black": True,
        "asian": True,
        "(missing)": False,
        "pacific": False,
    }
    small = report.groups.filter(pl.col("group") == "pacific")
    assert small["rows"].unique().to_list() == [20]
    assert small["share"].unique().to_list() == [20 / N]
    assert small["value"].null_count() == small.height
    assert small["detail"].unique().to_list() == ["fewer than 30 rows: no metrics, not compared"]
    missing = report.groups.filter(pl.col("group") == "(missing)")
    assert missing["value"].null_count() == 0
    assert missing["detail"].unique().to_list() == ["missing value: not compared"]
    # the disparity is fairlearn's on the rows of the compared groups only
    kept = np.isin(race, ["white", "black", "asian"])
    predicted = (data["scores"][kept] >= 0.5).astype(int)
    expected = equalized_odds_difference(
        data["y"][kept], predicted, sensitive_features=race[kept].astype(str)
    )
    row = _value(report, "race", "equalized_odds_difference")
    assert row["value"] == pytest.approx(expected, rel=1e-12)
    assert row["n_groups"] == 3
    lowered = fairness(
        "binary", data["scores"], pl.DataFrame({"race": race}), min_group_rows=10, n_resamples=40
    )
    assert _value(lowered, "race", "demographic_parity_difference")["n_groups"] == 4


def test_without_labels_only_the_label_free_metrics() -> None:
    data = _population(seed=4)
    report = fairness("binary", data["scores"], pl.DataFrame({"sex": data["sex"]}))
    free, needing_labels = GROUP_METRICS["binary"]
    assert report.groups["metric"].unique(maintain_order=True).to_list() == list(free)
    assert free == ("selection_rate", "mean_score")
    assert report.disparities["metric"].to_list() == [
        "demographic_parity_difference",
        "demographic_parity_ratio",
    ]
    labelled = fairness(
        "binary", data["scores"], pl.DataFrame({"sex": data["sex"]}), y_true=data["y"]
    )
    assert labelled.groups["metric"].unique(maintain_order=True).to_list() == [
        *free,
        *needing_labels,
    ]
    head = labelled.disparities.head(2)
    assert report.disparities.drop("value", "low", "high").equals(head.drop("value", "low", "high"))
    for column in ("value", "low", "high"):
        assert report.disparities[column].to_list() == pytest.approx(head[column].to_list())


def test_regression_groups_and_disparities_equal_fairlearn() -> None:
    rng = np.random.default_rng(5)
    region = rng.choice(["north", "south", "east"], N)
    y = rng.normal(size=N) + (region == "south")
    predictions = y + rng.normal(size=N) * np.where(region == "north", 1.0, 0.5) + 0.2
    report = fairness(
        "regression", predictions, pl.DataFrame({"region": region}), y_true=y, n_resamples=50
    )
    frame = MetricFrame(
        metrics={"mean_prediction": mean_prediction, "mae": mean_absolute_error},
        y_true=y,
        y_pred=predictions,
        sensitive_features=region,
    )
    for metric in ("mean_prediction", "mae"):
        expected = dict(frame.by_group[metric].items())
        assert _group_values(report, "region", metric) == pytest.approx(expected, rel=1e-12)
        difference = _value(report, "region", f"{metric}_difference")
        assert difference["value"] == pytest.approx(frame.difference()[metric], rel=1e-12)
    assert _group_values(report, "region", "mean_label") == pytest.approx(
        {g: y[region == g].mean() for g in ("north", "south", "east")}, rel=1e-12
    )
    # north's errors have twice the spread: its MAE is the largest, clearly
    mae = _value(report, "region", "mae_difference")
    assert mae["groups"].startswith("north vs")
    assert mae["low"] > 0.25


def test_intervals_agree_with_fairlearn_bootstrap() -> None:
    # fairlearn resamples rows of the whole frame too; its 100 resamples set the Monte-Carlo
    # error: the 2.5% quantile of 100 draws has a standard error of about 0.27 bootstrap
    # standard deviations (sqrt(q (1 - q) / B) / phi(1.96)); ours, from 2000, about 0.06
    rng = np.random.default_rng(6)
    n = 2000
    group = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    y = (rng.random(n) < 0.4).astype(int)
    predicted = (rng.random(n) < np.where(group == "a", 0.3, 0.5)).astype(float)
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate},
        y_true=y,
        y_pred=predicted,
        sensitive_features=group,
        n_boot=100,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    report = fairness(
        "binary", predicted, pl.DataFrame({"group": group}), y_true=y, n_resamples=2000
    )
    low, high = frame.by_group_ci
    for metric in ("selection_rate", "true_positive_rate"):
        rows = report.groups.filter(pl.col("metric") == metric)
        for row in rows.iter_rows(named=True):
            sd = (row["high"] - row["low"]) / (2 * 1.96)
            assert row["low"] == pytest.approx(low[metric][row["group"]], abs=4 * 0.28 * sd)
            assert row["high"] == pytest.approx(high[metric][row["group"]], abs=4 * 0.28 * sd)
    # two clearly ordered groups: the disparity interval is the usual one of the difference
    difference_low, difference_high = frame.difference_ci()
    for metric, fairlearn_metric in (
        ("demographic_parity_difference", "selection_rate"),
        ("equal_opportunity_difference", "true_positive_rate"),
    ):
        row = _value(report, "group", metric)
        sd = (row["high"] - row["low"]) / (2 * 1.96)
        assert row["low"] == pytest.approx(difference_low[fairlearn_metric], abs=4 * 0.28 * sd)
        assert row["high"] == pytest.approx(difference_high[fairlearn_metric], abs=4 * 0.28 * sd)


def _coverage(rates: list[float], n: int, simulations: int) -> tuple[float, float, float]:
    """Share of seeded samples whose intervals hold the population's disparities, and the
    mean width of the difference interval."""
    truth = max(rates) - min(rates), min(rates) / max(rates)
    covered = np.zeros(2)
    width = 0.0
    for seed in range(simulations):
        rng = np.random.default_rng(seed)
        group = rng.integers(0, len(rates), n)
        selected = (rng.random(n) < np.asarray(rates)[group]).astype(float)
        report = fairness(
            "binary", selected, pl.DataFrame({"g": group.astype(str)}), max_levels=100, seed=seed
        )
        for i, metric in enumerate(("demographic_parity_difference", "demographic_parity_ratio")):
            row = _value(report, "g", metric)
            covered[i] += row["low"] <= truth[i] <= row["high"]
        row = _value(report, "g", "demographic_parity_difference")
        width += row["high"] - row["low"]
    return covered[0] / simulations, covered[1] / simulations, width / simulations


@pytest.mark.parametrize(
    ("rates", "n"),
    [([0.3, 0.5], 1000), ([0.3] * 5, 1500), ([0.3] * 70 + [0.5] * 10, 8000)],
    ids=["two-groups-apart", "five-equal-groups", "eighty-groups"],
)
def test_disparity_intervals_cover_the_population_disparity(rates: list[float], n: int) -> None:
    # 100 simulations: a 95% interval covers in 95 +- 2.2 (binomial sd); 3 sd below is 0.885.
    # Equal groups are the hard case: the percentile interval of max - min never covers 0.
    # Eighty groups are more than PAIRWISE_GROUPS: the band is over groups, not pairs.
    difference, ratio, width = _coverage(rates, n, simulations=100)
    assert difference >= 0.885
    assert ratio >= 0.885
    if len(rates) == 2:
        # two groups: the usual interval of a difference of proportions, not a wider one
        sizes = n / 2
        expected = 2 * 1.96 * math.sqrt(sum(r * (1 - r) / sizes for r in rates))
        assert width == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize(("rate", "before"), [(0.002, 0.51), (0.005, 0.79)])
def test_a_rate_at_zero_still_gets_an_interval(rate: float, before: float) -> None:
    # a group of 300 selected at 0.2% (or 0.5%) has 0 selections in about 55% (22%) of
    # samples; its rate is then 0 in every resample, and the plain bootstrap gave the ratio
    # the interval [0, 0]: coverage of the true ratio was `before` in these 100 simulations.
    # The Jeffreys draws restore it; 0.885 is 95% less 3 binomial sd, as above.
    n, covered, zero_rows = 300, 0, 0
    truth = rate / 0.5
    for seed in range(100):
        rng = np.random.default_rng(seed)
        group = np.repeat(["a", "c"], n)
        selected = (rng.random(2 * n) < np.where(group == "a", 0.5, rate)).astype(float)
        report = fairness("binary", selected, pl.DataFrame({"g": group}), seed=seed)
        row = _value(report, "g", "demographic_parity_ratio")
        covered += row["low"] <= truth <= row["high"]
        zero_rows += selected[n:].sum() == 0
    assert zero_rows >= 20
    assert covered / 100 >= 0.885 > before


def test_none_selected_of_300_has_a_jeffreys_interval() -> None:
    rng = np.random.default_rng(12)
    group = np.repeat(["a", "c"], 300)
    selected = np.where(group == "a", rng.random(600) < 0.5, False).astype(float)
    report = fairness("binary", selected, pl.DataFrame({"g": group}), n_resamples=2000)
    rate = report.groups.filter((pl.col("group") == "c") & (pl.col("metric") == "selection_rate"))
    value, low, high = rate.select("value", "low", "high").row(0)
    # the Jeffreys 97.5% bound for 0 of 300 is 0.0083 (rule of three: 0.01); the resampled
    # denominators and 2000 draws move it by a few percent
    assert (value, low) == (0.0, 0.0)
    assert high == pytest.approx(scipy.stats.beta.ppf(0.975, 0.5, 300.5), rel=0.1)
    ratio = _value(report, "g", "demographic_parity_ratio")
    assert ratio["value"] == 0.0
    assert 0.005 < ratio["high"] < 0.05  # no longer the single point [0, 0]


def test_too_few_resamples_are_refused_naming_the_rule() -> None:
    assert [min_resamples(c) for c in (0.8, 0.9, 0.95, 0.99)] == [20, 20, 40, 200]
    data = _population(seed=13, n=500)
    sensitive = pl.DataFrame({"sex": data["sex"]})
    rule = r"max\(20, ceil\(2 / \(1 - confidence\)\)\)"
    with pytest.raises(InputError, match=f"n_resamples is 39; at confidence 0.95 .*40 = {rule}"):
        fairness("binary", data["scores"], sensitive, n_resamples=39)
    with pytest.raises(InputError, match=r"n_resamples is 100; at confidence 0.99 .* 200"):
        fairness("binary", data["scores"], sensitive, n_resamples=100, confidence=0.99)
    assert fairness("binary", data["scores"], sensitive, n_resamples=40).disparities.height == 2


def test_an_unchanged_population_rarely_grows_at_the_fewest_resamples() -> None:
    # the reviewer's case: a 1,000-row window against a 5,000-row baseline, the same 0.05 gap.
    # Measured over 200 trials: grew in 7 at 10 resamples, 4 at 20, 1 at 40 (the floor), none
    # at 60 or more; 2 of 100 allows the 0.5% rate measured at 40 (P(X >= 3) about 1%)
    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, pl.DataFrame]:
        group = rng.integers(0, 2, n)
        selected = (rng.random(n) < 0.3 + 0.05 * group).astype(float)
        return selected, pl.DataFrame({"g": group.astype(str)})

    grew = 0
    for trial in range(100):
        rng = np.random.default_rng(trial)
        baseline = fairness("binary", *sample(rng, 5000), n_resamples=40, seed=trial)
        window = fairness("binary", *sample(rng, 1000), n_resamples=40, seed=trial + 1)
        grew += window.compare(baseline)["grew"].any()
    assert grew <= 2


def _window(seed: int, n: int, shift: float = 0.0, groups: int = 2) -> FairnessReport:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    scores = rng.random(n)
    scores = np.where(group == 0, np.minimum(scores + shift, 1.0), scores)
    return fairness("binary", scores, pl.DataFrame({"g": group.astype(str)}), seed=seed)


def test_compare_flags_a_disparity_that_grew() -> None:
    baseline = _window(seed=0, n=5000)
    window = _window(seed=1, n=5000, shift=0.1)
    changes = window.compare(baseline)
    assert changes.columns == [
        "attribute",
        "metric",
        "value",
        "low",
        "high",
        "baseline_value",
        "baseline_low",
        "baseline_high",
        "change",
        "grew",
    ]
    difference, ratio = changes.rows(named=True)
    assert difference["metric"] == "demographic_parity_difference"
    # group 0's selection rate rose from 0.5 to 0.6: the gap grew by about 0.1
    assert difference["change"] == pytest.approx(0.1, abs=0.04)
    assert difference["grew"]
    assert ratio["change"] < 0  # a ratio gets worse by falling
    assert ratio["grew"]
    # the floor: the same growth does not count when smaller than the floor
    assert not window.compare(baseline, floor=0.5)["grew"].any()
    # and a shrinking disparity never grew
    assert not baseline.compare(window)["grew"].any()


@pytest.mark.parametrize(
    ("baseline_rows", "window_rows", "groups"), [(5000, 5000, 2), (20000, 2000, 10)]
)
def test_compare_does_not_flag_an_unchanged_population(
    baseline_rows: int, window_rows: int, groups: int
) -> None:
    # ten equal groups, a large baseline and a small window: the small window's max - min is far
    # larger by noise alone; disjoint intervals must not read that as growth
    flagged = 0
    for seed in range(10):
        baseline = _window(seed=2 * seed, n=baseline_rows, groups=groups)
        window = _window(seed=2 * seed + 1, n=window_rows, groups=groups)
        flagged += window.compare(baseline)["grew"].any()
    assert flagged == 0


def test_compare_needs_a_report_and_a_floor() -> None:
    report = _window(seed=0, n=500)
    with pytest.raises(InputError, match="baseline is a dict"):
        report.compare(report.to_dict())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"floor is -0\.1"):
        report.compare(report, floor=-0.1)


def test_intersections_are_every_pair_of_attributes() -> None:
    rng = np.random.default_rng(7)
    sensitive = pl.DataFrame(
        {
            "sex": rng.choice(["Male", "Female"], N),
            "race": rng.choice(["White", "Black"], N),
            "age": rng.choice(["young", "old"], N),
        }
    )
    scores = rng.random(N)
    report = fairness("binary", scores, sensitive, n_resamples=40)
    assert report.disparities["attribute"].unique(maintain_order=True).to_list() == [
        "sex",
        "race",
        "age",
        "sex & race",
        "sex & age",
        "race & age",
    ]
    pairs = report.groups.filter(pl.col("attribute") == "sex & race")
    assert set(pairs["group"]) == {
        "Male & White",
        "Male & Black",
        "Female & White",
        "Female & Black",
    }
    male_white = pairs.filter(pl.col("group") == "Male & White")["rows"][0]
    mask = (sensitive["sex"] == "Male") & (sensitive["race"] == "White")
    assert male_white == mask.sum()
    alone = fairness("binary", scores, sensitive, intersections=False, n_resamples=40)
    assert alone.groups["attribute"].unique().sort().to_list() == ["age", "race", "sex"]
    # each attribute's own groups do not depend on the others
    assert_frame_equal(
        alone.groups.filter(pl.col("attribute") == "sex"),
        report.groups.filter(pl.col("attribute") == "sex"),
    )


def test_numbers_are_cut_at_deciles_and_booleans_kept() -> None:
    rng = np.random.default_rng(10)
    age = rng.integers(18, 90, N)
    sensitive = pl.DataFrame({"age": age, "veteran": rng.random(N) < 0.2})
    report = fairness("binary", rng.random(N), sensitive, n_resamples=40)
    ages = report.groups.filter(pl.col("attribute") == "age").unique("group", maintain_order=True)
    assert ages.height == 10
    assert ages["group"][0].startswith("(-inf, ")
    assert ages["group"][-1].endswith(", inf)")
    assert ages["rows"].sum() == N
    veteran = report.groups.filter(pl.col("attribute") == "veteran")["group"].unique()
    assert sorted(veteran) == ["false", "true"]
    assert _value(report, "age & veteran", "demographic_parity_difference")["n_groups"] == 20


def test_windows_cut_at_stored_edges_compare_the_same_groups() -> None:
    # each call cuts a numeric column at its own rows' deciles: two windows get different
    # groups. Cut once at the reference's edges, as the docstring says, they get the same
    rng = np.random.default_rng(16)
    reference, later = rng.integers(18, 90, 2000), rng.integers(30, 90, 2000)

    def groups(report: FairnessReport) -> list[str]:
        return report.groups["group"].unique(maintain_order=True).to_list()

    def direct(age: np.ndarray) -> FairnessReport:
        return fairness("binary", rng.random(2000), pl.DataFrame({"age": age}), n_resamples=40)

    edges = range_edges(pl.Series("age", reference), 50)

    def cut(age: np.ndarray) -> FairnessReport:
        labels = segment_labels(pl.Series("age", age), edges).to_frame()
        return fairness("binary", rng.random(2000), labels, n_resamples=40, max_levels=50)

    assert set(groups(cut(later))) <= set(groups(cut(reference)))
    assert not set(groups(direct(later))) <= set(groups(direct(reference)))


def test_same_seed_same_report_and_other_seed_other_intervals() -> None:
    data = _population(seed=8)
    sensitive = pl.DataFrame({"sex": data["sex"]})
    first = fairness("binary", data["scores"], sensitive, y_true=data["y"], seed=3)
    again = fairness("binary", data["scores"], sensitive, y_true=data["y"], seed=3)
    other = fairness("binary", data["scores"], sensitive, y_true=data["y"], seed=4)
    assert_frame_equal(first.groups, again.groups)
    assert_frame_equal(first.disparities, again.disparities)
    assert first.disparities["value"].equals(other.disparities["value"])
    assert not first.disparities["low"].equals(other.disparities["low"])


def test_report_round_trips_through_json() -> None:
    data = _population(seed=9)
    race: list[str | None] = data["race"].tolist()
    race[:10] = [None] * 10  # a small missing group: nulls in value, low and high
    report = fairness(
        "binary",
        data["scores"],
        pl.DataFrame({"sex": data["sex"], "race": race}),
        y_true=data["y"],
        n_resamples=40,
    )
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = FairnessReport.from_dict(json.loads(text))
    assert_frame_equal(back.groups, report.groups)
    assert_frame_equal(back.disparities, report.disparities)
    assert dict(back.groups.schema) == GROUPS_SCHEMA
    assert dict(back.disparities.schema) == DISPARITIES_SCHEMA
    assert report.groups["value"].null_count() > 0


def test_from_dict_names_what_is_wrong() -> None:
    good = _window(seed=0, n=500).to_dict()
    with pytest.raises(FormatError, match="format must be 'tether-fairness'"):
        FairnessReport.from_dict({"format": "tether-profile"})
    with pytest.raises(UnsupportedVersionError, match="format_version 2"):
        FairnessReport.from_dict({**good, "format_version": 2})
    with pytest.raises(FormatError, match="groups must be a list"):
        FairnessReport.from_dict({**good, "groups": None})
    broken = [dict(good["disparities"][0])]
    del broken[0]["groups"]
    with pytest.raises(FormatError, match=r"disparities\[0\] must be an object with keys"):
        FairnessReport.from_dict({**good, "disparities": broken})
    wrong_type = [{**good["disparities"][0], "value": "high"}]
    with pytest.raises(FormatError, match="disparities has a value of the wrong type"):
        FairnessReport.from_dict({**good, "disparities": wrong_type})


def _scores(n: int = 100) -> np.ndarray:
    return np.random.default_rng(0).random(n)


def _sex(n: int = 100) -> pl.DataFrame:
    return pl.DataFrame({"sex": ["f", "m"] * (n // 2)})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fairness("ranking", _scores(), _sex()), "task 'ranking' is not supported"),
        (
            lambda: fairness("multiclass", np.full((100, 3), 1 / 3), _sex()),
            "task 'multiclass' has no single selection rate.*scores\\[:, k\\]",
        ),
        (
            lambda: fairness("binary", _scores(), _sex(98)),
            "sensitive has 98 rows but scores has 100",
        ),
        (
            lambda: fairness("binary", np.r_[_scores(99), np.nan], _sex()),
            "scores has nan at row 99",
        ),
        (
            lambda: fairness("binary", _scores() + 1, _sex()),
            "probabilities must be within",
        ),
        (
            lambda: fairness("binary", _scores(), _sex(), y_true=[0, 1] * 49 + [2, 0]),
            "y_true holds 2 at row 98",
        ),
        (
            lambda: fairness("binary", _scores(), pl.DataFrame({"tags": [[1, 2]] * 100})),
            "sensitive column 'tags' has type List",
        ),
        (lambda: fairness("binary", _scores(), pl.DataFrame()), "sensitive has no columns"),
        (
            lambda: fairness("binary", _scores(), _sex(), min_group_rows=60),
            "no attribute with two groups of at least min_group_rows = 60 rows",
        ),
        (
            lambda: fairness("binary", _scores(), pl.DataFrame({"sex": ["f"] * 50 + [None] * 50})),
            "no attribute with two groups",
        ),
        (lambda: fairness("binary", _scores(), _sex(), threshold=1.5), "threshold is 1.5"),
        (lambda: fairness("binary", _scores(), _sex(), n_resamples=0), "n_resamples is 0"),
        (lambda: fairness("binary", _scores(), _sex(), confidence=1.0), "confidence is 1.0"),
        (lambda: fairness("binary", _scores(), _sex(), confidence="0.9"), "confidence is '0.9'"),
        (lambda: fairness("binary", _scores(), _sex(), threshold="0.5"), "threshold is '0.5'"),
        (lambda: fairness("binary", _scores(), _sex(), max_levels=2.0), "max_levels is 2.0"),
        (lambda: fairness("binary", _scores(), _sex(), seed=-1), "seed is -1"),
        (
            lambda: fairness("binary", _scores(), _sex(), compared_groups={"sex": "f"}),
            "compared_groups is .* must map attribute names to lists of group names",
        ),
        (
            lambda: fairness("binary", _scores(), _sex(), y_true=[None] + [0, 1] * 49 + [0]),
            r"y_true holds None at row 0 \(1 of 100 labels unknown\); labels must all be known: "
            "pass only the labelled rows",
        ),
        (
            lambda: fairness("binary", _scores(), _sex(), y_true=pl.Series([1, None] * 50)),
            r"y_true holds nan at row 1 \(50 of 100 labels unknown\)",
        ),
        (
            lambda: fairness("regression", _scores(), _sex(), y_true=[1.0, float("nan")] * 50),
            "y_true holds nan at row 1 .*labels must all be known",
        ),
        (lambda: fairness("binary", _scores(), [1, 2]), "cannot read data of type list"),
    ],
)
def test_bad_input_raises_input_error_naming_the_rule(call: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_a_column_named_like_a_pair_is_refused() -> None:
    rng = np.random.default_rng(14)
    sensitive = pl.DataFrame({name: rng.choice(["x", "y"], 200) for name in ("a", "b", "a & b")})
    message = "sensitive column 'a & b' contains ' & ', which joins the names of a pair"
    with pytest.raises(InputError, match=message):
        fairness("binary", _scores(200), sensitive, n_resamples=40)
    with pytest.raises(InputError, match=message):
        representation(sensitive, ["a", "b", "a & b"])
    # without pairs there is nothing to collide with: one row per attribute and disparity
    alone = fairness("binary", _scores(200), sensitive, intersections=False, n_resamples=40)
    changes = alone.compare(alone)
    assert changes.height == changes.unique(["attribute", "metric"]).height == 6


def test_the_text_missing_counts_as_a_missing_value() -> None:
    group = pl.DataFrame({"g": ["(missing)", "a", "b", None] * 50})
    report = fairness("binary", _scores(200), group, n_resamples=40)
    missing = report.groups.filter(pl.col("group") == "(missing)")
    assert missing["rows"].unique().to_list() == [100]  # the text and the nulls, together
    assert missing["detail"].unique().to_list() == ["missing value: not compared"]


def test_numpy_integers_are_accepted_and_other_types_refused() -> None:
    data = _population(seed=15, n=1000)
    sensitive = pl.DataFrame({"sex": data["sex"]})
    plain = fairness("binary", data["scores"], sensitive, n_resamples=50, seed=2)
    numpy = fairness(
        "binary",
        data["scores"],
        sensitive,
        n_resamples=np.int64(50),
        min_group_rows=np.int32(30),
        max_levels=np.int64(50),
        seed=np.uint8(2),
        threshold=np.float32(0.5),
        confidence=np.float64(0.95),
    )
    assert_frame_equal(plain.disparities, numpy.disparities)
    assert_frame_equal(plain.compare(numpy, floor=np.float64(0.1)), plain.compare(numpy))
    with pytest.raises(InputError, match=r"floor is '0\.1'; it must be a finite number >= 0"):
        plain.compare(numpy, floor="0.1")  # type: ignore[arg-type]
    frame = pl.DataFrame({"sex": data["sex"], "y": data["y"]})
    with pytest.raises(InputError, match=r"sensitive is 'sex'; it must be a list .* \['sex'\]"):
        representation(frame, "sex", target="y")
    assert representation(frame, ["sex"], target="y", max_levels=np.int64(5)).height == 2


def test_representation_of_adult_training_data() -> None:
    train = adult("train")
    table = representation(train, ["sex", "race"], target="income", positive=">50K")
    sex = table.filter(pl.col("attribute") == "sex")
    # the UCI counts: 21,790 men, 6,662 of them over 50K; 10,771 women, 1,179 over 50K
    assert sex.rows() == [
        ("sex", "Male", 21790, 21790 / 32561, 6662 / 21790),
        ("sex", "Female", 10771, 10771 / 32561, 1179 / 10771),
    ]
    assert sex["base_rate"].to_list() == pytest.approx([0.31, 0.11], abs=0.005)
    race = table.filter(pl.col("attribute") == "race")
    assert race["group"].to_list() == [
        "White",
        "Black",
        "Asian-Pac-Islander",
        "Amer-Indian-Eskimo",
        "Other",
    ]
    assert race["share"].sum() == pytest.approx(1.0)
    expected = train.group_by("race").agg(pl.col("over_50k").mean())
    assert dict(zip(race["group"], race["base_rate"], strict=True)) == pytest.approx(
        dict(expected.iter_rows())
    )
    both = table.filter(pl.col("attribute") == "sex & race")
    assert both["rows"].sum() == train.height
    white_women = train.filter((pl.col("sex") == "Female") & (pl.col("race") == "White"))
    row = both.filter(pl.col("group") == "Female & White").row(0, named=True)
    assert row["rows"] == white_women.height
    assert row["base_rate"] == pytest.approx(white_women["over_50k"].mean())
    # a boolean target needs no positive; the same rates
    by_flag = representation(train, ["sex", "race"], target="over_50k")
    assert_frame_equal(by_flag, table)
    assert representation(train, ["sex"], intersections=False)["base_rate"].null_count() == 2


def test_representation_counts_missing_values_and_unlabelled_rows() -> None:
    frame = pl.DataFrame({"group": ["a", "a", "b", None, "b"], "label": [1, None, 0, 1, 1]})
    table = representation(frame, ["group"], target="label")
    assert table.rows() == [
        ("group", "a", 2, 0.4, 1.0),
        ("group", "b", 2, 0.4, 0.5),
        ("group", "(missing)", 1, 0.2, 1.0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sensitive": ["sex", "height"]}, r"columns \['height'\] are not in the frame"),
        ({"sensitive": []}, "sensitive is empty"),
        ({"target": "income"}, "target 'income' holds .*pass positive="),
        ({"target": "income", "positive": ">50k"}, "target 'income' never equals positive"),
        ({"max_levels": 0}, "max_levels is 0"),
    ],
)
def test_representation_bad_input(kwargs: dict[str, Any], message: str) -> None:
    frame = pl.DataFrame({"sex": ["f", "m"], "income": [">50K", "<=50K"]})
    arguments = {"sensitive": ["sex"], **kwargs}
    with pytest.raises(InputError, match=message):
        representation(frame, **arguments)


@pytest.fixture(scope="module")
def adult_scores() -> tuple[pl.DataFrame, np.ndarray]:
    """adult.test scored by a logistic regression fitted on adult.data (one-hot categories)."""
    numbers = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    categories = [
        "workclass",
        "education",
        "marital_status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "native_country",
    ]

    def features(frame: pl.DataFrame) -> pd.DataFrame:
        return frame.select(numbers + categories).to_pandas()

    train, test = adult("train"), adult("test")
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), numbers),
            (OneHotEncoder(handle_unknown="ignore", min_frequency=20), categories),
        ),
        LogisticRegression(solver="newton-cholesky"),
    )
    model.fit(features(train), train["over_50k"].to_numpy())
    return test, model.predict_proba(features(test))[:, 1]


def test_adult_model_fails_the_four_fifths_rule_for_women(
    adult_scores: tuple[pl.DataFrame, np.ndarray],
) -> None:
    test, scores = adult_scores
    y = test["over_50k"].to_numpy()
    report = fairness("binary", scores, test.select("sex", "race"), y_true=y)
    assert ((scores >= 0.5) == y).mean() > 0.84  # the usual accuracy of this model on Adult
    rates = _group_values(report, "sex", "selection_rate")
    assert rates["Male"] > 2 * rates["Female"]
    ratio = _value(report, "sex", "demographic_parity_ratio")
    assert ratio["groups"] == "Male vs Female"
    assert ratio["high"] < 0.8  # the four-fifths rule fails beyond sampling noise
    assert ratio["value"] == pytest.approx(
        demographic_parity_ratio(y, scores >= 0.5, sensitive_features=test["sex"].to_numpy()),
        rel=1e-12,
    )
    # the labels differ too: base rates about 0.30 and 0.11 in adult.test
    base = _group_values(report, "sex", "base_rate")
    assert base == pytest.approx({"Male": 0.30, "Female": 0.11}, abs=0.01)
    assert _value(report, "sex & race", "demographic_parity_difference")["n_groups"] >= 8


def test_compas_reproduces_propublica_false_positive_rates() -> None:
    # Angwin et al. (2016), "Machine Bias", and Larson et al. (2016): defendants labelled higher
    # risk (decile >= 5, i.e. score text Medium or High) who did not reoffend within two years:
    # 44.9% of African-American vs 23.5% of Caucasian; who did reoffend: 72.0% vs 52.3%.
    # ProPublica's table is from their Cox-model file of the same defendants, a slightly
    # different cut; the tolerance is sqrt(2) interval half-widths, the spread of a
    # difference between two estimates each with this sampling error.
    people = compas().filter(pl.col("race").is_in(["African-American", "Caucasian"]))
    scores = (people["decile_score"] / 10).to_numpy()
    assert ((scores >= 0.5) == (people["score_text"] != "Low").to_numpy()).all()
    report = fairness(
        "binary", scores, people.select("race"), y_true=people["two_year_recid"].to_numpy()
    )
    published = {
        ("false_positive_rate", "African-American"): 0.449,
        ("false_positive_rate", "Caucasian"): 0.235,
        ("true_positive_rate", "African-American"): 0.720,
        ("true_positive_rate", "Caucasian"): 0.523,
    }
    for (metric, group), value in published.items():
        row = report.groups.filter((pl.col("metric") == metric) & (pl.col("group") == group)).row(
            0, named=True
        )
        half_width = (row["high"] - row["low"]) / 2
        assert row["value"] == pytest.approx(value, abs=math.sqrt(2) * half_width), (metric, group)
    odds = _value(report, "race", "equalized_odds_difference")
    assert odds["value"] > 0.19
    assert odds["low"] > 0.1  # far from equal odds, beyond sampling noise
    assert odds["groups"] == "African-American vs Caucasian"
    rates = _group_values(report, "race", "false_positive_rate")
    assert rates["African-American"] > 1.7 * rates["Caucasian"]


def test_compared_groups_keep_a_window_to_the_baselines_groups() -> None:
    rng = np.random.default_rng(11)

    def rows(n: int, share_c: float) -> tuple[np.ndarray, pl.DataFrame]:
        group = rng.choice(["a", "b", "c"], n, p=[(1 - share_c) / 2, (1 - share_c) / 2, share_c])
        # group c was always selected more often: a fact of the model, not a change
        scores = np.clip(rng.random(n) + 0.4 * (group == "c"), 0, 1)
        return scores, pl.DataFrame({"g": group})

    baseline = fairness("binary", *rows(2_000, 0.01), n_resamples=100, min_group_rows=30)
    assert baseline.compared_groups() == {"g": ["a", "b"]}  # c had about 20 rows
    window_scores, window = rows(20_000, 0.2)
    everything = fairness("binary", window_scores, window, n_resamples=100, min_group_rows=30)
    same = fairness("binary", window_scores, window, n_resamples=100, min_group_rows=30,
                    compared_groups=baseline.compared_groups())  # fmt: skip
    grew = {m: g for m, g in everything.compare(baseline).select("metric", "grew").iter_rows()}
    assert grew["demographic_parity_difference"]  # c entering the comparison reads as growth
    kept = {m: g for m, g in same.compare(baseline).select("metric", "grew").iter_rows()}
    assert not kept["demographic_parity_difference"]
    assert "c" not in same.disparities["groups"][0]
    # the groups table says which groups were held out, and why
    c = same.groups.filter(pl.col("group") == "c")
    assert not c["compared"].any()
    assert c["detail"].unique().to_list() == ["not in compared_groups: not compared"]
    assert same.compared_groups() == baseline.compared_groups()
