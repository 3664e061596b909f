"""Drift of one column: every method's calibrated verdict and the column's events."""

from __future__ import annotations

import math

import numpy as np

from tether.drift import events
from tether.drift.base import Binned, DriftMethod, shares
from tether.drift.binning import NEW, bin_pair, family, fold_rare
from tether.drift.methods import resolve
from tether.drift.thresholds import calibrate
from tether.errors import InputError
from tether.profile import ColumnProfile


def column_drift(
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    methods: list[str] | None = None,
    alpha: float = 0.01,
    resamples: int = 2000,
    seed: int = 0,
) -> list[dict[str, object]]:
    """One result row per method and per event for one column, reference against current.

    Each method's threshold is calibrated at the current sample size (see
    :mod:`tether.drift.thresholds`); a row is ``significant`` when its statistic is beyond the
    threshold (p-value below ``alpha``) and ``drifted`` when, in addition, its effect reaches
    the method's practical floor. The first method (of ``methods``, or of
    :data:`~tether.drift.methods.DEFAULT_METHODS` for the column's kind) is ``primary``: it
    decides the column's verdict. Events follow: ``missing_rate`` for every column,
    ``zero_spike`` and ``minus_one_spike`` for numbers, ``new_categories`` and
    ``vanished_categories`` for text.

    Row keys: ``column``, ``kind`` (the reference column's kind), ``method``, ``statistic``,
    ``threshold``, ``p_value``, ``effect``, ``min_effect``, ``significant``, ``drifted``,
    ``primary``, ``reason``, ``n_reference``, ``n_current`` (values compared: non-missing for
    methods, rows for ``missing_rate``). Where a side has no values, statistic and effect are
    NaN, threshold and p-value ``None``, and the verdict is no drift with the reason.

    Example
    -------
    >>> import polars as pl
    >>> from tether.profile import Profile
    >>> rng = np.random.default_rng(0)
    >>> ref = Profile.build(pl.DataFrame({"x": rng.normal(size=20_000)}))
    >>> cur = Profile.build(pl.DataFrame({"x": rng.normal(0.6, 1, 5_000)}), reference=ref)
    >>> row = column_drift(ref["x"], cur["x"])[0]
    >>> row["method"], row["drifted"], row["reason"]
    ('ks', True, 'mean moved +0.60 sd')
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    if resamples < 1:
        raise InputError(f"resamples must be at least 1, got {resamples}")
    kind = family(reference)
    chosen = resolve(methods, kind)
    binned = bin_pair(reference, current)
    head = {"column": reference.name, "kind": reference.kind}
    rows = [
        {**head, **row, "primary": i == 0}
        for i, row in enumerate(
            _method_rows(chosen, binned, reference, current, alpha, resamples, seed)
        )
    ]
    for event in _events(reference, current, alpha):
        rows.append({**head, **event, "primary": False})
    return [_ordered(row) for row in rows]


KEYS = (
    "column",
    "kind",
    "method",
    "statistic",
    "threshold",
    "p_value",
    "effect",
    "min_effect",
    "significant",
    "drifted",
    "primary",
    "reason",
    "n_reference",
    "n_current",
)
"""The keys of every result row, in order."""


def _ordered(row: dict[str, object]) -> dict[str, object]:
    return {key: row[key] for key in KEYS}


def _events(
    reference: ColumnProfile, current: ColumnProfile, alpha: float
) -> list[dict[str, object]]:
    rows = [events.missing_rate(reference, current, alpha)]
    if reference.numeric is not None and reference.kind != "datetime":
        rows += [events.sentinel_spike(reference, current, alpha, e) for e in events.SENTINELS]
    if reference.categories is not None:
        rows.append(events.new_categories(reference, current, alpha))
        rows.append(events.vanished_categories(reference, current, alpha))
    return rows


def _empty_reason(reference: ColumnProfile, current: ColumnProfile) -> str:
    for side, column in (("reference", reference), ("current data", current)):
        if column.count == 0:
            return f"no drift test: the {side} has no rows"
        values = _values(column)
        if values == 0:
            return f"no drift test: all {column.count} rows of the {side} are missing"
    return "no drift test: too few values to compare"


def _values(column: ColumnProfile) -> int:
    if column.numeric is not None:
        histogram = column.numeric.histogram
        return 0 if histogram is None else int(histogram.counts.sum())
    if column.boolean is not None:
        return column.boolean.true + column.boolean.false
    assert column.categories is not None
    return column.categories.total


def _constant(reference: ColumnProfile, current: ColumnProfile) -> str | None:
    """The value both sides hold when each is constant at the same value, else ``None``."""
    if reference.numeric is not None:
        ref, cur = reference.numeric, current.numeric
        assert cur is not None
        if ref.min is not None and ref.min == ref.max == cur.min == cur.max:
            return f"{reference.min}"
        return None
    if reference.boolean is not None:
        assert current.boolean is not None
        for value, a, b in (
            ("true", reference.boolean.false, current.boolean.false),
            ("false", reference.boolean.true, current.boolean.true),
        ):
            if a == 0 and b == 0:
                return value
        return None
    assert reference.categories is not None
    assert current.categories is not None
    ref_items, cur_items = reference.categories.items(), current.categories.items()
    exact = reference.categories.exact and current.categories.exact
    single = len(ref_items) == 1 and len(cur_items) == 1
    if exact and single and ref_items[0][0] == cur_items[0][0]:
        return repr(ref_items[0][0])
    return None


def _method_rows(
    chosen: list[DriftMethod],
    binned: Binned | None,
    reference: ColumnProfile,
    current: ColumnProfile,
    alpha: float,
    resamples: int,
    seed: int,
) -> list[dict[str, object]]:
    if binned is None:
        reason = _empty_reason(reference, current)
        return [_undefined(m, reason, _values(reference), _values(current)) for m in chosen]
    constant = _constant(reference, current)
    change = _describe(binned, reference, current)
    if binned.kind == "categorical":
        binned = fold_rare(binned)
        if binned.bins < 2:
            reason = "no drift test: too few current values to compare categories"
            return [_undefined(m, reason, binned.n_reference, binned.n_current) for m in chosen]
    prepared = [m.for_bins(binned) for m in chosen]
    tested = calibrate(prepared, binned, alpha=alpha, resamples=resamples, seed=seed)
    rows = []
    for method, (value, threshold, p_value) in zip(prepared, tested, strict=True):
        significant = value > threshold
        effect = method.effect(binned, value)
        drifted = significant and effect >= method.min_effect
        if constant is not None:
            reason = f"no drift: constant at {constant} on both sides"
        elif not significant:
            reason = "no drift"
        elif drifted:
            reason = change
        else:
            reason = (
                f"{change}: significant but below the practical floor "
                f"({method.name} effect {effect:.3g} < {method.min_effect:g})"
            )
        if binned.note and significant:
            reason += f" ({binned.note})"
        rows.append(
            {
                "method": method.name,
                "statistic": value,
                "threshold": threshold,
                "p_value": p_value,
                "effect": effect,
                "min_effect": float(method.min_effect),
                "significant": bool(significant),
                "drifted": bool(drifted),
                "reason": reason,
                "n_reference": binned.n_reference,
                "n_current": binned.n_current,
            }
        )
    return rows


def _undefined(method: DriftMethod, reason: str, n_ref: int, n_cur: int) -> dict[str, object]:
    return {
        "method": method.name,
        "statistic": math.nan,
        "threshold": None,
        "p_value": None,
        "effect": math.nan,
        "min_effect": float(method.min_effect),
        "significant": False,
        "drifted": False,
        "reason": reason,
        "n_reference": n_ref,
        "n_current": n_cur,
    }


def _describe(binned: Binned, reference: ColumnProfile, current: ColumnProfile) -> str:
    """What changed, in words: the mean and spread for numbers, the largest share move else."""
    if binned.kind == "numeric":
        ref, cur = reference.numeric, current.numeric
        assert ref is not None
        assert cur is not None
        scale = binned.scale or 1.0
        if ref.moments.mean is None or cur.moments.mean is None:
            return "distribution changed"
        moved = (cur.moments.mean - ref.moments.mean) / scale
        text = f"mean moved {moved:+.2f} sd"
        ratio = cur.moments.std / ref.moments.std if ref.moments.std and cur.moments.std else 1.0
        if abs(math.log(ratio)) > 0.1:
            text += f", spread x{ratio:.2f}"
        elif abs(moved) < 0.05:
            # Neither the mean nor the spread says what moved: name the bin that moved most.
            p, q = shares(binned.reference), shares(binned.current)
            index = int(np.argmax(np.abs(q - p)))
            text += f"; values {binned.labels[index]}: {p[index]:.1%} -> {q[index]:.1%}"
        return text
    p, q = shares(binned.reference), shares(binned.current)
    index = int(np.argmax(np.abs(q - p)))
    label = binned.labels[index]
    if label == NEW:
        return f"new categories in {q[index]:.1%} of rows"
    if label.startswith("("):
        return f"share of {label} values {p[index]:.1%} -> {q[index]:.1%}"
    return f"share of {label!r} {p[index]:.1%} -> {q[index]:.1%}"
