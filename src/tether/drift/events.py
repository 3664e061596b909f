"""Category and sentinel events: new and vanished categories, missing-rate change, 0/-1 spikes.

Distribution methods compare the shape of the values; these events name the concrete things
that break models in production: a new category (``"XYZ"`` in 4% of rows), categories that
vanished, a missing rate that jumped, a decimal field that suddenly arrives as 0 or -1. Each is
one result row, with a statistic, a threshold at ``alpha``, a p-value, an effect and its floor.

Rates are compared with two-proportion z-tests, effects with Cohen's ``h = 2 asin(sqrt(p2)) -
2 asin(sqrt(p1))`` (floor 0.1: 2% -> 4% passes it, 2% -> 2.5% does not), which weighs a change
near 0 or 1 more than one near 50%. The sentinels are exact 0 and exact -1, which profiles
count among the finite values.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from tether.profile import ColumnProfile

RATE_FLOOR = 0.1
"""Practical floor of Cohen's h for missing-rate and zero-rate changes."""

SHARE_FLOOR = 0.01
"""Practical floor for new and vanished categories: 1% of rows beyond what the null expects."""


def cohen_h(before: float, after: float) -> float:
    """Cohen's h between two proportions (signed: positive when ``after`` is larger).

    >>> round(cohen_h(0.02, 0.04), 3)
    0.119
    """
    return 2.0 * math.asin(math.sqrt(after)) - 2.0 * math.asin(math.sqrt(before))


def two_proportion_z(hits_a: float, n_a: float, hits_b: float, n_b: float) -> float:
    """The pooled two-proportion z statistic of ``b`` against ``a`` (0 when undefined).

    >>> round(two_proportion_z(20, 1000, 85, 1000), 2)
    6.52
    """
    if n_a <= 0 or n_b <= 0:
        return 0.0
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    return 0.0 if spread == 0 else (hits_b / n_b - hits_a / n_a) / spread


def _row(
    method: str,
    statistic: float,
    threshold: float | None,
    p_value: float | None,
    effect: float,
    min_effect: float,
    alpha: float,
    reason: str,
    n_reference: int,
    n_current: int,
) -> dict[str, object]:
    significant = p_value is not None and p_value < alpha
    drifted = significant and effect >= min_effect
    if not significant:
        reason = f"no change: {reason}"
    elif not drifted:
        reason = f"{reason} (significant, below the floor {min_effect:g})"
    return {
        "method": method,
        "statistic": float(statistic),
        "threshold": threshold,
        "p_value": p_value,
        "effect": float(effect),
        "min_effect": min_effect,
        "significant": significant,
        "drifted": drifted,
        "reason": reason,
        "n_reference": int(n_reference),
        "n_current": int(n_current),
    }


def _undefined(method: str, floor: float, reason: str, n_ref: int, n_cur: int) -> dict[str, object]:
    return {
        "method": method,
        "statistic": math.nan,
        "threshold": None,
        "p_value": None,
        "effect": math.nan,
        "min_effect": floor,
        "significant": False,
        "drifted": False,
        "reason": reason,
        "n_reference": n_ref,
        "n_current": n_cur,
    }


def missing_rate(
    reference: ColumnProfile, current: ColumnProfile, alpha: float
) -> dict[str, object]:
    """Change of the share of missing (null or NaN) values: two-sided two-proportion z-test."""
    n_ref, n_cur = reference.count, current.count
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current data"
        return _undefined("missing_rate", RATE_FLOOR, f"no rows in the {side}", n_ref, n_cur)
    miss_ref = reference.missing + (reference.numeric.nan if reference.numeric else 0)
    miss_cur = current.missing + (current.numeric.nan if current.numeric else 0)
    z = two_proportion_z(miss_ref, n_ref, miss_cur, n_cur)
    before, after = miss_ref / n_ref, miss_cur / n_cur
    return _row(
        "missing_rate",
        abs(z),
        float(stats.norm.isf(alpha / 2.0)),
        float(2.0 * stats.norm.sf(abs(z))),
        abs(cohen_h(before, after)),
        RATE_FLOOR,
        alpha,
        f"missing rate {before:.1%} -> {after:.1%}",
        n_ref,
        n_cur,
    )


SENTINELS = {"zero_spike": ("zeros", "zeros"), "minus_one_spike": ("minus_ones", "-1 values")}
"""Sentinel events: the profile count each tests and how its reason names it."""


def sentinel_spike(
    reference: ColumnProfile, current: ColumnProfile, alpha: float, event: str = "zero_spike"
) -> dict[str, object]:
    """Rise of the share of a sentinel value (0 or -1) among finite values.

    A decimal field that suddenly arrives as 0 or -1 is an upstream failure dressed as data;
    the test is a one-sided two-proportion z-test against the reference's own rate.
    """
    count, label = SENTINELS[event]
    ref, cur = reference.numeric, current.numeric
    assert ref is not None
    assert cur is not None
    n_ref, n_cur = ref.moments.count, cur.moments.count
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current data"
        return _undefined(event, RATE_FLOOR, f"no values in the {side}", n_ref, n_cur)
    seen_ref, seen_cur = getattr(ref, count), getattr(cur, count)
    z = two_proportion_z(seen_ref, n_ref, seen_cur, n_cur)
    before, after = seen_ref / n_ref, seen_cur / n_cur
    return _row(
        event,
        z,
        float(stats.norm.isf(alpha)),
        float(stats.norm.sf(z)),
        cohen_h(before, after),
        RATE_FLOOR,
        alpha,
        f"{label} {before:.1%} -> {after:.1%} of values",
        n_ref,
        n_cur,
    )


def new_categories(
    reference: ColumnProfile, current: ColumnProfile, alpha: float
) -> dict[str, object]:
    """Share of current values never seen in the reference, against what the null expects.

    A finite reference misses some of its population's categories, so even data from the same
    population shows "new" values: the Good-Turing estimate of that share is the share of
    reference values seen exactly once, ``f1 / n``. The test is one-sided, the effect the
    observed share minus that expectation, the floor 1% of rows. When the reference counts are
    sketched, a value missing from its frequent items may still have been seen, so the event is
    not computed; when only the current counts are sketched, the share counts only the
    frequent new values (a lower bound).
    """
    ref, cur = reference.categories, current.categories
    assert ref is not None
    assert cur is not None
    n_ref, n_cur = ref.total, cur.total
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current data"
        return _undefined("new_categories", SHARE_FLOOR, f"no values in the {side}", n_ref, n_cur)
    if ref.counts is None:
        return _undefined(
            "new_categories",
            SHARE_FLOOR,
            "reference value counts are sketched, so values it never saw cannot be told apart "
            "from rare ones",
            n_ref,
            n_cur,
        )
    new = [(value, count) for value, count in cur.items() if value not in ref.counts]
    new_count = float(sum(count for _, count in new))
    share = new_count / n_cur
    singletons = sum(1 for count in ref.counts.values() if count == 1)
    expected = singletons / n_ref
    spread = math.sqrt(
        max(expected * (1.0 - expected), 0.0) / n_cur + (singletons + 1.0) / n_ref**2
    )
    z = (share - expected) / spread
    top = ", ".join(f"{value!r}" for value, _ in new[:3])
    if new:
        first, count = new[0]
        reason = f"new category {first!r} in {count / n_cur:.1%} of rows"
        if len(new) > 1:
            reason = f"{len(new)} new categories in {share:.1%} of rows (top: {top})"
    else:
        reason = "no new categories"
    if not cur.exact:
        reason += "; current counts are sketched, only frequent values counted"
    return _row(
        "new_categories",
        share,
        expected + float(stats.norm.isf(alpha)) * spread,
        float(stats.norm.sf(z)),
        share - expected,
        SHARE_FLOOR,
        alpha,
        reason,
        n_ref,
        n_cur,
    )


def vanished_categories(
    reference: ColumnProfile, current: ColumnProfile, alpha: float
) -> dict[str, object]:
    """Share of reference values whose category never appears in the current data.

    A small current sample misses rare categories by chance: a category seen ``r`` times in
    ``n_ref`` reference values is absent from ``n`` current values with probability about
    ``(1 + n / n_ref) ** -(r + 0.5)`` (its share averaged over the reference's uncertainty). The
    statistic is the vanished categories' share of reference rows, tested one-sided against
    that expectation (normal approximation, independent categories); the effect is the excess,
    the floor 1% of reference rows. Needs exact counts on both sides.
    """
    ref, cur = reference.categories, current.categories
    assert ref is not None
    assert cur is not None
    n_ref, n_cur = ref.total, cur.total
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current data"
        return _undefined(
            "vanished_categories", SHARE_FLOOR, f"no values in the {side}", n_ref, n_cur
        )
    if ref.counts is None or cur.counts is None:
        return _undefined(
            "vanished_categories",
            SHARE_FLOOR,
            "value counts are sketched, so absent categories cannot be told apart from rare ones",
            n_ref,
            n_cur,
        )
    values = list(ref.counts)
    share = np.array([ref.counts[v] for v in values], dtype=np.float64) / n_ref
    absent = np.array([v not in cur.counts for v in values])
    observed = float(share[absent].sum())
    # The chance a category is absent from the current values, averaged over what the reference
    # says of its population share (Gamma(count + 0.5) / n_ref): (1 + n_cur / n_ref)^-(count+0.5).
    chance = (1.0 + n_cur / n_ref) ** -(share * n_ref + 0.5)
    expected = float((share * chance).sum())
    spread = math.sqrt(float((share**2 * chance * (1.0 - chance)).sum())) + 1e-12
    z = (observed - expected) / spread
    gone = [v for v, a in zip(values, absent, strict=True) if a]
    if gone:
        shown = ", ".join(repr(v) for v in gone[:3])
        reason = f"{len(gone)} categories vanished ({shown}), {observed:.1%} of reference rows"
    else:
        reason = "no category vanished"
    return _row(
        "vanished_categories",
        observed,
        expected + float(stats.norm.isf(alpha)) * spread,
        float(stats.norm.sf(z)),
        observed - expected,
        SHARE_FLOOR,
        alpha,
        reason,
        n_ref,
        n_cur,
    )
