"""The demo's monitoring step: July's logged traffic, checked window by window; the late labels
arrive and backfill; production data exported for the next model, a sample for review."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from tether.demo.serving import MODEL
from tether.monitor import Monitor, MonitorRun, export_review, export_training_set
from tether.store import LabelRecord, open_store

WINDOW_ROWS = 6_000
"""Predictions per block: July was served in flight order, so a block is about a week (a block
takes whole batch requests, logged at one instant, so it may hold a few hundred more)."""


def run(console: Console, step: Any, july: pl.DataFrame, out_dir: Path) -> None:
    """Step 13 of the demo, on the store and registry step 12 left in ``out_dir``."""
    step("13. Monitor July: drift, estimated vs realized performance, calibration, cost")
    store = open_store(f"sqlite:///{(out_dir / 'tether.db').resolve()}")
    monitor = Monitor(store, str(out_dir / "registry"))
    try:
        started = time.perf_counter()
        first = monitor.run(MODEL, window=None, rows=WINDOW_ROWS)
        full = first.windows.filter(pl.col("complete")).height
        console.print(
            f"{first.windows.height} blocks of about {WINDOW_ROWS:,} predictions checked in "
            f"{time.perf_counter() - started:.1f} s ({_stages(first)}); the {full} full ones "
            "stored, the newest, still filling, reported only; labels so far cover July 1-21",
            highlight=False,
        )
        dates = flight_dates(store, first.windows, july)
        _print_windows(console, first, dates)
        console.print("what alerted:")
        _print_alerts(console, first)
        diverged = first.alerts.filter(pl.col("metric") == "roc_auc_divergence").height
        labeled = first.results.filter(pl.col("metric") == "roc_auc_divergence").height
        concept = first.alerts.filter(pl.col("check") == "concept")["window_start"].n_unique()
        console.print(
            f"realized ROC AUC lies outside the band CBPE estimated from the scores in {diverged} "
            f"of {labeled} labeled windows. Estimation assumes the same inputs still mean the "
            "same outcomes as in March; where realized and estimated part, that assumption "
            f"broke (concept drift). The error-rate detectors on the labeled stream (ADWIN, DDM, "
            f"Page-Hinkley) found a change in {concept} windows",
            highlight=False,
        )

        arrived = _late_labels(july)
        done = store.add_labels(arrived)
        again = monitor.run(MODEL, window=None, rows=WINDOW_ROWS)
        stored = again.windows.filter(pl.col("result_version").is_not_null()).height
        unchanged = again.windows.filter(
            pl.col("complete") & pl.col("result_version").is_null()
        ).height
        console.print(
            f"the labels of July 22-31 arrive ({done.accepted:,} accepted); the monitor runs "
            f"again: {stored} stored window(s) recomputed as a new result version, {unchanged} "
            "unchanged (their results stand; earlier versions are kept), and the block still "
            "filling recomputed:",
            highlight=False,
        )
        _print_windows(console, again, dates, only_stored=True)

        bundle = monitor.registry.load(f"{MODEL}@champion")
        export = export_training_set(store, MODEL, out_dir / "july-training.parquet", bundle)
        console.print(
            f"export-training-set: {export.rows:,} validated, labeled July flights written to "
            f"{export.path} ({export.content_hash[:23]}…), the next model trains on the world "
            "it serves",
            highlight=False,
        )
        sample = export_review(
            store, MODEL, out_dir / "review.csv", bundle, per_window=40, window="1w"
        )
        console.print(
            f"review export: {sample.height} predictions without a label yet, stratified by "
            f"confidence and carrier, written to {out_dir / 'review.csv'} for people to label",
            highlight=False,
        )
    finally:
        store.close()


def _late_labels(july: pl.DataFrame) -> list[LabelRecord]:
    rest = july.filter((pl.col("time_hour").dt.day() > 21) & pl.col("late").is_not_null())
    return [
        LabelRecord(str(i), bool(late))
        for i, late in zip(rest["flight_id"], rest["late"], strict=True)
    ]


def _print_windows(
    console: Console, run: MonitorRun, dates: dict[int, str], *, only_stored: bool = False
) -> None:
    """One line per window; ``only_stored`` leaves out the complete windows this run skipped."""
    results = run.results
    table = Table(box=None, pad_edge=False)
    # narrow headers, so the table fits 80 columns; the caption says what they mean
    table.caption = ("est./band: ROC AUC estimated by CBPE, 3-sd band; real: realized ROC AUC; "
                     "cost e/r: cost per flight estimated/realized")  # fmt: skip
    for column in ("flights", "lab.", "drift", "est.", "band", "real", "ECE", "cost e/r",
                   "alerts"):  # fmt: skip
        table.add_column(column, justify="left" if column == "flights" else "right", no_wrap=True)
    for index, window in enumerate(run.windows.iter_rows(named=True)):
        if only_stored and window["result_version"] is None and window["complete"]:
            continue
        rows = results.filter(pl.col("window_start") == window["window_start"])
        auc = _row(rows, "estimated", "roc_auc")
        table.add_row(
            dates[index],
            f"{window['labeled'] / max(window['served'], 1):.0%}",
            _value(_row(rows, "drift", "drifted_columns"), "{:.0f}"),
            _value(auc, "{:.3f}"),
            "" if auc is None else _band(auc["detail"]),
            _value(_row(rows, "realized", "roc_auc"), "{:.3f}"),
            _value(_row(rows, "calibration", "ece_equal_mass"), "{:.3f}"),
            _value(_row(rows, "business", "estimated_cost_per_prediction"), "{:.2f}")
            + "/"
            + _value(_row(rows, "business", "cost_per_prediction"), "{:.2f}"),
            str(len(window["alerts"])),
        )
    console.print(table)


def _print_alerts(console: Console, run: MonitorRun) -> None:
    """One line per check: in how many windows it alerted, on what."""
    alerts = run.alerts.with_columns(
        what=pl.coalesce(pl.col("column"), pl.col("segment_value"), pl.col("metric"))
    )
    summary = alerts.group_by("check", maintain_order=True).agg(
        pl.col("window_start").n_unique().alias("windows"),
        pl.col("what").unique(maintain_order=True),
    )
    for row in summary.iter_rows(named=True):
        what = [w for w in row["what"] if w != "drifted_columns"]
        shown = ", ".join(what[:6]) + (f" (+{len(what) - 6} more)" if len(what) > 6 else "")
        console.print(
            f"  {row['check']:<17} alerted in {row['windows']} of {run.windows.height} windows: "
            f"{shown}",
            highlight=False,
        )


def flight_dates(store: Any, windows: pl.DataFrame, july: pl.DataFrame) -> dict[int, str]:
    """For each window, the dates of the flights it holds (the log's times are when they were
    served; the demo serves July in flight order)."""
    served = store.read(MODEL, labels=False).select("id", "created_at")
    flights = july.select(pl.col("flight_id").cast(pl.String).alias("id"), "time_hour")
    dated = served.join(flights, on="id", how="left")
    dates = {}
    for index, window in enumerate(windows.iter_rows(named=True)):
        inside = dated.filter(
            pl.col("created_at").is_between(
                window["window_start"], window["window_end"], closed="left"
            )
        )["time_hour"]
        first, last = inside.min(), inside.max()
        dates[index] = f"{first:%b %d}-{last:%d}" if first.month == last.month else (
            f"{first:%b %d}-{last:%b %d}")  # fmt: skip
    return dates


def _row(rows: pl.DataFrame, check: str, metric: str) -> dict[str, Any] | None:
    found = rows.filter(
        (pl.col("check") == check) & (pl.col("metric") == metric) & pl.col("segment").is_null()
    )
    return found.row(0, named=True) if found.height else None


def _value(row: dict[str, Any] | None, fmt: str) -> str:
    if row is None or row["value"] is None:
        return "-"
    return fmt.format(row["value"]) + (" !" if row["alert"] else "")


def _band(detail: str | None) -> str:
    if not detail:
        return ""
    low, high = json.loads(detail)["band"]
    return f"{low:.3f}-{high:.3f}"


def _stages(run: MonitorRun) -> str:
    return ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in run.seconds.items())
