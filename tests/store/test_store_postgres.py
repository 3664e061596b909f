"""PostgreSQL specifics: passwords kept out of sight, reconnection, concurrent migration."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from store_helpers import record

from postgres_server import create_database
from tether.store import PredictionStore, StoreError, open_store
from tether.store.postgres import PostgresStore, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/log", "postgresql://app@db:5432/log"),
        (
            "postgresql://app:p%40ss@db/log?sslmode=require",
            "postgresql://app@db/log?sslmode=require",
        ),
        (
            "postgres://db/log?user=app&password=s3cret&connect_timeout=3",
            "postgres://db/log?user=app&connect_timeout=3",
        ),
        ("postgresql://app@db/log", "postgresql://app@db/log"),
    ],
)
def test_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_connection_error_never_shows_the_password() -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://app:Pa55word-x@127.0.0.1:{port}/log?password=Other-Pw"
    with pytest.raises(StoreError) as error:
        open_store(url)
    message = str(error.value)
    assert f"postgresql://app@127.0.0.1:{port}/log" in message
    assert "Pa55word" not in message
    assert "Other-Pw" not in message


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[PredictionStore]:
    store = open_store(create_database(postgres_url, f"pg_{uuid.uuid4().hex}"))
    yield store
    store.close()


def test_commits_wait_for_the_wal_flush(postgres_store: PredictionStore, postgres_url: str) -> None:
    with postgres_store._transaction() as cursor:  # type: ignore[attr-defined]
        settings = [
            cursor.execute(f"SHOW {name}").fetchone()[0] for name in ("synchronous_commit", "fsync")
        ]
    assert settings == ["on", "on"]


def test_lost_connection_is_replaced(postgres_store: PredictionStore, postgres_url: str) -> None:
    postgres_store.log([record("a")])
    database = postgres_store.url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
    answers = [postgres_store.ready() for _ in range(2)]
    assert answers[-1]  # the first call may meet the dead connection; the next reconnects
    postgres_store.log([record("b", 1)])
    assert postgres_store.count() == 2


def test_concurrent_opens_migrate_once(postgres_url: str) -> None:
    url = create_database(postgres_url, f"racing_{uuid.uuid4().hex}")
    opened: list[PredictionStore] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        opened.append(open_store(url))

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latest = len(PostgresStore.migrations)
    assert len(opened) == 4
    assert all(store.schema_version() == latest for store in opened)
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM schema_version").fetchone()[0] == latest
    for store in opened:
        store.close()
