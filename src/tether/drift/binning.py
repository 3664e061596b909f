"""Turning two column profiles into aligned bin counts (:class:`~tether.drift.base.Binned`)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from tether.drift.base import Binned
from tether.errors import InputError
from tether.profile import ColumnProfile
from tether.profile.categorical import CategorySummary

NEW = "(new)"
"""Label of the bucket of current values never seen in the reference."""

OTHER = "(other)"
"""Label of the bucket of values outside a sketch's frequent items."""

RARE = "(rare)"
"""Label of the bucket rare reference categories are folded into."""

MIN_EXPECTED = 5.0
"""Fewest expected values a category needs at both sample sizes to keep its own bin."""

SKETCH_NOISE = 0.25
"""A sketched category keeps its own bin only while the sketch's error on its count is at most
this share of the count's own sampling noise (``sqrt(count)``)."""


def family(column: ColumnProfile) -> str:
    """``"numeric"`` for numbers, dates and datetimes; ``"categorical"`` for text and booleans."""
    return "numeric" if column.numeric is not None else "categorical"


def bin_pair(reference: ColumnProfile, current: ColumnProfile) -> Binned | None:
    """The two distributions of one column as aligned counts, or ``None`` if a side has no values.

    Numeric, integer, date and datetime columns are read from their histograms, which must be on
    the same edges: build the current profile with ``Profile.build(current, reference=ref)``.
    Booleans and text columns are aligned on the reference's categories; exact value counts get a
    last bucket for values never seen in the reference, and sketched counts (see
    :class:`~tether.profile.categorical.CategorySummary`) keep only the frequent items whose
    estimates are accurate (:data:`SKETCH_NOISE`), with everything else in one ``other`` bucket.
    Missing, NaN and infinite values are not part of the distributions.

    >>> import polars as pl
    >>> from tether.profile import Profile
    >>> ref = Profile.build(pl.DataFrame({"c": ["a", "a", "b", None]}))
    >>> cur = Profile.build(pl.DataFrame({"c": ["a", "b", "z", "z"]}), reference=ref)
    >>> binned = bin_pair(ref["c"], cur["c"])
    >>> binned.labels, binned.reference.tolist(), binned.current.tolist()
    (['a', 'b', '(new)'], [2.0, 1.0, 0.0], [1.0, 1.0, 2.0])
    """
    if family(reference) != family(current) or (reference.boolean is None) != (
        current.boolean is None
    ):
        raise InputError(
            f"column {reference.name!r} is {reference.kind} in the reference but "
            f"{current.kind} in the current data; convert one so both have the same type"
        )
    if reference.numeric is not None:
        return _numeric(reference, current)
    if reference.boolean is not None:
        assert current.boolean is not None
        ref = np.array([reference.boolean.false, reference.boolean.true], dtype=np.float64)
        cur = np.array([current.boolean.false, current.boolean.true], dtype=np.float64)
        if ref.sum() == 0 or cur.sum() == 0:
            return None
        return Binned(reference.name, "categorical", ref, cur, ["false", "true"])
    assert reference.categories is not None
    assert current.categories is not None
    if reference.categories.total == 0 or current.categories.total == 0:
        return None
    if reference.categories.exact and current.categories.exact:
        return _exact(reference.name, reference.categories, current.categories)
    return _sketched(reference.name, reference.categories, current.categories)


def _numeric(reference: ColumnProfile, current: ColumnProfile) -> Binned | None:
    ref, cur = reference.numeric, current.numeric
    assert ref is not None
    assert cur is not None
    if ref.histogram is None or cur.histogram is None:
        return None
    if ref.histogram.edges != cur.histogram.edges:
        raise InputError(
            f"column {reference.name!r}: the current histogram is not on the reference's bin "
            "edges; build the current profile with Profile.build(current, reference=ref_profile)"
        )
    counts_ref = ref.histogram.counts.astype(np.float64)
    counts_cur = cur.histogram.counts.astype(np.float64)
    if counts_ref.sum() == 0 or counts_cur.sum() == 0:
        return None
    edges = ref.histogram.edges
    extremes = [float(v) for v in (ref.min, ref.max, cur.min, cur.max) if v is not None]
    if edges:
        low = min([edges[0], *extremes])
        high = max([edges[-1], *extremes])
        inner = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        positions = np.array([low, *inner, high], dtype=np.float64)
        labels = [f"< {edges[0]:.6g}"]
        labels += [f"[{a:.6g}, {b:.6g})" for a, b in itertools.pairwise(edges)]
        labels.append(f">= {edges[-1]:.6g}")
    else:
        positions = np.array([float(np.mean(extremes)) if extremes else 0.0])
        labels = ["all"]
    prior = counts_ref + 0.5
    if edges:
        # The mass beyond a sample's extreme is Beta(1, n) for continuous values, so an open tail
        # the reference never reached gets the Dirichlet weight 1 rather than 0.5.
        for tail in (0, -1):
            if counts_ref[tail] == 0:
                prior[tail] = 1.0
    scale = ref.moments.std
    note = ""
    if not scale or not math.isfinite(scale):
        spread = (max(extremes) - min(extremes)) if extremes else 0.0
        scale = cur.moments.std or spread or 1.0
        note = "the reference has no spread, distances are in the current's standard deviation"
    return Binned(
        reference.name,
        "numeric",
        counts_ref,
        counts_cur,
        labels,
        edges=edges,
        positions=positions,
        scale=float(scale),
        prior=prior,
        note=note,
    )


def _exact(name: str, reference: CategorySummary, current: CategorySummary) -> Binned:
    assert reference.counts is not None
    assert current.counts is not None
    items = reference.items()
    labels = [value for value, _ in items]
    ref = np.array([count for _, count in items] + [0], dtype=np.float64)
    cur = np.array([current.counts.get(v, 0) for v in labels] + [0], dtype=np.float64)
    cur[-1] = current.total - cur[:-1].sum()
    prior = ref + 0.5
    known = set(labels)
    new_items = [(v, float(c)) for v, c in current.items() if v not in known]
    return Binned(
        name,
        "categorical",
        ref,
        cur,
        [*labels, NEW],
        prior=prior,
        new=len(labels),
        new_items=new_items,
    )


def sketch_error(summary: CategorySummary) -> float:
    """Half the width of the sketch's bounds on any count (0 for exact counts)."""
    if summary.frequent is None:
        return 0.0
    probe = summary.items()[:1]
    value = probe[0][0] if probe else ""
    frequent = summary.frequent
    return (frequent.get_upper_bound(value) - frequent.get_lower_bound(value)) / 2.0


def _estimate(summary: CategorySummary, value: str) -> float:
    """A category's count: exact, or the midpoint of the sketch's bounds."""
    if summary.frequent is None:
        return float(summary.count(value))
    frequent = summary.frequent
    return (frequent.get_upper_bound(value) + frequent.get_lower_bound(value)) / 2.0


def _sketched(name: str, reference: CategorySummary, current: CategorySummary) -> Binned:
    error_ref, error_cur = sketch_error(reference), sketch_error(current)
    ratio = current.total / reference.total
    # Keep a category when the sketch error on its count is small next to its sampling noise on
    # both sides, so the test measures the data and not the sketch.
    floor = max(
        (error_ref / SKETCH_NOISE) ** 2, (error_cur / SKETCH_NOISE) ** 2 / ratio, MIN_EXPECTED
    )
    labels = [v for v, _ in reference.items() if _estimate(reference, v) >= floor]
    ref = np.array([_estimate(reference, v) for v in labels] + [0.0])
    cur = np.array([_estimate(current, v) for v in labels] + [0.0])
    ref[-1] = max(reference.total - ref[:-1].sum(), 0.0)
    cur[-1] = max(current.total - cur[:-1].sum(), 0.0)
    note = (
        f"value counts are sketched: {len(labels)} frequent categories compared, the other "
        f"{ref[-1] / reference.total:.1%} of reference rows in one bucket"
    )
    return Binned(name, "categorical", ref, cur, [*labels, OTHER], other=len(labels), note=note)


def fold_rare(binned: Binned) -> Binned:
    """Categorical bins ready for testing: every category of either side, rare ones folded.

    The ``new`` bucket is opened into its categories, so both sides' categories are treated
    alike (a bucket defined as "absent from the reference" could never be calibrated by a test
    that treats the two sides alike). A category keeps its own bin when it expects at
    least :data:`MIN_EXPECTED` values on both sides given its pooled count ``t`` (``n_side * t /
    (n_reference + n_current) >= 5``); the rest become one ``rare`` bucket. Folding on pooled
    counts, which carry no information about a difference between the sides under the null,
    keeps chi-square valid and the permutation null exact; folding on the reference's counts
    alone would keep the categories that were lucky in the reference (with a long tail of
    categories, those seen 5 to 9 times in a reference of 100,000 Zipf values have 14% less
    share in fresh data), and flag that winner's curse as drift. It also keeps columns with
    thousands of categories fast and stops a thousand cells of noise from drowning a real
    change in one category. The null is then the permutation null (``null="permutation"``).

    >>> b = Binned("c", "categorical", np.array([90, 8, 2, 0.0]), np.array([60, 1, 0, 39.0]),
    ...            ["a", "b", "c", NEW], new=3, new_items=[("z", 38.0), ("y", 1.0)])
    >>> folded = fold_rare(b)
    >>> folded.labels, folded.reference.tolist(), folded.current.tolist(), folded.null
    (['a', 'z', '(rare)'], [90.0, 0.0, 10.0], [60.0, 38.0, 2.0], 'permutation')
    """
    if binned.kind != "categorical":
        return binned
    keep_side = np.ones(binned.bins, dtype=bool)
    new_items: list[tuple[str, float]] = []
    if binned.new is not None:
        keep_side[binned.new] = False
        new_items = binned.new_items or [(NEW, float(binned.current[binned.new]))]
    ref = np.append(binned.reference[keep_side], np.zeros(len(new_items)))
    cur = np.append(binned.current[keep_side], [count for _, count in new_items])
    labels = [label for label, k in zip(binned.labels, keep_side, strict=True) if k]
    labels += [value for value, _ in new_items]
    pooled = ref + cur
    n_ref, n_cur = ref.sum(), cur.sum()
    total = max(n_ref + n_cur, 1.0)
    keep = pooled * min(n_ref, n_cur) / total >= MIN_EXPECTED
    if (~keep).sum() > 1:
        ref = np.append(ref[keep], ref[~keep].sum())
        cur = np.append(cur[keep], cur[~keep].sum())
        labels = [label for label, k in zip(labels, keep, strict=True) if k] + [RARE]
    return Binned(
        binned.column, binned.kind, ref, cur, labels, note=binned.note, null="permutation"
    )
