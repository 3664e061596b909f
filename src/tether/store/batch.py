"""``PredictionBatch``: the predictions of one request, column by column, and their rows.

A server scoring a thousand records has them in frames already (the features the model read,
the outputs it gave) and shares everything else (model, version, time, latency, request) across
the rows. Logging them as a thousand :class:`PredictionRecord` dicts costs a JSON encoding per
field per record in Python; a batch encodes each frame's rows in one polars pass and the shared
fields once. The rows written hold the JSON values the records would give, field for field (see
:func:`batch_rows`; only the spelling of the text may differ: UTF-8 rather than ``\\u`` escapes,
``1e-7`` rather than ``1e-07``), so readers cannot tell which path wrote a prediction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from tether.errors import InputError
from tether.store.records import STATUSES
from tether.store.rows import (
    Field,
    PredictionRow,
    check_id,
    check_name,
    json_type,
    to_json,
    utc,
)

_DTYPES: dict[type[pl.DataType], pl.DataType] = {
    pl.Float64: pl.Float64(),
    pl.Int64: pl.Int64(),
    pl.String: pl.String(),
    pl.Boolean: pl.Boolean(),
    pl.Null: pl.Null(),
}
"""The polars type of a column whose values (apart from None) are all of one Python class."""
_CLASSES: dict[type, type[pl.DataType]] = {
    float: pl.Float64,
    int: pl.Int64,
    str: pl.String,
    bool: pl.Boolean,
}
_JSON_TYPES: dict[type[pl.DataType], str] = {
    pl.Float64: "real",
    pl.Float32: "real",
    pl.String: "text",
    pl.Categorical: "text",
    pl.Enum: "text",
    pl.Boolean: "boolean",
    pl.Null: "null",
    **dict.fromkeys(
        (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64),
        "integer",
    ),
}
"""The JSON type each value of a column of these polars types is written as (None: null)."""


@dataclass(frozen=True)
class PredictionBatch:
    """Predictions of one request, the per-row fields as columns and the shared ones once.

    :meth:`PredictionStore.log` stores it as the :class:`PredictionRecord` of each row would be
    stored: row ``i`` has id ``ids[i]``, the inputs and outputs of row ``i`` of the frames
    (a null cell is a null value: frames made by :func:`json_frame` hold exactly the records'
    keys and values), ``status[i]``, ``problems[i]``, and the shared fields.

    Parameters
    ----------
    ids
        One unique prediction id per row.
    model, version, created_at, latency_ms, request_id
        As in :class:`PredictionRecord`, the same for every row.
    inputs
        One row per prediction, one column per input field.
    outputs
        The outputs, one row per prediction; None when every row was rejected.
    status
        One of :data:`STATUSES` per row.
    problems
        The contract problems of each row; None when no row has any.
    shadow
        What every row's ``shadow`` holds (a challenger's ``version``, or its ``error``).
    shadow_outputs
        The challenger's outputs, one row per prediction, stored as each row's
        ``shadow["outputs"]``.

    Example
    -------
    >>> import tempfile
    >>> from datetime import UTC
    >>> from tether.store import open_store
    >>> store = open_store(tempfile.mkdtemp() + "/log.db")
    >>> batch = PredictionBatch(
    ...     ["p1", "p2"], "late", "v1", datetime(2024, 5, 1, tzinfo=UTC),
    ...     inputs=json_frame([{"x": 2.5, "c": "a"}, {"x": None, "c": "b"}]),
    ...     outputs=pl.DataFrame({"prediction": [1, 0], "score": [0.75, 0.25]}),
    ...     status=["ok", "ok"], latency_ms={"total": 1.5})
    >>> store.log([batch])
    >>> store.get("p2")["inputs"], store.get("p2")["outputs"]
    ({'x': None, 'c': 'b'}, {'prediction': 0, 'score': 0.25})
    >>> store.close()
    """

    ids: Sequence[str]
    model: str
    version: str
    created_at: datetime
    inputs: pl.DataFrame
    outputs: pl.DataFrame | None
    status: Sequence[str]
    problems: Sequence[Sequence[Mapping[str, Any]]] | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    shadow: Mapping[str, Any] | None = None
    shadow_outputs: pl.DataFrame | None = None
    request_id: str | None = None

    def __len__(self) -> int:
        return len(self.ids)


def json_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame | None:
    """``records`` as a frame whose rows encode to the records' own JSON, or None when they do
    not fit one: every record a dict with the same keys in the same order, and each key's
    values, apart from None, all floats, all integers (64-bit), all strings or all booleans.

    Example
    -------
    >>> json_frame([{"x": 1.5, "c": "a"}, {"x": None, "c": "b"}]).schema
    Schema([('x', Float64), ('c', String)])
    >>> json_frame([{"x": 1.5}, {"x": 2}]) is None  # an integer would come back as a float
    True
    >>> json_frame([{"": 1, "column_0": 2}]).columns
    ['', 'column_0']
    """
    if not records or type(records[0]) is not dict or not records[0]:
        return None
    keys = tuple(records[0])
    if not all(type(record) is dict and tuple(record) == keys for record in records):
        return None
    columns: dict[str, pl.Series] = {}
    # one transposition in C: the records share their key order
    transposed = zip(*(record.values() for record in records), strict=True)
    for name, values in zip(keys, transposed, strict=True):
        classes = set(map(type, values))
        classes.discard(type(None))
        if len(classes) > 1:
            return None
        kind = _CLASSES.get(classes.pop()) if classes else pl.Null
        if kind is None or not isinstance(name, str):
            return None
        try:
            columns[name] = pl.Series(name, values, dtype=_DTYPES[kind])
        except (TypeError, OverflowError, UnicodeError, pl.exceptions.PolarsError):
            return None  # integers beyond 64 bits, strings that are not valid Unicode
    # a dict keeps every name as given: a list of Series renames one called "" to column_<i>
    return pl.DataFrame(columns)


def batch_rows(batch: PredictionBatch) -> list[PredictionRow]:
    """The rows of ``batch`` after checking every field; InputError names the broken one.

    Frames of numbers, strings, booleans and nulls are encoded in one polars pass (NaN and
    infinities as null, as :func:`tether.store.rows.to_json` writes them); any other column
    type takes the path of records, row by row.
    """
    if not isinstance(batch, PredictionBatch):
        raise InputError(f"batch {batch!r:.80} is not a PredictionBatch")
    count = len(batch.ids)
    for prediction_id in batch.ids:
        check_id(prediction_id)
    where = f"batch of {count} predictions from {batch.ids[0]!r}" if count else "empty batch"
    for name in ("model", "version"):
        check_name(getattr(batch, name), f"{where}: {name}")
    if batch.request_id is not None and (
        not isinstance(batch.request_id, str) or "\x00" in batch.request_id
    ):
        raise InputError(f"{where}: request_id {batch.request_id!r} is not a string without NUL")
    wrong = set(batch.status) - set(STATUSES)
    if wrong:
        raise InputError(
            f"{where}: status {sorted(wrong)[0]!r} is not one of {', '.join(STATUSES)}"
        )
    problems = batch.problems
    for name, size in (
        ("status", len(batch.status)),
        ("problems", count if problems is None else len(problems)),
        ("inputs", _height(batch.inputs, "inputs", where)),
        ("outputs", count if batch.outputs is None else _height(batch.outputs, "outputs", where)),
        ("shadow_outputs", count if batch.shadow_outputs is None
         else _height(batch.shadow_outputs, "shadow_outputs", where)),
    ):  # fmt: skip
        if size != count:
            raise InputError(f"{where}: {name} has {size} rows for {count} ids; give one per id")
    if not isinstance(batch.latency_ms, Mapping):
        raise InputError(
            f"{where}: latency_ms is a {type(batch.latency_ms).__name__}, not a mapping"
        )
    total = batch.latency_ms.get("total")
    is_number = isinstance(total, int | float) and not isinstance(total, bool)
    return list(
        zip(
            batch.ids,
            itertools.repeat(batch.model),
            itertools.repeat(batch.version),
            itertools.repeat(utc(batch.created_at, f"{where}: created_at")),
            batch.status,
            json_lines(batch.inputs, f"{where}: inputs"),
            itertools.repeat(None)
            if batch.outputs is None
            else json_lines(batch.outputs, f"{where}: outputs"),
            itertools.repeat("[]") if problems is None else _problems(problems, where),
            itertools.repeat(to_json(dict(batch.latency_ms), f"{where}: latency_ms")),
            itertools.repeat(float(total) if is_number and math.isfinite(total) else None),  # type: ignore[arg-type]
            _shadow(batch, where),
            itertools.repeat(batch.request_id),
            strict=False,  # the repeats are endless; the ids set the length
        )
    )


def batch_fields(batch: PredictionBatch) -> set[Field]:
    """The catalog entries (:data:`tether.store.rows.Field`) the rows of ``batch`` add, the same
    as its records would add."""
    found = set()
    for part, frame in (("inputs", batch.inputs), ("outputs", batch.outputs)):
        if frame is not None and frame.height:
            found |= {
                (batch.model, batch.version, part, key, kind) for key, kind in frame_types(frame)
            }
    return found


def frame_types(frame: pl.DataFrame) -> set[tuple[str, str]]:
    """``(column, json_type)`` of every value of ``frame``, as :func:`json_type` names the
    value's class: a column's type, and ``null`` where it holds a null.

    Example
    -------
    >>> sorted(frame_types(pl.DataFrame({"x": [1.5, None], "n": [1, 2]})))
    [('n', 'integer'), ('x', 'null'), ('x', 'real')]
    """
    if not _encodable(frame):
        return {
            (key, json_type(type(value))) for row in frame.to_dicts() for key, value in row.items()
        }
    found = set()
    for (name, dtype), nulls in zip(frame.schema.items(), frame.null_count().row(0), strict=True):
        kind = _JSON_TYPES[dtype.base_type()]
        found.add((name, kind))
        if nulls and kind != "null":
            found.add((name, "null"))
    return found


def json_lines(frame: pl.DataFrame, what: str) -> list[str]:
    """The JSON text of each row of ``frame`` (an object of its columns), as
    :func:`tether.store.rows.to_json` writes the row's dict; InputError naming ``what`` when a
    value cannot be JSON.

    Example
    -------
    >>> json_lines(pl.DataFrame({"x": [1.0, float("nan")], "c": ["é", None]}), "inputs")
    ['{"x":1.0,"c":"é"}', '{"x":null,"c":null}']
    """
    if not frame.width:
        return ["{}"] * frame.height
    if not _encodable(frame):
        return [to_json(row, what) for row in frame.to_dicts()]
    # A float32 value is written as the float64 it is read back as (to_dicts's value), not as
    # its shortest float32 text.
    wide = frame.with_columns(pl.col(pl.Float32).cast(pl.Float64))
    return wide.select(pl.struct(pl.all()).struct.json_encode()).to_series().to_list()


def _encodable(frame: pl.DataFrame) -> bool:
    return all(dtype.base_type() in _JSON_TYPES for dtype in frame.schema.values())


def _height(frame: object, name: str, where: str) -> int:
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{where}: {name} is a {type(frame).__name__}, not a polars DataFrame")
    return frame.height


def _problems(problems: Sequence[Sequence[Mapping[str, Any]]], where: str) -> list[str]:
    return [
        to_json([dict(problem) for problem in found], f"{where}: problems") if found else "[]"
        for found in problems
    ]


def _shadow(batch: PredictionBatch, where: str) -> Any:
    shadow = batch.shadow
    if shadow is None and batch.shadow_outputs is None:
        return itertools.repeat(None)
    if not isinstance(shadow, Mapping | None):
        raise InputError(f"{where}: shadow is a {type(shadow).__name__}, not a mapping")
    shared = to_json(dict(shadow or {}), f"{where}: shadow")
    if batch.shadow_outputs is None:
        return itertools.repeat(shared)
    head = shared[:-1] + ("," if len(shared) > 2 else "") + '"outputs":'
    return [head + line + "}" for line in json_lines(batch.shadow_outputs, f"{where}: shadow")]
