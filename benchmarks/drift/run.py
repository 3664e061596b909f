"""Drift benchmarks: ``tether.drift`` against a plain polars floor, Evidently and NannyML.

Three benchmarks, each writing one table to ``benchmarks/results/``:

- ``bench_drift`` (``drift.md``): speed, memory and detection on the drifted frame
  (``data.py``: drift planted in 5 numeric and 2 categorical columns of the standard frame) at
  100k and 1M rows for every tool, 10M rows from parquet for tether alone.
- ``bench_fpr`` (``drift-fpr.md``): false alarms on no-drift trials (reference and current drawn
  from the same distribution with different seeds), share of the 25 columns flagged.
- ``bench_power`` (``drift-power.md``): detection rate of small mean and category-share shifts in
  one column, by sample size.

Peers run in their own environments (``benchmarks/peers.py``). They are slow (Evidently takes
minutes at 1M rows), so each runs once per size; ``TETHER_BENCH_PEERS=0`` skips them and
``TETHER_BENCH_PEERS=cached`` reuses their last results from ``benchmarks/data/peers/``.

Run one with ``python -m benchmarks.drift.run [drift|fpr|power ...]`` (all three by default;
about 25 minutes on 2 cores, a third of it the peers; 10M-row data files are written first,
~1 minute, and reused).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import tether
from benchmarks.drift.data import (
    DATA,
    PLANTED,
    SIZES,
    drifted_path,
    fast_frame,
    no_drift_path,
    reference_path,
)
from benchmarks.measure import in_fresh_process, interleaved
from benchmarks.peers import ENVIRONMENTS, run_peer
from benchmarks.report import write_table

ALPHA = 0.01
BINS = 20
EDGE_SAMPLE = 100_000
PEER_CACHE = DATA / "peers"
PEER_TIMEOUT = 1_800.0

# NannyML variants run on the drifted frame (see peer_nannyml.py): each takes 1-3 s at 100k
# rows and 10-25 s at 1M.
NANNYML_VARIANTS = [
    "univariate-default-1",
    "univariate-default-10",
    "univariate-ks-1",
    "univariate-ks-10",
    "pca-1",
    "pca-10",
]
NANNYML_LABELS = {
    "univariate-default": "NannyML univariate, default (JS / JS)",
    "univariate-ks": "NannyML univariate, KS+Wasserstein / chi2+JS",
    "pca": "NannyML PCA reconstruction",
}
# No-drift trials for the peers, size: (Evidently trials, NannyML trials); Evidently takes
# ~20 s a trial at 100k rows. Then the NannyML variants run on them.
PEER_FPR_TRIALS = {"10k": (5, 10), "100k": (3, 5)}
NANNYML_FPR_VARIANTS = [
    "univariate-default-10",
    "univariate-default-1",
    "univariate-ks-1",
    "univariate-ks-10",
]

FPR_TRIALS = {"1k": 200, "10k": 100, "100k": 200, "1m": 50, "10m": 20}
POWER_SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
POWER_TRIALS = 20
# Each trial shifts num_00 (normal(0, 10)) by a share of its sd and, in the same frame, moves the
# share of 'c0' in cat_3 (8 equal levels); the two columns are independent.
POWER_SHIFTS = [(0.02, 0.01), (0.05, 0.02), (0.1, 0.05), (0.2, 0.10), (0.5, 0.0)]


# ----------------------------------------------------------------------------- tether helpers


def drift(reference: object, current: object) -> Any:
    """``tether.drift`` at the benchmark's alpha."""
    return tether.drift(reference, current, alpha=ALPHA)  # type: ignore[attr-defined]


def primary_row(report: Any, column: str) -> dict[str, Any] | None:
    """The row of ``column``'s primary method in ``report`` (significant, drifted, effect...)."""
    rows = report.to_frame().filter(pl.col("column") == column, pl.col("primary"))
    return rows.row(0, named=True) if rows.height else None


def tether_in_subprocess(reference: Path, current: Path) -> dict[str, Any]:
    """``tether.drift`` from parquet in a fresh process: wall seconds, peak RSS, drifted."""
    run = in_fresh_process(
        "import tether",
        f"report = tether.drift({str(reference)!r}, {str(current)!r}, alpha={ALPHA})",
        "list(report.drifted)",
    )
    return {**run, "drifted": run["result"]}


def floor_edges(reference: pl.DataFrame, numeric: list[str]) -> dict[str, np.ndarray]:
    """Inner bin edges: the reference's quantiles at i/20 of a row sample, as tether takes them."""
    sample = reference.select(numeric)
    if sample.height > EDGE_SAMPLE:
        sample = sample.sample(EDGE_SAMPLE, seed=0)
    quantiles = np.linspace(0.0, 1.0, BINS + 1)[1:-1]
    edges = {}
    for name in numeric:
        values = sample[name].drop_nulls().to_numpy()
        edges[name] = np.unique(np.quantile(values, quantiles)) if values.size else np.array([])
    return edges


def floor_counts(
    frame: pl.DataFrame, edges: dict[str, np.ndarray], categorical: list[str]
) -> dict[str, Any]:
    """Histograms on ``edges``, value counts and missing counts in one select (the form of
    ``benchmarks.run.polars_floor``): per numeric column an array of bin counts with open tails,
    per categorical column a ``{value: count}`` dict (missing counted as its own value)."""
    exprs: list[pl.Expr] = [pl.col(name).null_count().alias(f"{name}__missing") for name in edges]
    for name, inner in edges.items():
        exprs += [(pl.col(name) < edge).sum().alias(f"{name}__{i}") for i, edge in enumerate(inner)]
    exprs += [pl.col(name).value_counts().implode().alias(name) for name in categorical]
    row = frame.select(exprs).row(0, named=True)
    counts: dict[str, Any] = {}
    for name, inner in edges.items():
        present = frame.height - row[f"{name}__missing"]
        below = [row[f"{name}__{i}"] for i in range(len(inner))]
        counts[name] = np.diff(np.array([0, *below, present], dtype=np.float64))
    for name in categorical:
        counts[name] = {item[name]: item["count"] for item in row[name]}
    return counts


def psi(reference: Any, current: Any, floor: float = 1e-4) -> float:
    """Population stability index of two count vectors (arrays) or value-count dicts."""
    if isinstance(reference, dict):
        keys = list(reference.keys() | current.keys())
        reference = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
        current = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    p = np.maximum(reference / max(reference.sum(), 1.0), floor)
    q = np.maximum(current / max(current.sum(), 1.0), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def polars_floor(reference: pl.DataFrame, current: pl.DataFrame) -> dict[str, float]:
    """PSI of every column from raw frames: quantile edges from a reference sample, then one
    select per frame for histograms and value counts. The least work any frame-to-frame drift
    check does."""
    numeric = [name for name, dtype in reference.schema.items() if dtype.is_numeric()]
    categorical = [name for name in reference.columns if name not in numeric]
    edges = floor_edges(reference, numeric)
    ref = floor_counts(reference, edges, categorical)
    cur = floor_counts(current, edges, categorical)
    return {name: psi(ref[name], cur[name]) for name in ref}


def polars_floor_stored(
    reference: dict[str, Any], edges: dict[str, np.ndarray], current: pl.DataFrame
) -> dict[str, float]:
    """The floor against a stored reference (counts and edges kept): one select on current."""
    categorical = [name for name in reference if name not in edges]
    cur = floor_counts(current, edges, categorical)
    return {name: psi(reference[name], cur[name]) for name in reference}


# ----------------------------------------------------------------------------- peers


def peers_mode() -> str:
    """``run`` (default), ``cached`` (reuse benchmarks/data/peers/*.json) or ``0`` (skip)."""
    return os.environ.get("TETHER_BENCH_PEERS", "run")


def peer(name: str, script: str, environment: str, *args: str) -> dict[str, Any] | None:
    """Run one peer script (or reuse its cached result); ``None`` when peers are skipped or it
    fails (the failure is printed and shown in the table as missing)."""
    mode = peers_mode()
    if mode == "0":
        return None
    cache = PEER_CACHE / f"{name}.json"
    if mode == "cached" and cache.exists():
        return json.loads(cache.read_text())
    print(f"peer {name} ...", file=sys.stderr, flush=True)
    try:
        result = run_peer(script, *args, environment=environment, timeout=PEER_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        stderr = getattr(error, "stderr", "") or ""
        print(f"peer {name} failed: {error}\n{stderr[-2000:]}", file=sys.stderr)
        return None
    PEER_CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result))
    return result


def peer_versions() -> str:
    """Pinned peer packages, for the tables' notes."""
    pins = [p for env in ("evidently", "nannyml") for p in ENVIRONMENTS[env][1]]
    return ", ".join(dict.fromkeys(pins))


def nannyml_rows(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, flagged columns) per method pairing of one NannyML run's first trial."""
    kind, chunks = result["variant"].rsplit("-", 1)
    chunking = "1 chunk" if chunks == "1" else "default ~10 chunks"
    flagged = result["trials"][0]["flagged"]
    label = f"{NANNYML_LABELS[kind]}, {chunking}"
    if kind == "univariate-ks":
        return [
            (f"{label}: KS / chi2", flagged["kolmogorov_smirnov"] + flagged["chi2"]),
            (
                f"{label}: Wasserstein / JS",
                flagged["wasserstein"] + flagged["jensen_shannon"],
            ),
        ]
    return [(label, [c for columns in flagged.values() for c in columns])]


# ----------------------------------------------------------------------------- detection


def detection(flagged: Iterable[str]) -> dict[str, object]:
    """True positives, false positives and misses against ``PLANTED``."""
    flagged = set(flagged)
    if flagged == {"<frame>"}:
        return {"true positives (of 7)": "frame flagged", "false positives": "-", "missed": "-"}
    return {
        "true positives (of 7)": len(flagged & PLANTED.keys()),
        "false positives": _listed(sorted(flagged - PLANTED.keys()), of=25 - len(PLANTED)),
        "missed": ", ".join(sorted(PLANTED.keys() - flagged)) or "none",
    }


def _listed(columns: list[str], of: int) -> str:
    """Up to 5 column names, or how many of ``of`` they are."""
    if not columns:
        return "none"
    return ", ".join(columns) if len(columns) <= 5 else f"{len(columns)} of the {of} undrifted"


# ----------------------------------------------------------------------------- bench_drift


def bench_drift() -> None:
    """Speed, peak RSS and detection on the drifted frame; writes ``results/drift.md``."""

    rows: list[dict[str, object]] = []
    for size in ("100k", "1m"):
        ref_path, cur_path = reference_path(size), drifted_path(size)
        reference, current = pl.read_parquet(ref_path), pl.read_parquet(cur_path)
        profile = tether.Profile.build(reference)
        numeric = [n for n, t in reference.schema.items() if t.is_numeric()]
        edges = floor_edges(reference, numeric)
        stored = floor_counts(reference, edges, [n for n in reference.columns if n not in numeric])
        drift(reference, current)  # warm-up (imports, scipy)
        tether_s, floor_s, tether_stored_s, floor_stored_s = interleaved(
            5 if size == "100k" else 3,
            lambda r=reference, c=current: drift(r, c),
            lambda r=reference, c=current: polars_floor(r, c),
            lambda p=profile, c=current: drift(p, c),
            lambda s=stored, e=edges, c=current: polars_floor_stored(s, e, c),
        )
        cpu = time.process_time()
        flagged = list(drift(reference, current).drifted)
        cpu = time.process_time() - cpu
        fresh = tether_in_subprocess(ref_path, cur_path)
        rows.append(
            {
                "rows": SIZES[size],
                "tool": "tether.drift (frame vs frame)",
                "wall from parquet (s)": fresh["seconds"],
                "compute (s)": tether_s,
                "compute CPU (s)": cpu,
                "peak RSS (MB)": fresh["peak_rss_mb"],
                **detection(flagged),
                "ratio": f"{tether_s / floor_s:.2f}x the floor",
            }
        )
        rows.append(
            {
                "rows": SIZES[size],
                "tool": "tether.drift (stored reference Profile vs frame)",
                "wall from parquet (s)": "-",
                "compute (s)": tether_stored_s,
                "compute CPU (s)": "-",
                "peak RSS (MB)": "-",
                **detection(drift(profile, current).drifted),
                "ratio": f"{tether_stored_s / floor_stored_s:.2f}x its floor",
            }
        )
        rows.append(
            {
                "rows": SIZES[size],
                "tool": "polars floor (histograms + value counts + PSI, one select per frame)",
                "wall from parquet (s)": "-",
                "compute (s)": floor_s,
                "compute CPU (s)": "-",
                "peak RSS (MB)": "-",
                "true positives (of 7)": "-",
                "false positives": "-",
                "missed": "-",
                "ratio": f"stored reference: {floor_stored_s:.3g} s",
            }
        )
        rows += peer_drift_rows(size, ref_path, cur_path, tether_s)
    large = tether_in_subprocess(reference_path("10m"), drifted_path("10m"))
    rows.append(
        {
            "rows": SIZES["10m"],
            "tool": "tether.drift from parquet (peers not run at 10M)",
            "wall from parquet (s)": large["seconds"],
            "compute (s)": "-",
            "compute CPU (s)": "-",
            "peak RSS (MB)": large["peak_rss_mb"],
            **detection(large["drifted"]),
            "ratio": "-",
        }
    )
    planted = "; ".join(f"`{column}`: {what}" for column, what in PLANTED.items())
    write_table(
        "drift",
        "Drift detection on the standard frame with planted drift (5 numeric + 2 categorical)",
        rows,
        f"Planted (current frame only; the other 18 columns are undrifted): {planted}. "
        f"tether at alpha = {ALPHA}. Compute excludes loading (frames in memory; the peers "
        "convert nothing, they read parquet with pandas); wall from parquet and peak RSS are "
        "measured in a fresh process (`ru_maxrss`). tether and the floor are timed interleaved, "
        "best of several rounds; each peer runs once. Compute CPU is the process's CPU time for "
        "the same work (tether's spans polars' threads; the peers are mostly single-threaded), "
        "less sensitive than wall time to other load on this shared 2-core machine. "
        "'ratio' is tether's compute time over the floor's on tether's rows, "
        "and the peer's compute time over tether's (frame vs frame) on a peer's. NannyML "
        "compute includes fit on the reference. "
        f"Peers: {peer_versions()}; defaults unless the row says otherwise. Bars (1M rows): "
        "tether within 2x of the floor, >= 10x faster than NannyML univariate, >= 50x faster "
        "than Evidently; 10M from parquet in peak RSS <= 2 GB.",
    )


def peer_drift_rows(size: str, ref: Path, cur: Path, tether_s: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    runs: list[tuple[str, dict[str, Any] | None]] = [
        (
            "Evidently DataDriftPreset",
            peer(f"evidently-drift-{size}", "peer_evidently.py", "evidently", str(ref), str(cur)),
        )
    ]
    for variant in NANNYML_VARIANTS:
        result = peer(
            f"nannyml-{variant}-drift-{size}",
            "peer_nannyml.py",
            "nannyml",
            variant,
            str(ref),
            str(cur),
        )
        runs.append((f"NannyML {variant}", result))
    for name, result in runs:
        if result is None:
            rows.append(
                {
                    "rows": SIZES[size],
                    "tool": f"{name}: not run (TETHER_BENCH_PEERS=0) or failed",
                    "wall from parquet (s)": "-",
                    "compute (s)": "-",
                    "compute CPU (s)": "-",
                    "peak RSS (MB)": "-",
                    "true positives (of 7)": "-",
                    "false positives": "-",
                    "missed": "-",
                    "ratio": "-",
                }
            )
            continue
        trial = result["trials"][0]
        labelled = (
            nannyml_rows(result) if result["tool"] == "nannyml" else [(name, trial["flagged"])]
        )
        for label, flagged in labelled:
            rows.append(
                {
                    "rows": SIZES[size],
                    "tool": label,
                    "wall from parquet (s)": trial["wall_s"],
                    "compute (s)": trial["compute_s"],
                    "compute CPU (s)": trial.get("compute_cpu_s", "-"),
                    "peak RSS (MB)": result["peak_rss_mb"],
                    **detection(flagged),
                    "ratio": f"{trial['compute_s'] / tether_s:.0f}x slower",
                }
            )
    return rows


# ----------------------------------------------------------------------------- bench_fpr


def tether_null_trials(size: str, trials: int) -> tuple[int, int, int, float]:
    """(columns flagged, column tests, trials with any flag, seconds per trial) for no-drift
    trials at ``size``: each trial draws a fresh reference and a fresh current frame.

    A fresh reference per trial is what the false-alarm rate is about: a two-sample test holds
    ``alpha`` over the draws of both samples. Against one fixed reference the rate over currents
    depends on how far that particular reference happens to sit from its population (a 1k-row
    reference whose mean is 2 standard errors off is flagged in about a third of the currents).
    """
    rows = SIZES[size]
    flagged = tests = any_flag = 0
    spent = 0.0
    for trial in range(trials):
        reference = tether.Profile.build(fast_frame(rows, seed=20_000 + trial))
        current = fast_frame(rows, seed=10_000 + trial)
        started = time.perf_counter()
        drifted = drift(reference, current).drifted
        spent += time.perf_counter() - started
        flagged += len(drifted)
        tests += current.width
        any_flag += bool(drifted)
    return flagged, tests, any_flag, spent / trials


def binomial_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson 95% interval of a share k/n."""
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)


def bench_fpr() -> None:
    """False alarms with no drift at several sizes; writes ``results/drift-fpr.md``."""
    rows: list[dict[str, object]] = []
    for size, trials in FPR_TRIALS.items():
        flagged, tests, any_flag, seconds = tether_null_trials(size, trials)
        rows.append(
            {
                "rows": SIZES[size],
                "tool": f"tether.drift (alpha = {ALPHA})",
                "trials": trials,
                "share of columns flagged": f"{flagged / tests:.2%} ({flagged} of {tests})",
                "95% upper bound": f"{binomial_upper(flagged, tests):.2%}",
                "trials with any column flagged": f"{any_flag} of {trials}",
                "columns always flagged": "-",
                "seconds per trial": seconds,
            }
        )
    rows += peer_fpr_rows()
    write_table(
        "drift-fpr",
        "False alarms without drift: share of the 25 columns flagged",
        rows,
        "Reference and current are drawn from the standard frame's distributions with different "
        "seeds, so every flag is a false alarm. tether draws a fresh reference and a fresh "
        "current in every trial (`data.fast_frame`) and tests them against each other; the "
        "peers compare parquet files of the standard frame (reference seed 0, currents other "
        "seeds), with their defaults, in fewer trials because they are slow. 'Seconds per trial' "
        "is tether.drift's time against the stored profile. Bar: tether <= 1.5% at every size. "
        f"Peers: {peer_versions()}.",
    )


def peer_fpr_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for size, (evidently_trials, nannyml_trials) in PEER_FPR_TRIALS.items():
        ref = str(reference_path(size))
        currents = [str(no_drift_path(size, t)) for t in range(max(PEER_FPR_TRIALS[size]))]
        evidently = peer(
            f"evidently-null-{size}",
            "peer_evidently.py",
            "evidently",
            ref,
            *currents[:evidently_trials],
        )
        runs = [("Evidently DataDriftPreset", evidently)]
        for variant in NANNYML_FPR_VARIANTS:
            result = peer(
                f"nannyml-{variant}-null-{size}",
                "peer_nannyml.py",
                "nannyml",
                variant,
                ref,
                *currents[:nannyml_trials],
            )
            runs.append((variant, result))
        for name, result in runs:
            if result is None:
                continue
            for label, per_trial in peer_null_flags(name, result):
                flagged = sum(len(f) for f in per_trial)
                tests = 25 * len(per_trial)
                always = set.intersection(*(set(f) for f in per_trial)) if per_trial else set()
                seconds = sum(t["compute_s"] for t in result["trials"]) / len(result["trials"])
                rows.append(
                    {
                        "rows": SIZES[size],
                        "tool": label,
                        "trials": len(per_trial),
                        "share of columns flagged": f"{flagged / tests:.2%} ({flagged} of {tests})",
                        "95% upper bound": f"{binomial_upper(flagged, tests):.2%}",
                        "trials with any column flagged": (
                            f"{sum(bool(f) for f in per_trial)} of {len(per_trial)}"
                        ),
                        "columns always flagged": (
                            ", ".join(sorted(always)) or "none"
                            if len(always) <= 5
                            else f"{len(always)} of 25"
                        ),
                        "seconds per trial": seconds,
                    }
                )
    return rows


def peer_null_flags(name: str, result: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    """(label, flagged columns per trial) for each method pairing of a peer run."""
    if result["tool"] == "evidently":
        return [(name, [t["flagged"] for t in result["trials"]])]
    kind, chunks = result["variant"].rsplit("-", 1)
    label = f"{NANNYML_LABELS[kind]}, {'1 chunk' if chunks == '1' else 'default ~10 chunks'}"
    pairs = (
        {
            "KS / chi2": ("kolmogorov_smirnov", "chi2"),
            "Wasserstein / JS": ("wasserstein", "jensen_shannon"),
        }
        if kind == "univariate-ks"
        else {"": ("jensen_shannon",)}
    )
    out = []
    for suffix, methods in pairs.items():
        per_trial = [
            [c for m in methods for c in t["flagged"].get(m, [])] for t in result["trials"]
        ]
        out.append((f"{label}: {suffix}" if suffix else label, per_trial))
    return out


# ----------------------------------------------------------------------------- bench_power


def bench_power() -> None:
    """Detection rate of small shifts in one column by sample size; ``results/drift-power.md``."""
    reference = tether.Profile.build(reference_path("100k"))
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    spent = 0.0
    for size, rows in POWER_SIZES.items():
        for mean_shift, share_shift in POWER_SHIFTS:
            for trial in range(POWER_TRIALS):
                current = fast_frame(
                    rows,
                    seed=20_000 + trial,
                    mean_shift_sd=mean_shift,
                    share_shift=share_shift,
                )
                started = time.perf_counter()
                report = drift(reference, current)
                spent += time.perf_counter() - started
                labels = [("num_00", f"num_00 mean +{mean_shift:g} sd")]
                if share_shift:
                    labels.append(("cat_3", f"cat_3 'c0' share +{share_shift * 100:g} points"))
                for column, label in labels:
                    row = primary_row(report, column)
                    if row is not None:
                        found.setdefault(label, {}).setdefault(size, []).append(row)
    table: list[dict[str, object]] = []
    for label, by_size in found.items():
        line: dict[str, object] = {"shift": label}
        for size, results in by_size.items():
            significant = sum(r["significant"] for r in results) / POWER_TRIALS
            drifted = sum(r["drifted"] for r in results) / POWER_TRIALS
            effect = np.median([r["effect"] for r in results])
            line[f"n = {SIZES[size]:,}"] = f"{significant:.0%} / {drifted:.0%}, effect {effect:.3g}"
        table.append(line)
    write_table(
        "drift-power",
        f"Power: share of {POWER_TRIALS} trials in which tether.drift finds the shifted column "
        "significant / drifted",
        table,
        f"Reference: the standard frame at 100k rows (seed 0), profiled once; current: n rows of "
        "the same distributions (`data.fast_frame`) with num_00 (normal(0, 10)) shifted and, in "
        "the same frames, the share of 'c0' in cat_3 (8 equal levels, 12.5% each) raised, taken "
        f"evenly from the other levels. alpha = {ALPHA}. Each cell: the share of trials where the "
        "primary method is significant (beyond the threshold calibrated at that size) / drifted "
        "(significant and the effect above the method's practical floor), and the median effect "
        "(KS D for num_00, Cramer's V for cat_3). Bars: a 0.05 sd shift significant at 100k "
        f"rows, 0.1 sd at 10k. {spent:.0f} s of tether.drift in all.",
    )


BENCHMARKS: dict[str, Callable[[], None]] = {
    "drift": bench_drift,
    "fpr": bench_fpr,
    "power": bench_power,
}


def bench_all() -> None:
    """All three drift benchmarks, in order (about 25 minutes on 2 cores with the peers)."""
    for bench in BENCHMARKS.values():
        bench()


def main() -> None:
    """``python -m benchmarks.drift.run [drift|fpr|power ...]`` (default: all three)."""
    for name in sys.argv[1:] or list(BENCHMARKS):
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
