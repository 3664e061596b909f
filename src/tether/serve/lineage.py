"""Where a logged prediction came from: the stored record joined to its model version's lineage."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from tether.errors import TetherError

if TYPE_CHECKING:
    from tether.bundle import Bundle
    from tether.registry import Registry
    from tether.store import PredictionStore


def lineage_summary(bundle: Bundle) -> dict[str, Any]:
    """The lineage fields an audit of one prediction needs: training data hash, rows and time
    span, code commit (and whether the work tree was dirty), owner, on-call and build time (see
    :class:`tether.serve.models.Lineage`)."""
    train = bundle.lineage.get("train") or {}
    git = bundle.lineage.get("git") or {}
    meta = bundle.metadata
    return {
        "train_hash": train.get("hash"),
        "train_rows": train.get("rows"),
        "time_min": train.get("time_min"),
        "time_max": train.get("time_max"),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "owner": meta.get("owner"),
        "on_call": meta.get("on_call"),
        "created_at": meta.get("created_at"),
    }


def prediction_lineage(
    store: PredictionStore,
    prediction_id: str,
    *,
    registry: Registry | None = None,
    known: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The stored record of ``prediction_id`` (with its label) plus ``lineage``, the summary of
    the version that made it; None for an unknown id.

    The lineage comes from ``known`` (version -> summary, e.g. the versions a server has
    served), else from the version stored in ``registry`` (and is then added to ``known``); it
    is None when neither has that version.

    Parameters
    ----------
    store
        The prediction store.
    prediction_id
        The id the prediction was logged under.
    registry
        Where versions not in ``known`` are looked up.
    known
        Lineage summaries by version, used and filled as a cache.

    Example
    -------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from tether.store import PredictionRecord, open_store
    >>> store = open_store(tempfile.mkdtemp() + "/t.db")
    >>> at = datetime(2024, 5, 1, tzinfo=UTC)
    >>> store.log([PredictionRecord("p1", "late", "v1", at, {"x": 1.0}, {"prediction": 1}, "ok")])
    >>> found = prediction_lineage(store, "p1", known={"v1": {"train_hash": "sha256:ab"}})
    >>> found["status"], found["lineage"]
    ('ok', {'train_hash': 'sha256:ab'})
    >>> prediction_lineage(store, "p2") is None
    True
    """
    stored = store.get(prediction_id)
    if stored is None:
        return None
    known = {} if known is None else known
    version = stored["version"]
    if version not in known and registry is not None:
        # a version deleted from the registry, or never pushed there, has no lineage to show
        with contextlib.suppress(TetherError):
            known[version] = lineage_summary(registry.load(f"{stored['model']}@{version}"))
    return {**stored, "lineage": known.get(version)}
