"""``Monitor``: the monitoring job. Read the prediction log, cut windows, run every check against
the serving bundle's reference, store the results per window and version.

A run is idempotent: each window's results depend on a fingerprint of what is in it (predictions,
labels and their receipt, the job's settings); a window whose fingerprint matches its latest
stored results is skipped, and one that changed (late labels backfilling an old window, a window
still filling) gets a new result version while the earlier ones are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from tether.errors import InputError
from tether.monitor import concept, drift_checks, quality, silent
from tether.monitor.result import RESULT_SCHEMA, results_frame
from tether.monitor.windows import MonitorWindow, cut, fingerprint
from tether.performance.estimation import PerformanceEstimator

if TYPE_CHECKING:
    from tether.bundle import Bundle
    from tether.registry import Registry
    from tether.store import PredictionStore

WINDOW_SCHEMA: dict[str, pl.DataType] = {
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "complete": pl.Boolean(),
    "bundle_version": pl.String(),
    "rows": pl.Int64(),
    "served": pl.Int64(),
    "labeled": pl.Int64(),
    "result_version": pl.Int64(),
    "alerts": pl.List(pl.String()),
}
"""Columns of :attr:`MonitorRun.windows`. ``result_version`` is the version this run stored,
null when the window was unchanged since the last run (its stored results stand)."""


@dataclass
class MonitorRun:
    """What one :meth:`Monitor.run` did: the windows it looked at, the results it computed, and
    where the time went (seconds per stage, summed over windows)."""

    model: str
    windows: pl.DataFrame
    results: pl.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def alerts(self) -> pl.DataFrame:
        """The result rows that alert."""
        return self.results.filter(pl.col("alert"))


class Monitor:
    """The monitoring job over one prediction store and registry.

    Parameters
    ----------
    store
        The prediction log (:func:`tether.store.open_store` URL or store; default
        ``$TETHER_DB_URL`` or ``$TETHER_HOME/tether.db``). Results are written to it too.
    registry
        Where the serving bundles are (:class:`~tether.registry.Registry` or its root).
    alpha
        False-alarm rate of the drift verdicts and the silent-failure tests.
    min_segment_rows
        Labeled rows a segment value needs before its metrics are reported.

    Example
    -------
    See ``tests/monitor/test_monitor_job.py`` and the README's monitoring section; a run needs
    a registry and a store with logged traffic::

        monitor = Monitor("sqlite:///srv/tether.db", "/srv/registry")
        run = monitor.run("late-arrival", window="1d")
        run.alerts
    """

    def __init__(
        self,
        store: PredictionStore | str | None = None,
        registry: Registry | str | None = None,
        *,
        alpha: float = 0.01,
        min_segment_rows: int = 200,
    ) -> None:
        from tether.registry import Registry
        from tether.store import PredictionStore, open_store

        if not 0 < alpha < 1:
            raise InputError(f"alpha={alpha!r} must lie strictly between 0 and 1")
        if isinstance(min_segment_rows, bool) or not isinstance(min_segment_rows, int):
            raise InputError(f"min_segment_rows={min_segment_rows!r} must be a whole number")
        self.store = store if isinstance(store, PredictionStore) else open_store(store)
        self.registry = registry if isinstance(registry, Registry) else Registry(registry)
        self.alpha = alpha
        self.min_segment_rows = max(min_segment_rows, 2)
        self._bundles: dict[tuple[str, str], _Served] = {}

    def run(
        self,
        model: str,
        *,
        window: str | None = "1d",
        rows: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> MonitorRun:
        """Monitor ``model``'s logged predictions in ``[since, until)``.

        Windows are periods (``window``, e.g. ``"1h"``, ``"1d"``) or blocks of ``rows``
        predictions (pass ``window=None``). Each window is checked against the bundle version
        that served most of it; see :data:`~tether.monitor.result.RESULT_SCHEMA` for what is
        stored.
        """
        if rows is not None:
            window = None
        seconds: dict[str, float] = {}
        timer = _timer(seconds)
        with timer("read"):
            log = self.store.read(model, start=since, end=until, labels=True, problems=True)
            stored = self._stored_fingerprints(model)
        config = {"alpha": self.alpha, "min_segment_rows": self.min_segment_rows,
                  "period": window, "block_rows": rows}  # fmt: skip
        history: list[dict[str, Any]] = []
        summaries: list[dict[str, Any]] = []
        computed: list[pl.DataFrame] = []
        for bounds, part in cut(log, every=window, rows=rows, now=now):
            version = _majority_version(part)
            served_bundle = self._served(model, version)
            own = part.filter(pl.col("version") == version)
            own = _typed(own, served_bundle.bundle)
            key = fingerprint(bounds, part, **config)
            labeled = own.filter(
                (pl.col("status") != "rejected") & pl.col("label").is_not_null()
            ).height
            summary: dict[str, Any] = {
                "window_start": bounds.start,
                "window_end": bounds.end,
                "complete": bounds.complete,
                "bundle_version": version,
                "rows": part.height,
                "served": own.filter(pl.col("status") != "rejected").height,
                "labeled": labeled,
                "result_version": None,
                "alerts": [],
            }
            previous = silent.history_frame(history) if history else None
            history.append(silent.window_summary(own, window_start=bounds.start))
            if stored.get((bounds.start, bounds.end)) == key:
                summaries.append(summary)
                continue
            results = self._check(served_bundle, own, previous, timer)
            with timer("save"):
                result_version = self.store.save_window(
                    model, bounds.start, bounds.end, key, results, bundle_version=version,
                    rows=part.height, labeled=labeled, complete=bounds.complete,
                )  # fmt: skip
            summary["result_version"] = result_version
            summary["alerts"] = _alert_names(results)
            summaries.append(summary)
            computed.append(_with_window(results, bounds, version, result_version))
        windows = pl.DataFrame(summaries, schema=WINDOW_SCHEMA, orient="row")
        out = pl.concat(computed) if computed else _with_window(results_frame([]), None, None, None)
        return MonitorRun(model, windows, out, seconds)

    # ------------------------------------------------------------------------------- checks

    def _check(
        self,
        served_bundle: _Served,
        window: pl.DataFrame,
        history: pl.DataFrame | None,
        timer: Callable[[str], Any],
    ) -> pl.DataFrame:
        bundle, estimator = served_bundle.bundle, served_bundle.estimator
        served = window.filter(pl.col("status") != "rejected")
        labeled = served.filter(pl.col("label").is_not_null())
        segments = [*bundle.metadata["segments"], *bundle.metadata["sensitive"]]
        rows: list[dict[str, Any]] = []
        with timer("silent"):
            rows += silent.silent_failures(window, served_bundle.silent, history=history).to_dicts()
        if served.height:
            with timer("drift"):
                rows += drift_checks.input_drift(bundle, served, alpha=self.alpha)
                rows += drift_checks.prediction_drift(bundle, served, alpha=self.alpha)
                rows += drift_checks.confidence(bundle, served, alpha=self.alpha)
        rows.append(quality.coverage(served.height, labeled.height))
        estimate = None
        with timer("estimation"):
            if estimator is not None and served.height:
                estimate = quality.estimate(bundle, estimator, served)
        with timer("realized"):
            realized = quality.realized(
                bundle, labeled, estimator, segments=segments, min_rows=self.min_segment_rows
            )
            rows += realized
            if estimate is not None:
                rows += quality.estimated(estimate, realized)
        with timer("calibration"):
            rows += quality.calibration(
                bundle, labeled, segments=segments, min_rows=self.min_segment_rows
            )
        with timer("business"):
            rows += quality.business(
                bundle, served, labeled, estimator, estimate, segments=segments,
                min_rows=self.min_segment_rows,
            )  # fmt: skip
        with timer("concept"):
            if labeled.height:
                rows += concept.concept_drift(labeled, bundle.task).to_dicts()
        return results_frame(rows)

    # ------------------------------------------------------------------------------- state

    def _served(self, model: str, version: str) -> _Served:
        key = (model, version)
        if key not in self._bundles:
            bundle = self.registry.load(f"{model}@{version}")
            self._bundles[key] = _Served(
                bundle, bundle.estimator(), silent.SilentReference.from_bundle(bundle)
            )
        return self._bundles[key]

    def _stored_fingerprints(self, model: str) -> dict[tuple[datetime, datetime], str]:
        windows = self.store.read_windows(model)
        return {
            (row["window_start"], row["window_end"]): row["fingerprint"]
            for row in windows.iter_rows(named=True)
        }


@dataclass(frozen=True)
class _Served:
    bundle: Bundle
    estimator: PerformanceEstimator | None
    silent: silent.SilentReference


def _majority_version(part: pl.DataFrame) -> str:
    counts = part.get_column("version").value_counts(sort=True)
    return str(counts.item(0, "version"))


def _typed(frame: pl.DataFrame, bundle: Bundle) -> pl.DataFrame:
    """The window with every feature the bundle expects, in its type (a value that does not fit
    reads as null, as the contract would have flagged it)."""
    casts = [
        pl.col(name).cast(dtype, strict=False)
        if name in frame.columns
        else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in bundle.feature_schema.items()
    ]
    return frame.with_columns(casts)


def _alert_names(results: pl.DataFrame) -> list[str]:
    alerts = results.filter(pl.col("alert"))
    names = alerts.select(
        pl.concat_str(
            [pl.col("check"), pl.col("metric"), pl.col("column").fill_null("")], separator=":"
        ).str.strip_chars_end(":")
    )
    return names.to_series().unique(maintain_order=True).to_list()


def _with_window(
    results: pl.DataFrame,
    bounds: MonitorWindow | None,
    version: str | None,
    result_version: int | None,
) -> pl.DataFrame:
    return results.select(
        pl.lit(bounds.start if bounds else None, dtype=pl.Datetime("us", "UTC")).alias(
            "window_start"
        ),
        pl.lit(bounds.end if bounds else None, dtype=pl.Datetime("us", "UTC")).alias("window_end"),
        pl.lit(version, dtype=pl.String).alias("bundle_version"),
        pl.lit(result_version, dtype=pl.Int64).alias("result_version"),
        *RESULT_SCHEMA,
    )


def _timer(seconds: dict[str, float]) -> Callable[[str], Any]:
    @contextmanager
    def timed(stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started

    return timed
