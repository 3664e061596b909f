"""``make bench``: every benchmark of the foundation, written to ``benchmarks/results/*.md``.

Timings are the best of a few repeats, and every speed claim is a ratio measured in the same run
(these machines are shared and noisy). The standard frame is described in ``synthetic.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from benchmarks.bundle import bench_bundle
from benchmarks.drift.run import bench_drift, bench_fpr, bench_power
from benchmarks.estimation.run import bench_estimation
from benchmarks.measure import best_of, in_fresh_process, interleaved
from benchmarks.monitor import bench_monitor
from benchmarks.online_path import bench_online_path
from benchmarks.peers import run_peer
from benchmarks.report import write_table
from benchmarks.segments.run import bench_segments
from benchmarks.serving.run import bench_serving
from benchmarks.store import bench_store
from benchmarks.synthetic import write_standard_parquet
from tether import Contract, Profile, content_hash

DATA = Path(__file__).parent / "data"
SIZES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}


def standard(size: str) -> Path:
    return write_standard_parquet(DATA / f"standard-{size}.parquet", SIZES[size])


def bench_hash() -> None:
    rows = []
    for size in ("100k", "1m"):
        frame = pl.read_parquet(standard(size))
        rows.append(
            {
                "rows": SIZES[size],
                "columns": frame.width,
                "content_hash in memory (s)": best_of(3, lambda f=frame: content_hash(f)),
                "content_hash from parquet (s)": best_of(
                    3, lambda s=size: content_hash(standard(s))
                ),
                "plain polars hash_rows (s)": best_of(3, lambda f=frame: f.hash_rows().sum()),
            }
        )
    write_table(
        "hash",
        "Content hash of the standard frame (SHA-256 over the canonical layout)",
        rows,
        "Bar: 1M rows x 25 columns in under a second. `hash_rows` is polars' own "
        "non-cryptographic, "
        "version-dependent row hash, shown for scale only.",
    )


def polars_floor(frame: pl.DataFrame, profile: Profile) -> pl.DataFrame:
    """The same histograms, value counts and missing counts in one plain polars select.

    Histograms are cumulative ``(x < edge).sum()`` counts, the fastest polars form measured
    (``hist``, ``cut`` + ``value_counts`` and ``search_sorted`` + ``value_counts`` are 3-5x slower).
    """
    exprs: list[pl.Expr] = []
    for name, column in profile.columns.items():
        exprs.append(pl.col(name).null_count().alias(f"{name}__missing"))
        histogram = column.numeric.histogram if column.numeric is not None else None
        if histogram is not None:
            exprs += [
                (pl.col(name) < edge).sum().alias(f"{name}__{i}")
                for i, edge in enumerate(histogram.edges)
            ]
        else:
            exprs.append(pl.col(name).value_counts().implode().alias(name))
    return frame.select(exprs)


def bench_profile() -> None:
    rows = []
    for size in ("100k", "1m"):
        frame = pl.read_parquet(standard(size))
        profile = Profile.build(frame)
        tether_s, against_s, floor_s = interleaved(
            9,
            lambda f=frame: Profile.build(f),
            lambda f=frame, p=profile: Profile.build(f, reference=p),
            lambda f=frame, p=profile: polars_floor(f, p),
        )
        rows.append(
            {
                "rows": SIZES[size],
                "Profile.build (s)": tether_s,
                "Profile.build with reference (s)": against_s,
                "polars floor (s)": floor_s,
                "ratio with reference / floor": against_s / floor_s,
            }
        )
    large = profile_in_subprocess(standard("10m"))
    rows.append(
        {
            "rows": SIZES["10m"],
            "Profile.build (s)": large["seconds"],
            "Profile.build with reference (s)": "-",
            "polars floor (s)": "-",
            "ratio with reference / floor": f"peak RSS {large['peak_rss_mb']:,.0f} MB",
        }
    )
    write_table(
        "profile",
        "Profile of the standard frame (20 numeric + 5 categorical columns, 2% missing)",
        rows,
        "Bars: with reference, within 2x of the polars floor (one select computing the same "
        "histograms on the same edges, value counts and missing counts); 10M rows from parquet "
        "in peak RSS <= 2 GB (measured in a fresh process, batches of the default size).",
    )


def profile_in_subprocess(path: Path) -> dict[str, float]:
    return in_fresh_process(
        "from tether import Profile", f"profile = Profile.build({str(path)!r})", "profile.rows"
    )


def pandera_checks(contract: Contract) -> dict[str, dict[str, object]]:
    """The contract's column rules in the neutral form ``peer_pandera.py`` turns into a schema."""
    kinds = {"float64": "float", "int64": "int", "string": "string", "bool": "bool"}
    checks = {}
    for name, spec in contract.columns.items():
        checks[name] = {
            "kind": kinds[spec.dtype],
            "nullable": spec.nullable,
            "min": spec.min,
            "max": spec.max,
            "categories": list(spec.categories) if spec.categories else None,
            "max_length": spec.max_length,
            "pattern": spec.pattern,
        }
    return checks


def bench_contract() -> None:
    path = standard("1m")
    frame = pl.read_parquet(path)
    contract = Contract.infer(frame.head(200_000))
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 100 == 0)
        .then(1e12)
        .otherwise(pl.col("num_00"))
        .alias("num_00")
    )
    tether_clean, tether_bad = interleaved(
        5, lambda: contract.validate(frame), lambda: contract.validate(bad)
    )
    with tempfile.TemporaryDirectory() as tmp:
        checks = Path(tmp) / "checks.json"
        checks.write_text(json.dumps(pandera_checks(contract)))
        peer = run_peer("peer_pandera.py", str(checks), str(path))
    records = frame.head(20_000).to_dicts()
    contract.validate_record(records[0])
    per_call = []
    for record in records:
        started = time.perf_counter_ns()
        contract.validate_record(record)
        per_call.append(time.perf_counter_ns() - started)
    record_us = statistics.median(per_call) / 1000
    fastest_pandera = min(peer["pandera_pandas_s"], peer["pandera_polars_s"])
    rows = [
        {
            "what": "batch validation, 1M rows x 25 columns",
            "tether": f"{tether_clean:.3f} s clean, {tether_bad:.3f} s with 1% bad",
            "pandera (pandas backend)": f"{peer['pandera_pandas_s']:.3f} s",
            "pandera (polars backend)": f"{peer['pandera_polars_s']:.3f} s",
            "speed-up vs fastest pandera": f"{fastest_pandera / tether_clean:.1f}x",
        },
        {
            "what": "one 25-field record",
            "tether": f"{record_us:.1f} µs median (validate_record)",
            "pandera (pandas backend)": f"{peer['pandera_one_row_ms']:.2f} ms (1-row frame)",
            "pandera (polars backend)": "-",
            "speed-up vs fastest pandera": f"{peer['pandera_one_row_ms'] * 1000 / record_us:.0f}x",
        },
    ]
    write_table(
        "contract",
        "Contract validation of the standard frame",
        rows,
        "Both libraries check the same rules: dtype, nullability, numeric range, allowed "
        "categories, string length and pattern, from the contract tether inferred on the first "
        "200k rows. pandera runs with lazy=True (collect all failures) in benchmarks/.venv-peers. "
        "Bars: batch >= 10x faster than pandera; validate_record median <= 20 µs.",
    )


BENCHMARKS: dict[str, Callable[[], None]] = {
    "hash": bench_hash,
    "profile": bench_profile,
    "contract": bench_contract,
    "drift": bench_drift,
    "drift-fpr": bench_fpr,
    "drift-power": bench_power,
    "bundle": bench_bundle,
    "online": bench_online_path,
    "store": bench_store,
    "serving": bench_serving,
    "estimation": bench_estimation,
    "monitor": bench_monitor,
    "segments": bench_segments,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        help=f"which to run: {', '.join(BENCHMARKS)} (all)",
    )
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {sorted(BENCHMARKS)}")
    for name in args.names or BENCHMARKS:
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
