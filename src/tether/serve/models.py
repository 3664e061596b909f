"""Request and response bodies of the server; the OpenAPI schema is generated from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ID_LENGTH = 200
"""Longest prediction id, the store's bound."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Body):
    """Records to score, each a mapping of column to raw value; ``ids`` (unique, one per record)
    when the client names its predictions, else the server assigns time-ordered UUIDv7 ids.

    Example
    -------
    >>> PredictRequest.model_validate({"records": [{"x": 1.0}]}).ids is None
    True
    """

    records: list[dict[str, Any]] = Field(min_length=1)
    ids: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]] | None = None


class Problem(BaseModel):
    """A broken contract rule of a flagged record, returned as a warning."""

    field: str
    value: str | None
    rule: str
    message: str


class RowProblem(Problem):
    """One reason a request was refused: the record (``row``, 0-based; null for the body) and
    field, the offending value as text, the rule and a readable message."""

    row: int | None


class ErrorResponse(BaseModel):
    """HTTP 422: every problem found, so a client fixes all of them at once; ``logged`` holds the
    ids under which records refused by the contract or the model were stored (status
    ``rejected``), new ids, so the fixed records can be resent under the client's own."""

    detail: list[RowProblem]
    logged: list[str] = []


class MessageResponse(BaseModel):
    """HTTP 401, 403, 404, 413, 415, 503: what was wrong, in one line."""

    detail: str


class ConflictResponse(BaseModel):
    """HTTP 409: prediction ids sent twice in the request or already stored."""

    detail: str
    ids: list[str]


class ServerErrorResponse(BaseModel):
    """HTTP 500: a bug; the request id finds its log line with the traceback."""

    detail: str
    request_id: str


class Prediction(BaseModel):
    """The answer for one record: ``score`` (binary), ``probabilities`` (multiclass) or only the
    ``prediction`` (regression); ``status`` is ``flagged`` when it broke a ``flag`` rule."""

    id: str
    prediction: Any
    score: float | None = None
    probabilities: dict[str, float] | None = None
    status: Literal["ok", "flagged"]
    warnings: list[Problem]


class PredictResponse(BaseModel):
    """The predictions of a request, in record order, with the model version that made them."""

    model: str
    version: str
    predictions: list[Prediction]


class Label(_Body):
    """The realized outcome of a prediction, by its id."""

    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    label: Any
    labeled_at: datetime | None = None


class LabelsRequest(_Body):
    """Labels to join to stored predictions."""

    labels: list[Label] = Field(min_length=1)


class LabelsResponse(BaseModel):
    """How many labels were new, equal to the stored one, or replaced it; ids never predicted."""

    accepted: int
    unchanged: int
    updated: int
    unknown: list[str]


class ExplainRequest(_Body):
    """Records to explain and how many contributions to return per record."""

    records: list[dict[str, Any]] = Field(min_length=1)
    top: int = Field(default=5, ge=1, le=100)


class Contribution(BaseModel):
    """How much one raw feature moved one record's output."""

    feature: str
    contribution: float


class RowExplanation(BaseModel):
    """The largest contributions of one record, by absolute value."""

    row: int
    output: float
    top: list[Contribution]


class ExplainResponse(BaseModel):
    """Per-record explanations: ``base_value + sum(all contributions) == output``."""

    model: str
    version: str
    units: str
    method: str
    base_value: float
    explanations: list[RowExplanation]


class Lineage(BaseModel):
    """Where a model version came from: training data, its time span, code and owner."""

    train_hash: str | None
    train_rows: int | None
    time_min: str | None
    time_max: str | None
    commit: str | None
    dirty: bool | None
    owner: str | None
    on_call: str | None
    created_at: str | None


class ModelInfo(BaseModel):
    """The model being served."""

    name: str
    version: str
    task: str
    features: list[str]
    classes: list[Any]
    online_path: str
    owner: str | None
    on_call: str | None
    latency_budget_ms: float | None
    created_at: str | None
    challenger: str | None
    lineage: Lineage


class StoredPrediction(BaseModel):
    """A logged prediction with its label (if any) and the lineage of the version that made it
    (null when the server never served that version)."""

    id: str
    model: str
    version: str
    created_at: datetime
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    status: str
    problems: list[dict[str, Any]]
    latency_ms: dict[str, float]
    request_id: str | None
    shadow: dict[str, Any] | None = None
    label: Any = None
    labeled_at: datetime | None = None
    label_received_at: datetime | None = None
    lineage: Lineage | None


class Health(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class Ready(BaseModel):
    """The model is loaded and the store answers."""

    ready: bool
    model: str
    version: str


class ReloadRequest(_Body):
    """The registry ref (``name@alias``, ``name@version``) to serve from now on."""

    ref: str = Field(min_length=1, max_length=300)


class ReloadResponse(BaseModel):
    """The version served before and after a reload."""

    model: str
    previous: str
    version: str
