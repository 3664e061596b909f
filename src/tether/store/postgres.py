"""The prediction store on PostgreSQL, for several servers writing one log.

Writes go through one connection per store held under a lock, with ``synchronous_commit = on``
set on the session, so a commit is on the server's disk (WAL flushed) before ``log`` returns.
Predictions are inserted with ``COPY ... FROM STDIN`` and windows are read with
``COPY (SELECT ...) TO STDOUT``, the server writing each line of NDJSON itself, so a million rows
cross the wire as one byte stream that polars parses in parallel. A broken connection (server
restart, network cut) fails the call that meets it with :class:`StoreError` and is replaced on
the next call. The URL's password never appears in :attr:`url`, in logs or in error messages.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
from psycopg.abc import Buffer

from tether.errors import first_line
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
    label_fields,
)

CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK = 0x7465746865720001  # pg_advisory_xact_lock key: "tether" + 1, any constant

_JSON_COLUMNS = {"inputs", "outputs", "problems", "latency", "shadow"}
_GET = (
    "SELECT "
    + ", ".join(f"p.{c}::text" if c in _JSON_COLUMNS else f"p.{c}" for c in PREDICTION_COLUMNS)
    + ", l.value::text, l.labeled_at, l.received_at "
    "FROM predictions p LEFT JOIN labels l ON l.prediction_id = p.id WHERE p.id = %s"
)
_MICROS = "(extract(epoch FROM {}) * 1000000)::bigint"
# One NDJSON line per prediction (layout in tether.store.frame); the json columns hold valid JSON
# written by tether.store.rows, so they are spliced in as text, without a parse.
_LINE = (
    """'{"id":' || to_json(p.id)::text || ',"model":' || to_json(p.model)::text"""
    """ || ',"version":' || to_json(p.version)::text"""
    f""" || ',"created_at":' || {_MICROS.format("p.created_at")}"""
    """ || ',"status":' || to_json(p.status)::text"""
    """ || ',"request_id":' || coalesce(to_json(p.request_id)::text, 'null')"""
    """ || ',"inputs":' || p.inputs::text || ',"outputs":' || coalesce(p.outputs::text, 'null')"""
    """ || ',"latency_total_ms":' || coalesce(to_json(p.latency_total_ms)::text, 'null')"""
)
_LABEL = (
    """ || ',"label":' || coalesce(l.value::text, 'null') || ',"labeled_at":' || """
    f"""coalesce({_MICROS.format("l.labeled_at")}::text, 'null')"""
)
# Most records have no problems; leaving the field out for them (read as none) parses several
# times faster than an empty list.
_PROBLEMS = (
    """ || CASE WHEN p.problems::text = '[]' THEN '' ELSE ',"problems":' || p.problems::text END"""
)
_RECEIVED = (
    f""" || ',"label_received_at":' || coalesce({_MICROS.format("l.received_at")}::text, 'null')"""
)
# CSV with a delimiter and a quote character that valid JSON text never contains raw: every line
# comes out exactly as the server built it, unquoted and unescaped.
_COPY_OUT = "COPY ({}) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
_ADD_FIELDS = (
    "INSERT INTO fields (model, version, part, key, json_type) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)


class PostgresStore(PredictionStore):
    """A prediction store in a PostgreSQL database (its tables are created on first open).

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/database?...`` (libpq URI); the password may
        also come from ``PGPASSWORD`` or ``~/.pgpass``.

    Example
    -------
    >>> redact("postgresql://tether:s3cret@db:5432/log?password=x&sslmode=require")
    'postgresql://tether@db:5432/log?sslmode=require'
    """

    migrations = schema.POSTGRES
    # Savers of one window take a transaction lock on its key, so the second reads the first's
    # version once it commits (READ COMMITTED: each statement sees the latest commits).
    dialect = Dialect("%s", _MICROS, lambda at: at, lock="SELECT pg_advisory_xact_lock(%s)")

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = redact(url)
        self._conninfo = url
        self._secrets = _passwords(url)
        self._lock = threading.Lock()
        self._closed = False
        self._connection: psycopg.Connection | None = None
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def migrate(self) -> list[int]:
        with self._transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            return schema.migrate(cursor, self.migrations, url=self.url, placeholder="%s")

    def schema_version(self) -> int:
        with self._transaction() as cursor:
            row = cursor.execute("SELECT max(version) FROM schema_version").fetchone()
            return int(row[0]) if row else 0

    def count(self, model: str | None = None) -> int:
        where, params = ("", ()) if model is None else (" WHERE model = %s", (model,))
        with self._reader() as connection:
            row = connection.execute(f"SELECT count(*) FROM predictions{where}", params).fetchone()
            return int(row[0]) if row else 0

    def ready(self) -> bool:
        try:
            with self._transaction() as cursor:
                row = cursor.execute(
                    "SELECT NOT pg_is_in_recovery() "
                    "AND current_setting('transaction_read_only') = 'off' "
                    "AND has_table_privilege('predictions', 'INSERT')"
                ).fetchone()
        except Exception:
            return False
        return bool(row and row[0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _insert(self, rows: list[PredictionRow], fields: list[Field]) -> None:
        try:
            with self._transaction() as cursor:
                columns = ", ".join(PREDICTION_COLUMNS)
                with cursor.copy(f"COPY predictions ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                if fields:
                    cursor.executemany(_ADD_FIELDS, fields)
        except psycopg.errors.UniqueViolation:
            ids = [row[0] for row in rows]
            with self._transaction() as cursor:
                found = cursor.execute(
                    "SELECT id FROM predictions WHERE id = ANY(%s)", (ids,)
                ).fetchall()
            stored = {i for (i,) in found}
            raise DuplicateIdError([i for i in ids if i in stored] or ids) from None

    def _label(self, rows: list[LabelRow], received_at: datetime) -> LabelResult:
        ids = list(dict.fromkeys(row[0] for row in rows))
        with self._transaction() as cursor:
            # Row locks on the predictions serialize concurrent labelers of the same ids, so the
            # stored labels read here are still current when this transaction writes.
            owners = {
                i: (model, version)
                for i, model, version in cursor.execute(
                    "SELECT id, model, version FROM predictions WHERE id = ANY(%s) ORDER BY id "
                    "FOR NO KEY UPDATE",
                    (ids,),
                )
            }
            stored = dict(
                cursor.execute(
                    "SELECT prediction_id, value::text FROM labels WHERE prediction_id = ANY(%s)",
                    (ids,),
                ).fetchall()
            )
            new, replaced, result = split_labels(rows, set(owners), stored)
            if new:
                cursor.executemany(
                    "INSERT INTO labels (prediction_id, value, labeled_at, received_at) "
                    "VALUES (%s, %s, %s, %s)",
                    [(i, value, at, received_at) for i, value, at in new],
                )
            if replaced:
                cursor.executemany(
                    "UPDATE labels SET value = %s, labeled_at = %s, received_at = %s "
                    "WHERE prediction_id = %s",
                    [(value, at, received_at, i) for i, value, at in replaced],
                )
            if new or replaced:
                cursor.executemany(_ADD_FIELDS, sorted(label_fields(new + replaced, owners)))
        return result

    def _get(self, prediction_id: str) -> StoredRow | None:
        with self._transaction() as cursor:
            row = cursor.execute(_GET, (prediction_id,)).fetchone()
        return None if row is None else tuple(row)

    def _window(
        self,
        model: str,
        window: Window,
        version: str | None,
        *,
        parser: WindowParser,
    ) -> None:
        where, params = _where(model, window, version)
        labels = parser.labels
        label_join = " LEFT JOIN labels l ON l.prediction_id = p.id" if labels else ""
        line_sql = (
            _LINE
            + (_LABEL if labels else "")
            + (_PROBLEMS if parser.problems else "")
            + (_RECEIVED if labels and parser.problems else "")
        )
        # No ORDER BY: sorting here would carry every built line through the sort (an external
        # merge on disk for a large window); the parser orders the frame instead.
        lines_sql = f"SELECT {line_sql} || '}}' FROM predictions p{label_join} WHERE {where}"
        with self._reader() as connection, connection.cursor() as cursor:
            # One snapshot for the catalog and the lines.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            parser.catalog(
                cursor.execute(
                    "SELECT part, key, json_type FROM fields WHERE model = %s"
                    + (" AND version = %s" if version is not None else ""),
                    (model,) if version is None else (model, version),
                ).fetchall()
            )
            with cursor.copy(_COPY_OUT.format(lines_sql), params) as copy:
                rows: list[Buffer] = []
                # COPY sends one message per row, each ending in a newline.
                while row := copy.read():
                    rows.append(row)
                    if len(rows) == base.READ_CHUNK_ROWS:
                        parser.feed(b"".join(rows))
                        rows = []
                parser.feed(b"".join(rows))

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._reader() as connection:
            return connection.execute(sql, params).fetchall()

    def _connect(self) -> psycopg.Connection:
        connection = psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )
        # UTC datetimes back; a commit waits for its WAL flush even where the server's default
        # says otherwise.
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET synchronous_commit = on")
        return connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor]:
        with self._lock, self._errors():
            if self._closed:
                raise StoreError(f"the prediction store {self.url} is closed")
            if self._connection is None or self._connection.broken or self._connection.closed:
                self._connection = self._connect()
            with self._connection.transaction(), self._connection.cursor() as cursor:
                yield cursor

    @contextlib.contextmanager
    def _reader(self) -> Iterator[psycopg.Connection]:
        with self._errors():
            if self._closed:
                raise StoreError(f"the prediction store {self.url} is closed")
            connection = self._connect()
            try:
                with connection.transaction():
                    yield connection
            finally:
                connection.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            message = first_line(exc)
            for secret in self._secrets:
                message = message.replace(secret, "***")
            raise StoreError(f"prediction store {self.url}: {message}") from None


def redact(url: str) -> str:
    """``url`` without its password (in the user part or as a ``password`` parameter)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urllib.parse.urlencode(
        [
            (key, value)
            for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() != "password"
        ]
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _passwords(url: str) -> list[str]:
    parts = urllib.parse.urlsplit(url)
    found = [parts.password] if parts.password else []
    if "@" in parts.netloc and ":" in parts.netloc.rsplit("@", 1)[0]:
        found.append(parts.netloc.rsplit("@", 1)[0].split(":", 1)[1])  # as written, %-encoded
    found += [
        value
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() == "password" and value
    ]
    return sorted(set(found), key=len, reverse=True)


def _where(model: str, window: Window, version: str | None) -> tuple[str, tuple[object, ...]]:
    clauses = ["p.model = %s"]
    params: list[object] = [model]
    for clause, value in (
        ("p.created_at >= %s", window[0]),
        ("p.created_at < %s", window[1]),
        ("p.version = %s", version),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return " AND ".join(clauses), tuple(params)
