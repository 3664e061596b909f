"""What the prediction log stores and the errors its writes raise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether.errors import TetherError

STATUSES = ("ok", "flagged", "rejected")
"""``ok``: served as is; ``flagged``: served, but the contract found problems; ``rejected``: not
served (no outputs)."""

MAX_ID_LENGTH = 200


class DuplicateIdError(TetherError):
    """A prediction id that is already stored, or that appears twice in one batch.

    ``ids`` holds the offending ids; nothing of the batch that raised it was written.
    """

    def __init__(self, ids: Sequence[str], where: str = "already stored") -> None:
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:5])
        more = f" and {len(self.ids) - 5} more" if len(self.ids) > 5 else ""
        super().__init__(
            f"prediction id {shown}{more} {where}; ids must be unique, so nothing of this batch "
            "was written"
        )


class StoreError(TetherError):
    """The store cannot be reached or cannot write (server down, disk full, database locked)."""


@dataclass(frozen=True)
class PredictionRecord:
    """One prediction as served (or refused), the unit the store logs.

    Parameters
    ----------
    id
        Client-supplied or :func:`new_prediction_id`; unique across the store.
    model, version
        Registry name and bundle version that answered.
    created_at
        When the request was answered; timezone-aware (stored as UTC, microseconds).
    inputs
        The raw request values (JSON-safe). NaN and infinities, which JSON cannot hold, are
        stored as null.
    outputs
        ``{"prediction": ..., "score": ...}`` or ``proba_<class>`` fields; None when rejected.
    status
        One of :data:`STATUSES`.
    problems
        Contract problems: ``column``, ``value``, ``rule``, ``policy``, ``message``.
    latency_ms
        Milliseconds per stage (``validate``, ``predict``, ``log``, ``total``).
    shadow
        ``{"version": ..., "outputs": {...}}`` of a challenger scored on the same inputs.
    request_id
        The HTTP request that carried the record.

    Example
    -------
    >>> from datetime import UTC
    >>> record = PredictionRecord("p1", "late", "ab12", datetime(2024, 1, 1, tzinfo=UTC),
    ...                           {"x": 1.5}, {"prediction": 1, "score": 0.8}, "ok")
    >>> record.problems, record.latency_ms, record.shadow
    ((), {}, None)
    """

    id: str
    model: str
    version: str
    created_at: datetime
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any] | None
    status: str
    problems: Sequence[Mapping[str, Any]] = ()
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    shadow: Mapping[str, Any] | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class LabelRecord:
    """A realized outcome for a logged prediction.

    Parameters
    ----------
    prediction_id
        The id the prediction was logged under.
    value
        The label: a number, string, boolean or None.
    labeled_at
        When the outcome happened (timezone-aware), if known.

    Example
    -------
    >>> LabelRecord("p1", 1).labeled_at is None
    True
    """

    prediction_id: str
    value: Any
    labeled_at: datetime | None = None


@dataclass(frozen=True)
class LabelResult:
    """What :meth:`PredictionStore.add_labels` did with each label of a batch.

    ``accepted``: first label for its prediction; ``unchanged``: the stored label sent again
    (nothing written); ``updated``: a different value replaced the stored one (the latest label
    wins, and ``label_received_at`` becomes the time it was received, so readers see the
    prediction's label changed); ``unknown``: ids never logged, not stored.

    Example
    -------
    >>> LabelResult(accepted=2, unchanged=0, updated=1, unknown=["nope"]).unknown
    ['nope']
    """

    accepted: int
    unchanged: int
    updated: int
    unknown: list[str]
