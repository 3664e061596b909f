"""Deepchecks' ``WeakSegmentsPerformance`` on the segments benchmark's frames, run in
``benchmarks/.venv-deepchecks``.

Usage: ``python peer_deepchecks_segments.py SETTING CATEGORICAL FRAME.parquet [FRAME.parquet ...]``
with SETTING one of ``SETTINGS`` and CATEGORICAL the comma-separated categorical columns. Each
frame holds the features, the label ``y`` and the model's calibrated ``score`` (P(y = 1)); the
check gets the features and label as a ``Dataset`` and the model's output as precomputed
``y_pred`` (score >= 0.5) and ``y_proba``, with no model object, so it has no feature importance
and ranks the features in its own order (categorical first). It then scores each candidate
segment by accuracy (its default binary scorer) and searches error trees fitted on the
per-row negative cross-entropy, for every pair of its top ``n_top_features`` features, on a
sample of ``n_samples`` (10,000) rows.

Prints one JSON line: versions, and per frame the check's wall seconds (data in memory), its
average accuracy, and every segment of its result value (``weak_segments_list``) with its
accuracy, share of the sample and conditions in a neutral form the harness turns into row
masks: ``{"column", "kind": "range", "low", "high"}`` meaning ``low < x <= high`` (the tree's
split sides; ``None`` unbounded; missing values never inside, as the check drops them), or
``{"column", "kind": "in", "values", "missing"}`` for a categorical column, its ``Other``
(levels merged for being rarer than ``categorical_aggregation_threshold`` in the sample)
expanded into those levels and its ``None`` into ``missing``. A frame on which the check finds
no segment at all (it raises ``DeepchecksProcessError``) has an empty list.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    # every feature searched, segments down to 0.5% of the sample, and categories down to 0.5%
    # kept as themselves instead of merged into "Other"
    "favourable": {
        "n_top_features": 20,
        "segment_minimum_size_ratio": 0.005,
        "categorical_aggregation_threshold": 0.005,
    },
}


def _bound(value: float) -> float | None:
    return None if math.isinf(value) else float(value)


def conditions(
    check: Any, frame: pd.DataFrame, categorical: list[str], row: pd.Series
) -> list[dict[str, Any]]:
    """The conditions of one segment of the check's result value, in the neutral form."""
    found = []
    for feature in ("Feature1", "Feature2"):
        column = row[feature]
        if column == "":
            continue
        bounds = row[f"{feature} Range"]
        if column not in categorical:
            found.append(
                {
                    "column": column,
                    "kind": "range",
                    "low": _bound(bounds[0]),
                    "high": _bound(bounds[1]),
                }
            )
            continue
        kept = set(check.encoder_mapping[column]["original_category"])
        values = [str(v) for v in bounds if v not in ("Other", "None")]
        if "Other" in bounds:
            levels = frame[column].dropna().astype(str).unique()
            values += [str(v) for v in levels if v not in kept]
        found.append(
            {"column": column, "kind": "in", "values": values, "missing": "None" in bounds}
        )
    return found


def run(setting: str, frame: pd.DataFrame, categorical: list[str]) -> dict[str, Any]:
    from deepchecks.core.errors import DeepchecksProcessError
    from deepchecks.tabular import Dataset
    from deepchecks.tabular.checks import WeakSegmentsPerformance

    score = frame["score"].to_numpy()
    data = frame.drop(columns=["score"])
    started = time.perf_counter()
    dataset = Dataset(data, label="y", cat_features=categorical)
    check = WeakSegmentsPerformance(**SETTINGS[setting])
    try:
        result = check.run(
            dataset,
            y_pred=(score >= 0.5).astype(int),
            y_proba=np.column_stack([1.0 - score, score]),
            model_classes=[0, 1],
            with_display=False,
        )
    except DeepchecksProcessError:
        return {"seconds": time.perf_counter() - started, "avg_score": None, "segments": []}
    seconds = time.perf_counter() - started
    listed = result.value["weak_segments_list"]
    segments = [
        {
            "score": float(row.iloc[0]),
            "percent": float(row["% of Data"]),
            "conditions": conditions(check, data, categorical, row),
        }
        for _, row in listed.iterrows()
    ]
    return {
        "seconds": seconds,
        "avg_score": float(result.value["avg_score"]),
        "segments": segments,
    }


def main() -> None:
    # scikit-learn warns about Deepchecks' scorers on every import
    warnings.filterwarnings("ignore")
    import deepchecks
    import sklearn

    setting, categorical_arg, *paths = sys.argv[1:]
    if setting not in SETTINGS:
        raise SystemExit(f"unknown setting {setting!r}; choose from {sorted(SETTINGS)}")
    categorical = categorical_arg.split(",")
    runs = [run(setting, pd.read_parquet(path), categorical) for path in paths]
    print(
        json.dumps(
            {
                "tool": "deepchecks",
                "setting": setting,
                "parameters": SETTINGS[setting],
                "versions": {
                    "deepchecks": deepchecks.__version__,
                    "scikit-learn": sklearn.__version__,
                    "pandas": pd.__version__,
                },
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
