"""The demo's segment step: July's declared segments, the weak segments nobody declared, and
fairness across departure airports, from training through every monitored block."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from tether.demo.monitoring import flight_dates
from tether.demo.serving import MODEL
from tether.performance.segments import WeakSegments, error_loss, expected_error
from tether.registry import Registry
from tether.store import open_store


def run(console: Console, step: Any, july: pl.DataFrame, out_dir: Path) -> None:
    """Step 14 of the demo, on the results step 13 stored in ``out_dir``."""
    step("14. Segments, weak segments and fairness: where July fails, and for whom")
    bundle = Registry(out_dir / "registry").load(f"{MODEL}@champion")
    store = open_store(f"sqlite:///{(out_dir / 'tether.db').resolve()}")
    try:
        results = store.read_results(MODEL).filter(pl.col("complete"))
        windows = results.select("window_start", "window_end").unique().sort("window_start")
        dates = flight_dates(store, windows, july)
    finally:
        store.close()
    blocks = {start: dates[i] for i, start in enumerate(windows["window_start"])}
    last = results.filter(pl.col("window_start") == windows["window_start"][-1])

    _declared(console, bundle, last)
    _representation(console, results)
    _weak(console, bundle, july, results)
    _fairness(console, bundle, results, blocks)


def _declared(console: Console, bundle: Any, last: pl.DataFrame) -> None:
    """Realized and estimated ROC AUC per carrier in the last stored block, against each
    carrier's own March baseline."""
    realized = last.filter(
        (pl.col("check") == "realized") & (pl.col("metric") == "roc_auc")
        & (pl.col("segment") == "carrier")
    ).sort("rows", descending=True)  # fmt: skip
    estimated = {
        row["segment_value"]: row
        for row in last.filter(
            (pl.col("check") == "estimated") & (pl.col("metric") == "roc_auc")
            & (pl.col("segment") == "carrier")
        ).iter_rows(named=True)
    }  # fmt: skip
    table = Table(box=None, pad_edge=False, title="ROC AUC per carrier, last stored block")
    table.caption = "95% bootstrap interval; band: the alert band around the March baseline"
    for column in ("carrier", "flights", "realized", "95% CI", "March", "band", "CBPE"):
        table.add_column(column, justify="left" if column == "carrier" else "right")
    for row in realized.iter_rows(named=True):
        low, high = json.loads(row["detail"])["ci"]
        guess = estimated.get(row["segment_value"])
        table.add_row(
            row["segment_value"],
            f"{row['rows']:,}",
            f"{row['value']:.3f}" + (" !" if row["alert"] else ""),
            f"{_number(low)}-{_number(high)}",
            _number(row["baseline"]),
            "-" if row["lower"] is None else f"{row['lower']:.3f}-{row['upper']:.3f}",
            "-" if guess is None else f"{guess['value']:.3f}" + (" !" if guess["alert"] else ""),
        )
    console.print(table)
    below = realized.filter(pl.col("alert"))["segment_value"].to_list()
    console.print(
        f"carriers whose realized AUC left their own band: {', '.join(below) or 'none'} "
        f"(of {realized.height} with enough labeled flights in the block: the monitor's "
        "min_segment_rows)",
        highlight=False,
    )


def _representation(console: Console, results: pl.DataFrame) -> None:
    shares = results.filter((pl.col("check") == "segments") & pl.col("alert"))
    found = (
        shares.group_by("segment", "segment_value")
        .agg(pl.col("value").max(), pl.col("baseline").first(), pl.len().alias("blocks"))
        .sort("value", descending=True)
    )
    if found.height == 0:
        console.print("no segment level rare in January-February is frequent in July")
        return
    console.print(
        "rare in training, frequent in July (share of a block vs share of Jan-Feb): "
        + "; ".join(
            f"{r['segment']} {r['segment_value']} {r['value']:.1%} vs {r['baseline']:.2%} "
            f"({r['blocks']} blocks)"
            for r in found.head(5).iter_rows(named=True)
        ),
        highlight=False,
    )


def _weak(console: Console, bundle: Any, july: pl.DataFrame, results: pl.DataFrame) -> None:
    """The weak-segment search on all labeled July flights, then what the monitor found per
    block."""
    labeled = july.filter(pl.col("late").is_not_null() & pl.col("dep_delay").is_not_null())
    started = time.perf_counter()
    scores = bundle.scores(labeled)
    y = labeled["late"].cast(pl.Int64).to_numpy()
    loss = error_loss("binary", y, scores, threshold=bundle.threshold)
    expected, variance = expected_error("binary", scores, threshold=bundle.threshold)
    search = WeakSegments().fit(bundle.reference_rows)
    found = search.find(labeled.select(bundle.features), loss, expected=expected, variance=variance)
    seconds = time.perf_counter() - started
    weak = found.filter(pl.col("kind") == "worse_than_expected")
    unsure = found.filter(pl.col("kind") == "low_confidence")
    console.print(
        f"weak-segment search over {labeled.height:,} labeled July flights, conjunctions of up "
        f"to 3 conditions on {len(bundle.features)} inputs ({search.conditions_.height} "
        f"conditions, ranges cut at March's quantiles), false discoveries held at 5%: "
        f"{weak.height} segments worse than the model believes, {unsure.height} where it is "
        f"only less sure ({seconds:.1f} s). The largest by impact (rows x gap):",
        highlight=False,
    )
    for rank, description in enumerate(weak["description"].head(5), start=1):
        console.print(f"  {rank}. {description}", highlight=False)
    if unsure.height:
        console.print(f"  low confidence, not a weak segment: {unsure['description'][0]}",
                      highlight=False)  # fmt: skip
    per_block = results.filter(
        (pl.col("check") == "weak_segment") & (pl.col("metric") == "labeled") & pl.col("alert")
    )
    counts = per_block.group_by("window_start").len().sort("window_start")["len"].to_list()
    console.print(
        f"the monitor runs the same search per block: weak segments alerting per block {counts}",
        highlight=False,
    )


def _fairness(console: Console, bundle: Any, results: pl.DataFrame, blocks: dict[Any, str]) -> None:
    """Departure airports from training data to the last block."""
    training = bundle.training_representation.filter(pl.col("attribute") == "origin")
    console.print(
        "fairness across departure airports (a late flag triggers a rebooking offer). "
        "Training data, share and late rate: "
        + ", ".join(
            f"{r['group']} {r['share']:.0%} / {r['base_rate']:.0%}"
            for r in training.iter_rows(named=True)
        ),
        highlight=False,
    )
    table = Table(box=None, pad_edge=False, title="disparities between airports")
    table.caption = (
        "DP: demographic parity difference (selection rates, no labels needed); EO: equalized "
        "odds difference; [95% interval], ! grew beyond March's"
    )
    for column in ("data", "DP", "EO", "most vs least selected"):
        table.add_column(column, justify="left" if column in ("data", "most vs least selected")
                         else "right")  # fmt: skip
    march = bundle.fairness.disparities.filter(pl.col("attribute") == "origin")
    march_parity = _first(march, "demographic_parity_difference")
    table.add_row(
        "March (validation)",
        _interval(march_parity),
        _interval(_first(march, "equalized_odds_difference")),
        "" if march_parity is None else march_parity["groups"],
    )
    grew = 0
    for start, flights in blocks.items():
        rows = results.filter(
            (pl.col("window_start") == start) & (pl.col("check") == "fairness")
            & (pl.col("segment") == "origin") & pl.col("segment_value").is_null()
        )  # fmt: skip
        parity, odds = (
            _first(rows, "demographic_parity_difference"),
            _first(rows, "equalized_odds_difference"),
        )
        grew += bool(parity and parity["alert"]) + bool(odds and odds["alert"])
        table.add_row(
            f"July block {flights}",
            _interval(parity, stored=True),
            _interval(odds, stored=True),
            "" if parity is None else json.loads(parity["detail"])["groups"],
        )
    console.print(table)
    console.print(
        f"disparity alerts over July's blocks: {grew} (each block's interval against March's, "
        "beyond a 0.02 floor)",
        highlight=False,
    )


def _first(rows: pl.DataFrame, metric: str) -> dict[str, Any] | None:
    found = rows.filter(pl.col("metric") == metric)
    return found.row(0, named=True) if found.height else None


def _interval(row: dict[str, Any] | None, *, stored: bool = False) -> str:
    if row is None or row["value"] is None:
        return "-"
    low, high = json.loads(row["detail"])["ci"] if stored else (row["low"], row["high"])
    mark = " !" if stored and row["alert"] else ""
    return f"{row['value']:.3f} [{_number(low)}-{_number(high)}]{mark}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
