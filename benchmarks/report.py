"""Markdown result tables with the machine and date they were measured on."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

import polars as pl

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, Python {python}, polars {pl.__version__}"


def write_table(name: str, title: str, rows: list[dict[str, object]], notes: str = "") -> Path:
    """Write ``rows`` (dicts with the same keys) as ``results/<name>.md`` and echo it."""
    RESULTS.mkdir(exist_ok=True)
    header = list(rows[0])
    lines = [
        f"# {title}",
        "",
        f"Measured {dt.date.today().isoformat()} on {machine()}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(_cell(row[k]) for k in header) + " |" for row in rows),
    ]
    if notes:
        lines += ["", notes.strip()]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines), "\n", flush=True)
    return path


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
