"""SQLite specifics: durability settings, locking, opening by path or URL, unreadable files."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from store_helpers import record

from tether.errors import InputError
from tether.store import StoreError, open_store
from tether.store.sqlite import SQLiteStore


def test_commits_are_durable_wal_with_full_sync(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "log.db")
    connection = store._connection
    settings = [
        connection.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
    ]
    store.close()
    assert settings == ["wal", 2, 30_000, 1]  # synchronous 2 = FULL: the WAL is fsynced


@pytest.mark.parametrize(
    "form", ["{path}", "sqlite://{path}", "sqlite:///{path}", "{relative}"], ids=str
)
def test_open_store_takes_paths_and_sqlite_urls(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sub" / "log.db"
    store = open_store(form.format(path=path, relative="sub/log.db"))
    assert store.url == f"sqlite://{path}"
    store.close()
    assert path.exists()


def test_open_store_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TETHER_DB_URL", raising=False)
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    store = open_store()
    assert store.url == f"sqlite://{tmp_path}/home/tether.db"
    store.close()
    monkeypatch.setenv("TETHER_DB_URL", f"sqlite://{tmp_path}/env.db")
    store = open_store()
    assert store.url == f"sqlite://{tmp_path}/env.db"
    store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://host/db", "scheme 'mysql'"), ("sqlite://relative.db", "no absolute path")],
)
def test_open_store_refuses_other_urls(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_store(url)


def test_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 200)
    with pytest.raises(StoreError, match="not a database"):
        open_store(path)


def test_write_lock_held_elsewhere_fails_after_the_timeout(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "log.db", timeout=0.1)
    other = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="locked"):
        store.log([record("a")])
    assert not store.ready()
    other.execute("ROLLBACK")
    assert store.ready()
    store.log([record("a")])
    assert store.count() == 1
    other.close()
    store.close()


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "log.db", timeout=0.1)
    store.log([record("a")])
    other = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("DELETE FROM fields")
    assert store.read("late-arrival")["id"].to_list() == ["a"]  # WAL: readers see the last commit
    assert store.count() == 1
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_synchronous_normal_is_applied_and_named_in_the_url(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = open_store(f"sqlite://{path}?synchronous=NORMAL")
    settings = [store._connection.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous")]  # fmt: skip
    store.log([record("a")])
    store.close()
    assert settings == ["wal", 1]  # synchronous 1 = NORMAL: commits are not fsynced
    assert store.url == f"sqlite://{path}?synchronous=normal"
    again = open_store(store.url)  # the URL reopens the store with its setting
    assert again.count() == 1
    assert again._connection.execute("PRAGMA synchronous").fetchone()[0] == 1
    again.close()
    default = open_store(f"sqlite://{path}?synchronous=full")
    assert default._connection.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert default.url == f"sqlite://{path}"
    default.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("synchronous=off", "parameter synchronous='off' is not one of full, normal"),
        ("synchronous=", "parameter synchronous='' is not one of full, normal"),
        ("timeout=5", "parameter 'timeout' is unknown"),
    ],
)
def test_bad_sqlite_url_parameters_are_refused(tmp_path: Path, query: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        open_store(f"sqlite://{tmp_path}/log.db?{query}")
    with pytest.raises(InputError, match="synchronous='extra' is not one of full, normal"):
        SQLiteStore(tmp_path / "log.db", synchronous="extra")
    assert not (tmp_path / "log.db").exists()
