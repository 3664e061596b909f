"""Fixtures of the bundle tests: the credit frame, its labels, one thread per runtime."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from credit_data import credit_frame, credit_labels
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models on a shared 2-core machine: OpenMP threads of several runtimes (scikit-learn,
    # LightGBM, XGBoost) spinning against each other cost far more than they parallelize
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return credit_frame()


@pytest.fixture(scope="module")
def labels(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    return credit_labels(frame)
