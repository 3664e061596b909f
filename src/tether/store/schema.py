"""The store's versioned schema: ordered migrations per backend and the code that applies them.

``schema_version`` holds one row per applied migration; the database's version is the highest.
Opening a store applies the missing migrations in one transaction (all or none), serialized
against other processes opening the same database at once; a database whose version is newer
than the last migration known here was written by a newer tether and is refused.

Both backends keep the same tables: ``predictions`` (one row per logged record, never updated;
JSON columns as text, ``latency_total_ms`` pulled out for queries) with an index on
``(model, created_at)`` for window reads; ``labels`` (one row per labeled prediction); and
``fields``, the catalog of every (model, version, part, key, JSON type) ever written, where
``part`` is ``inputs``, ``outputs`` or ``label``. Writers add to the catalog in the transaction
that writes the values, so a window read learns its column types with one small query instead of
parsing every stored document.

Version 2 adds the monitoring job's results: ``monitor_windows`` (one row per computed version
of a window: model, ``[window_start, window_end)``, version 1, 2, ..., the fingerprint of what
the results were computed from, when, with which bundle version, on how many rows and labels,
and whether the window was over) and ``monitor_results`` (the window's tidy result rows, the
columns of :data:`tether.store.results.RESULT_COLUMNS`, keyed by the window's key, version and
position in the saved frame). A version is never rewritten; a window recomputed on changed data
gets the next version.

Times are integer microseconds since the epoch (UTC) in SQLite and ``timestamptz`` in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tether.errors import UnsupportedVersionError


@dataclass(frozen=True)
class Migration:
    """One step of the schema: statements run in order inside the migrating transaction.

    Parameters
    ----------
    version
        The schema version the database has after this step; consecutive from 1.
    description
        What the step changes, recorded in ``schema_version``.
    statements
        The SQL, one statement per item.

    Example
    -------
    >>> Migration(2, "flags", ("ALTER TABLE predictions ADD COLUMN flag TEXT",)).version
    2
    """

    version: int
    description: str
    statements: tuple[str, ...]


SQLITE: tuple[Migration, ...] = (
    Migration(
        1,
        "predictions and labels",
        (
            """CREATE TABLE predictions (
                id TEXT PRIMARY KEY NOT NULL,
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('ok', 'flagged', 'rejected')),
                inputs TEXT NOT NULL,
                outputs TEXT,
                problems TEXT NOT NULL,
                latency TEXT NOT NULL,
                latency_total_ms REAL,
                shadow TEXT,
                request_id TEXT
            )""",
            "CREATE INDEX predictions_model_created_at ON predictions (model, created_at)",
            """CREATE TABLE labels (
                prediction_id TEXT PRIMARY KEY NOT NULL
                    REFERENCES predictions (id) ON DELETE CASCADE,
                value TEXT NOT NULL,
                labeled_at INTEGER,
                received_at INTEGER NOT NULL
            )""",
            """CREATE TABLE fields (
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                part TEXT NOT NULL,
                key TEXT NOT NULL,
                json_type TEXT NOT NULL,
                PRIMARY KEY (model, version, part, key, json_type)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        2,
        "monitor windows and results",
        (
            """CREATE TABLE monitor_windows (
                model TEXT NOT NULL,
                window_start INTEGER NOT NULL,
                window_end INTEGER NOT NULL,
                version INTEGER NOT NULL,
                fingerprint TEXT NOT NULL,
                computed_at INTEGER NOT NULL,
                bundle_version TEXT NOT NULL,
                "rows" INTEGER NOT NULL,
                labeled INTEGER NOT NULL,
                complete INTEGER NOT NULL CHECK (complete IN (0, 1)),
                PRIMARY KEY (model, window_start, window_end, version),
                CHECK (window_start < window_end)
            ) WITHOUT ROWID""",
            """CREATE TABLE monitor_results (
                model TEXT NOT NULL,
                window_start INTEGER NOT NULL,
                window_end INTEGER NOT NULL,
                version INTEGER NOT NULL,
                position INTEGER NOT NULL,
                "check" TEXT NOT NULL,
                metric TEXT NOT NULL,
                "column" TEXT,
                segment TEXT,
                segment_value TEXT,
                value REAL,
                lower REAL,
                upper REAL,
                baseline REAL,
                alert INTEGER CHECK (alert IN (0, 1)),
                "rows" INTEGER,
                detail TEXT,
                PRIMARY KEY (model, window_start, window_end, version, position),
                FOREIGN KEY (model, window_start, window_end, version)
                    REFERENCES monitor_windows (model, window_start, window_end, version)
                    ON DELETE CASCADE
            )""",
        ),
    ),
)
"""SQLite migrations, oldest first."""

POSTGRES: tuple[Migration, ...] = (
    Migration(
        1,
        "predictions and labels",
        (
            """CREATE TABLE predictions (
                id text PRIMARY KEY,
                model text NOT NULL,
                version text NOT NULL,
                created_at timestamptz NOT NULL,
                status text NOT NULL CHECK (status IN ('ok', 'flagged', 'rejected')),
                inputs json NOT NULL,
                outputs json,
                problems json NOT NULL,
                latency json NOT NULL,
                latency_total_ms double precision,
                shadow json,
                request_id text
            )""",
            "CREATE INDEX predictions_model_created_at ON predictions (model, created_at)",
            """CREATE TABLE labels (
                prediction_id text PRIMARY KEY REFERENCES predictions (id) ON DELETE CASCADE,
                value json NOT NULL,
                labeled_at timestamptz,
                received_at timestamptz NOT NULL
            )""",
            """CREATE TABLE fields (
                model text NOT NULL,
                version text NOT NULL,
                part text NOT NULL,
                key text NOT NULL,
                json_type text NOT NULL,
                PRIMARY KEY (model, version, part, key, json_type)
            )""",
        ),
    ),
    Migration(
        2,
        "monitor windows and results",
        (
            """CREATE TABLE monitor_windows (
                model text NOT NULL,
                window_start timestamptz NOT NULL,
                window_end timestamptz NOT NULL,
                version integer NOT NULL,
                fingerprint text NOT NULL,
                computed_at timestamptz NOT NULL,
                bundle_version text NOT NULL,
                "rows" bigint NOT NULL,
                labeled bigint NOT NULL,
                complete boolean NOT NULL,
                PRIMARY KEY (model, window_start, window_end, version),
                CHECK (window_start < window_end)
            )""",
            """CREATE TABLE monitor_results (
                model text NOT NULL,
                window_start timestamptz NOT NULL,
                window_end timestamptz NOT NULL,
                version integer NOT NULL,
                position integer NOT NULL,
                "check" text NOT NULL,
                metric text NOT NULL,
                "column" text,
                segment text,
                segment_value text,
                value double precision,
                lower double precision,
                upper double precision,
                baseline double precision,
                alert boolean,
                "rows" bigint,
                detail text,
                PRIMARY KEY (model, window_start, window_end, version, position),
                FOREIGN KEY (model, window_start, window_end, version)
                    REFERENCES monitor_windows (model, window_start, window_end, version)
                    ON DELETE CASCADE
            )""",
        ),
    ),
)
"""PostgreSQL migrations, oldest first; ``json`` (not ``jsonb``) keeps the text as written."""

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


class Cursor(Protocol):
    """The part of a DB-API cursor the shared store code uses (sqlite3 and psycopg both fit)."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, query: Any, params_seq: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...


def current_version(cursor: Cursor) -> int:
    """The highest applied migration, 0 for a database without ``schema_version``."""
    cursor.execute(VERSION_TABLE)
    cursor.execute("SELECT max(version) FROM schema_version")
    return int(cursor.fetchone()[0] or 0)


def migrate(
    cursor: Cursor, migrations: Sequence[Migration], *, url: str, placeholder: str
) -> list[int]:
    """Apply the ``migrations`` newer than the database's version, inside the caller's
    transaction; return the versions applied.

    Parameters
    ----------
    cursor
        A cursor in an open transaction that holds the database's migration lock.
    migrations
        The backend's migrations, oldest first, versions 1, 2, ...
    url
        The store's URL (password removed), for the error message.
    placeholder
        The driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg).

    Example
    -------
    >>> import sqlite3
    >>> cursor = sqlite3.connect(":memory:").cursor()
    >>> migrate(cursor, SQLITE, url="sqlite:///:memory:", placeholder="?")
    [1, 2]
    >>> migrate(cursor, SQLITE, url="sqlite:///:memory:", placeholder="?")
    []
    """
    latest = migrations[-1].version
    if [m.version for m in migrations] != list(range(1, latest + 1)):
        raise ValueError("migrations must be numbered 1, 2, ... in order")
    current = current_version(cursor)
    if current > latest:
        raise UnsupportedVersionError(
            f"the prediction store at {url} has schema version {current}, newer than the "
            f"{latest} this tether knows: upgrade tether to use it"
        )
    applied = []
    insert = (
        "INSERT INTO schema_version (version, description, applied_at) "
        f"VALUES ({placeholder}, {placeholder}, {placeholder})"
    )
    for migration in migrations[current:]:
        for statement in migration.statements:
            cursor.execute(statement)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        cursor.execute(insert, (migration.version, migration.description, now))
        applied.append(migration.version)
    return applied
