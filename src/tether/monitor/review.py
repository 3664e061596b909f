"""Human review: a sample of predictions to label by hand, and its labels fed back.

Labels that never arrive by themselves (fraud nobody reported, a churn the CRM does not know)
come from people. ``export_review`` picks unlabeled served predictions per window, stratified by
the model's confidence (equal numbers from each confidence quartile, so the uncertain rows a
random sample under-represents get looked at) and by segment level, with a larger share for the
levels that were rare in training but are frequent now (where the model generalizes worst and
labels help most); reviewers fill the
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
from tether.monitor.segments import label_segments, level_column
from tether.store import LabelRecord, LabelResult

if TYPE_CHECKING:
    from datetime import datetime

    from tether.bundle import Bundle
    from tether.store import PredictionStore

CONFIDENCE_BINS = 4

MAX_FAVOUR = 4
"""Most times its even quota a level over-represented against training gets in the sample."""


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

    Within a window, rows are spread over the confidence quartiles (of the whole export)
    crossed with the levels of the bundle's first declared segment (or sensitive attribute), so
    every stratum is seen; a level's quota is multiplied by how over-represented it is against
    its training support (production share over training share, from 1 up to
    :data:`MAX_FAVOUR`).
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
    favour = pl.lit(1)
    if segment is not None and segment in pending.columns:
        pending = label_segments(bundle, pending, [segment])
        strata.append(pl.col(level_column(segment)).alias("stratum"))
        favour = _favour(bundle, segment, pending.get_column(level_column(segment)))
    try:
        keyed = pending.with_columns(strata)
    except pl.exceptions.PolarsError:
        raise InputError(f"window={window!r} is not a period like '1h', '1d', '1w'") from None
    keys = [column.meta.output_name() for column in strata]
    # each stratum's quota is its favour's part of the window's rows
    keyed = keyed.with_columns(favour.alias("__favour"))
    weight = keyed.unique(keys[1:]).get_column("__favour").sum()
    quota = (pl.col("__favour") * per_window // weight).clip(lower_bound=1)
    rng = np.random.default_rng(seed)
    keyed = keyed.with_columns(pl.Series("__order", rng.permutation(keyed.height)))
    picked = (
        keyed.sort("__order")
        .filter(pl.int_range(pl.len()).over(keys) < quota)
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


def _favour(bundle: Bundle, segment: str, levels: pl.Series) -> pl.Expr:
    """Each row's quota multiplier: its level's share of the rows to review over its share of
    the training rows, clipped to ``[1, MAX_FAVOUR]`` (a level training never had gets the
    most)."""
    support = (bundle.metadata.get("representation") or {}).get(segment)
    if support is None or not support["rows"]:
        return pl.lit(1)
    shares = levels.value_counts(name="rows").with_columns(share=pl.col("rows") / levels.len())
    ratio = {
        level: share / max(support["levels"].get(level, 0) / support["rows"], 1e-12)
        for level, _, share in shares.iter_rows()
    }
    multiplier = {level: int(min(MAX_FAVOUR, max(1, round(r)))) for level, r in ratio.items()}
    return pl.col("stratum").replace_strict(multiplier, default=1, return_dtype=pl.Int64)


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
