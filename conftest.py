"""Fixtures for every test and doctest."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

# the tests' helper modules (tests/ is not a package, and site-packages has an unrelated
# package named "tests")
sys.path.insert(0, str(Path(__file__).parent / "tests"))
from postgres_server import PostgresUnavailable, running_postgres


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    # seed_everything sets PYTHONHASHSEED for child processes, as documented; a test (or doctest)
    # that calls it must not hand that to the subprocesses of the tests after it.
    with mock.patch.dict(os.environ):
        yield


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database on this worker's throwaway PostgreSQL server (``tests/postgres_server.py``),
    shared by the store and server tests; fails, never skips, when PostgreSQL is missing."""
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
