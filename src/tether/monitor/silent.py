"""Silent failures: a model that answers, fast and without errors, and is still broken.

A served model fails quietly in a handful of ways that no exception reports: its scores freeze to
one value (a feature arrives as a constant, a preprocessing step lost its state), it returns NaN
for some rows, it scores outside anything it produced in validation (a unit changed upstream),
one predicted class vanishes or takes over, the contract suddenly rejects or flags a share of
traffic (one rule breaking is an upstream schema change), answers get slower than the latency
budget, or traffic itself falls away (a client stopped calling, or stopped logging).

:func:`silent_failures` checks one window of logged traffic for each of these against a
:class:`SilentReference` taken from the bundle, and returns one result row per metric
(:data:`tether.monitor.result.RESULT_SCHEMA`, ``check="silent"``). Every statistical verdict
needs both a test at false-alarm rate ``alpha`` (0.001 per metric by default: a window has a
dozen such metrics, so by Bonferroni a clean window raises any alert with probability at most
about 1%) and a practical floor, so that a million-row window does not alert on a shift nobody
would act on. Spikes and traffic are compared with earlier windows, summarized by
:func:`window_summary` into a small history frame of :data:`HISTORY_SCHEMA`.

Metrics (``metric``, ``column``; ``segment`` names what a row is per, when it is):

* ``traffic``: rows in the window against the history's median rows per window.
* ``invalid_outputs`` per output column: share of served rows (status ok or flagged) whose
  output is null, NaN or infinite; any is an alert.
* ``output_spread`` per numeric output: standard deviation of the window's outputs; alert when
  below ``min_spread_ratio`` times validation's (constant or near-constant predictions).
* ``out_of_range`` per numeric output: share of served outputs outside validation's
  ``[min, max]`` widened by ``range_tolerance`` of its width.
* ``class_share`` per class (``segment="class"``): share of served rows predicted as the class.
* ``rejected_rate``, ``flagged_rate`` and ``rule_rate`` per contract rule
  (``segment="rule"``): share of the window's rows.
* ``latency_over_budget``: share of rows answered slower than the bundle's budget per record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tether.bundle.bundle import output_columns
from tether.errors import FormatError, InputError
from tether.monitor.result import result, results_frame
from tether.profile import ColumnProfile, Profile

__all__ = [
    "HISTORY_SCHEMA",
    "OutputReference",
    "SilentReference",
    "history_frame",
    "silent_failures",
    "window_summary",
]

TASKS = ("binary", "multiclass", "regression")

HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "window_start": pl.Datetime("us", "UTC"),
    "rows": pl.Int64(),
    "rejected": pl.Int64(),
    "flagged": pl.Int64(),
    "rules": pl.String(),
}
"""One row per earlier window, as :func:`window_summary` makes it.

``rows``: predictions logged in the window (every status); ``rejected`` / ``flagged``: those
with that status; ``rules``: JSON object of contract rule -> rows that broke it (null when the
window was read without a ``rules`` column).
"""


@dataclass(frozen=True)
class OutputReference:
    """What validation said about one numeric output column (score, class probability or
    regression prediction): its finite range, standard deviation and how many values."""

    low: float
    high: float
    std: float
    count: int

    @classmethod
    def from_profile(cls, column: ColumnProfile) -> OutputReference:
        """The reference of one column of a prediction profile."""
        numeric = column.numeric
        if numeric is None or numeric.min is None or numeric.max is None:
            raise InputError(
                f"prediction profile column {column.name!r} has no finite values; the bundle's "
                "validation scores cannot serve as a reference"
            )
        return cls(
            float(numeric.min),
            float(numeric.max),
            float(column.std or 0.0),
            int(numeric.moments.count),
        )


@dataclass(frozen=True)
class SilentReference:
    """What :func:`silent_failures` compares a window with, taken from the bundle once.

    JSON-friendly (:meth:`to_dict` / :meth:`from_dict`), so the monitoring job can keep it with
    its results. Class names are kept as the text polars casts them to, which is how a window's
    ``prediction`` column compares with them.

    Parameters
    ----------
    task
        ``binary``, ``multiclass`` or ``regression``.
    outputs
        Output column (``score``, ``proba_<class>`` or ``prediction``) -> its validation range.
    class_shares
        Predicted class (as text) -> share of validation rows predicted as it (classification).
    class_rows
        Rows those shares were measured on.
    class_share_error
        Absolute error of the shares beyond sampling (the quantile sketch's rank error when
        they are read off the score profile; 0 when counted).
    class_source
        Where the shares come from: ``validation`` (binary: the score profile at the
        threshold), ``background`` (multiclass bundles: their training background rows
        scored, as the profile holds no joint of the class probabilities) or ``class_counts``
        (given to :meth:`from_profile`).
    latency_budget_ms
        The bundle's latency budget for one record, or None.

    Example
    -------
    >>> validation = pl.DataFrame({"score": [0.1, 0.2, 0.4, 0.7, 0.9]})
    >>> reference = SilentReference.from_profile(
    ...     Profile.build(validation), task="binary", classes=[0, 1], threshold=0.5)
    >>> reference.outputs["score"].high, reference.class_shares
    (0.9, {'0': 0.6, '1': 0.4})
    >>> SilentReference.from_dict(reference.to_dict()) == reference
    True
    """

    task: str
    outputs: dict[str, OutputReference]
    class_shares: dict[str, float] = field(default_factory=dict)
    class_rows: int = 0
    class_share_error: float = 0.0
    class_source: str | None = None
    latency_budget_ms: float | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"task {self.task!r} is not one of {list(TASKS)}")
        if not self.outputs:
            raise InputError("a silent-failure reference needs at least one output column")
        if self.class_shares and self.class_rows < 1:
            raise InputError(f"class_rows is {self.class_rows}; class shares need their rows")
        if self.latency_budget_ms is not None and not self.latency_budget_ms > 0:
            raise InputError(f"latency_budget_ms must be positive, got {self.latency_budget_ms}")

    @classmethod
    def from_bundle(cls, bundle: Any) -> SilentReference:
        """The reference of a :class:`~tether.bundle.Bundle`: ranges of its prediction profile,
        validation class shares, latency budget."""
        task, classes = bundle.task, list(bundle.classes)
        budget = bundle.metadata.get("latency_budget_ms")
        if task != "multiclass":
            return cls.from_profile(
                bundle.prediction_profile,
                task=task,
                classes=classes,
                threshold=bundle.threshold,
                latency_budget_ms=budget,
            )
        background = bundle.background
        if background.height == 0:
            raise InputError("the bundle has no background rows to take class shares from")
        predicted = np.asarray(bundle.scores(background)).argmax(axis=1)
        counts = np.bincount(predicted, minlength=len(classes))
        reference = cls.from_profile(
            bundle.prediction_profile,
            task=task,
            classes=classes,
            class_counts=dict(zip(_texts(classes), counts.tolist(), strict=True)),
            latency_budget_ms=budget,
        )
        return replace(reference, class_source="background")

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        *,
        task: str,
        classes: Sequence[Any] = (),
        threshold: float = 0.5,
        class_counts: Mapping[str, int] | None = None,
        latency_budget_ms: float | None = None,
    ) -> SilentReference:
        """The reference of a profile of validation outputs (columns ``score``,
        ``proba_<class>`` or ``prediction`` as :class:`~tether.bundle.Bundle` profiles them).

        Binary class shares are read off the score profile at ``threshold``; multiclass ones
        need ``class_counts`` (predicted class -> rows).
        """
        if task not in TASKS:
            raise InputError(f"task {task!r} is not one of {list(TASKS)}")
        fits = {"binary": len(classes) == 2, "multiclass": len(classes) >= 2, "regression": True}
        if not fits[task]:
            raise InputError(
                f"classes {list(classes)} do not fit a {task} model: binary needs 2, "
                "multiclass at least 2"
            )
        columns = output_columns(task, list(classes))
        missing = [c for c in columns if c not in profile]
        if missing:
            raise InputError(
                f"the prediction profile lacks output columns {missing} of a {task} model "
                f"(it has {list(profile.columns)})"
            )
        outputs = {name: OutputReference.from_profile(profile[name]) for name in columns}
        names = _texts(classes)
        shares: dict[str, float] = {}
        rows, error, source = 0, 0.0, None
        if task == "binary":
            quantiles = profile["score"].numeric.quantiles  # type: ignore[union-attr]
            positive = 1.0 - quantiles.rank(threshold, inclusive=False)
            shares = {names[0]: 1.0 - positive, names[1]: positive}
            rows, error, source = outputs["score"].count, quantiles.rank_error, "validation"
        elif task == "multiclass":
            if class_counts is None:
                raise InputError("a multiclass reference needs class_counts (class -> rows)")
            unknown = sorted(set(class_counts) - set(names))
            if unknown:
                raise InputError(f"class_counts has classes {unknown} not in {names}")
            rows = int(sum(class_counts.values()))
            shares = {name: class_counts.get(name, 0) / rows for name in names}
            source = "class_counts"
        return cls(task, outputs, shares, rows, error, source, latency_budget_ms)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SilentReference:
        """Read what :meth:`to_dict` wrote; raise ``FormatError`` on a malformed one."""
        try:
            outputs = {name: OutputReference(**ref) for name, ref in data["outputs"].items()}
            fields = {key: value for key, value in data.items() if key != "outputs"}
            return cls(outputs=outputs, **fields)
        except (KeyError, TypeError, AttributeError) as exc:
            raise FormatError(f"silent reference: malformed ({exc})") from None


def window_summary(window: pl.DataFrame, *, window_start: datetime | None = None) -> dict[str, Any]:
    """One history row (:data:`HISTORY_SCHEMA`) summarizing a window for later windows.

    ``window_start`` defaults to the window's first ``created_at``; pass the window's bound so
    an empty window (no traffic at all) is recorded too.

    Example
    -------
    >>> window = pl.DataFrame({"status": ["ok", "rejected", "flagged", "rejected"],
    ...                        "rules": [[], ["age:range"], ["city:category"], ["age:range"]]})
    >>> summary = window_summary(window)
    >>> summary["rows"], summary["rejected"], summary["flagged"], summary["rules"]
    (4, 2, 1, '{"age:range": 2, "city:category": 1}')
    """
    _require(window, ["status"])
    status = pl.col("status")
    first = pl.col("created_at").min() if "created_at" in window.columns else pl.lit(None)
    rows, rejected, flagged, start = window.select(
        pl.len().alias("rows"),
        (status == "rejected").sum().alias("rejected"),
        (status == "flagged").sum().alias("flagged"),
        first.alias("start"),
    ).row(0)
    rules = _rule_counts(window)
    return {
        "window_start": window_start if window_start is not None else start,
        "rows": rows,
        "rejected": rejected,
        "flagged": flagged,
        "rules": None if rules is None else json.dumps(rules, sort_keys=True),
    }


def history_frame(summaries: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows of :func:`window_summary` as a history frame (empty when none).

    >>> history_frame([]).columns
    ['window_start', 'rows', 'rejected', 'flagged', 'rules']
    """
    return pl.DataFrame(list(summaries), schema=HISTORY_SCHEMA, orient="row")


def silent_failures(
    window: pl.DataFrame,
    reference: SilentReference,
    *,
    history: pl.DataFrame | None = None,
    alpha: float = 0.001,
    min_rows: int = 100,
    min_history: int = 3,
    min_spread_ratio: float = 0.1,
    range_tolerance: float = 0.01,
    max_out_of_range: float = 0.01,
    share_ratio: float = 2.0,
    max_rate: float = 0.05,
    rate_ratio: float = 2.0,
    min_rate_increase: float = 0.01,
    max_over_budget: float = 0.01,
    traffic_drop: float = 0.5,
) -> pl.DataFrame:
    """Check one window of logged predictions for silent failures; one result row per metric.

    Parameters
    ----------
    window
        The window as :meth:`PredictionStore.read <tether.store.PredictionStore.read>` returns
        it: ``status``, ``request_id``, ``latency_total_ms``, ``prediction`` and the outputs of
        ``reference``; a ``rules`` column (list of broken rules per row) adds per-rule rates.
    reference
        What validation said (:meth:`SilentReference.from_bundle`).
    history
        Earlier windows' :func:`window_summary` rows (:data:`HISTORY_SCHEMA`); rates and traffic
        are compared with them once there are ``min_history`` windows, else rates with the
        absolute floor ``max_rate``. An empty window is refused without that history, and with
        it gives only the ``traffic`` row (the loudest silent failure is no traffic).
    alpha
        False-alarm rate of each statistical test.
    min_rows
        Fewest rows (served rows for output metrics) before a statistical metric may alert;
        invalid outputs alert at any size.
    min_spread_ratio
        Output standard deviation, as a share of validation's, below which outputs are called
        near-constant.
    range_tolerance, max_out_of_range
        Widening of validation's range (share of its width), and the smallest share of rows
        outside it worth an alert.
    share_ratio
        A predicted-class share alerts only beyond ``share_ratio`` times (or below
        ``1 / share_ratio`` times) validation's, and beyond its ``alpha`` two-sided band.
    max_rate
        Rejected, flagged and per-rule rate that alerts when there is no history.
    rate_ratio, min_rate_increase
        With history, a rate alerts only above ``rate_ratio`` times the historical rate and
        ``min_rate_increase`` above it, and beyond its one-sided ``alpha`` bound.
    max_over_budget
        Share of rows slower than the latency budget (per record) that alerts.
    traffic_drop
        Traffic alerts below this share of the history's median rows per window.

    Example
    -------
    >>> validation = pl.DataFrame({"score": np.linspace(0.05, 0.95, 500)})
    >>> reference = SilentReference.from_profile(
    ...     Profile.build(validation), task="binary", classes=[0, 1], latency_budget_ms=20.0)
    >>> window = pl.DataFrame({
    ...     "status": ["ok"] * 200, "request_id": [f"r{i}" for i in range(200)],
    ...     "prediction": [0] * 200, "score": [0.3] * 200, "latency_total_ms": [5.0] * 200})
    >>> found = silent_failures(window, reference)
    >>> found.filter("alert").select("metric", "column", "segment_value").rows()
    [('output_spread', 'score', None), ('class_share', 'prediction', '1')]
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha is {alpha!r}; it must lie strictly between 0 and 1")
    _check_options(
        min_rows=min_rows, min_history=min_history, min_spread_ratio=min_spread_ratio,
        range_tolerance=range_tolerance, max_out_of_range=max_out_of_range,
        share_ratio=share_ratio, max_rate=max_rate, rate_ratio=rate_ratio,
        min_rate_increase=min_rate_increase, max_over_budget=max_over_budget,
        traffic_drop=traffic_drop,
    )  # fmt: skip
    if not isinstance(reference, SilentReference):
        raise InputError(f"reference must be a SilentReference, got {type(reference).__name__}")
    summary = window_summary(window)
    past = _history(history)
    traffic = _traffic(summary["rows"], past, min_history, traffic_drop)
    if summary["rows"] == 0:
        if past.height < min_history:
            raise InputError(
                f"window has no rows and the history has {past.height} windows (fewer than "
                f"min_history={min_history}); with no traffic there is nothing to check"
            )
        return results_frame([traffic])
    outputs = list(reference.outputs)
    _require(window, ["request_id", "latency_total_ms", "prediction", *outputs])
    found = _statistics(window, reference, range_tolerance)
    served = found["served"]
    rows = [traffic]
    rows += _output_rows(
        found,
        reference,
        served,
        min_rows,
        min_spread_ratio,
        alpha,
        max_out_of_range,
        range_tolerance,
    )
    if reference.class_shares:
        rows += _class_rows(found, reference, alpha, min_rows, share_ratio)
    rows += _rate_rows(
        summary,
        past,
        alpha=alpha,
        min_rows=min_rows,
        min_history=min_history,
        max_rate=max_rate,
        ratio=rate_ratio,
        increase=min_rate_increase,
    )
    rows.append(_latency_row(found, reference, min_rows, max_over_budget))
    return results_frame(rows)


# -- the window's statistics, in one pass ----------------------------------------------------


def _statistics(
    window: pl.DataFrame, reference: SilentReference, tolerance: float
) -> dict[str, Any]:
    """Every count and moment the checks need, from three queries polars runs together: the
    outputs' statistics, predicted-class counts and rows over the latency budget."""
    served = pl.col("status") != "rejected"
    exprs = [served.sum().alias("served")]
    for name, ref in reference.outputs.items():
        value = pl.col(name).cast(pl.Float64).filter(served)
        finite = value.filter(value.is_finite())
        margin = tolerance * (ref.high - ref.low)
        outside = (finite < ref.low - margin) | (finite > ref.high + margin)
        exprs += [
            value.is_null().sum().alias(f"{name}/null"),
            value.is_nan().sum().alias(f"{name}/nan"),
            value.is_infinite().sum().alias(f"{name}/inf"),
            finite.len().alias(f"{name}/finite"),
            finite.std().alias(f"{name}/std"),
            finite.min().alias(f"{name}/min"),
            finite.max().alias(f"{name}/max"),
            outside.sum().alias(f"{name}/outside"),
        ]
    latency = pl.col("latency_total_ms").cast(pl.Float64)
    exprs.append(latency.is_not_null().sum().alias("timed"))
    lazy = window.lazy()
    queries = [lazy.select(exprs)]
    if reference.task != "regression":
        queries.append(lazy.filter(served).group_by("prediction").len())
    budget = reference.latency_budget_ms
    if budget is not None:
        # Every row of a batch request logs the batch's time, and its budget is one per record:
        # only rows slower than one record's budget can break it, so only those are grouped.
        slow = lazy.filter(latency > budget).select("request_id", latency.alias("ms"))
        records = (
            pl.when(pl.col("request_id").is_null()).then(1).otherwise(pl.len().over("request_id"))
        )
        queries.append(slow.select((pl.col("ms") > budget * records).sum()))
    frames = pl.collect_all(queries)
    found: dict[str, Any] = frames[0].row(0, named=True)
    if reference.task != "regression":
        counts = frames[1].with_columns(pl.col("prediction").cast(pl.String))
        classes = dict(zip(counts["prediction"].to_list(), counts["len"].to_list(), strict=True))
        found["prediction/null"] = classes.pop(None, 0)
        found |= {f"class/{name}": classes.get(name, 0) for name in reference.class_shares}
    if budget is not None:
        found["over_budget"] = int(frames[-1].item())
    return found


# -- outputs -------------------------------------------------------------------------------------


def _output_rows(
    found: Mapping[str, Any],
    reference: SilentReference,
    served: int,
    min_rows: int,
    min_spread_ratio: float,
    alpha: float,
    max_out_of_range: float,
    tolerance: float,
) -> list[dict[str, Any]]:
    rows = []
    invalid_columns = list(reference.outputs)
    if reference.task != "regression":
        invalid_columns.insert(0, "prediction")
    for name in invalid_columns:
        counts = {kind: found.get(f"{name}/{kind}", 0) for kind in ("null", "nan", "inf")}
        bad = sum(counts.values())
        rows.append(
            result(
                "silent",
                "invalid_outputs",
                _share(bad, served),
                column=name,
                upper=0.0,
                alert=bad > 0,
                rows=served,
                detail={**counts, "served": served},
            )
        )
    for name, ref in reference.outputs.items():
        finite = found[f"{name}/finite"]
        std = found[f"{name}/std"]
        lower = min_spread_ratio * ref.std
        enough = finite >= min_rows and ref.std > 0
        rows.append(
            result(
                "silent",
                "output_spread",
                std,
                column=name,
                lower=lower,
                baseline=ref.std,
                alert=enough and std is not None and std < lower,
                rows=finite,
                detail={
                    "min": found[f"{name}/min"],
                    "max": found[f"{name}/max"],
                    "ratio": None if std is None or ref.std == 0 else std / ref.std,
                },
            )
        )
        outside = found[f"{name}/outside"]
        upper = max(max_out_of_range, _outside_bound(ref.count, finite, alpha))
        share = _share(outside, finite)
        margin = tolerance * (ref.high - ref.low)
        rows.append(
            result(
                "silent",
                "out_of_range",
                share,
                column=name,
                upper=upper,
                alert=finite >= min_rows and share is not None and share > upper,
                rows=finite,
                detail={"outside": outside, "low": ref.low - margin, "high": ref.high + margin},
            )
        )
    return rows


def _outside_bound(reference_count: int, rows: int, alpha: float) -> float:
    """Largest share of ``rows`` outputs outside the range of ``reference_count`` validation
    outputs that the same distribution produces at false-alarm rate about ``2 alpha``.

    The probability mass outside the range of ``n`` exchangeable values is Beta(2, n - 1)
    (order statistics); its upper ``alpha`` quantile bounds the chance of one output falling
    outside, and the binomial upper ``alpha`` quantile at that chance bounds the count.
    """
    if rows == 0:
        return 1.0
    chance = float(stats.beta.isf(alpha, 2, max(reference_count - 1, 1)))
    return float(stats.binom.isf(alpha, rows, chance)) / rows


def _class_rows(
    found: Mapping[str, Any], reference: SilentReference, alpha: float, min_rows: int, ratio: float
) -> list[dict[str, Any]]:
    predicted = {name: found[f"class/{name}"] for name in reference.class_shares}
    total = sum(predicted.values())
    z = float(stats.norm.isf(alpha / 2.0))
    rows = []
    for name, baseline in reference.class_shares.items():
        spread = _spread(baseline, reference.class_rows, total)
        error = reference.class_share_error
        lower = min(baseline - error - z * spread, baseline / ratio)
        upper = max(baseline + error + z * spread, baseline * ratio)
        share = _share(predicted[name], total)
        alert = total >= min_rows and share is not None and not lower <= share <= upper
        rows.append(
            result(
                "silent",
                "class_share",
                share,
                column="prediction",
                segment="class",
                segment_value=name,
                lower=max(lower, 0.0),
                upper=min(upper, 1.0),
                baseline=baseline,
                alert=alert,
                rows=total,
                detail={
                    "predicted": predicted[name],
                    "reference_rows": reference.class_rows,
                    "source": reference.class_source,
                },
            )
        )
    return rows


def _spread(share: float, reference_rows: float, rows: float) -> float:
    """Standard error of a share measured on ``rows`` against one measured on
    ``reference_rows``; the share is smoothed by half a count so a share of 0 keeps a spread."""
    if rows == 0:
        return math.inf
    smoothed = (share * reference_rows + 0.5) / (reference_rows + 1.0)
    return math.sqrt(smoothed * (1.0 - smoothed) * (1.0 / rows + 1.0 / reference_rows))


# -- rejections, flags and rules ----------------------------------------------------------------


def _rate_rows(
    summary: Mapping[str, Any],
    past: pl.DataFrame,
    *,
    alpha: float,
    min_rows: int,
    min_history: int,
    max_rate: float,
    ratio: float,
    increase: float,
) -> list[dict[str, Any]]:
    rows = summary["rows"]
    with_history = past.height >= min_history
    past_rows = int(past["rows"].sum())
    rules = None if summary["rules"] is None else json.loads(summary["rules"])
    ruled = past.filter(pl.col("rules").is_not_null())
    past_rules: dict[str, int] = {}
    for text in ruled["rules"]:
        for rule, count in json.loads(text).items():
            past_rules[rule] = past_rules.get(rule, 0) + count
    z = float(stats.norm.isf(alpha))

    def row(metric: str, count: int, past_count: int, window_rows: int, **where: Any) -> dict:
        rate = count / rows
        if with_history and window_rows > 0:
            baseline = past_count / window_rows
            upper = max(
                baseline + z * _spread(baseline, window_rows, rows),
                ratio * baseline,
                baseline + increase,
            )
        else:
            baseline, upper = None, max_rate
        return result(
            "silent",
            metric,
            rate,
            upper=upper,
            baseline=baseline,
            alert=rows >= min_rows and rate > upper,
            rows=rows,
            detail={"count": count, "history_windows": past.height},
            **where,
        )

    found = [
        row("rejected_rate", summary["rejected"], int(past["rejected"].sum()), past_rows),
        row("flagged_rate", summary["flagged"], int(past["flagged"].sum()), past_rows),
    ]
    ruled_rows = int(ruled["rows"].sum())
    for rule, count in (rules or {}).items():
        found.append(
            row(
                "rule_rate",
                count,
                past_rules.get(rule, 0),
                ruled_rows,
                segment="rule",
                segment_value=rule,
            )
        )
    return found


def _rule_counts(window: pl.DataFrame) -> dict[str, int] | None:
    """Rows breaking each rule (a rule a row broke twice counts once), most frequent first;
    None when the window has no ``rules`` column."""
    if "rules" not in window.columns:
        return None
    if not isinstance(window.schema["rules"], pl.List):
        raise InputError(
            f"window column 'rules' is {window.schema['rules']}; it must be a list of rule names"
        )
    counted = window.select(
        pl.col("rules").list.unique().explode().drop_nulls().cast(pl.String).value_counts(sort=True)
    ).unnest("rules")
    return dict(zip(counted["rules"].to_list(), counted["count"].to_list(), strict=True))


# -- latency and traffic ------------------------------------------------------------------------


def _latency_row(
    found: Mapping[str, Any], reference: SilentReference, min_rows: int, max_over_budget: float
) -> dict[str, Any]:
    timed = found["timed"]
    budget = reference.latency_budget_ms
    if budget is None:
        return result(
            "silent",
            "latency_over_budget",
            None,
            rows=timed,
            detail={"why": "the bundle has no latency budget"},
        )
    over = found["over_budget"]
    share = _share(over, timed)
    return result(
        "silent",
        "latency_over_budget",
        share,
        upper=max_over_budget,
        alert=timed >= min_rows and share is not None and share > max_over_budget,
        rows=timed,
        detail={"over": over, "budget_ms_per_record": budget},
    )


def _traffic(rows: int, past: pl.DataFrame, min_history: int, drop: float) -> dict[str, Any]:
    if past.height < min_history:
        return result(
            "silent",
            "traffic",
            rows,
            rows=rows,
            detail={
                "history_windows": past.height,
                "why": f"fewer than {min_history} earlier windows",
            },
        )
    median = float(past["rows"].median())  # type: ignore[arg-type]
    lower = drop * median
    return result(
        "silent",
        "traffic",
        rows,
        lower=lower,
        baseline=median,
        alert=rows < lower,
        rows=rows,
        detail={"history_windows": past.height},
    )


# -- input checks -------------------------------------------------------------------------------


def _history(history: pl.DataFrame | None) -> pl.DataFrame:
    if history is None:
        return history_frame([])
    if not isinstance(history, pl.DataFrame):
        raise InputError(f"history must be a polars DataFrame, got {type(history).__name__}")
    missing = [c for c in ("rows", "rejected", "flagged", "rules") if c not in history.columns]
    if missing:
        raise InputError(
            f"history lacks columns {missing}; build it from window_summary() rows (HISTORY_SCHEMA)"
        )
    return history.select(
        pl.col(c).cast(HISTORY_SCHEMA[c]) for c in HISTORY_SCHEMA if c in history.columns
    )


def _require(window: pl.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(window, pl.DataFrame):
        raise InputError(f"window must be a polars DataFrame, got {type(window).__name__}")
    missing = [c for c in columns if c not in window.columns]
    if missing:
        raise InputError(
            f"window lacks columns {missing} (it has {window.columns}); read it with "
            "PredictionStore.read and the bundle's feature schema"
        )


def _check_options(**options: Any) -> None:
    for name, value in options.items():
        if name in ("min_rows", "min_history"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} is {value!r}; it must be a positive integer")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{name} is {value!r}; it must be a number")
        low = 1.0 if name in ("share_ratio", "rate_ratio") else 0.0
        high = (
            1.0 if name in ("alpha", "traffic_drop", "max_out_of_range", "max_rate") else math.inf
        )
        if not low <= value <= high or (name == "alpha" and value in (0.0, 1.0)):
            raise InputError(f"{name} is {value!r}; it must lie in [{low:g}, {high:g}]")


def _texts(classes: Sequence[Any]) -> list[str]:
    """Class labels as the text a window's ``prediction`` column casts to."""
    return pl.Series(list(classes)).cast(pl.String).to_list() if classes else []


def _share(count: float, rows: float) -> float | None:
    return count / rows if rows else None
