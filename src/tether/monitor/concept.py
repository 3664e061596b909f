"""Concept drift on the labeled stream: change points in the model's per-row error.

Input drift says the world looks different; concept drift says the model is now wrong about it.
Once labels arrive, every labeled prediction gives one error: 0/1 misclassification for
classifiers, absolute error for regression. Ordered by the time of the prediction, these form a
stream whose mean is the model's error rate, and a change point in that mean is concept drift
(or a broken label feed). Three detectors from river watch it, each with its own strength:
ADWIN (adaptive window, finds changes of either sign with a bound on false alarms), DDM (the
classic error-rate test, 0/1 streams only) and Page-Hinkley (a CUSUM, quick on sustained rises).

:class:`ConceptDriftMonitor` carries the detectors across windows (the stream continues) and
serializes their state to JSON between runs; :func:`concept_drift` runs it over one window's
labeled rows and returns one result row per detector (``check="concept"``).
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import river
from river import stats
from river.drift import ADWIN, PageHinkley
from river.drift.binary import DDM

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.monitor.result import result, results_frame
from tether.profile.serialize import encode_float

__all__ = ["DETECTORS", "ChangePoint", "ConceptDriftMonitor", "concept_drift", "labeled_errors"]

DETECTORS = ("adwin", "ddm", "page_hinkley")
"""Detectors by name; ``ddm`` needs a 0/1 error stream (classification)."""

TASKS = ("binary", "multiclass", "regression")
FORMAT = "tether-concept-monitor"

Detector = ADWIN | DDM | PageHinkley
TIME = pl.Datetime("us", "UTC")


class ChangePoint(NamedTuple):
    """Where a detector fired: the element's position in the stream (0 = the first error ever
    fed to the monitor) and its time (None when no times were given)."""

    position: int
    time: datetime | None


class ConceptDriftMonitor:
    """Change points in a stream of per-row model errors, found by river's drift detectors.

    Errors are fed in order with :meth:`update_many`, in as many calls as the stream has
    windows; the change points found are the same as in one pass, and :meth:`to_dict` /
    :meth:`from_dict` carry the whole state between runs as JSON (ADWIN's window as the bytes
    river's Rust core writes of it, the Python detectors' numbers as they are; no pickle). A
    state is read only by the river version that wrote it.

    ADWIN and DDM take 0/1 errors as they are (their bounds assume values in [0, 1]);
    Page-Hinkley, and ADWIN on regression errors, take ``error / scale``, the error in units of
    its standard deviation, so one setting means the same for a 2% and a 30% error rate or a
    regression error in dollars. Without ``scale``, it is measured on the first ``warm_start``
    errors, which are held back until then and fed afterwards, in order: no change point is
    lost and the scale does not depend on how the stream was split into calls.

    river runs per element in Python: about 0.18 µs of CPU per error for ADWIN (Rust core),
    0.38 µs for DDM and 0.40 µs for Page-Hinkley, so :func:`concept_drift` on a million labeled
    rows takes about 1.0 s of CPU (2.4 s wall on two busy shared cores). ``chunk_size=100``
    brings that to 0.6 s: Page-Hinkley then gets the means of consecutive chunks of errors
    with its threshold divided by ``chunk_size`` (its cumulative sum is the per-element sum
    read at chunk ends), which delays it by about one chunk (a doubled 10% error rate: median
    delay 304 errors per element, 399 chunked). ADWIN and DDM always see every error: ADWIN is
    cheap, and DDM's test is for 0/1 values.

    With the defaults, measured on 100 clean streams of 10k errors per error rate (2%, 10%,
    30%, and absolute normal residuals): each detector fired on at most 2 streams; on clean
    streams of a million errors, at most once. A doubled error rate 10% -> 20% is found after
    a median (max of 30) of 295 (631) errors by ADWIN, 758 (1404) by DDM, 304 (541) by
    Page-Hinkley; 30% -> 45%: 311 (567), 868 (1839), 360 (459); 2% -> 4%: 2231, 1850, 817
    (ADWIN and DDM missed one of 30 within 10k errors).

    Parameters
    ----------
    task
        ``binary``, ``multiclass`` (0/1 errors) or ``regression`` (absolute errors).
    detectors
        Names from :data:`DETECTORS`; default all that apply to the task.
    scale
        Standard deviation of one error; measured on the first ``warm_start`` when None.
    warm_start
        Errors measured for ``scale``.
    chunk_size
        Errors per Page-Hinkley input (1: every error).
    adwin_delta
        ADWIN's confidence: lower means fewer false alarms and slower detection.
    ddm_warm_start, ddm_threshold
        Errors DDM counts before it may fire, and its drift threshold in standard deviations
        of the error rate. Gama et al.'s 30 and 3 fire on 10-40% of clean 10k-error streams
        (the early minimum of the error rate is biased low); 1000 and 4 fire on 0-2% of them.
    ph_delta, ph_threshold
        Page-Hinkley's allowed drift and its threshold, in units of ``scale``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> errors = np.concatenate([rng.random(5000) < 0.1, rng.random(5000) < 0.3])
    >>> monitor = ConceptDriftMonitor("binary")
    >>> _ = monitor.update_many(errors[:6000]).update_many(errors[6000:])
    >>> {name: [p.position for p in points] for name, points in monitor.change_points_.items()}
    {'adwin': [5119], 'ddm': [5510], 'page_hinkley': [5149, 6311]}
    >>> again = ConceptDriftMonitor.from_dict(monitor.to_dict())
    >>> again.seen_, again.change_points_ == monitor.change_points_
    (10000, True)

    References
    ----------
    Bifet, A., Gavaldà, R. (2007). Learning from time-changing data with adaptive windowing.
    SIAM International Conference on Data Mining, 443-448.

    Gama, J., Medas, P., Castillo, G., Rodrigues, P. (2004). Learning with drift detection.
    Brazilian Symposium on Artificial Intelligence (SBIA), 286-295.

    Page, E. S. (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
    """

    def __init__(
        self,
        task: str,
        *,
        detectors: Sequence[str] | None = None,
        scale: float | None = None,
        warm_start: int = 1000,
        chunk_size: int = 1,
        adwin_delta: float = 0.002,
        ddm_warm_start: int = 1000,
        ddm_threshold: float = 4.0,
        ph_delta: float = 0.05,
        ph_threshold: float = 100.0,
    ) -> None:
        self.task = task
        self.detectors = detectors
        self.scale = scale
        self.warm_start = warm_start
        self.chunk_size = chunk_size
        self.adwin_delta = adwin_delta
        self.ddm_warm_start = ddm_warm_start
        self.ddm_threshold = ddm_threshold
        self.ph_delta = ph_delta
        self.ph_threshold = ph_threshold
        self._check()
        self._reset()

    def _check(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"task {self.task!r} is not one of {list(TASKS)}")
        names = self.detector_names
        unknown = [name for name in names if name not in DETECTORS]
        if unknown or not names:
            raise InputError(f"detectors {list(names)}: use one or more of {list(DETECTORS)}")
        if "ddm" in names and self.task == "regression":
            raise InputError("detector 'ddm' needs 0/1 errors; regression errors are not 0/1")
        for name in ("warm_start", "chunk_size", "ddm_warm_start"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} is {value!r}; it must be a positive integer")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"scale must be a positive number, got {self.scale}")
        for name in ("adwin_delta", "ddm_threshold", "ph_delta", "ph_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number, got {value!r}")
        if not self.adwin_delta < 1:
            raise InputError(f"adwin_delta must be below 1, got {self.adwin_delta}")

    def _reset(self) -> None:
        self.seen_ = 0
        self.scale_: float | None = self.scale
        self.change_points_: dict[str, list[ChangePoint]] = {n: [] for n in self.detector_names}
        self._detectors: dict[str, Detector] = {
            name: self._detector(name) for name in self.detector_names
        }
        # errors held back until scale_ is measured, and the chunk Page-Hinkley has not seen
        self._pending = _no_errors()
        self._pending_times = _times(None, 0)
        self._chunk_sum = 0.0
        self._chunk_count = 0

    @property
    def detector_names(self) -> tuple[str, ...]:
        """The detectors this monitor runs."""
        if self.detectors is not None:
            return tuple(self.detectors)
        return tuple(n for n in DETECTORS if n != "ddm" or self.task != "regression")

    def _detector(self, name: str) -> Detector:
        if name == "adwin":
            return ADWIN(delta=self.adwin_delta)
        if name == "ddm":
            return DDM(warm_start=self.ddm_warm_start, drift_threshold=self.ddm_threshold)
        return PageHinkley(
            delta=self.ph_delta,
            threshold=self.ph_threshold / self.chunk_size,
            alpha=1.0,  # no forgetting: the classic test, whose false-alarm rate was measured
            mode="up",
        )

    # -- feeding -------------------------------------------------------------------------

    def update_many(self, errors: Any, times: Any = None) -> ConceptDriftMonitor:
        """Feed the next errors of the stream, oldest first, with their times (optional:
        datetimes, a polars Datetime Series or numpy datetime64), and return self."""
        values = np.asarray(errors, dtype=np.float64).reshape(-1)
        if not np.isfinite(values).all() or (values < 0).any():
            raise InputError("errors must be finite and non-negative (one per labeled row)")
        if self.task != "regression" and not np.isin(values, (0.0, 1.0)).all():
            raise InputError(f"{self.task} errors must be 0 or 1 (misclassified or not)")
        stamps = _times(times, values.size)
        start = self.seen_
        self.seen_ += values.size
        if self.scale_ is None:
            values = np.concatenate([self._pending, values])
            stamps = pl.concat([self._pending_times, stamps])
            start = self.seen_ - values.size
            if values.size < self.warm_start:
                self._pending, self._pending_times = values, stamps
                return self
            self.scale_ = _scale(values[: self.warm_start], self.task)
            self._pending, self._pending_times = _no_errors(), _times(None, 0)
        self._feed(values, stamps, start)
        return self

    def _feed(self, values: np.ndarray, stamps: pl.Series, start: int) -> None:
        assert self.scale_ is not None
        for name, detector in self._detectors.items():
            ends: list[int] | None = None
            if name == "page_hinkley" and self.chunk_size > 1:
                inputs, ends = self._chunks(values, self.scale_)
            elif self.task == "regression" or name == "page_hinkley":
                inputs = (values / self.scale_).tolist()
            else:
                inputs = values.tolist()
            # the plain loop river is built for: about all the time a million errors take
            hits = []
            update = detector.update
            for i, x in enumerate(inputs):
                update(x)
                if detector.drift_detected:
                    hits.append(i)
            for i in hits:
                end = i if ends is None else ends[i]
                self.change_points_[name].append(ChangePoint(start + end, stamps[end]))

    def _chunks(self, values: np.ndarray, scale: float) -> tuple[list[float], list[int]]:
        """Means (in units of ``scale``) of the chunks ``values`` completes after the carried
        partial chunk, and the index in ``values`` of each chunk's last element; the rest is
        carried. Sums are of the raw errors, so 0/1 chunks sum exactly however the stream was
        split into calls."""
        size, carried = self.chunk_size, self._chunk_count
        first_end = size - carried - 1
        if first_end >= values.size:
            self._chunk_sum += float(values.sum())
            self._chunk_count += values.size
            return [], []
        ends = np.arange(first_end, values.size, size)
        sums = np.add.reduceat(values[: ends[-1] + 1], np.concatenate([[0], ends[:-1] + 1]))
        sums[0] += self._chunk_sum
        rest = values[ends[-1] + 1 :]
        self._chunk_sum, self._chunk_count = float(rest.sum()), rest.size
        return (sums / (size * scale)).tolist(), ends.tolist()

    # -- state ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The parameters and the whole state as JSON-ready values."""
        return {
            "format": FORMAT,
            "river": river.__version__,
            "params": self._params(),
            "seen": self.seen_,
            "scale": self.scale_,
            "pending": self._pending.tolist(),
            "pending_times": [_iso(t) for t in self._pending_times],
            "chunk": [self._chunk_sum, self._chunk_count],
            "change_points": {
                name: [[p.position, _iso(p.time)] for p in points]
                for name, points in self.change_points_.items()
            },
            "detectors": {name: _state(d) for name, d in self._detectors.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConceptDriftMonitor:
        """A monitor in the state :meth:`to_dict` wrote.

        Raises :class:`~tether.errors.UnsupportedVersionError` for a state written by another
        river version (its detectors' layout may differ: start a new monitor) and
        :class:`~tether.errors.FormatError` for a malformed one.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise FormatError(f"concept monitor state: format must be {FORMAT!r}")
        if data.get("river") != river.__version__:
            raise UnsupportedVersionError(
                f"concept monitor state was written with river {data.get('river')}, this is "
                f"river {river.__version__}; start a new ConceptDriftMonitor"
            )
        try:
            monitor = cls(**data["params"])
            monitor.seen_ = int(data["seen"])
            monitor.scale_ = None if data["scale"] is None else float(data["scale"])
            monitor._pending = np.asarray(data["pending"], dtype=np.float64).reshape(-1)
            monitor._pending_times = _times([_parse_time(t) for t in data["pending_times"]], None)
            monitor._chunk_sum, monitor._chunk_count = (
                float(data["chunk"][0]),
                int(data["chunk"][1]),
            )
            monitor.change_points_ = {
                name: [ChangePoint(int(p), _parse_time(t)) for p, t in data["change_points"][name]]
                for name in monitor.detector_names
            }
            for name, detector in monitor._detectors.items():
                _restore(detector, data["detectors"][name])
        except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:
            raise FormatError(f"concept monitor state: malformed ({exc!r:.200})") from None
        return monitor

    def _params(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "detectors": None if self.detectors is None else list(self.detectors),
            "scale": self.scale,
            "warm_start": self.warm_start,
            "chunk_size": self.chunk_size,
            "adwin_delta": self.adwin_delta,
            "ddm_warm_start": self.ddm_warm_start,
            "ddm_threshold": self.ddm_threshold,
            "ph_delta": self.ph_delta,
            "ph_threshold": self.ph_threshold,
        }

    def __repr__(self) -> str:
        found = {name: len(points) for name, points in self.change_points_.items()}
        return f"ConceptDriftMonitor(task={self.task!r}, seen={self.seen_}, changes={found})"


def labeled_errors(window: pl.DataFrame, task: str) -> pl.DataFrame:
    """The error stream of a window: its served, labeled rows ordered by ``created_at``, with
    ``error`` (0/1 misclassification, or absolute error for regression).

    Columns ``id`` (when the window has it), ``created_at`` and ``error``.

    Example
    -------
    >>> window = pl.DataFrame({
    ...     "id": ["b", "a", "c"], "status": ["ok", "ok", "rejected"],
    ...     "created_at": [2, 1, 3], "prediction": [1, 0, None], "label": [0, 0, 1]})
    >>> labeled_errors(window, "binary").rows()
    [('a', 1, 0.0), ('b', 2, 1.0)]
    """
    if task not in TASKS:
        raise InputError(f"task {task!r} is not one of {list(TASKS)}")
    if not isinstance(window, pl.DataFrame):
        raise InputError(f"window must be a polars DataFrame, got {type(window).__name__}")
    missing = [
        c for c in ("status", "created_at", "prediction", "label") if c not in window.columns
    ]
    if missing:
        raise InputError(
            f"window lacks columns {missing} (it has {window.columns}); read it with labels=True"
        )
    prediction, label = pl.col("prediction"), pl.col("label")
    types = window.schema["prediction"], window.schema["label"]
    if task == "regression":
        if not all(t.is_numeric() or t == pl.Null for t in types):
            raise InputError(f"regression prediction and label must be numbers, got {types}")
        error = (prediction.cast(pl.Float64) - label.cast(pl.Float64)).abs()
    elif all(t.is_numeric() for t in types):
        error = (prediction.cast(pl.Float64) != label.cast(pl.Float64)).cast(pl.Float64)
    else:
        error = (prediction.cast(pl.String) != label.cast(pl.String)).cast(pl.Float64)
    keep = [c for c in ("id", "created_at") if c in window.columns]
    order = ["created_at", "id"] if "id" in window.columns else ["created_at"]
    return (
        window.filter(
            (pl.col("status") != "rejected") & prediction.is_not_null() & label.is_not_null()
        )
        .sort(order, maintain_order=True)
        .select(*keep, error.alias("error"))
        .filter(pl.col("error").is_finite())
    )


def concept_drift(
    window: pl.DataFrame,
    task: str,
    *,
    detectors: Sequence[str] | None = None,
    chunk_size: int = 1,
    monitor: ConceptDriftMonitor | None = None,
) -> pl.DataFrame:
    """Change points in the error stream of a window's labeled rows, one result row per
    detector: ``value`` the number of change points found in this window, ``detail`` their
    positions (in the monitor's stream), times and prediction ids, ``alert`` whether any.

    Pass ``monitor`` to continue a stream across windows (its detectors and chunk size apply);
    without it, a new :class:`ConceptDriftMonitor` sees this window alone.

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> wrong = np.concatenate([rng.random(3000) < 0.05, rng.random(3000) < 0.25])
    >>> at = np.datetime64("2024-05-01T00:00", "ms") + np.arange(6000) * 60_000
    >>> window = pl.DataFrame({"status": "ok", "created_at": at,
    ...                        "prediction": 1, "label": np.where(wrong, 0, 1)})
    >>> concept_drift(window, "binary").select("metric", "value", "alert").rows()
    [('adwin', 1.0, True), ('ddm', 1.0, True), ('page_hinkley', 1.0, True)]
    """
    if not isinstance(window, pl.DataFrame) or window.height == 0:
        raise InputError("window has no rows; pass a window of logged predictions")
    if monitor is None:
        monitor = ConceptDriftMonitor(task, detectors=detectors, chunk_size=chunk_size)
    elif detectors is not None or chunk_size != 1:
        raise InputError("pass detectors and chunk_size to the monitor, not with one")
    elif monitor.task != task:
        raise InputError(f"the monitor watches a {monitor.task} model, not {task}")
    errors = labeled_errors(window, task)
    start = monitor.seen_
    before = {name: len(points) for name, points in monitor.change_points_.items()}
    monitor.update_many(errors["error"].to_numpy(), errors["created_at"])
    ids = errors["id"].to_list() if "id" in errors.columns else None
    rows = []
    for name, points in monitor.change_points_.items():
        new = points[before[name] :]
        changes = [
            {
                "position": p.position,
                "time": _iso(p.time),
                "id": ids[p.position - start] if ids is not None and p.position >= start else None,
            }
            for p in new
        ]
        detail: dict[str, Any] = {"changes": changes, "stream_position": monitor.seen_}
        if monitor.scale_ is None:
            detail["why"] = f"warming up: {len(monitor._pending)} of {monitor.warm_start} errors"
        if errors.height == 0:
            detail["why"] = "no labeled rows"
        rows.append(
            result(
                "concept",
                name,
                # null while the detectors warm up: "no change found" would claim too much
                len(new) if errors.height and monitor.scale_ is not None else None,
                alert=bool(new),
                rows=errors.height,
                detail=detail,
            )
        )
    return results_frame(rows)


# -- helpers ------------------------------------------------------------------------------------


def _scale(values: np.ndarray, task: str) -> float:
    """Standard deviation of one error, from a warm-up sample; a 0/1 rate is smoothed by half
    an error so a warm-up without errors still gives a usable scale."""
    if task != "regression":
        rate = (values.sum() + 0.5) / (values.size + 1.0)
        return float(math.sqrt(rate * (1.0 - rate)))
    spread = float(values.std(ddof=1)) if values.size > 1 else 0.0
    if spread > 0:
        return spread
    mean = float(values.mean())
    return mean if mean > 0 else 1.0


def _no_errors() -> np.ndarray:
    return np.empty(0, dtype=np.float64)


def _times(times: Any, size: int | None) -> pl.Series:
    """Times as a UTC Datetime series (all null when not given); ``size`` is checked unless
    None."""
    if times is None:
        return pl.Series("time", [None] * (size or 0), dtype=TIME)
    series = times if isinstance(times, pl.Series) else pl.Series("time", times)
    if series.dtype == pl.Null or (
        series.dtype == pl.Object and series.null_count() == series.len()
    ):
        series = (
            series.cast(TIME)
            if series.dtype == pl.Null
            else pl.Series("time", [None] * series.len(), dtype=TIME)
        )
    if not isinstance(series.dtype, pl.Datetime):
        raise InputError(f"times must be datetimes, got {series.dtype}")
    if size is not None and series.len() != size:
        raise InputError(f"got {series.len()} times for {size} errors; give one time per error")
    zone = series.dtype.time_zone
    series = (
        series.dt.replace_time_zone("UTC") if zone is None else series.dt.convert_time_zone("UTC")
    )
    return series.cast(TIME).alias("time")


def _iso(time: datetime | None) -> str | None:
    return None if time is None else time.isoformat()


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def _state(detector: Detector) -> dict[str, Any]:
    """A detector's learned state as JSON-ready values (parameters are rebuilt, not stored)."""
    if isinstance(detector, ADWIN):
        raw = detector._helper.__getstate__()
        return {
            "window": base64.b64encode(raw).decode("ascii"),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "_drift_detected": detector.drift_detected,
        }
    state: dict[str, Any] = {}
    for key, value in vars(detector).items():
        if not key.startswith("_") or callable(value):
            continue  # parameters, and the test method chosen from them at reset
        if isinstance(value, stats.Mean):
            state[key] = {"n": value.n, "mean": value._mean}
        elif value is None or isinstance(value, bool | int | float):
            state[key] = encode_float(value) if isinstance(value, float) else value
        else:
            raise FormatError(f"{type(detector).__name__}.{key} holds a {type(value).__name__}")
    return state


def _restore(detector: Detector, state: Mapping[str, Any]) -> None:
    if isinstance(detector, ADWIN):
        raw = base64.b64decode(state["window"], validate=True)
        # river's Rust core aborts on bytes it cannot read: check them before handing them over
        if hashlib.sha256(raw).hexdigest() != state["sha256"]:
            raise ValueError("ADWIN window bytes do not match their checksum")
        detector._helper.__setstate__(raw)
        detector._drift_detected = bool(state["_drift_detected"])
        return
    expected = set(_state(detector))
    if set(state) != expected:
        raise ValueError(f"{type(detector).__name__} state has keys {sorted(state)}")
    for key, value in state.items():
        current = getattr(detector, key)
        if isinstance(current, stats.Mean):
            current.n, current._mean = float(value["n"]), float(value["mean"])
        elif isinstance(value, str):
            setattr(detector, key, float(value))
        else:
            setattr(detector, key, value)
