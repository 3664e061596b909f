"""Records for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tether.store import PredictionRecord

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def record(
    prediction_id: str,
    seconds: float = 0.0,
    *,
    inputs: dict[str, Any] | None = None,
    model: str = "late-arrival",
    version: str = "v1",
    **fields: Any,
) -> PredictionRecord:
    """A prediction made ``seconds`` after :data:`T0`, served with a binary score."""
    values: dict[str, Any] = {
        "outputs": {"prediction": 1, "score": 0.75},
        "status": "ok",
        "latency_ms": {"validate": 0.05, "predict": 0.4, "total": 0.6},
    }
    values.update(fields)
    return PredictionRecord(
        id=prediction_id,
        model=model,
        version=version,
        created_at=T0 + timedelta(seconds=seconds),
        inputs={"distance_km": 12.5, "carrier": "dhl"} if inputs is None else inputs,
        **values,
    )
