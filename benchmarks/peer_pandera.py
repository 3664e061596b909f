"""Batch validation with pandera, run inside the peers' virtual environment.

Usage: ``python peer_pandera.py CHECKS.json DATA.parquet``. CHECKS.json holds, per column, the
checks tether's contract makes (dtype, nullable, min, max, categories, max_length, pattern), so
both libraries validate the same rules on the same rows. Prints one JSON line of timings.
"""

from __future__ import annotations

import json
import sys
import time


def pandas_schema(checks: dict):
    import pandera.pandas as pa

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
        dtype = {"float": "float64", "int": "Int64", "string": "object", "bool": "boolean"}[rule["kind"]]
        columns[name] = pa.Column(dtype, checks=column_checks, nullable=rule["nullable"])
    return pa.DataFrameSchema(columns, strict=False)


def polars_schema(checks: dict):
    import pandera.polars as pa
    import polars as pl

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
        dtype = {"float": pl.Float64, "int": pl.Int64, "string": pl.String, "bool": pl.Boolean}[rule["kind"]]
        columns[name] = pa.Column(dtype, checks=column_checks, nullable=rule["nullable"])
    return pa.DataFrameSchema(columns, strict=False)


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    checks = json.loads(open(sys.argv[1]).read())
    path = sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    import pandas as pd
    import polars as pl

    frame = pl.read_parquet(path)
    pandas_frame = pd.read_parquet(path)
    one_row = pandas_frame.head(1)
    pd_schema, pl_schema = pandas_schema(checks), polars_schema(checks)
    # lazy=True collects every failure instead of stopping at the first, as tether does.
    def validate_pandas():
        try:
            pd_schema.validate(pandas_frame, lazy=True)
        except Exception:
            pass

    def validate_polars():
        try:
            pl_schema.validate(frame, lazy=True)
        except Exception:
            pass

    def validate_one_row():
        try:
            pd_schema.validate(one_row, lazy=True)
        except Exception:
            pass

    result = {
        "pandera_pandas_s": best_of(repeats, validate_pandas),
        "pandera_polars_s": best_of(repeats, validate_polars),
        "pandera_one_row_ms": 1000 * best_of(50, validate_one_row),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
