"""Loading any tabular input into polars, in one piece or in batches, and hashing its content.

tether accepts polars frames (eager or lazy), pandas frames, pyarrow tables and record batches, and
paths: a parquet file, a csv file, a directory of parquet files, or a glob of parquet files.
Everything downstream works on :class:`polars.DataFrame`.

The content hash (:func:`content_hash`) is written into lineage and checked years later, so its
byte layout is defined here, not by any library: see :data:`HASH_FORMAT` and :func:`content_hash`.
"""

from __future__ import annotations

import glob
import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import polars as pl
import pyarrow as pa

from tether.errors import InputError, first_line

if TYPE_CHECKING:
    import pandas as pd

PathLike: TypeAlias = "str | os.PathLike[str]"
Data: TypeAlias = (
    "pl.DataFrame | pl.LazyFrame | pa.Table | pa.RecordBatch | pd.DataFrame | PathLike"
)
"""Anything tether reads as a table."""

DEFAULT_BATCH_ROWS = 500_000
"""Rows per batch when a large input is read in pieces (memory stays flat at this size)."""

HASH_FORMAT = "tether-frame-v1"
"""Name of the canonical byte layout hashed by :func:`content_hash`; part of every digest."""

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz")


def read(data: Data, *, columns: list[str] | None = None) -> pl.DataFrame:
    """Read ``data`` into one polars DataFrame.

    >>> read(pa.table({"a": [1, 2], "b": ["x", "y"]})).shape
    (2, 2)
    """
    if isinstance(data, pl.DataFrame):
        frame = data
    elif isinstance(data, pl.LazyFrame):
        frame = data.collect()
    elif isinstance(data, pa.Table | pa.RecordBatch):
        frame = _from_arrow(data)
    elif isinstance(data, str | os.PathLike):
        try:
            frame = scan(data).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(f"{os.fspath(data)}: cannot be read ({first_line(exc)})") from exc
    elif _is_pandas(data):
        frame = _from_pandas(data)
    else:
        raise InputError(
            f"cannot read data of type {type(data).__name__}: pass a polars, pandas or pyarrow "
            "table, or a path to parquet or csv"
        )
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"columns {missing} are not in the data (it has {frame.columns})")
        frame = frame.select(columns)
    return frame


def scan(path: str | os.PathLike[str]) -> pl.LazyFrame:
    """Lazily scan a parquet file, a directory or glob of parquet files, or a csv file."""
    files = _resolve_files(path)
    kind = _file_kind(files[0])
    if any(_file_kind(f) != kind for f in files):
        raise InputError(f"{path}: mixes parquet and csv files; point at one kind")
    try:
        if kind == "parquet":
            return pl.scan_parquet(files)
        separator = "\t" if str(files[0]).endswith(".tsv") else ","
        # The whole file decides each column's type: a float first seen on row 200,000 must not
        # make the read fail or the type depend on where the sample ended.
        return pl.scan_csv(
            files, infer_schema_length=None, try_parse_dates=True, separator=separator
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot be read ({first_line(exc)})") from exc


def iter_batches(
    data: Data | Iterable[Any], *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """Yield ``data`` as polars frames of at most ``batch_rows`` rows, never holding it all.

    Paths are scanned in batches; frames in memory are sliced without copying; any other iterable
    is taken as an iterable of tables and each element is read with :func:`read`.
    """
    if batch_rows < 1:
        raise InputError(f"batch_rows must be at least 1, got {batch_rows}")
    if isinstance(data, str | os.PathLike):
        files = _resolve_files(data)
        if _file_kind(files[0]) == "parquet":
            yield from _parquet_batches(files, batch_rows)
        else:
            try:
                yield from scan(data).collect_batches(chunk_size=batch_rows)
            except pl.exceptions.PolarsError as exc:
                raise InputError(f"{data}: cannot be read ({first_line(exc)})") from exc
        return
    if isinstance(data, pl.LazyFrame):
        yield from data.collect_batches(chunk_size=batch_rows)
        return
    if isinstance(data, pl.DataFrame | pa.Table | pa.RecordBatch) or _is_pandas(data):
        frame = read(data)
        if frame.height == 0:
            yield frame
        for start in range(0, frame.height, batch_rows):
            yield frame.slice(start, batch_rows)
        return
    if isinstance(data, Iterable):
        for part in data:
            yield from iter_batches(part, batch_rows=batch_rows)
        return
    raise InputError(f"cannot read data of type {type(data).__name__} in batches")


def content_hash(data: Data | Iterable[Any]) -> str:
    """Hash the whole content of ``data``: every value, every column name and type, row order.

    The digest is ``"sha256:<hex>"`` over a canonical byte layout that tether defines, so it is the
    same for the same values and types whether they came from csv, parquet, pandas or polars, on any
    machine and with any library version, and it does not depend on how the data was batched:

    * header: ``tether-frame-v1``, number of columns, number of rows;
    * per column, in order: its name and its logical type (each prefixed by its byte length as
      uint64), the SHA-256 of its validity (one byte per row, 1 = missing), and the SHA-256 of the
      concatenated SHA-256 digests of its value streams, where missing slots hash as zero;
    * logical types: ``int`` (every signed width and unsigned up to 32 bits, as int64), ``uint64``,
      ``float`` (float32 and float64 as float64, every NaN as one NaN), ``bool``, ``string``
      (strings, categoricals and enums: two streams, each row's byte length as uint64, and the
      UTF-8 bytes), ``binary`` (likewise), ``date`` (days), ``datetime[tz]`` and ``duration`` (two
      streams: whole seconds as int64 and nanoseconds within the second as int64, whatever the
      stored unit), ``time`` (nanoseconds),
      ``decimal`` (the exact decimal text), ``null``. All integers are little-endian.

    >>> a = pl.DataFrame({"x": [1, 2, None], "y": ["a", "b", "c"]})
    >>> content_hash(a) == content_hash(a.to_arrow())
    True
    >>> content_hash(a) == content_hash(a.reverse())
    False
    """
    hasher: _FrameHasher | None = None
    for batch in iter_batches(data):
        if hasher is None:
            hasher = _FrameHasher(batch.schema)
        hasher.update(batch)
    if hasher is None:
        raise InputError("content_hash got no data: the input yielded no batches")
    return hasher.hexdigest()


class _ColumnHasher:
    """Running hash of one column across batches: a validity stream and a value stream."""

    def __init__(self, name: str, dtype: pl.DataType) -> None:
        self.name = name
        self.dtype = dtype
        self.tag = _logical_type(name, dtype)
        self.validity = hashlib.sha256()
        # One hasher per stream, so that batch boundaries cannot interleave streams differently.
        self.streams: list[Any] = []

    def update(self, column: pl.Series) -> None:
        if column.dtype != self.dtype:
            raise InputError(
                f"column {self.name!r} changed type between batches: "
                f"{self.dtype} then {column.dtype}"
            )
        self.validity.update(column.is_null().to_numpy().view(np.uint8).data)
        buffers = _value_buffers(self.tag, column)
        if not self.streams:
            self.streams = [hashlib.sha256() for _ in buffers]
        for stream, buffer in zip(self.streams, buffers, strict=True):
            stream.update(buffer)

    def digest(self) -> bytes:
        values = hashlib.sha256(b"".join(stream.digest() for stream in self.streams)).digest()
        return (
            _framed(self.name.encode())
            + _framed(self.tag.encode())
            + (self.validity.digest() + values)
        )


class _FrameHasher:
    def __init__(self, schema: pl.Schema) -> None:
        self.columns = [_ColumnHasher(name, dtype) for name, dtype in schema.items()]
        self.rows = 0

    def update(self, batch: pl.DataFrame) -> None:
        if batch.columns != [c.name for c in self.columns]:
            expected = [c.name for c in self.columns]
            raise InputError(f"batches disagree on columns: {expected} then {batch.columns}")
        self.rows += batch.height
        # hashlib releases the GIL on large buffers, so columns hash in parallel.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda h: h.update(batch.get_column(h.name)), self.columns))

    def hexdigest(self) -> str:
        total = hashlib.sha256()
        total.update(HASH_FORMAT.encode() + b"\0")
        total.update(struct.pack("<QQ", len(self.columns), self.rows))
        for column in self.columns:
            total.update(column.digest())
        return "sha256:" + total.hexdigest()


def _framed(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


_INT_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


def _logical_type(name: str, dtype: pl.DataType) -> str:
    if isinstance(dtype, _INT_TYPES):
        return "int"
    if isinstance(dtype, pl.UInt64):
        return "uint64"
    if isinstance(dtype, pl.Float32 | pl.Float64):
        return "float"
    if isinstance(dtype, pl.Boolean):
        return "bool"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "string"
    if isinstance(dtype, pl.Binary):
        return "binary"
    if isinstance(dtype, pl.Date):
        return "date"
    if isinstance(dtype, pl.Datetime):
        return f"datetime[{dtype.time_zone or ''}]"
    if isinstance(dtype, pl.Duration):
        return "duration"
    if isinstance(dtype, pl.Time):
        return "time"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    if isinstance(dtype, pl.Null):
        return "null"
    raise InputError(
        f"column {name!r} has type {dtype}, which content_hash does not support: "
        "flatten nested columns before hashing"
    )


_CANONICAL_NAN = np.array([np.nan], dtype=np.float64).view(np.uint64)[0]
_NANOS_PER_UNIT = {"ns": 1, "us": 1_000, "ms": 1_000_000}


def _value_buffers(tag: str, column: pl.Series) -> list[memoryview | bytes]:
    """Canonical value bytes of one column (see :func:`content_hash` for the layout)."""
    if tag == "null":
        return []
    if tag in ("string", "binary"):
        return _variable_width_buffers(column)
    if tag == "decimal":
        return _variable_width_buffers(column.cast(pl.String))
    if tag == "float":
        values = column.cast(pl.Float64).fill_null(0.0).to_numpy().view(np.uint64).copy()
        values[np.isnan(values.view(np.float64))] = _CANONICAL_NAN
        return [values.astype("<u8", copy=False).data]
    if tag.startswith("datetime") or tag == "duration":
        unit = column.dtype.time_unit  # type: ignore[attr-defined]
        raw = column.to_physical().fill_null(0).to_numpy().astype(np.int64, copy=False)
        per_second = 1_000_000_000 // _NANOS_PER_UNIT[unit]
        seconds, within = np.divmod(raw, per_second)
        nanos = within * _NANOS_PER_UNIT[unit]
        return [seconds.astype("<i8", copy=False).data, nanos.astype("<i8", copy=False).data]
    if tag == "uint64":
        return [column.fill_null(0).to_numpy().astype("<u8", copy=False).data]
    # int, bool, date, time: their physical values widened to int64
    physical = column.to_physical().fill_null(0).cast(pl.Int64)
    return [physical.to_numpy().astype("<i8", copy=False).data]


def _variable_width_buffers(column: pl.Series) -> list[memoryview | bytes]:
    target = pl.Binary if column.dtype == pl.Binary else pl.String
    arrow = column.cast(target).fill_null("").rechunk().to_arrow().cast(pa.large_binary())
    _, offsets_buffer, data_buffer = arrow.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        arrow.offset : arrow.offset + len(arrow) + 1
    ]
    lengths = np.diff(offsets).astype("<u8", copy=False)
    data = memoryview(data_buffer)[offsets[0] : offsets[-1]] if data_buffer is not None else b""
    return [lengths.data, data]


def _parquet_batches(files: list[str], batch_rows: int) -> Iterator[pl.DataFrame]:
    import pyarrow.parquet as pq

    # Without pre_buffer=False pyarrow keeps the column chunks it read ahead: 1.8 GB peak instead
    # of 0.6 GB when reading 10M rows x 25 columns in batches.
    for file in files:
        try:
            with pq.ParquetFile(file, pre_buffer=False) as parquet:
                for record_batch in parquet.iter_batches(batch_size=batch_rows):
                    yield _from_arrow(record_batch)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{file}: cannot be read ({first_line(exc)})") from exc


def _resolve_files(path: str | os.PathLike[str]) -> list[str]:
    text = os.fspath(path)
    if any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text, recursive=True))
    elif Path(text).is_dir():
        files = sorted(
            str(p) for p in Path(text).rglob("*") if p.is_file() and _file_kind(str(p)) == "parquet"
        )
    elif Path(text).is_file():
        files = [text]
    else:
        raise InputError(f"{text}: no such file or directory")
    if not files:
        raise InputError(f"{text}: matches no parquet or csv file")
    for file in files:
        _file_kind(file)
    return files


def _file_kind(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if lowered.endswith(_CSV_SUFFIXES):
        return "csv"
    raise InputError(f"{path}: unknown file type; tether reads .parquet and .csv files")


def _from_arrow(table: pa.Table | pa.RecordBatch) -> pl.DataFrame:
    try:
        frame = pl.from_arrow(table)
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        raise InputError(f"arrow data cannot be converted ({first_line(exc)})") from exc
    assert isinstance(frame, pl.DataFrame)
    return frame


def _is_pandas(data: object) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"


def _from_pandas(data: pd.DataFrame) -> pl.DataFrame:
    duplicated = data.columns[data.columns.duplicated()].tolist()
    if duplicated:
        raise InputError(f"pandas frame has duplicated column names {duplicated}")
    try:
        return pl.from_pandas(data, include_index=False)
    except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(
            f"pandas frame cannot be converted ({first_line(exc)}); a column probably mixes types"
        ) from exc
