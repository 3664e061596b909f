"""``DriftReport``: the tidy result of comparing current data (or its windows) to a reference."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
from pathlib import Path
from typing import Any

import polars as pl

from tether.errors import FormatError, InputError, UnsupportedVersionError

FORMAT = "tether-drift-report"
FORMAT_VERSION = 1

SCHEMA = {
    "window": pl.Int64,
    "window_start": pl.String,
    "window_end": pl.String,
    "column": pl.String,
    "kind": pl.String,
    "method": pl.String,
    "statistic": pl.Float64,
    "threshold": pl.Float64,
    "p_value": pl.Float64,
    "effect": pl.Float64,
    "min_effect": pl.Float64,
    "significant": pl.Boolean,
    "drifted": pl.Boolean,
    "primary": pl.Boolean,
    "reason": pl.String,
    "n_reference": pl.Int64,
    "n_current": pl.Int64,
}
"""One row per window, column and method (or event)."""


class DriftReport:
    """Which columns drifted, by how much, and why, for one or many windows of current data.

    A column is drifted in a window when its primary method's statistic is beyond what the
    reference itself produces at that window's size (false-alarm rate ``alpha``) and the effect is
    above the method's practical floor. Other methods and the category, missing-rate and
    zero-spike events are reported beside it, each with its own verdict. The dataset-level verdict
    of a window controls the false alarms over its columns with ``correction`` (Holm by default)
    applied to the primary methods' p-values; see :func:`dataset_verdicts`.

    Parameters
    ----------
    rows
        The tidy result (:data:`SCHEMA`).
    alpha
        The false-alarm rate the verdicts were made at.
    correction
        ``"holm"`` or ``"bh"`` (Benjamini-Hochberg), for the dataset-level verdict.

    Example
    -------
    >>> rows = pl.DataFrame(
    ...     [(0, None, None, "dep_delay", "numeric", "ks", 0.2, 0.01, 1e-9, 0.2, 0.02,
    ...       True, True, True, "mean moved +0.6 sd", 1000, 1000)],
    ...     schema=SCHEMA, orient="row",
    ... )
    >>> report = DriftReport(rows, alpha=0.01)
    >>> report.drifted, report.dataset_drifted
    (['dep_delay'], True)
    """

    def __init__(self, rows: pl.DataFrame, *, alpha: float, correction: str = "holm") -> None:
        self.rows = rows.select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items())
        self.alpha = alpha
        self.correction = correction

    @property
    def drifted(self) -> list[str]:
        """Columns whose primary method says drifted, in any window, in report order."""
        hits = self.rows.filter(pl.col("primary") & pl.col("drifted"))
        return hits.get_column("column").unique(maintain_order=True).to_list()

    @property
    def dataset_drifted(self) -> bool:
        """Whether any window drifted as a whole, with multiple testing over columns controlled."""
        return bool(self.windows().get_column("dataset_drifted").any())

    def windows(self) -> pl.DataFrame:
        """One row per window: its bounds, columns tested, columns drifted, dataset verdict."""
        return dataset_verdicts(self.rows, self.alpha, self.correction)

    def to_frame(self) -> pl.DataFrame:
        """Every row of the report (see :data:`SCHEMA`)."""
        return self.rows

    def summary(self) -> pl.DataFrame:
        """The primary row of each column and window: the verdicts a person reads first."""
        return self.rows.filter(pl.col("primary"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "alpha": self.alpha,
            "correction": self.correction,
            "rows": [
                {key: _json_value(value) for key, value in row.items()}
                for row in self.rows.iter_rows(named=True)
            ],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as JSON; written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> DriftReport:
        """Read :meth:`to_json` output from a path or a JSON string."""
        text = source if isinstance(source, str) and source.lstrip().startswith("{") else None
        try:
            data = json.loads(text if text is not None else Path(source).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"drift report cannot be read ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FormatError(f"not a drift report: 'format' must be {FORMAT!r}")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"drift report has format_version {version!r}, this tether reads up to "
                f"{FORMAT_VERSION}; upgrade tether to read it"
            )
        try:
            rows = pl.DataFrame(
                [
                    {
                        k: _from_json(row.get(k)) if SCHEMA[k] == pl.Float64 else row.get(k)
                        for k in SCHEMA
                    }
                    for row in data["rows"]
                ],
                schema=SCHEMA,
            )
            return cls(rows, alpha=float(data["alpha"]), correction=str(data["correction"]))
        except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
            raise FormatError(f"drift report is corrupt ({exc})") from exc

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """A self-contained HTML page: the verdict per window and the primary row per column."""
        windows = self.windows()
        verdict = "drift" if self.dataset_drifted else "no drift"
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'><title>tether drift report</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>Drift report: {html.escape(verdict)}</h1>",
            f"<p>alpha = {self.alpha}, dataset-level correction: {html.escape(self.correction)}."
            " A column is drifted when its primary statistic is beyond what the reference"
            " produces at the same sample size and the effect is above the method's floor.</p>",
            "<h2>Windows</h2>",
            _table(windows),
            "<h2>Columns (primary method)</h2>",
            _table(
                self.summary().select(
                    "window", "column", "kind", "method", "statistic", "threshold",
                    "p_value", "effect", "drifted", "reason",
                ),
                highlight="drifted",
            ),
            "</body></html>",
        ]  # fmt: skip
        page = "\n".join(parts)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def __repr__(self) -> str:
        return (
            f"DriftReport({self.windows().height} windows, drifted={self.drifted}, "
            f"dataset_drifted={self.dataset_drifted})"
        )


def dataset_verdicts(rows: pl.DataFrame, alpha: float, correction: str) -> pl.DataFrame:
    """Per window: whether the data drifted as a whole, controlling errors over its columns.

    Holm's step-down procedure controls the family-wise error rate (the chance that any column of
    a window is flagged by chance) at ``alpha``; Benjamini-Hochberg controls the false discovery
    rate (the expected share of flagged columns that did not drift), which is less strict and
    more powerful with many columns. A column counts when its corrected test rejects and its
    effect is above its floor.
    """
    from tether.drift.thresholds import benjamini_hochberg, holm

    adjust = {"holm": holm, "bh": benjamini_hochberg}.get(correction)
    if adjust is None:
        raise InputError(f"correction must be 'holm' or 'bh', got {correction!r}")
    out = []
    primary = rows.filter(pl.col("primary"))
    for (window,), part in primary.group_by("window", maintain_order=True):
        p_values = part.get_column("p_value").fill_null(1.0).to_list()
        rejected = adjust(p_values, alpha) if p_values else []
        big = part.get_column("effect") >= part.get_column("min_effect")
        flagged = [
            name
            for name, hit, large in zip(part.get_column("column"), rejected, big, strict=True)
            if hit and large
        ]
        out.append(
            {
                "window": window,
                "window_start": part.get_column("window_start")[0],
                "window_end": part.get_column("window_end")[0],
                "n_current": part.select(pl.col("n_current").max()).item(),
                "columns": part.height,
                "columns_drifted": int(part.get_column("drifted").sum()),
                "dataset_drifted": bool(flagged),
                "drifted_after_correction": ", ".join(flagged),
            }
        )
    schema = {
        "window": pl.Int64,
        "window_start": pl.String,
        "window_end": pl.String,
        "n_current": pl.Int64,
        "columns": pl.Int64,
        "columns_drifted": pl.Int64,
        "dataset_drifted": pl.Boolean,
        "drifted_after_correction": pl.String,
    }
    return pl.DataFrame(out, schema=schema)


def bound_text(value: object) -> str | None:
    """A window bound as text (ISO for dates and times) for the report's string columns."""
    if value is None:
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _from_json(value: object) -> object:
    return _NON_FINITE[value] if isinstance(value, str) and value in _NON_FINITE else value


def _table(frame: pl.DataFrame, highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        marked = " class='hit'" if highlight and row.get(highlight) else ""
        cells = "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row.values())
        body.append(f"<tr{marked}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}"
    "th{background:#f4f4f4}tr.hit td{background:#fde8e8}"
)
