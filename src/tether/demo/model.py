"""The demo's model steps: bundle, registry, parity, explanations, reproducibility, output drift.

The model answers a question a dispatcher asks at departure: will this flight arrive more than 15
minutes late? It is trained on January-February 2013 and validated on March; July is the
production month it meets.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tether.bundle import Bundle, TrainingRun, diff_bundles, record_parity, verify
from tether.drift import drift
from tether.drift.output import confidence_drift, prediction_drift
from tether.registry import Registry

NUMERIC = ["dep_delay", "sched_dep_time", "distance", "hour"]
CATEGORICAL = ["carrier", "origin"]
FEATURES = NUMERIC + CATEGORICAL
SEED = 7
CHAMPION = {"model": "logistic", "C": 1.0}
CHALLENGER = {"model": "boosting", "max_iter": 60}


def train_late_model(frame: pl.DataFrame, config: dict[str, Any]) -> Pipeline:
    """The training entry point the bundles record (``tether.demo.model:train_late_model``)."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric, NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
        ]
    )
    if config["model"] == "logistic":
        estimator: Any = LogisticRegression(C=config["C"], max_iter=1000)
    else:
        estimator = HistGradientBoostingClassifier(max_iter=config["max_iter"], random_state=SEED)
    model = Pipeline([("pre", pre), ("model", estimator)])
    return model.fit(frame.select(FEATURES), frame["late"].to_numpy())


def run(
    console: Console, step: Any, flights: pl.DataFrame, reference: pl.DataFrame, out_dir: Path
) -> Bundle:
    """Steps 8-11 of the demo; returns the champion bundle."""
    labeled = flights.filter(pl.col("late").is_not_null())
    train = labeled.filter(pl.col("month") <= 2).drop("year", "month", "day")
    valid = labeled.filter(pl.col("month") == 3).drop("year", "month", "day")
    july = flights.filter(pl.col("month") == 7).drop("year", "month", "day")

    step("8. Bundle the model: preprocessing, contract, reference, baseline, lineage, ONNX")
    champion = _build(train, valid, CHAMPION, "logistic regression on departure-time facts")
    _print_bundle(console, champion)

    step("9. Registry: push, alias, diff a challenger, promote, roll back (all audited)")
    root = out_dir / "registry"
    shutil.rmtree(root, ignore_errors=True)  # a fresh registry, so the story reads the same
    registry = Registry(root)
    first = registry.push(champion, "late-arrival", reason="first model")
    registry.set_alias("late-arrival", "champion", first, reason="first model")
    challenger = _build(train, valid, CHALLENGER, "gradient boosting, same features")
    second = registry.push(challenger, "late-arrival", reason="retrained with boosting")
    registry.set_alias("late-arrival", "challenger", second, reason="candidate")
    console.print(
        f"champion {first[:12]} ({champion.metadata['model']['summary']}), online path "
        f"{champion.online_path}; challenger {second[:12]}, online path "
        f"{challenger.online_path} ({(challenger.metadata['onnx']['reason'] or '')[:70]}…)",
        highlight=False,
    )
    changes = diff_bundles(champion, challenger)
    shown = ("parameters", "metric roc_auc overall", "metric recall overall", "metric ece overall")
    for line in changes.summary():
        if line.startswith(shown):
            console.print(f"  {line}", highlight=False)
    registry.set_alias("late-arrival", "champion", second, reason="higher AUC on March")
    back = registry.rollback(
        "late-arrival", reason="drill: its scores are not calibrated like the baseline"
    )
    table = Table("event", "alias", "version", "by", "why", title="audit log")
    for event in registry.audit("late-arrival"):
        table.add_row(
            event["event"],
            str(event.get("alias") or ""),
            str(event.get("version") or event.get("to") or "")[:12],
            str(event.get("by")),
            str(event.get("reason") or ""),
        )
    console.print(table)
    loaded = registry.load("late-arrival@champion")
    console.print(
        f"late-arrival@champion -> {back[:12]}; loaded with every checksum verified: "
        f"[bold]{'yes' if loaded.version == first else 'NO'}[/bold]"
    )

    step("10. Serving parity, one July flight explained, and the model re-trained from lineage")
    parity = record_parity(loaded, july, rows=2_000)
    console.print(
        f"batch path (native) vs online path ({parity.online_path}) on {parity.result.rows:,} "
        f"July rows incl. edge values: max |score difference| {parity.result.max_abs_diff:.1e}, "
        f"same labels: [bold]{'yes' if parity.ok else 'NO'}[/bold]"
    )
    flight = july.filter(pl.col("dep_delay") > 60).head(1)
    record = flight.select(FEATURES).row(0, named=True)
    answer = loaded.predict_record(record)
    timings = []
    for _ in range(500):
        started = time.perf_counter()
        loaded.predict_record(record)
        timings.append(time.perf_counter() - started)
    elapsed_us = float(np.median(timings)) * 1e6
    explanation = loaded.explain(flight)
    top = explanation.top(3)
    console.print(
        f"flight {flight['flight_id'][0]} ({record['carrier']} from {record['origin']}, left "
        f"{record['dep_delay']:.0f} min late): P(late) = {answer['score']:.2f} in "
        f"{elapsed_us:.0f} µs (median of 500); because "
        + ", ".join(f"{r['feature']} {r['contribution']:+.2f}" for r in top.iter_rows(named=True))
        + f" ({explanation.units})"
    )
    result = verify(loaded, train=train, valid=valid)
    console.print(result.summary()[0], highlight=False)

    step("11. Model-output drift: the first signal while July's labels are still weeks away")
    scores = [loaded.scores(frame) for frame in (reference, july)]
    frames = prediction_drift(scores[0], scores[1], name="score")
    score = drift(frames.reference, frames.current).summary().row(0, named=True)
    verdict = "[red]drifted[/red]" if score["drifted"] else "not drifted"
    console.print(f"score distribution, {verdict}: {score['reason']} ({score['method']})")
    confidence = confidence_drift(*(np.column_stack([1 - s, s]) for s in scores))
    verdict = "[red]drifted[/red]" if confidence.drifted else "not drifted"
    console.print(f"confidence, {verdict}: {confidence.reason}")
    return loaded


def _build(
    train: pl.DataFrame, valid: pl.DataFrame, config: dict[str, Any], description: str
) -> Bundle:
    with TrainingRun(seed=SEED) as run:
        model = train_late_model(train, config)
    return Bundle.build(
        model,
        train=train,
        valid=valid,
        target="late",
        id_column="flight_id",
        time_column="time_hour",
        segments=["carrier", "origin"],
        sensitive=["origin"],
        cost={"fp": 1.0, "fn": 5.0},
        owner="ops-analytics",
        on_call="#ops-oncall",
        description=description,
        latency_budget_ms=50,
        params=config,
        seed=SEED,
        training=run,
        entry_point="tether.demo.model:train_late_model",
    )


def _print_bundle(console: Console, bundle: Bundle) -> None:
    lineage = bundle.lineage
    console.print(
        f"bundle {bundle.version[:12]}: {bundle.metadata['model']['summary']}; trained on "
        f"{lineage['train']['rows']:,} flights ({lineage['train']['time_min'][:10]} to "
        f"{lineage['train']['time_max'][:10]}), validated on {lineage['valid']['rows']:,}; "
        f"built in {sum(lineage['build']['seconds'].values()):.1f} s",
        highlight=False,
    )
    onnx = bundle.metadata["onnx"]
    console.print(
        f"online path: {bundle.online_path} (ONNX vs native on {onnx['parity']['rows']:,} March "
        f"rows: max |diff| {onnx['parity']['max_abs_diff']:.1e})",
        highlight=False,
    )
    table = Table("segment", "roc_auc [95% interval]", "recall", "ece", "rows",
                  title="baseline on March (validation)")  # fmt: skip
    # carriers are too many to list here: step 14 shows them against July
    metrics = bundle.metrics.filter(pl.col("segment") != "carrier")
    for (segment, value), group in metrics.group_by(["segment", "value"], maintain_order=True):
        by_metric = {row["metric"]: row for row in group.iter_rows(named=True)}
        auc = by_metric["roc_auc"]
        table.add_row(
            "overall" if segment == "all" else f"{segment}={value}",
            f"{auc['estimate']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]",
            f"{by_metric['recall']['estimate']:.3f}",
            f"{by_metric['ece']['estimate']:.3f}",
            f"{auc['rows']:,}",
        )
    console.print(table)
    cost = bundle.cost or {}
    top = bundle.importance.head(3)
    console.print(
        f"expected cost {cost.get('per_prediction', float('nan')):.3f} per flight (fp 1, fn 5); "
        "permutation importance: "
        + ", ".join(f"{r['feature']} {r['importance']:.3f}" for r in top.iter_rows(named=True))
    )
