"""Fixtures for every test and doctest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from unittest import mock

import pytest


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    # seed_everything sets PYTHONHASHSEED for child processes, as documented; a test (or doctest)
    # that calls it must not hand that to the subprocesses of the tests after it.
    with mock.patch.dict(os.environ):
        yield
