"""Silent failures: each planted failure is found, clean windows drawn like validation are not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from tether.bundle import Bundle
from tether.errors import FormatError, InputError
from tether.monitor.result import RESULT_SCHEMA
from tether.monitor.silent import (
    HISTORY_SCHEMA,
    SilentReference,
    history_frame,
    silent_failures,
    window_summary,
)
from tether.profile import Profile

CLASSES = ["a", "b", "c"]
ALPHAS = np.array([4.0, 2.0, 1.0])
"""Multiclass validation probabilities are Dirichlet(ALPHAS): class 'a' is predicted most."""
BUDGET_MS = 30.0
START = datetime(2024, 5, 1, tzinfo=UTC)


def outputs(task: str, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Model outputs as validation produced them: Beta(2, 5) scores, Dirichlet probabilities,
    Normal(100, 15) regression predictions."""
    if task == "binary":
        return {"score": rng.beta(2.0, 5.0, rows)}
    if task == "multiclass":
        proba = rng.dirichlet(ALPHAS, rows)
        return {f"proba_{c}": proba[:, i] for i, c in enumerate(CLASSES)}
    return {"prediction": rng.normal(100.0, 15.0, rows)}


def reference(task: str = "binary", budget: float | None = BUDGET_MS) -> SilentReference:
    rng = np.random.default_rng(12345)
    validation = pl.DataFrame(outputs(task, 5_000, rng))
    counts = None
    if task == "multiclass":
        predicted = validation.to_numpy().argmax(axis=1)
        counts = {c: int((predicted == i).sum()) for i, c in enumerate(CLASSES)}
    classes = {"binary": [0, 1], "multiclass": CLASSES, "regression": []}[task]
    return SilentReference.from_profile(
        Profile.build(validation),
        task=task,
        classes=classes,
        threshold=0.5,
        class_counts=counts,
        latency_budget_ms=budget,
    )


def window(
    task: str = "binary",
    rows: int = 2_000,
    seed: int = 0,
    *,
    flagged: float = 0.01,
    rejected: float = 0.005,
    start: datetime = START,
) -> pl.DataFrame:
    """A clean window as the store returns it: outputs drawn like validation, 1% flagged rows
    (rule carrier:category), 0.5% rejected (distance:range, no outputs), one record per
    request, Gamma(2, 2) ms latencies."""
    rng = np.random.default_rng(seed)
    out = outputs(task, rows, rng)
    draw = rng.random(rows)
    status = np.where(
        draw < rejected, "rejected", np.where(draw < rejected + flagged, "flagged", "ok")
    )
    if task == "binary":
        prediction = pl.Series((out["score"] >= 0.5).astype(np.int64))
    elif task == "multiclass":
        prediction = pl.Series(
            np.array(CLASSES)[np.column_stack(list(out.values())).argmax(axis=1)]
        )
    else:
        prediction = pl.Series(out.pop("prediction"))
    rules = {"rejected": ["distance:range"], "flagged": ["carrier:category"], "ok": []}
    frame = pl.DataFrame(
        {
            "id": [f"{seed}-{i}" for i in range(rows)],
            "created_at": [start + timedelta(seconds=i) for i in range(rows)],
            "status": status,
            "request_id": [f"r{seed}-{i}" for i in range(rows)],
            "prediction": prediction,
            **out,
            "latency_total_ms": rng.gamma(2.0, 2.0, rows),
            "rules": [rules[s] for s in status],
        },
        schema_overrides={"rules": pl.List(pl.String)},
    )
    served_only = [c for c in frame.columns if c == "prediction" or c in out]
    refused = pl.col("status") == "rejected"
    return frame.with_columns(pl.when(~refused).then(pl.col(c)) for c in served_only)


def alerts(found: pl.DataFrame) -> list[tuple[str, str | None, str | None]]:
    return found.filter("alert").select("metric", "column", "segment_value").rows()


def row(found: pl.DataFrame, metric: str, **where: str) -> dict:
    match = found.filter(pl.col("metric") == metric, *(pl.col(k) == v for k, v in where.items()))
    assert match.height == 1, match
    return match.row(0, named=True)


def history(windows: int = 5, rows: int = 2_000) -> pl.DataFrame:
    return history_frame(
        [
            window_summary(window(rows=rows, seed=100 + i), window_start=START)
            for i in range(windows)
        ]
    )


# -- clean windows ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_clean_windows_drawn_like_validation_raise_almost_no_alert(task: str) -> None:
    # Each window runs ~10-15 tests at alpha = 0.001, so by Bonferroni at most ~1.5% of clean
    # windows alert; over 50 windows that is < 0.75 expected, and 3 or more alerted windows has
    # probability < 4% even at that bound (the practical floors make it far rarer: 0 seen).
    ref = reference(task)
    earlier: list[dict] = []
    alerted = 0
    for seed in range(50):
        current = window(task, seed=seed)
        found = silent_failures(current, ref, history=history_frame(earlier) if earlier else None)
        alerted += bool(alerts(found))
        earlier.append(window_summary(current))
    assert alerted <= 2


def test_result_rows_follow_the_result_schema_and_name_every_metric() -> None:
    found = silent_failures(window(), reference(), history=history())
    assert found.schema == pl.Schema(RESULT_SCHEMA)
    assert set(found["check"]) == {"silent"}
    assert sorted(set(found["metric"])) == [
        "class_share",
        "flagged_rate",
        "invalid_outputs",
        "latency_over_budget",
        "out_of_range",
        "output_spread",
        "rejected_rate",
        "rule_rate",
        "traffic",
    ]
    assert row(found, "class_share", segment_value="1")["baseline"] == pytest.approx(0.11, abs=0.02)


# -- planted failures ---------------------------------------------------------------------------


def test_constant_scores_are_near_constant_predictions() -> None:
    frozen = window().with_columns(pl.when(pl.col("score").is_not_null()).then(0.31).alias("score"))
    found = silent_failures(frozen, reference())
    spread = row(found, "output_spread", column="score")
    assert spread["alert"]
    assert spread["value"] == 0.0
    assert spread["baseline"] == pytest.approx(0.16, abs=0.01)  # Beta(2, 5) sd


def test_near_constant_regression_predictions_alert_relative_to_validation_spread() -> None:
    rng = np.random.default_rng(3)
    current = window("regression")
    squeezed = current.with_columns(
        pl.when(pl.col("prediction").is_not_null())
        .then(pl.Series(rng.normal(100.0, 0.5, current.height)))
        .alias("prediction")
    )
    found = silent_failures(squeezed, reference("regression"))
    assert ("output_spread", "prediction", None) in alerts(found)
    assert not row(silent_failures(current, reference("regression")), "output_spread")["alert"]


def test_nan_outputs_among_served_rows_alert_but_rejected_rows_without_outputs_do_not() -> None:
    current = window()
    assert current.filter(pl.col("status") == "rejected")["score"].null_count() > 0
    broken = current.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([5, 50, 500]) & (pl.col("status") != "rejected"))
        .then(float("nan"))
        .otherwise(pl.col("score"))
        .alias("score")
    )
    found = silent_failures(broken, reference())
    invalid = row(found, "invalid_outputs", column="score")
    assert invalid["alert"]
    assert json.loads(invalid["detail"])["nan"] == 3
    assert not row(silent_failures(current, reference()), "invalid_outputs", column="score")[
        "alert"
    ]


def test_null_and_infinite_outputs_are_invalid_too() -> None:
    current = window("multiclass")
    broken = current.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(float("inf"))
        .otherwise("proba_b")
        .alias("proba_b"),
        pl.when(pl.int_range(pl.len()) == 8).then(None).otherwise("prediction").alias("prediction"),
    )
    flagged = alerts(silent_failures(broken, reference("multiclass")))
    assert ("invalid_outputs", "proba_b", None) in flagged
    assert ("invalid_outputs", "prediction", None) in flagged


def test_scores_beyond_the_validation_range_alert() -> None:
    current = window()
    ref = reference()
    beyond = min(ref.outputs["score"].high + 0.05, 0.999)
    shifted = current.with_columns(
        pl.when((pl.int_range(pl.len()) % 20 == 0) & pl.col("score").is_not_null())
        .then(beyond)
        .otherwise(pl.col("score"))
        .alias("score")
    )
    found = row(silent_failures(shifted, ref), "out_of_range", column="score")
    assert found["alert"]
    assert found["value"] == pytest.approx(0.05, abs=0.005)
    assert not row(silent_failures(current, ref), "out_of_range", column="score")["alert"]


def test_binary_class_share_collapse_alerts_for_the_vanishing_class() -> None:
    current = window()
    collapsed = current.with_columns(pl.col("score") * 0.5, pl.col("prediction") * 0)
    found = silent_failures(collapsed, reference())
    assert ("class_share", "prediction", "1") in alerts(found)
    assert row(found, "class_share", segment_value="1")["value"] == 0.0


def test_multiclass_class_share_takeover_alerts_per_class() -> None:
    current = window("multiclass")
    # a third of the rows now predicted 'c' (validation: 4%); 'a' and 'b' lose a third, a
    # significant change at 2000 rows but inside the 2x floor
    takeover = current.with_columns(
        pl.when((pl.int_range(pl.len()) % 3 == 0) & pl.col("prediction").is_not_null())
        .then(pl.lit("c"))
        .otherwise(pl.col("prediction"))
        .alias("prediction")
    )
    flagged = {
        value
        for metric, _, value in alerts(silent_failures(takeover, reference("multiclass")))
        if metric == "class_share"
    }
    assert "c" in flagged
    assert "a" not in flagged
    assert "b" not in flagged


def test_a_small_share_change_is_significant_at_a_million_rows_but_below_the_floor() -> None:
    ref = reference()
    baseline = ref.class_shares["1"]
    rows = 1_000_000
    predicted = pl.Series(np.r_[np.ones(int(rows * baseline * 1.3)), np.zeros(rows)][:rows])
    big = pl.DataFrame(
        {
            "status": "ok",
            "request_id": None,
            "prediction": predicted.cast(pl.Int64),
            "score": 0.3,
            "latency_total_ms": 1.0,
        },
        schema_overrides={"request_id": pl.String},
    )
    share = row(silent_failures(big, ref), "class_share", segment_value="1")
    assert share["value"] == pytest.approx(baseline * 1.3, rel=0.01)
    assert not share["alert"]  # 1.3x: far beyond alpha at 1M rows, but under the 2x floor


def test_rejection_spike_for_one_rule_alerts_for_that_rule_only() -> None:
    current = window(seed=7)
    ages = pl.int_range(pl.len()) % 25 == 0  # 4% of rows break a new rule and are rejected
    spiked = current.with_columns(
        pl.when(ages).then(pl.lit("rejected")).otherwise("status").alias("status"),
        pl.when(ages).then(pl.lit(["age:range"])).otherwise("rules").alias("rules"),
    )
    found = silent_failures(spiked, reference(), history=history())
    flagged = alerts(found)
    assert ("rule_rate", None, "age:range") in flagged
    assert ("rejected_rate", None, None) in flagged
    assert ("rule_rate", None, "carrier:category") not in flagged
    assert ("rule_rate", None, "distance:range") not in flagged
    # without history only the absolute floor (5%) applies: 4% is under it
    assert not alerts(silent_failures(spiked, reference()))


def test_flag_spike_without_history_alerts_beyond_the_absolute_floor() -> None:
    found = silent_failures(window(flagged=0.2), reference())
    assert ("flagged_rate", None, None) in alerts(found)
    assert ("rule_rate", None, "carrier:category") in alerts(found)


def test_latency_violations_alert_on_the_share_of_slow_rows() -> None:
    current = window()
    slow = current.with_columns(
        pl.when(pl.int_range(pl.len()) % 20 == 0)
        .then(100.0)
        .otherwise("latency_total_ms")
        .alias("latency_total_ms")
    )
    found = row(silent_failures(slow, reference()), "latency_over_budget")
    assert found["alert"]
    assert found["value"] == pytest.approx(0.05)
    assert not row(silent_failures(current, reference()), "latency_over_budget")["alert"]


def test_the_latency_budget_is_per_record_of_a_batch_request() -> None:
    # every row of a batch of 10 logs the batch's time: 200 ms is within 10 x 30 ms, 400 is not
    batches = window().with_columns(
        (pl.lit("b") + (pl.int_range(pl.len()) // 10).cast(pl.String)).alias("request_id")
    )
    within = batches.with_columns(latency_total_ms=pl.lit(200.0))
    beyond = batches.with_columns(latency_total_ms=pl.lit(400.0))
    assert not row(silent_failures(within, reference()), "latency_over_budget")["alert"]
    assert row(silent_failures(beyond, reference()), "latency_over_budget")["value"] == 1.0


def test_no_latency_budget_gives_a_row_without_value() -> None:
    found = row(silent_failures(window(), reference(budget=None)), "latency_over_budget")
    assert found["value"] is None
    assert not found["alert"]
    assert "no latency budget" in found["detail"]


def test_traffic_drop_against_the_median_of_earlier_windows() -> None:
    past = history(windows=5, rows=2_000)
    dropped = silent_failures(window(rows=600), reference(), history=past)
    assert ("traffic", None, None) in alerts(dropped)
    assert row(dropped, "traffic")["lower"] == 1_000.0
    assert not row(silent_failures(window(rows=1_500), reference(), history=past), "traffic")[
        "alert"
    ]
    too_little = silent_failures(window(rows=600), reference(), history=past.head(2))
    assert not row(too_little, "traffic")["alert"]


def test_an_empty_window_is_a_traffic_drop_with_history_and_refused_without() -> None:
    empty = window().clear()
    found = silent_failures(empty, reference(), history=history())
    assert found.height == 1
    assert alerts(found) == [("traffic", None, None)]
    with pytest.raises(InputError, match="no rows"):
        silent_failures(empty, reference())


# -- history and reference ----------------------------------------------------------------------


def test_window_summary_counts_rows_statuses_and_rules() -> None:
    current = window(seed=1)
    summary = window_summary(current)
    statuses = current["status"].value_counts()
    count = dict(statuses.iter_rows())
    assert summary["rows"] == current.height
    assert summary["rejected"] == count.get("rejected", 0)
    assert json.loads(summary["rules"]) == {
        "carrier:category": count["flagged"],
        "distance:range": count["rejected"],
    }
    assert summary["window_start"] == START
    assert history_frame([summary]).schema == pl.Schema(HISTORY_SCHEMA)
    assert window_summary(current.drop("rules"))["rules"] is None


def test_a_window_without_rules_still_gets_overall_rates() -> None:
    found = silent_failures(window().drop("rules"), reference(), history=history())
    assert "rule_rate" not in set(found["metric"])
    assert "rejected_rate" in set(found["metric"])


def test_reference_round_trips_through_json() -> None:
    for task in ("binary", "multiclass", "regression"):
        ref = reference(task)
        assert SilentReference.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    with pytest.raises(FormatError):
        SilentReference.from_dict({"task": "binary"})


def small_bundle(classes: list[str], rows: int = 1_500, **options: object) -> Bundle:
    """A logistic regression on two normal features: binary on x0 > 0, or three classes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * rows, 2))
    cut = (x[:, 0] > 0).astype(int) + (len(classes) > 2) * (x[:, 1] > 1).astype(int)
    flip = rng.random(2 * rows) < 0.1
    y = np.array(classes)[np.where(flip, 0, cut)]
    frame = pl.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": y})
    train, valid = frame.head(rows), frame.tail(rows)
    model = LogisticRegression(max_iter=500).fit(train.select("x0", "x1"), train["y"])
    return Bundle.build(
        model,
        train=train,
        valid=valid,
        target="y",
        n_resamples=10,
        importance_repeats=1,
        onnx=False,
        **options,
    )


def test_reference_from_a_real_bundle_and_a_clean_window_from_its_model() -> None:
    bundle = small_bundle(["no", "yes"], latency_budget_ms=25.0)
    ref = SilentReference.from_bundle(bundle)
    assert ref.task == "binary"
    assert ref.latency_budget_ms == 25.0
    assert ref.class_source == "validation"
    assert ref.class_rows == 1_500
    fresh = pl.DataFrame(np.random.default_rng(9).normal(size=(3_000, 2)), schema=["x0", "x1"])
    current = bundle.predict(fresh).with_columns(
        status=pl.lit("ok"), request_id=pl.lit(None, pl.String), latency_total_ms=pl.lit(2.0)
    )
    assert current["prediction"].dtype == pl.String
    assert alerts(silent_failures(current, ref)) == []
    frozen = current.with_columns(pl.lit("no").alias("prediction"), pl.lit(0.2).alias("score"))
    assert ("class_share", "prediction", "yes") in alerts(silent_failures(frozen, ref))


def test_multiclass_reference_takes_class_shares_from_the_bundle_background() -> None:
    bundle = small_bundle(CLASSES)
    ref = SilentReference.from_bundle(bundle)
    assert ref.class_source == "background"
    assert ref.class_rows == 200
    assert list(ref.outputs) == ["proba_a", "proba_b", "proba_c"]
    assert sum(ref.class_shares.values()) == pytest.approx(1.0)
    fresh = pl.DataFrame(np.random.default_rng(9).normal(size=(3_000, 2)), schema=["x0", "x1"])
    current = bundle.predict(fresh).with_columns(
        status=pl.lit("ok"), request_id=pl.lit(None, pl.String), latency_total_ms=pl.lit(2.0)
    )
    assert alerts(silent_failures(current, ref)) == []


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InputError, match="score"):
        silent_failures(window().drop("score"), reference())
    with pytest.raises(InputError, match="polars DataFrame"):
        silent_failures(window().to_pandas(), reference())
    with pytest.raises(InputError, match="task 'ranking'"):
        SilentReference(task="ranking", outputs=reference().outputs)
    with pytest.raises(InputError, match="task 'ranking'"):
        SilentReference.from_profile(Profile.build(pl.DataFrame({"score": [0.1]})), task="ranking")
    with pytest.raises(InputError, match="lacks output columns"):
        SilentReference.from_profile(
            Profile.build(pl.DataFrame({"x": [0.1]})), task="binary", classes=[0, 1]
        )
    with pytest.raises(InputError, match="history lacks"):
        silent_failures(window(), reference(), history=pl.DataFrame({"rows": [1]}))
    with pytest.raises(InputError, match="alpha"):
        silent_failures(window(), reference(), alpha=0.0)


# -- speed --------------------------------------------------------------------------------------
