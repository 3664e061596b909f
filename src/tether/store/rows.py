"""How a record becomes a database row and a stored row becomes a dict again.

JSON columns hold strict JSON (RFC 8259): NaN and infinities, which it cannot express and which
other languages' readers reject, are written as null, wherever they sit in a record. Text is
written with ASCII escapes, so lone surrogates that arrived in a request cannot break the
database's UTF-8 (a :class:`~tether.store.batch.PredictionBatch`, whose frames cannot hold them,
writes its text as UTF-8: the same JSON values). Times are timezone-aware datetimes converted to
UTC with microsecond precision.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tether.errors import InputError
from tether.store.records import MAX_ID_LENGTH, STATUSES, LabelRecord, PredictionRecord

PredictionRow = tuple[
    str, str, str, dt.datetime, str, str, str | None, str, str, float | None, str | None, str | None
]
"""``PREDICTION_COLUMNS`` in order: created_at as UTC datetime, JSON columns as text."""

PREDICTION_COLUMNS = (
    "id",
    "model",
    "version",
    "created_at",
    "status",
    "inputs",
    "outputs",
    "problems",
    "latency",
    "latency_total_ms",
    "shadow",
    "request_id",
)

LabelRow = tuple[str, str, dt.datetime | None]
"""``(prediction_id, value as JSON text, labeled_at)``."""

Window = tuple[dt.datetime | None, dt.datetime | None]
"""``[start, end)`` in UTC; None is unbounded."""

StoredRow = tuple[Any, ...]
"""``PREDICTION_COLUMNS`` then the label's value, labeled_at and received_at; times as datetimes."""

Field = tuple[str, str, str, str, str]
"""``(model, version, part, key, json_type)``: one entry of the field catalog (see
:mod:`tether.store.schema`); ``part`` is inputs, outputs or label (key '')."""

Shape = tuple[str, str, tuple[Any, ...], tuple[type, ...], tuple[Any, ...], tuple[type, ...]]
"""A record's model, version, input keys and value classes, output keys and value classes:
records of one shape add the same catalog entries, and a batch has few shapes."""

LABEL_KINDS = (type(None), bool, int, float, str)

_JSON_TYPES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "real",
    str: "text",
    dict: "object",
    list: "array",
    tuple: "array",
}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _plain(value: object) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} value {value!r:.60} is not JSON")


# Made once: json.dumps with any option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_plain)


def to_json(value: Any, field: str) -> str:
    """Strict, compact JSON text of ``value``; NaN and infinities become null.

    numpy scalars and arrays are written as numbers and lists, dates as ISO 8601 text.

    Example
    -------
    >>> to_json({"x": float("nan"), "y": [1.5, float("inf")], "name": "é"}, "inputs")
    '{"x":null,"y":[1.5,null],"name":"\\\\u00e9"}'
    """
    try:
        try:
            return _ENCODER.encode(value)
        except ValueError:  # a non-finite number somewhere: the rare path walks the value
            return _ENCODER.encode(_finite(value))
    except TypeError as exc:
        raise InputError(f"{field} cannot be stored as JSON: {exc}") from None


def prediction_row(record: PredictionRecord) -> PredictionRow:
    """The row of one record, after checking every field; InputError names the broken one."""
    if not isinstance(record, PredictionRecord):
        raise InputError(f"record {record!r:.80} is not a PredictionRecord")
    check_id(record.id)
    for name in ("model", "version"):
        check_name(getattr(record, name), f"record {record.id!r}: {name}")
    if record.status not in STATUSES:
        raise InputError(
            f"record {record.id!r}: status {record.status!r} is not one of {', '.join(STATUSES)}"
        )
    if record.request_id is not None and (
        not isinstance(record.request_id, str) or "\x00" in record.request_id
    ):
        raise InputError(
            f"record {record.id!r}: request_id {record.request_id!r} is not a string without NUL"
        )
    total = record.latency_ms.get("total") if isinstance(record.latency_ms, Mapping) else None
    is_number = isinstance(total, int | float) and not isinstance(total, bool)
    return (
        record.id,
        record.model,
        record.version,
        utc(record.created_at, f"record {record.id!r}: created_at"),
        record.status,
        _object(record.inputs, record.id, "inputs"),
        None if record.outputs is None else _object(record.outputs, record.id, "outputs"),
        to_json([dict(problem) for problem in record.problems], f"record {record.id!r}: problems"),
        _object(record.latency_ms, record.id, "latency_ms"),
        float(total) if is_number and math.isfinite(total) else None,  # type: ignore[arg-type]
        None if record.shadow is None else _object(record.shadow, record.id, "shadow"),
        record.request_id,
    )


def label_row(label: LabelRecord) -> LabelRow:
    """The row of one label; its value must be a number, string, boolean or None."""
    if not isinstance(label, LabelRecord):
        raise InputError(f"label {label!r:.80} is not a LabelRecord")
    check_id(label.prediction_id)
    value = label.value.item() if isinstance(label.value, np.generic) else label.value
    if not isinstance(value, LABEL_KINDS):
        raise InputError(
            f"label of {label.prediction_id!r}: {type(value).__name__} value {value!r:.60} is not "
            "a number, string, boolean or null"
        )
    at = label.labeled_at
    labeled_at = None if at is None else utc(at, f"label of {label.prediction_id!r}: labeled_at")
    return label.prediction_id, to_json(value, "label"), labeled_at


def stored_record(row: StoredRow) -> dict[str, Any]:
    """The dict :meth:`PredictionStore.get` returns for a stored row."""
    record = dict(zip(PREDICTION_COLUMNS, row, strict=False))
    latency = json.loads(record.pop("latency"))
    del record["latency_total_ms"]
    json_columns = ("inputs", "outputs", "problems", "shadow")
    label, labeled_at, received_at = row[len(PREDICTION_COLUMNS) :]
    return {
        **{
            k: json.loads(v) if k in json_columns and v is not None else v
            for k, v in record.items()
        },
        "latency_ms": latency,
        "label": None if label is None else json.loads(label),
        "labeled_at": labeled_at,
        "label_received_at": received_at,
    }


def shape(record: PredictionRecord) -> Shape:
    """The catalog shape of a checked record, cheap enough to take for every record."""
    outputs = record.outputs or {}
    return (
        record.model,
        record.version,
        tuple(record.inputs),
        tuple(map(type, record.inputs.values())),
        tuple(outputs),
        tuple(map(type, outputs.values())),
    )


def shape_fields(found: Shape) -> set[Field]:
    """The catalog entries of a shape.

    Example
    -------
    >>> sorted(shape_fields(("m", "v", ("x", "c"), (float, str), ("prediction",), (int,))))
    [('m', 'v', 'inputs', 'c', 'text'), ('m', 'v', 'inputs', 'x', 'real'), \
('m', 'v', 'outputs', 'prediction', 'integer')]
    """
    model, version, input_keys, input_kinds, output_keys, output_kinds = found
    return {
        (model, version, part, _key(key), json_type(kind))
        for part, keys, kinds in (
            ("inputs", input_keys, input_kinds),
            ("outputs", output_keys, output_kinds),
        )
        for key, kind in zip(keys, kinds, strict=True)
    }


def label_fields(labels: list[LabelRow], owners: Mapping[str, tuple[str, str]]) -> set[Field]:
    """The catalog entries of written labels; ``owners`` maps a prediction id to its model and
    version."""
    return {(*owners[row[0]], "label", "", _text_type(row[1])) for row in labels}


def json_type(kind: type) -> str:
    """The JSON type (:data:`tether.store.frame.JSON_TYPES`) a value of class ``kind`` is
    written as; a non-finite float (written as null) still counts as real."""
    found = _JSON_TYPES.get(kind)
    if found is not None:
        return found
    if issubclass(kind, bool | np.bool_):
        return "boolean"
    if issubclass(kind, int | np.integer):
        return "integer"
    if issubclass(kind, float | np.floating):
        return "real"
    if issubclass(kind, str | dt.date):
        return "text"
    return "object" if issubclass(kind, Mapping) else "array"


def check_id(prediction_id: object) -> None:
    """Raise InputError unless ``prediction_id`` is a non-empty string of at most
    :data:`MAX_ID_LENGTH` characters without NUL (which PostgreSQL text cannot hold)."""
    if (
        not isinstance(prediction_id, str)
        or not 0 < len(prediction_id) <= MAX_ID_LENGTH
        or "\x00" in prediction_id
    ):
        raise InputError(
            f"prediction id {prediction_id!r:.80} is not a string of 1 to {MAX_ID_LENGTH} "
            "characters without NUL"
        )


def check_name(value: object, field: str) -> str:
    """``value`` when it is a non-empty string without NUL (which PostgreSQL text cannot hold);
    InputError naming ``field`` otherwise."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InputError(f"{field} {value!r:.80} is not a non-empty string without NUL")
    return value


def utc(value: object, field: str) -> dt.datetime:
    """``value`` as a UTC datetime truncated to microseconds; it must be timezone-aware."""
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise InputError(f"{field} {value!r:.60} is not a timezone-aware datetime")
    return value.astimezone(dt.UTC)


def utc_window(start: dt.datetime | None, end: dt.datetime | None) -> Window:
    """A read window in UTC; its bounds must be timezone-aware and ``start <= end``."""
    window = (
        None if start is None else utc(start, "start"),
        None if end is None else utc(end, "end"),
    )
    if window[0] is not None and window[1] is not None and window[0] > window[1]:
        raise InputError(f"start {start} is after end {end}; a window is [start, end)")
    return window


def micros(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of a timezone-aware datetime, exactly."""
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def from_micros(value: int | None) -> dt.datetime | None:
    """The UTC datetime of microseconds since the Unix epoch (None stays None)."""
    return None if value is None else _EPOCH + dt.timedelta(microseconds=value)


def _key(key: object) -> str:
    return key if isinstance(key, str) else json.dumps(key)  # as json.dumps writes a dict key


def _text_type(text: str) -> str:
    first = text[0]
    if first == '"':
        return "text"
    if first in "tf":
        return "boolean"
    if first == "n":
        return "null"
    return "real" if any(c in text for c in ".eE") else "integer"


def _object(value: object, prediction_id: str, field: str) -> str:
    if not isinstance(value, Mapping):
        raise InputError(
            f"record {prediction_id!r}: {field} is a {type(value).__name__}, not a mapping"
        )
    return to_json(
        value if isinstance(value, dict) else dict(value), f"record {prediction_id!r}: {field}"
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, (np.generic, np.ndarray, dt.date, Mapping, set, frozenset)):
        return _finite(_plain(value))
    return value
