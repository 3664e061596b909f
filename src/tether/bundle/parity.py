"""Training/serving parity: the batch path, the online path and a feature service must agree.

Two checks, both run by ``tether bundle parity``:

- :func:`record_parity` scores the same rows through :meth:`Bundle.predict
  <tether.bundle.Bundle.predict>` (the batch path, the native model on a frame) and
  :meth:`Bundle.predict_record <tether.bundle.Bundle.predict_record>` (the online path, one dict
  at a time, ONNX where it held parity at build time), edge values included: missing values,
  unseen categories, extremes.
- :func:`feature_parity` compares the features another service computed for logged raw inputs
  with the bundle's own preprocessing of the same inputs, column by column, and names every
  column and row that differs: the classic training/serving skew.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from tether.bundle.bundle import Bundle
from tether.bundle.onnx import ParityResult, check_parity, edge_rows
from tether.errors import InputError, TetherError, first_line
from tether.frame import Data, read


@dataclasses.dataclass(frozen=True)
class RecordParity:
    """Batch path vs online path on the same rows.

    ``result`` compares the rows both paths scored; ``failures`` lists rows one path refused
    and the other scored (a row both refuse is consistent and not listed).
    """

    result: ParityResult
    online_path: str
    failures: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Whether both paths agree on every row."""
        return self.result.ok and not self.failures

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "ok": self.ok,
            "online_path": self.online_path,
            **self.result.to_dict(),
            "failures": self.failures,
        }


def record_parity(
    bundle: Bundle,
    data: Data,
    *,
    edges: bool = True,
    rows: int = 5_000,
    tolerance: float = 1e-5,
    seed: int = 0,
) -> RecordParity:
    """Score up to ``rows`` rows of ``data`` (plus edge rows when ``edges``) through both paths.

    Example
    -------
    >>> import polars as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 50, "y": [0, 0, 1, 1] * 50})
    >>> model = LogisticRegression().fit(frame.select("x"), frame["y"])
    >>> bundle = Bundle.build(model, train=frame, valid=frame, target="y", n_resamples=20)
    >>> parity = record_parity(bundle, frame, edges=False)
    >>> parity.ok, parity.result.rows, parity.online_path
    (True, 200, 'onnx')
    """
    frame = read(data).select(bundle.features)
    if frame.height == 0:
        raise InputError("parity needs rows; the data is empty")
    if frame.height > rows:
        frame = frame.sample(n=rows, seed=seed)
    if edges:
        frame = pl.concat([frame, edge_rows(frame, bundle.features, seed=seed)], how="vertical")
    batch, batch_errors = _batch_scores(bundle, frame)
    online, online_errors = _online_scores(bundle, frame)
    failures = [
        {"row": row, "batch": batch_errors.get(row), "online": online_errors.get(row)}
        for row in sorted(set(batch_errors) ^ set(online_errors))
    ]
    scored = np.array(
        [row not in batch_errors and row not in online_errors for row in range(frame.height)]
    )
    result = check_parity(
        batch[scored],
        online[scored],
        task=bundle.task,
        threshold=bundle.threshold,
        tolerance=tolerance,
    )
    return RecordParity(result=result, online_path=bundle.online_path, failures=failures)


def _batch_scores(bundle: Bundle, frame: pl.DataFrame) -> tuple[np.ndarray, dict[int, str]]:
    return scores_where_possible(bundle.scores, frame, _empty_scores(bundle, frame.height))


def scores_where_possible(
    score: Callable[[pl.DataFrame], np.ndarray], frame: pl.DataFrame, empty: np.ndarray
) -> tuple[np.ndarray, dict[int, str]]:
    """``score(frame)``, and when some row makes it raise, each row alone: the scores (``empty``
    filled in) and the error of every row the scorer refused."""
    try:
        return score(frame), {}
    except Exception:  # some (edge) row breaks the model: find which, row by row
        pass
    scores, errors = empty, {}
    for row in range(frame.height):
        try:
            scores[row] = score(frame.slice(row, 1))[0]
        except Exception as exc:  # recorded per row, as the online path does
            errors[row] = f"{type(exc).__name__}: {first_line(exc)}"
    return scores, errors


def parity_of_scored(
    native: np.ndarray,
    fast: np.ndarray,
    scored: np.ndarray,
    *,
    task: str,
    threshold: float,
    tolerance: float = 1e-5,
) -> ParityResult:
    """:func:`~tether.bundle.onnx.check_parity` of scores of the rows in the mask ``scored``,
    with its worst rows given as rows of the whole frame."""
    result = check_parity(native, fast, task=task, threshold=threshold, tolerance=tolerance)
    positions = np.flatnonzero(scored)
    return dataclasses.replace(result, worst_rows=[int(positions[r]) for r in result.worst_rows])


def scored_rows(rows: int, *refused: Mapping[int, str]) -> np.ndarray:
    """Boolean mask of the ``rows`` rows that no scorer refused."""
    mask = np.ones(rows, dtype=bool)
    for errors in refused:
        mask[list(errors)] = False
    return mask


def _online_scores(bundle: Bundle, frame: pl.DataFrame) -> tuple[np.ndarray, dict[int, str]]:
    scores, errors = _empty_scores(bundle, frame.height), {}
    for row, record in enumerate(frame.iter_rows(named=True)):
        try:
            scores[row] = bundle.score_record(record)
        except Exception as exc:  # a refused record is a result of the check, not a crash
            errors[row] = f"{type(exc).__name__}: {first_line(exc)}"
    return scores, errors


def _empty_scores(bundle: Bundle, rows: int) -> np.ndarray:
    shape = (rows, len(bundle.classes)) if bundle.task == "multiclass" else (rows,)
    return np.full(shape, np.nan)


@dataclasses.dataclass(frozen=True)
class FeatureParity:
    """Another service's transformed features vs the bundle's preprocessing of the same rows.

    ``columns`` has one row per feature: ``column``, ``status`` (``match``, ``mismatch``,
    ``missing`` from the service, ``extra`` in the service), ``max_abs_diff``,
    ``mismatched_rows`` and the first mismatching row with both values.
    """

    rows: int
    tolerance: float
    columns: pl.DataFrame

    @property
    def ok(self) -> bool:
        """Whether every column the bundle computes matches."""
        return bool((self.columns["status"] == "match").all())

    def problems(self) -> list[str]:
        """One sentence per column that does not match."""
        lines = []
        for col in self.columns.filter(pl.col("status") != "match").iter_rows(named=True):
            if col["status"] == "mismatch":
                lines.append(
                    f"{col['column']}: {col['mismatched_rows']} of {self.rows} rows differ "
                    f"(max |diff| {col['max_abs_diff']:.3g}); first at row "
                    f"{col['first_row']}: bundle {col['bundle_value']}, service "
                    f"{col['service_value']}"
                )
            elif col["status"] == "missing":
                lines.append(f"{col['column']}: the bundle computes it, the service does not")
            else:
                lines.append(f"{col['column']}: the service sends it, the bundle has no such one")
        return lines


def feature_parity(
    bundle: Bundle,
    raw: Data,
    features: Data,
    *,
    id_column: str | None = None,
    tolerance: float = 1e-6,
) -> FeatureParity:
    """Compare ``features`` (computed elsewhere from ``raw``) with ``bundle.transform(raw)``.

    Rows are matched on ``id_column`` when given (it must be in both frames), else by position
    (both frames must then have the same number of rows). A value matches when
    ``|a - b| <= tolerance * max(1, |a|)``, or both are missing.

    Example
    -------
    >>> import polars as pl
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 50, "y": [0, 0, 1, 1] * 50})
    >>> model = make_pipeline(StandardScaler(), LogisticRegression())
    >>> model = model.fit(frame.select("x"), frame["y"])
    >>> bundle = Bundle.build(model, train=frame, valid=frame, target="y", n_resamples=20)
    >>> service = bundle.transform(frame).with_columns(pl.col("x") * 1.01)
    >>> feature_parity(bundle, frame, service).problems()[0][:25]
    'x: 200 of 200 rows differ'
    """
    raw_frame, service = read(raw), read(features)
    if id_column is not None:
        for name, frame in (("raw", raw_frame), ("features", service)):
            if id_column not in frame.columns:
                raise InputError(f"id column {id_column!r} is not in the {name} data")
            repeated = frame[id_column].filter(frame[id_column].is_duplicated()).head(3)
            if repeated.len():
                raise InputError(
                    f"id column {id_column!r} repeats ids in the {name} data "
                    f"({repeated.to_list()}); rows cannot be matched by id"
                )
        service = raw_frame.select(id_column).join(
            service, on=id_column, how="left", maintain_order="left"
        )
        service = service.drop(id_column)
    elif raw_frame.height != service.height:
        raise InputError(
            f"raw data has {raw_frame.height} rows and features {service.height}; pass "
            "id_column to match them by id"
        )
    expected = bundle.transform(raw_frame)
    rows = []
    for name in expected.columns:
        if name not in service.columns:
            rows.append(_column_row(name, "missing"))
            continue
        rows.append(_compare(name, expected[name], service[name], tolerance))
    rows += [_column_row(name, "extra") for name in service.columns if name not in expected]
    return FeatureParity(rows=raw_frame.height, tolerance=tolerance, columns=pl.DataFrame(rows))


def _compare(name: str, bundle: pl.Series, service: pl.Series, tolerance: float) -> dict[str, Any]:
    try:
        got = service.cast(pl.Float64).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise TetherError(f"feature {name!r} from the service is not numeric: {exc}") from None
    want = bundle.cast(pl.Float64).to_numpy()
    both_missing = np.isnan(want) & np.isnan(got)
    diff = np.abs(want - got)
    bad = ~both_missing & ~(diff <= tolerance * np.maximum(1.0, np.abs(want)))
    if not bad.any():
        finite = diff[~both_missing]
        return _column_row(name, "match", float(finite.max()) if finite.size else 0.0)
    first = int(np.argmax(bad))
    return _column_row(
        name,
        "mismatch",
        float(np.nanmax(np.where(bad, diff, np.nan))),
        int(bad.sum()),
        first,
        float(want[first]),
        float(got[first]),
    )


def _column_row(
    name: str,
    status: str,
    max_abs_diff: float | None = None,
    mismatched: int = 0,
    first_row: int | None = None,
    bundle_value: float | None = None,
    service_value: float | None = None,
) -> dict[str, Any]:
    return {
        "column": name,
        "status": status,
        "max_abs_diff": max_abs_diff,
        "mismatched_rows": mismatched,
        "first_row": first_row,
        "bundle_value": bundle_value,
        "service_value": service_value,
    }
