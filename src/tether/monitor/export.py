"""``export_training_set``: the production inputs that passed validation, with their labels, as
the next model's training data.

A model trained on last year's sample serves this year's traffic; the log holds the world it
serves. The export keeps the predictions served as they came (status ``ok``: every contract rule
held), joined with the labels that arrived, writes them as parquet and records the file's
content hash (:func:`tether.content_hash`) in a sidecar JSON, so the next bundle's lineage can
name exactly this data.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from tether.errors import InputError
from tether.frame import content_hash

if TYPE_CHECKING:
    from tether.bundle import Bundle
    from tether.store import PredictionStore

META_COLUMNS = ("id", "created_at", "version")
"""Columns an export keeps besides the features and the target."""


@dataclass(frozen=True)
class TrainingSetExport:
    """Where an export went and what it holds; also written to ``<path>.json``."""

    path: str
    content_hash: str
    rows: int
    model: str
    versions: list[str]
    first: str | None
    last: str | None
    target: str


def export_training_set(
    store: PredictionStore,
    model: str,
    path: str | os.PathLike[str],
    bundle: Bundle,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_flagged: bool = False,
) -> TrainingSetExport:
    """Write ``model``'s labeled, validated production inputs in ``[since, until)`` to
    ``path`` (parquet): ``id``, ``created_at``, ``version``, ``bundle``'s features in its types,
    and the label under the bundle's target name. ``include_flagged`` keeps records served with
    a broken ``flag`` rule too.

    Raises :class:`~tether.errors.InputError` when nothing qualifies, rather than writing an
    empty training set.
    """
    statuses = ["ok", "flagged"] if include_flagged else ["ok"]
    log = store.read(model, start=since, end=until, labels=True)
    if "label" not in log.columns:
        log = log.with_columns(label=pl.lit(None))
    kept = log.filter(pl.col("status").is_in(statuses) & pl.col("label").is_not_null())
    if kept.height == 0:
        raise InputError(
            f"model {model!r} has no labeled predictions with status {statuses} between "
            f"{since or 'the start'} and {until or 'now'}; nothing to export"
        )
    target = bundle.target
    schema = bundle.feature_schema
    features = [
        pl.col(name).cast(schema[name], strict=False) if name in kept.columns
        else pl.lit(None, dtype=schema[name]).alias(name)
        for name in bundle.features
    ]  # fmt: skip
    out = kept.select(*META_COLUMNS, *features, pl.col("label").alias(target))
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(destination)
    created = out.get_column("created_at")
    export = TrainingSetExport(
        path=str(destination),
        content_hash=content_hash(out),
        rows=out.height,
        model=model,
        versions=sorted(out.get_column("version").unique().to_list()),
        first=str(created.min()),
        last=str(created.max()),
        target=target,
    )
    Path(f"{destination}.json").write_text(json.dumps(asdict(export), indent=2) + "\n")
    return export
