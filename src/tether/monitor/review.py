"""Human review: a sample of predictions to label by hand, and its labels fed back.

Labels that never arrive by themselves (fraud nobody reported, a churn the CRM does not know)
come from people. ``export_review`` picks unlabeled served predictions per window, stratified by
the model's confidence (equal numbers from each confidence quartile, so the uncertain rows a
random sample under-represents get looked at) and by segment value; reviewers fill the
``label`` column; ``import_review`` sends the filled rows to the store like any other labels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tether.errors import InputError
from tether.store import LabelRecord, LabelResult

if TYPE_CHECKING:
    from datetime import datetime

    from tether.bundle import Bundle
    from tether.store import PredictionStore

CONFIDENCE_BINS = 4


def export_review(
    store: PredictionStore,
    model: str,
    path: str | os.PathLike[str],
    bundle: Bundle,
    *,
    per_window: int = 50,
    window: str = "1d",
    since: datetime | None = None,
    until: datetime | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """Write up to ``per_window`` unlabeled predictions of each ``window`` to ``path`` (csv or
    parquet by suffix) with an empty ``label`` column, and return them.

    Within a window, rows are spread evenly over the confidence quartiles (of the whole export)
    crossed with the values of the bundle's first declared segment (or sensitive attribute), so
    every stratum is seen.
    """
    if per_window < 1:
        raise InputError(f"per_window={per_window!r} must be at least 1")
    log = store.read(model, start=since, end=until, labels=True)
    label = pl.col("label") if "label" in log.columns else pl.lit(None)
    pending = log.filter((pl.col("status") != "rejected") & label.is_null())
    if pending.height == 0:
        raise InputError(f"model {model!r} has no unlabeled served predictions to review")
    segment = next(iter([*bundle.metadata["segments"], *bundle.metadata["sensitive"]]), None)
    strata = [
        pl.col("created_at").dt.truncate(window).alias("window"),
        _confidence_bin(bundle, pending).alias("confidence_bin"),
    ]
    if segment is not None and segment in pending.columns:
        strata.append(pl.col(segment).cast(pl.String).fill_null("(missing)").alias("stratum"))
    try:
        keyed = pending.with_columns(strata)
    except pl.exceptions.PolarsError:
        raise InputError(f"window={window!r} is not a period like '1h', '1d', '1w'") from None
    keys = [column.meta.output_name() for column in strata]
    per_stratum = max(1, per_window // max(1, keyed.select(keys[1:]).n_unique()))
    rng = np.random.default_rng(seed)
    keyed = keyed.with_columns(pl.Series("__order", rng.permutation(keyed.height)))
    picked = (
        keyed.sort("__order")
        .filter(pl.int_range(pl.len()).over(keys) < per_stratum)
        .filter(pl.int_range(pl.len()).over("window") < per_window)
        .sort("created_at", "id")
    )
    columns = ["id", "created_at", *bundle.features, *bundle.output_columns, "prediction"]
    columns = list(dict.fromkeys(c for c in columns if c in picked.columns))
    out = picked.select(*columns, pl.lit(None, dtype=pl.String).alias("label"))
    _write(out, Path(path))
    return out


def import_review(store: PredictionStore, path: str | os.PathLike[str]) -> LabelResult:
    """Send the filled ``label`` cells of a review file (csv or parquet with ``id`` and
    ``label``) to the store; empty cells are skipped, unknown ids reported back."""
    source = Path(path)
    if not source.exists():
        raise InputError(f"review file {str(source)!r} does not exist")
    frame = (
        pl.read_parquet(source)
        if source.suffix == ".parquet"
        else pl.read_csv(source, infer_schema_length=0)
    )
    missing = [c for c in ("id", "label") if c not in frame.columns]
    if missing:
        raise InputError(f"review file {str(source)!r} lacks columns {missing}")
    filled = frame.filter(pl.col("label").is_not_null() & (pl.col("label").cast(pl.String) != ""))
    labels = [
        LabelRecord(str(i), _value(v))
        for i, v in filled.select("id", "label").iter_rows()
    ]  # fmt: skip
    return store.add_labels(labels)


def _confidence_bin(bundle: Bundle, frame: pl.DataFrame) -> pl.Expr:
    columns = bundle.output_columns
    if bundle.task == "regression":
        return pl.lit(0)
    confidence = (
        (pl.col("score") - bundle.threshold).abs()
        if bundle.task == "binary"
        else pl.max_horizontal(columns)
    )
    return (
        confidence.rank("ordinal") * CONFIDENCE_BINS // (pl.len() + 1)
    ).cast(pl.Int64)  # fmt: skip


def _value(text: object) -> object:
    """A review cell as the label value: whole numbers and decimals as numbers, the rest (class
    names, ``007``, ``nan``) as the text the reviewer wrote."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", stripped):
        return int(stripped)
    if re.fullmatch(r"-?(0|[1-9][0-9]*)\.[0-9]+", stripped):
        return float(stripped)
    return text


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    elif path.suffix == ".csv":
        frame.write_csv(path)
    else:
        raise InputError(f"review file {str(path)!r} must end in .csv or .parquet")
