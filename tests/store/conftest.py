"""Fixtures of the store tests: every backend, each test on a fresh empty database (on the
root conftest's throwaway PostgreSQL server for the PostgreSQL backend)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres_server import create_database
from tether.store import PredictionStore, open_store

BACKENDS = ("sqlite", "postgresql")

_databases = itertools.count()


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
