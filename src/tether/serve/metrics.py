"""``ServeMetrics``: the Prometheus metrics of one server, in a registry of its own."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# Seconds; fine below a millisecond, where the online path lives, and up to a slow batch.
_LATENCY_BUCKETS = (
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
)  # fmt: skip
_SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class ServeMetrics:
    """Counters and histograms a server updates on every request, exposed at ``/metrics``.

    Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so two apps in one
    process (tests, a champion and a canary) never share or double-register series. Endpoint
    labels are route templates (``/v1/predictions/{prediction_id}``), never raw paths, so the
    number of series stays bounded whatever clients send.

    Parameters
    ----------
    model
        The served model's name (a label of the version info gauge).

    Example
    -------
    >>> metrics = ServeMetrics("late-arrival")
    >>> metrics.set_version("abc123", None)
    >>> metrics.request("/v1/predict", 200, 0.002)
    >>> b'tether_requests_total{endpoint="/v1/predict",status="200"} 1.0' in metrics.render()
    True
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "tether_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "tether_request_seconds", "Request latency by endpoint", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.stages = Histogram(
            "tether_predict_stage_seconds",
            "Latency of the stages of a predict request: validate, predict, shadow, log, total",
            ["stage"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rows = Counter(
            "tether_predictions", "Rows answered or refused, by status (ok, flagged, rejected)",
            ["status"], registry=r,
        )  # fmt: skip
        self.rejections = Counter(
            "tether_rejections", "Broken contract rules of rejected rows, by column and rule",
            ["column", "rule"], registry=r,
        )  # fmt: skip
        self.flags = Counter(
            "tether_flags", "Broken contract rules of flagged rows, by column and rule",
            ["column", "rule"], registry=r,
        )  # fmt: skip
        self.budget_violations = Counter(
            "tether_latency_budget_violations",
            "Predict requests slower than the bundle's latency_budget_ms per record",
            registry=r,
        )
        self.scores = BatchHistogram(
            "tether_prediction_score", "Positive-class score of binary predictions",
            _SCORE_BUCKETS, registry=r,
        )  # fmt: skip
        self.classes = Counter("tether_predicted_class", "Predicted classes", ["label"], registry=r)
        self.values = BatchHistogram(
            "tether_prediction_value", "Regression predictions",
            (-1e3, -1e2, -10, -1, 0, 1, 10, 1e2, 1e3, 1e4), registry=r,
        )  # fmt: skip
        self.version = Gauge(
            "tether_model_info", "1 for the served (role=champion) and shadow model versions",
            ["model", "version", "role"], registry=r,
        )  # fmt: skip
        self.shadow_failures = Counter(
            "tether_shadow_failures", "Challenger scoring failures (never seen by clients)",
            registry=r,
        )  # fmt: skip
        self.reloads = Counter(
            "tether_reloads", "Admin reloads by outcome", ["outcome"], registry=r
        )

    def set_version(self, version: str, challenger: str | None) -> None:
        """Point the info gauge at the versions now served."""
        self.version.clear()
        self.version.labels(self.model, version, "champion").set(1)
        if challenger is not None:
            self.version.labels(self.model, challenger, "challenger").set(1)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def problems(
        self, counter: Counter, problems: Sequence[Mapping[str, Any]], known: Collection[str]
    ) -> None:
        """Count each broken rule of ``problems`` in ``counter`` (rejections or flags); columns
        not in ``known`` (extra columns clients made up) share one label."""
        for problem in problems:
            column = problem["column"] if problem["column"] in known else "(other)"
            counter.labels(column, str(problem["rule"])).inc()

    def outputs(self, task: str, outputs: list[dict[str, Any]] | pl.DataFrame) -> None:
        """Record the distribution of answered predictions (a list of output rows, or a batch's
        outputs frame, counted a column at a time)."""
        if isinstance(outputs, pl.DataFrame):
            self._output_frame(task, outputs)
            return
        for out in outputs:
            if task == "regression":
                self.values.observe(out["prediction"])
                continue
            self.classes.labels(str(out["prediction"])).inc()
            if task == "binary":
                self.scores.observe(out["score"])

    def _output_frame(self, task: str, outputs: pl.DataFrame) -> None:
        if task == "regression":
            self.values.observe_many(outputs["prediction"].to_numpy())
            return
        for label, count in outputs["prediction"].value_counts().iter_rows():
            self.classes.labels(str(label)).inc(count)
        if task == "binary":
            self.scores.observe_many(outputs["score"].to_numpy())

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class BatchHistogram(Collector):
    """A Prometheus histogram (no labels) that takes a batch of values in one call.

    :class:`prometheus_client.Histogram` observes one value per call, a few microseconds each:
    a thousand-row request would spend milliseconds on its score distribution. Here a batch is
    counted into the buckets by numpy; the exposition is the same (``_bucket`` with ``le``,
    ``_count``, ``_sum``), a value falling in the first bucket whose bound it does not exceed.

    Parameters
    ----------
    name
        The metric's name.
    documentation
        Its help text.
    buckets
        Increasing upper bounds (``+Inf`` is added).
    registry
        Where it is exposed.

    Example
    -------
    >>> registry = CollectorRegistry()
    >>> scores = BatchHistogram("score", "Scores", (0.5, 1.0), registry=registry)
    >>> scores.observe_many(np.array([0.2, 0.5, 0.9]))
    >>> scores.observe(1.5)
    >>> [line for line in generate_latest(registry).decode().splitlines() if "le=" in line]
    ['score_bucket{le="0.5"} 2.0', 'score_bucket{le="1.0"} 3.0', 'score_bucket{le="+Inf"} 4.0']
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        *,
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = [float(b) for b in buckets] + [float("inf")]
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float) -> None:
        """Count one value (NaN, in no bucket, is left out)."""
        if value != value:
            return
        index = bisect.bisect_left(self._bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def observe_many(self, values: np.ndarray) -> None:
        """Count every value of ``values`` (NaN and nulls are left out)."""
        found = np.asarray(values, dtype=np.float64)
        found = found[~np.isnan(found)]
        counts = np.bincount(
            np.searchsorted(self._bounds, found, side="left"), minlength=len(self._bounds)
        ).tolist()
        total = float(found.sum())
        with self._lock:
            self._counts = [a + b for a, b in zip(self._counts, counts, strict=True)]
            self._sum += total

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative = np.cumsum(counts).tolist()
        yield HistogramMetricFamily(
            self.name,
            self.documentation,
            buckets=[
                (floatToGoString(b), c) for b, c in zip(self._bounds, cumulative, strict=True)
            ],
            sum_value=total,
        )
