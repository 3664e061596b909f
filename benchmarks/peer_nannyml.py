"""NannyML's drift calculators, run in ``benchmarks/.venv-nannyml``.

Usage: ``python peer_nannyml.py VARIANT REFERENCE.parquet CURRENT.parquet [CURRENT.parquet ...]``
with VARIANT one of ``VARIANTS``:

- ``univariate-default-1``: ``UnivariateDriftCalculator`` with its default methods (Jensen-Shannon
  for both kinds) and ``chunk_number=1``: one comparison of the whole current frame, thresholds
  from the whole reference as one chunk.
- ``univariate-default-10``: the same with its default chunking (about 10 chunks of each frame).
- ``univariate-ks-1`` / ``univariate-ks-10``: Kolmogorov-Smirnov and Wasserstein for numeric
  columns, chi-square and Jensen-Shannon for categorical ones.
- ``pca-1`` / ``pca-10``: ``DataReconstructionDriftCalculator`` (PCA reconstruction error, its
  defaults: mean/most-frequent imputation, count encoding of categories, 65% of variance).

Loads the reference once, fits once, then calculates on each current file. A column counts as
flagged by a method when NannyML raises an alert for it in any chunk of the current data
(``period == 'analysis'``); the PCA calculator flags the whole frame, reported as ``["<frame>"]``.
Prints one JSON line: versions, peak RSS of this process, fit seconds, per current file the
load and compute (fit + calculate) seconds, wall and CPU, and the flagged columns per method.
"""

from __future__ import annotations

import os

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import json
import resource
import sys
import time
import warnings

import pandas as pd

METHODS = {
    "default": (None, None),
    "ks": (["kolmogorov_smirnov", "wasserstein"], ["chi2", "jensen_shannon"]),
}
VARIANTS = [
    f"{kind}-{chunks}"
    for kind in ("univariate-default", "univariate-ks", "pca")
    for chunks in (1, 10)
]


def chunking(chunks: str) -> dict[str, int]:
    """``chunk_number=1`` for one comparison; nothing (NannyML's ``DefaultChunker``) for 10."""
    return {"chunk_number": 1} if chunks == "1" else {}


def univariate(method: str, chunks: str, columns: list[str], categorical: list[str]) -> object:
    import nannyml as nml

    continuous, categorical_methods = METHODS[method]
    return nml.UnivariateDriftCalculator(
        column_names=columns,
        treat_as_categorical=categorical,
        continuous_methods=continuous,
        categorical_methods=categorical_methods,
        **chunking(chunks),
    )


def univariate_flagged(result: object) -> dict[str, list[str]]:
    frame = result.filter(period="analysis").to_df()
    flagged: dict[str, list[str]] = {}
    for column, method, field in frame.columns:
        if field != "alert" or column == "chunk":
            continue
        flagged.setdefault(method, [])
        if bool(frame[(column, method, field)].fillna(False).astype(bool).any()):
            flagged[method].append(column)
    return flagged


def pca_flagged(result: object) -> dict[str, list[str]]:
    frame = result.filter(period="analysis").to_df()
    alerts = [c for c in frame.columns if c[-1] == "alert" and c[0] != "chunk"]
    drifted = any(bool(frame[c].fillna(False).astype(bool).any()) for c in alerts)
    return {"pca_reconstruction_error": ["<frame>"] if drifted else []}


def main() -> None:
    import nannyml as nml

    warnings.filterwarnings("ignore")
    variant, reference_path, *current_paths = sys.argv[1:]
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; choose from {VARIANTS}")
    kind, chunks = variant.rsplit("-", 1)
    started = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    reference_load = time.perf_counter() - started
    columns = list(reference.columns)
    categorical = [c for c in columns if reference[c].dtype == object]
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "pca":
        calculator = nml.DataReconstructionDriftCalculator(column_names=columns, **chunking(chunks))
        read = pca_flagged
    else:
        calculator = univariate(kind.split("-")[1], chunks, columns, categorical)
        read = univariate_flagged
    calculator.fit(reference)
    fit, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    trials = []
    for path in current_paths:
        started = time.perf_counter()
        current = pd.read_parquet(path)
        load = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        flagged = read(calculator.calculate(current))
        calculate, calculate_cpu = time.perf_counter() - started, time.process_time() - cpu
        trials.append(
            {
                "current": os.path.basename(path),
                "rows_current": len(current),
                "load_s": reference_load + load,
                "compute_s": fit + calculate,
                "compute_cpu_s": fit_cpu + calculate_cpu,
                "calculate_s": calculate,
                "wall_s": reference_load + load + fit + calculate,
                "flagged": flagged,
            }
        )
        del current
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "tool": "nannyml",
        "variant": variant,
        "versions": {"nannyml": nml.__version__, "pandas": pd.__version__},
        "rows_reference": len(reference),
        "fit_s": fit,
        "peak_rss_mb": peak,
        "trials": trials,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
