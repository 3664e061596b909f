"""The embedded prediction store: one SQLite file, durable at every commit.

The file runs in WAL mode with ``synchronous=FULL``, so a commit has reached the disk (the WAL is
fsynced) before ``log`` returns, and readers never block the writer. ``synchronous="normal"``
(``sqlite:///path.db?synchronous=normal``) skips that fsync: a commit is in the operating system's
hands when ``log`` returns, so every acknowledged prediction survives the process crashing or
being killed (SIGKILL), but the last transactions may be lost if the machine loses power or the
operating system crashes; commits no longer wait for the disk. Writes go through one
connection held under a lock (SQLite allows one writer at a time anyway; several processes on
one file queue on the busy timeout); window reads and counts open their own connection, so a
long read does not hold up logging. Write transactions are ``BEGIN IMMEDIATE``: they take the
write lock up front instead of failing half-way when another process holds it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tether.errors import InputError, first_line
from tether.store import base, schema
from tether.store.base import PredictionStore, split_labels
from tether.store.frame import WindowParser
from tether.store.records import DuplicateIdError, LabelResult, StoreError
from tether.store.results import Dialect
from tether.store.rows import (
    PREDICTION_COLUMNS,
    Field,
    LabelRow,
    PredictionRow,
    StoredRow,
    Window,
    from_micros,
    label_fields,
    micros,
)

BUSY_TIMEOUT_S = 30.0
SYNCHRONOUS = ("full", "normal")
"""The durability settings a store takes (SQLite's ``PRAGMA synchronous`` in WAL mode)."""
READ_MMAP_BYTES = 2**30  # window reads map the file instead of copying every page through a cache

_INSERT = f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) VALUES "
_COLUMNS = len(PREDICTION_COLUMNS)
_ROW = f"({', '.join('?' * _COLUMNS)})"
INSERT_ROWS = 256
"""Most rows in one INSERT statement: a batch goes in a few statements instead of one per row."""
_GET = (
    f"SELECT {', '.join(f'p.{c}' for c in PREDICTION_COLUMNS)}, l.value, l.labeled_at, "
    "l.received_at FROM predictions p LEFT JOIN labels l ON l.prediction_id = p.id "
    "WHERE p.id = ?"
)
# One NDJSON line per prediction (layout in tether.store.frame); the JSON columns hold valid JSON
# written by tether.store.rows, so they are spliced in as they are, without a parse.
_LINE = (
    """'{"id":' || json_quote(p.id) || ',"model":' || json_quote(p.model)"""
    """ || ',"version":' || json_quote(p.version) || ',"created_at":' || p.created_at"""
    """ || ',"status":' || json_quote(p.status) || ',"request_id":' || json_quote(p.request_id)"""
    """ || ',"inputs":' || p.inputs || ',"outputs":' || coalesce(p.outputs, 'null')"""
    """ || ',"latency_total_ms":' || json_quote(p.latency_total_ms)"""
)
_LABEL = (
    """ || ',"label":' || coalesce(l.value, 'null')"""
    """ || ',"labeled_at":' || json_quote(l.labeled_at)"""
)
# Most records have no problems; leaving the field out for them (read as none) parses several
# times faster than an empty list.
_PROBLEMS = """ || CASE p.problems WHEN '[]' THEN '' ELSE ',"problems":' || p.problems END"""
_RECEIVED = """ || ',"label_received_at":' || json_quote(l.received_at)"""
_ADD_FIELDS = (
    "INSERT OR IGNORE INTO fields (model, version, part, key, json_type) VALUES (?, ?, ?, ?, ?)"
)


class SQLiteStore(PredictionStore):
    """A prediction store in one SQLite file (created with its folder when missing).

    Parameters
    ----------
    path
        The database file.
    timeout
        Seconds a write waits for another process's write lock before failing.
    synchronous
        ``"full"`` (default): every commit is fsynced before ``log`` returns, so it survives a
        power loss. ``"normal"``: commits are not fsynced (the WAL is, at checkpoints); an
        acknowledged prediction survives the process crashing or being killed, but the last
        transactions may be lost on a power loss or an operating-system crash. Commits then
        cost no disk flush, which on a busy shared disk takes milliseconds, more in its tail.

    Example
    -------
    >>> import tempfile
    >>> store = SQLiteStore(Path(tempfile.mkdtemp()) / "log.db")
    >>> store.url.startswith("sqlite:///"), store.schema_version(), store.ready()
    (True, 2, True)
    >>> store.close()
    >>> store = SQLiteStore(Path(tempfile.mkdtemp()) / "log.db", synchronous="normal")
    >>> store.url.endswith("log.db?synchronous=normal")
    True
    >>> store.close()
    """

    migrations = schema.SQLITE
    # BEGIN IMMEDIATE holds the database's one write lock: savers of a window need no other.
    dialect = Dialect("?", "{}", micros)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = BUSY_TIMEOUT_S,
        synchronous: str = "full",
    ) -> None:
        super().__init__()
        if synchronous not in SYNCHRONOUS:
            raise InputError(
                f"synchronous={synchronous!r} is not one of {', '.join(SYNCHRONOUS)} (full: "
                "every commit fsynced; normal: survives a crash of the process, not of the machine)"
            )
        self.path = Path(path).expanduser().absolute()
        self.synchronous = synchronous
        query = "" if synchronous == "full" else f"?synchronous={synchronous}"
        self.url = f"sqlite://{self.path.as_posix()}{query}"
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        with self._errors("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = self._connect()
        # a power of two (statements of a few sizes, all in the connection's statement cache)
        # within the connection's bound on parameters per statement
        fits = self._connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _COLUMNS
        self._insert_rows = 1 << (min(INSERT_ROWS, fits).bit_length() - 1)
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def migrate(self) -> list[int]:
        with self._transaction() as cursor:
            return schema.migrate(cursor, self.migrations, url=self.url, placeholder="?")

    def schema_version(self) -> int:
        with self._locked() as connection:
            return int(connection.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def count(self, model: str | None = None) -> int:
        where, params = ("", ()) if model is None else (" WHERE model = ?", (model,))
        with self._reader() as connection:
            return int(
                connection.execute(f"SELECT count(*) FROM predictions{where}", params).fetchone()[0]
            )

    def ready(self) -> bool:
        try:
            with self._transaction():
                pass  # holding the write lock for a moment proves the file is writable now
        except Exception:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()

    def _insert(self, rows: list[PredictionRow], fields: list[Field]) -> None:
        stamps = {at: micros(at) for at in {row[3] for row in rows}}  # a request's rows share one
        params = [(*row[:3], stamps[row[3]], *row[4:]) for row in rows]
        try:
            with self._transaction() as cursor:
                # Multi-row statements: executemany would run (and leave the GIL) once per row,
                # and under load each retake of the GIL waits for another thread's time slice.
                start = 0
                while start < len(params):
                    size = min(self._insert_rows, 1 << ((len(params) - start).bit_length() - 1))
                    chunk = params[start : start + size]
                    cursor.execute(_INSERT + ", ".join([_ROW] * size), [*itertools.chain(*chunk)])
                    start += size
                cursor.executemany(_ADD_FIELDS, fields)
        except sqlite3.IntegrityError:
            # After the rollback, so the ids found are the stored ones, not this batch's own.
            with self._locked() as connection:
                stored = _stored_ids(connection, [row[0] for row in rows])
            raise DuplicateIdError(stored or [row[0] for row in rows]) from None

    def _label(self, rows: list[LabelRow], received_at: datetime) -> LabelResult:
        ids = list(dict.fromkeys(row[0] for row in rows))
        with self._transaction() as cursor:
            owners = {
                i: (model, version)
                for i, model, version in cursor.execute(
                    "SELECT id, model, version FROM predictions "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                )
            }
            stored = dict(
                cursor.execute(
                    "SELECT prediction_id, value FROM labels "
                    "WHERE prediction_id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                ).fetchall()
            )
            new, replaced, result = split_labels(rows, set(owners), stored)
            received = micros(received_at)
            cursor.executemany(
                "INSERT INTO labels (prediction_id, value, labeled_at, received_at) "
                "VALUES (?, ?, ?, ?)",
                [(i, value, _micros_or_none(at), received) for i, value, at in new],
            )
            cursor.executemany(
                "UPDATE labels SET value = ?, labeled_at = ?, received_at = ? "
                "WHERE prediction_id = ?",
                [(value, _micros_or_none(at), received, i) for i, value, at in replaced],
            )
            cursor.executemany(_ADD_FIELDS, sorted(label_fields(new + replaced, owners)))
        return result

    def _get(self, prediction_id: str) -> StoredRow | None:
        with self._locked() as connection:
            row = connection.execute(_GET, (prediction_id,)).fetchone()
        if row is None:
            return None
        row = list(row)
        for i in (3, len(row) - 2, len(row) - 1):  # created_at, labeled_at, received_at
            row[i] = from_micros(row[i])
        return tuple(row)

    def _window(
        self,
        model: str,
        window: Window,
        version: str | None,
        *,
        parser: WindowParser,
    ) -> None:
        where, params = _where(model, window, version)
        catalog = "SELECT part, key, json_type FROM fields WHERE model = ?"
        labels = parser.labels
        label_join = " LEFT JOIN labels l ON l.prediction_id = p.id" if labels else ""
        line_sql = (
            _LINE
            + (_LABEL if labels else "")
            + (_PROBLEMS if parser.problems else "")
            + (_RECEIVED if labels and parser.problems else "")
        )
        with self._reader() as connection:
            connection.execute("BEGIN")  # one snapshot for the catalog and the lines
            parser.catalog(
                connection.execute(
                    catalog + (" AND version = ?" if version is not None else ""),
                    (model,) if version is None else (model, version),
                ).fetchall()
            )
            connection.text_factory = bytes  # the lines go to polars as they are, never decoded
            cursor = connection.execute(
                f"SELECT {line_sql} || '}}' FROM predictions p{label_join} "
                f"WHERE {where} ORDER BY p.created_at, p.rowid",
                params,
            )
            while rows := cursor.fetchmany(base.READ_CHUNK_ROWS):
                parser.feed(b"\n".join([line for (line,) in rows]))
            connection.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._reader() as connection:
            return connection.execute(sql, params).fetchall()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors("use"):
            if self._closed:
                raise StoreError(f"the prediction store {self.url} is closed")
            yield self._connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._locked() as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                cursor.execute("COMMIT")
            finally:
                if connection.in_transaction:
                    connection.rollback()

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._errors("read"):
            if self._closed:
                raise StoreError(f"the prediction store {self.url} is closed")
            connection = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            try:
                connection.execute("PRAGMA query_only = ON")
                connection.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
                yield connection
            finally:
                connection.close()

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise StoreError(
                f"cannot {action} the prediction store {self.url}: {first_line(exc)}"
            ) from exc


def _where(model: str, window: Window, version: str | None) -> tuple[str, tuple[object, ...]]:
    clauses = ["p.model = ?"]
    params: list[object] = [model]
    for clause, value in (
        ("p.created_at >= ?", window[0]),
        ("p.created_at < ?", window[1]),
        ("p.version = ?", version),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(micros(value) if isinstance(value, datetime) else value)
    return " AND ".join(clauses), tuple(params)


def _stored_ids(connection: sqlite3.Connection, ids: list[str]) -> list[str]:
    # One JSON array parameter instead of one parameter per id: no limit on the batch size.
    return [
        found
        for (found,) in connection.execute(
            "SELECT id FROM predictions WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
    ]


def _micros_or_none(value: datetime | None) -> int | None:
    return None if value is None else micros(value)
