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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tether.errors import InputError, TetherError
from tether.monitor import concept, drift_checks, fairness_checks, quality, silent, weak_segments
from tether.monitor import segments as segment_checks
from tether.monitor.result import RESULT_SCHEMA, result, results_frame
from tether.monitor.windows import MonitorWindow, cut, fingerprint
from tether.performance.estimation import PerformanceEstimator
from tether.performance.metrics import predicted
from tether.performance.segments import WeakSegments

if TYPE_CHECKING:
    from tether.bundle import Bundle
    from tether.registry import Registry
    from tether.store import PredictionStore

HISTORY_WINDOWS = 30
"""Earlier windows whose traffic and rejection rates a window's silent checks compare with (and
whose summaries are part of its fingerprint)."""

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
        Rows a segment level needs before its metrics (labeled rows) or estimates and score
        drift (served rows) are reported.
    n_resamples
        Bootstrap resamples of the realized metrics' confidence intervals (0: none; the
        fairness check draws at least 100, its alerts stand on its intervals).
    weak_segment_rows
        Rows of a window each weak-segment search looks at (a seeded sample beyond; 0: no
        search). See :mod:`tether.monitor.weak_segments`.

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
        n_resamples: int = 100,
        weak_segment_rows: int = 200_000,
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
        if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
            raise InputError(f"n_resamples={n_resamples!r} must be a whole number, 0 or more")
        if (
            isinstance(weak_segment_rows, bool)
            or not isinstance(weak_segment_rows, int)
            or weak_segment_rows < 0
        ):
            raise InputError(
                f"weak_segment_rows={weak_segment_rows!r} must be a whole number, 0 or more"
            )
        self.min_segment_rows = max(min_segment_rows, 2)
        self.n_resamples = n_resamples
        self.weak_segment_rows = weak_segment_rows
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
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            raise InputError(f"now={now!r} must be timezone-aware (UTC)")
        if window is not None and since is not None:
            since = _period_start(since, window)  # whole periods only: a window is all or none
        with timer("read"):
            log = self.store.read(model, start=since, end=until, labels=True, problems=True)
            stored = self._stored_fingerprints(model)
        if log.height == 0:
            self._require_logged(model)
        self._load_versions(model, log)
        config = {"alpha": self.alpha, "min_segment_rows": self.min_segment_rows,
                  "n_resamples": self.n_resamples, "weak_segment_rows": self.weak_segment_rows,
                  "period": window, "block_rows": rows}  # fmt: skip
        # a window cut short by ``until`` is not over
        horizon = now if until is None else min(now, until)
        history: list[dict[str, Any]] = []
        summaries: list[dict[str, Any]] = []
        computed: list[pl.DataFrame] = []
        for bounds, part in cut(log, every=window, rows=rows, now=horizon):
            version = _majority_version(part)
            served_bundle = self._bundles[(model, version)]
            whole = _typed(part, served_bundle.bundle)
            own = whole.filter(pl.col("version") == version)
            previous = silent.history_frame(history) if history else None
            key = fingerprint(bounds, part, history=history[-HISTORY_WINDOWS:], **config)
            history.append(silent.window_summary(whole, window_start=bounds.start))
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
            summaries.append(summary)
            if stored.get((bounds.start, bounds.end)) == key:
                continue
            results = self._check(served_bundle, whole, own, previous, bounds, timer)
            summary["alerts"] = _alert_names(results)
            if rows is not None and not bounds.complete:
                # a block still filling has no stable bounds to store it under
                computed.append(_with_window(results, bounds, version, None))
                continue
            with timer("save"):
                result_version = self.store.save_window(
                    model, bounds.start, bounds.end, key, results, bundle_version=version,
                    rows=part.height, labeled=labeled, complete=bounds.complete,
                )  # fmt: skip
            summary["result_version"] = result_version
            computed.append(_with_window(results, bounds, version, result_version))
        self._stored_alerts(model, [s for s in summaries if s["result_version"] is None])
        windows = pl.DataFrame(summaries, schema=WINDOW_SCHEMA, orient="row")
        out = pl.concat(computed) if computed else _with_window(results_frame([]), None, None, None)
        return MonitorRun(model, windows, out, seconds)

    # ------------------------------------------------------------------------------- checks

    def _check(
        self,
        served_bundle: _Served,
        whole: pl.DataFrame,
        window: pl.DataFrame,
        history: pl.DataFrame | None,
        bounds: MonitorWindow,
        timer: Callable[[str], Any],
    ) -> pl.DataFrame:
        """Every check of one window: ``whole`` holds all its rows (silent failures and traffic
        see every version), ``window`` those of the bundle version that served most of it."""
        bundle, estimator = served_bundle.bundle, served_bundle.estimator
        served = window.filter(pl.col("status") != "rejected")
        # NaN or missing outputs are a silent failure (reported below), not something to score
        finite = pl.all_horizontal(pl.col(c).cast(pl.Float64).is_finite()
                                   for c in bundle.output_columns)  # fmt: skip
        scored = served.filter(finite.fill_null(False))
        labeled = scored.filter(pl.col("label").is_not_null())
        codes, usable = quality.labels_of(bundle, labeled)
        judged = labeled.filter(pl.Series(usable))
        segments = list(
            dict.fromkeys([*bundle.metadata["segments"], *bundle.metadata["sensitive"]])
        )
        rows: list[dict[str, Any]] = []
        with timer("silent"):
            found = silent.silent_failures(whole, served_bundle.silent, history=history)
            if not bounds.complete:
                # a window still filling always looks like a traffic drop
                found = found.filter(pl.col("metric") != "traffic")
            rows += found.to_dicts()
        if scored.height:
            with timer("drift"):
                rows += drift_checks.input_drift(bundle, served, alpha=self.alpha)
                rows += drift_checks.prediction_drift(bundle, scored, alpha=self.alpha)
                rows += drift_checks.confidence(bundle, scored, alpha=self.alpha)
        with timer("segments"):
            served, scored, judged = (
                segment_checks.label_segments(bundle, frame, segments)
                for frame in (served, scored, judged)
            )
            rows += segment_checks.representation(
                bundle, served, segments, alpha=self.alpha, min_rows=self.min_segment_rows
            )
            rows += segment_checks.prediction_drift(
                bundle, scored, segments, alpha=self.alpha, min_rows=self.min_segment_rows
            )
        rows.append(quality.coverage(served.height, labeled.height, labeled.height - judged.height))
        estimate = of_labeled = None
        segment_estimates: dict[tuple[str | None, str | None], Any] = {}
        with timer("estimation"):
            if estimator is not None and scored.height:
                estimate = quality.estimate(bundle, estimator, scored)
                if judged.height:
                    of_labeled = quality.estimate(bundle, estimator, judged)
                by_segment, segment_estimates = quality.estimated_by_segment(
                    bundle, estimator, scored, segments=segments, min_rows=self.min_segment_rows
                )
                rows += by_segment
            elif served_bundle.estimator_reason:
                rows.append(
                    result("estimated", "unavailable", None,
                           detail={"reason": served_bundle.estimator_reason})
                )  # fmt: skip
        with timer("realized"):
            realized = quality.realized(
                bundle, judged, estimator, segments=segments, min_rows=self.min_segment_rows,
                n_resamples=self.n_resamples,
            )  # fmt: skip
            rows += realized
            if estimate is not None:
                rows += quality.estimated(estimate, of_labeled, realized)
        with timer("calibration"):
            rows += quality.calibration(
                bundle, judged, segments=segments, min_rows=self.min_segment_rows
            )
        with timer("business"):
            rows += quality.business(
                bundle, judged, estimate, segment_estimates, segments=segments,
                min_rows=self.min_segment_rows,
            )  # fmt: skip
        scores, judged_scores = quality.scores_of(bundle, scored), quality.scores_of(bundle, judged)
        with timer("weak_segments"):
            if served_bundle.search is not None and scored.height:
                rows += weak_segments.weak_segments(
                    bundle, served_bundle.search, scored, judged, codes[usable], judged_scores,
                    scores, max_rows=self.weak_segment_rows,
                )  # fmt: skip
        with timer("fairness"):
            rows += fairness_checks.fairness_rows(
                bundle, scored, scores, judged, codes[usable], judged_scores,
                min_rows=self.min_segment_rows, n_resamples=self.n_resamples,
            )  # fmt: skip
        with timer("concept"):
            if judged.height:
                rows += concept.concept_drift(
                    _encoded(bundle, judged, codes[usable]), bundle.task
                ).to_dicts()
        return results_frame(rows)

    # ------------------------------------------------------------------------------- state

    def _load_versions(self, model: str, log: pl.DataFrame) -> None:
        """Load every bundle version that served ``log`` before any window is stored, so a
        version missing from the registry stops the run with nothing half done."""
        for version in log.get_column("version").unique().sort().to_list():
            key = (model, version)
            if key in self._bundles:
                continue
            try:
                bundle = self.registry.load(f"{model}@{version}")
            except TetherError as exc:
                raise InputError(
                    f"model {model!r}: predictions were served by version {version[:12]}, which "
                    f"the registry at {self.registry.root} cannot give ({exc}); monitor with the "
                    "registry that served them"
                ) from None
            try:
                estimator, reason = bundle.estimator(), None
            except InputError as exc:  # e.g. a class too rare on the reference to calibrate
                estimator, reason = None, str(exc)
            if estimator is None and reason is None:
                reason = bundle.metadata.get("estimation", {}).get("reason")
            search = (
                weak_segments.searcher(bundle, alpha=self.alpha) if self.weak_segment_rows else None
            )
            self._bundles[key] = _Served(
                bundle, estimator, silent.SilentReference.from_bundle(bundle), reason, search
            )

    def _stored_alerts(self, model: str, unchanged: list[dict[str, Any]]) -> None:
        """Fill in the alerts of windows this run did not recompute from their stored results,
        so an alert stays visible until the data behind it changes."""
        if not unchanged:
            return
        stored = self.store.read_results(
            model,
            start=min(s["window_start"] for s in unchanged),
            end=max(s["window_end"] for s in unchanged),
        )
        for summary in unchanged:
            mine = stored.filter(
                (pl.col("window_start") == summary["window_start"])
                & (pl.col("window_end") == summary["window_end"])
            )
            if mine.height:
                summary["alerts"] = _alert_names(mine.select(list(RESULT_SCHEMA)))

    def _require_logged(self, model: str) -> None:
        models = self.store.models()
        if model not in models:
            raise InputError(
                f"no predictions of model {model!r} are logged in {self.store.url}; it has "
                f"{models or 'none'}"
            )

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
    estimator_reason: str | None
    search: WeakSegments | None


def _majority_version(part: pl.DataFrame) -> str:
    """The version that served most of the window (ties: the first in sort order, so a re-run
    picks the same one)."""
    counts = part.get_column("version").value_counts().sort(["count", "version"],
                                                            descending=[True, False])  # fmt: skip
    return str(counts.item(0, "version"))


def _period_start(at: datetime, every: str) -> datetime:
    start = pl.select(pl.lit(at).dt.convert_time_zone("UTC").dt.truncate(every)).item()
    assert isinstance(start, datetime)
    return start


def _encoded(bundle: Bundle, judged: pl.DataFrame, codes: np.ndarray) -> pl.DataFrame:
    """The judged rows with the label and the prediction as the metrics see them (class index
    or number), so the error stream compares like with like."""
    scores = quality.scores_of(bundle, judged)
    if bundle.task == "regression":
        return judged.with_columns(label=pl.Series(codes, dtype=pl.Float64),
                                   prediction=pl.Series(scores))  # fmt: skip
    return judged.with_columns(
        label=pl.Series(codes, dtype=pl.Int64),
        prediction=pl.Series(predicted(scores, bundle.threshold), dtype=pl.Int64),
    )


def _typed(frame: pl.DataFrame, bundle: Bundle) -> pl.DataFrame:
    """The window with every feature the bundle expects, in its type (a value that does not fit
    reads as null, as the contract would have flagged it)."""
    # the store renames an input called like one of its own columns (status, label, score...)
    clashing = [name for name in bundle.features if f"input_{name}" in frame.columns]
    if clashing:
        raise InputError(
            f"features {clashing} of model version {bundle.version[:12]} are named like columns "
            "of the prediction log (id, status, label, score, ...); the monitor cannot tell "
            "them apart: rename the features"
        )
    return frame.with_columns(
        pl.col(name).cast(dtype, strict=False) if name in frame.columns
        else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in bundle.feature_schema.items()
    )  # fmt: skip


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
