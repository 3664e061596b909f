"""Where a tether server spends a predict request, from its own Prometheus histograms.

tether observes every predict request's stages (``tether_predict_stage_seconds``: validate,
predict, log, and the handler's total) and the whole request as its middleware sees it
(``tether_request_seconds``, HTTP body reading and the JSON log line included). Two scrapes of
``/metrics`` around a load run give that run's histograms by difference. Means are exact (sum /
count); quantiles are interpolated within buckets as Prometheus' ``histogram_quantile`` does, so
they are only as fine as the buckets (0.2, 0.5, 1, 2, 5 ms, ...).
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

STAGES = "tether_predict_stage_seconds"
REQUEST = "tether_request_seconds"
ENDPOINT = "/v1/predict"


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts on upper ``bounds`` (seconds, the last infinite) and the sum of
    the observed seconds.

    Example
    -------
    >>> hist = Histogram((0.001, 0.002, float("inf")), np.array([50, 100, 100]), 0.1)
    >>> hist.count, hist.mean_ms, hist.quantile_ms(0.5), round(hist.quantile_ms(0.75), 6)
    (100, 1.0, 1.0, 1.5)
    """

    bounds: tuple[float, ...]
    cumulative: np.ndarray
    seconds: float

    @property
    def count(self) -> int:
        return int(self.cumulative[-1])

    @property
    def mean_ms(self) -> float:
        return 1000 * self.seconds / self.count if self.count else float("nan")

    def quantile_ms(self, q: float) -> float:
        """The ``q`` quantile, linear within its bucket (the last finite bound if beyond it)."""
        if not self.count:
            return float("nan")
        rank = q * self.count
        index = int(np.searchsorted(self.cumulative, rank, side="left"))
        if index >= len(self.bounds) - 1:
            return 1000 * self.bounds[-2]
        lower = 0.0 if index == 0 else self.bounds[index - 1]
        below = 0.0 if index == 0 else float(self.cumulative[index - 1])
        inside = float(self.cumulative[index]) - below
        share = (rank - below) / inside if inside else 1.0
        return 1000 * (lower + share * (self.bounds[index] - lower))

    def __sub__(self, earlier: Histogram) -> Histogram:
        return Histogram(self.bounds, self.cumulative - earlier.cumulative,
                         self.seconds - earlier.seconds)  # fmt: skip

    def __add__(self, other: Histogram) -> Histogram:
        return Histogram(self.bounds, self.cumulative + other.cumulative,
                         self.seconds + other.seconds)  # fmt: skip


def scrape(url: str) -> dict[str, Histogram]:
    """The predict stage histograms of the server at ``url`` by stage name, and the whole
    predict request's as ``request``."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    buckets: dict[str, list[tuple[float, float]]] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (STAGES, REQUEST):
            continue
        for sample in family.samples:
            if family.name == STAGES:
                key = sample.labels["stage"]
            elif sample.labels.get("endpoint") == ENDPOINT:
                key = "request"
            else:
                continue
            if sample.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_sum"):
                sums[key] = sample.value
    found = {}
    for key, pairs in buckets.items():
        pairs.sort()
        found[key] = Histogram(
            tuple(bound for bound, _ in pairs), np.array([n for _, n in pairs]), sums[key]
        )
    return found


def difference(after: dict[str, Histogram], before: dict[str, Histogram]) -> dict[str, Histogram]:
    """What was observed between two scrapes (a stage first seen in ``after`` counts whole)."""
    return {key: hist - before[key] if key in before else hist for key, hist in after.items()}
