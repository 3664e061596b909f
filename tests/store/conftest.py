"""Fixtures of the store tests: every backend, each test on a fresh empty database.

``postgres_url`` starts one throwaway PostgreSQL server per pytest(-xdist) worker
(``tests/postgres_server.py``) and fails, never skips, when PostgreSQL is not installed.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.store import PredictionStore, open_store

# tests/ is not a package (and site-packages has an unrelated one named "tests").
sys.path.insert(0, str(Path(__file__).parents[1]))
from postgres_server import PostgresUnavailable, create_database, running_postgres

BACKENDS = ("sqlite", "postgresql")

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database on this worker's throwaway PostgreSQL server."""
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database of ``backend``."""
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/log.db"
    server = request.getfixturevalue("postgres_url")
    return create_database(server, f"test_{next(_databases)}")


@pytest.fixture
def store(store_url: str) -> Iterator[PredictionStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()
