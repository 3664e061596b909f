"""Batch validation with pandera, run inside the peers' virtual environment.

Usage: ``python peer_pandera.py CHECKS.json DATA.parquet``. CHECKS.json holds, per column, the
checks tether's contract makes (dtype, nullable, min, max, categories, max_length, pattern), so
both libraries validate the same rules on the same rows. Prints one JSON line of timings.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path


def build_schema(pa, checks: dict, dtypes: dict):
    """A pandera schema (``pa`` is ``pandera.pandas`` or ``pandera.polars``) from neutral checks."""
    columns = {}
    for name, rule in checks.items():
        column_checks = []
        if rule.get("min") is not None:
            column_checks.append(pa.Check.ge(rule["min"]))
        if rule.get("max") is not None:
            column_checks.append(pa.Check.le(rule["max"]))
        if rule.get("categories"):
            column_checks.append(pa.Check.isin(rule["categories"]))
        if rule.get("max_length") is not None:
            column_checks.append(pa.Check.str_length(max_value=rule["max_length"]))
        if rule.get("pattern"):
            column_checks.append(pa.Check.str_matches(rule["pattern"]))
        columns[name] = pa.Column(
            dtypes[rule["kind"]], checks=column_checks, nullable=rule["nullable"]
        )
    return pa.DataFrameSchema(columns, strict=False)


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        # lazy=True collects every failure instead of stopping at the first, as tether does;
        # a frame with failures raises, which is the expected outcome here.
        with contextlib.suppress(Exception):
            run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import pandas as pd
    import pandera.pandas as pa_pandas
    import pandera.polars as pa_polars
    import polars as pl

    checks = json.loads(Path(sys.argv[1]).read_text())
    path = sys.argv[2]
    frame = pl.read_parquet(path)
    pandas_frame = pd.read_parquet(path)
    one_row = pandas_frame.head(1)
    pandas_types = {"float": "float64", "int": "Int64", "string": "object", "bool": "boolean"}
    polars_types = {"float": pl.Float64, "int": pl.Int64, "string": pl.String, "bool": pl.Boolean}
    on_pandas = build_schema(pa_pandas, checks, pandas_types)
    on_polars = build_schema(pa_polars, checks, polars_types)
    result = {
        "pandera_pandas_s": best_of(3, lambda: on_pandas.validate(pandas_frame, lazy=True)),
        "pandera_polars_s": best_of(3, lambda: on_polars.validate(frame, lazy=True)),
        "pandera_one_row_ms": 1000 * best_of(50, lambda: on_pandas.validate(one_row, lazy=True)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
