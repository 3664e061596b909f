"""What changed between a reference profile and a current one, described column by column.

This is description, not a drift verdict: it says how much the missing rate, the mean, the range
and the categories moved, and names the largest change in a sentence. Statistical tests with
calibrated thresholds live in :mod:`tether.drift`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tether.profile.column import ColumnProfile

if TYPE_CHECKING:
    from tether.profile.profile import Profile

COMPARE_SCHEMA = {
    "column": pl.String,
    "kind": pl.String,
    "missing_rate_ref": pl.Float64,
    "missing_rate_cur": pl.Float64,
    "mean_ref": pl.Float64,
    "mean_cur": pl.Float64,
    "mean_shift_sd": pl.Float64,
    "share_below_ref_min": pl.Float64,
    "share_above_ref_max": pl.Float64,
    "new_categories": pl.Int64,
    "new_category_share": pl.Float64,
    "top_new": pl.String,
    "vanished_categories": pl.Int64,
    "change": pl.String,
}

Row = dict[str, object]
Notes = list[tuple[float, str]]
"""Candidate descriptions of a change, each weighted on the :data:`NOTABLE` scale."""

NOTABLE = 0.1
"""Smallest change worth a sentence, in standard deviations of the mean; the other changes are
put on the same scale by counting ten times their share (so 1 percentage point of missing rate,
1% of values out of range or 1% of rows in new categories weigh like 0.1 sd). New categories
are always notable."""


def compare(reference: Profile, current: Profile) -> pl.DataFrame:
    """One row per column of either profile describing how ``current`` differs from ``reference``.

    * ``missing_rate_ref`` / ``missing_rate_cur``: share of rows that are null.
    * ``mean_ref`` / ``mean_cur`` / ``mean_shift_sd``: mean of finite values (share of true for
      booleans; null for datetimes, whose shift is still given) and its move in reference
      standard deviations.
    * ``share_below_ref_min`` / ``share_above_ref_max``: share of current finite values outside
      the reference range; exact from the histogram tails when ``current`` was built with
      ``reference=`` this profile (its tails are then exactly the values outside the range),
      otherwise estimated from current's quantile sketch.
    * ``new_categories``, ``new_category_share`` (share of current rows), ``top_new`` (up to
      three, most frequent first), ``vanished_categories``: for text columns whose reference
      counts are exact; null where a side is sketched and the answer would be a guess.
    * ``change``: the most notable difference in words, or ``no notable change``.

    Example
    -------
    >>> from tether.profile import Profile
    >>> ref = Profile.build(pl.DataFrame({"carrier": ["AA", "UA"] * 50}))
    >>> cur = Profile.build(pl.DataFrame({"carrier": ["AA", "UA"] * 45 + ["ZZ"] * 10}))
    >>> compare(ref, cur)["change"].to_list()
    ["new category 'ZZ' in 10.0% of rows"]
    """
    names = list(reference.columns) + [c for c in current.columns if c not in reference.columns]
    rows = [_row(name, reference.columns.get(name), current.columns.get(name)) for name in names]
    return pl.DataFrame(rows, schema=COMPARE_SCHEMA)


def _row(name: str, ref: ColumnProfile | None, cur: ColumnProfile | None) -> Row:
    row: Row = dict.fromkeys(COMPARE_SCHEMA)
    row["column"] = name
    if ref is None or cur is None:
        present = cur if ref is None else ref
        assert present is not None
        row["kind"] = present.kind
        row["change"] = "column new in current" if ref is None else "column missing from current"
        return row
    row["kind"] = cur.kind
    row["missing_rate_ref"] = ref.missing_rate
    row["missing_rate_cur"] = cur.missing_rate
    if ref.kind != cur.kind and {ref.kind, cur.kind} != {"categorical", "string"}:
        row["change"] = f"kind changed from {ref.kind} to {cur.kind}"
        return row
    notes: Notes = []
    _describe_missing(ref, cur, notes)
    _describe_mean(ref, cur, row, notes)
    _describe_range(ref, cur, row, notes)
    _describe_categories(ref, cur, row, notes)
    notable = [note for note in notes if note[0] >= NOTABLE]
    row["change"] = max(notable)[1] if notable else "no notable change"
    return row


def _describe_missing(ref: ColumnProfile, cur: ColumnProfile, notes: Notes) -> None:
    if ref.missing_rate is None or cur.missing_rate is None:
        return
    rate_ref, rate_cur = ref.missing_rate, cur.missing_rate
    notes.append((10 * abs(rate_cur - rate_ref), f"missing rate {rate_ref:.1%} -> {rate_cur:.1%}"))


def _describe_mean(ref: ColumnProfile, cur: ColumnProfile, row: Row, notes: Notes) -> None:
    if ref.boolean is not None and cur.boolean is not None:
        mean_ref, mean_cur, std = ref.boolean.mean, cur.boolean.mean, ref.boolean.std
    elif ref.numeric is not None and cur.numeric is not None:
        mean_ref, mean_cur = ref.numeric.moments.mean, cur.numeric.moments.mean
        std = ref.numeric.moments.std
    else:
        return
    if ref.kind != "datetime":
        row["mean_ref"], row["mean_cur"] = mean_ref, mean_cur
    if mean_ref is None or mean_cur is None or not std:
        return
    shift = (mean_cur - mean_ref) / std
    row["mean_shift_sd"] = shift
    what = "share of true" if ref.boolean is not None else "mean"
    notes.append((abs(shift), f"{what} moved {shift:+.1f} sd"))


def _describe_range(ref: ColumnProfile, cur: ColumnProfile, row: Row, notes: Notes) -> None:
    if ref.numeric is None or cur.numeric is None or ref.numeric.min is None:
        return
    finite = cur.numeric.moments.count
    if finite == 0:
        return
    low, high = float(ref.numeric.min), float(ref.numeric.max)  # type: ignore[arg-type]
    ref_hist, cur_hist = ref.numeric.histogram, cur.numeric.histogram
    tails_are_range = (
        ref_hist is not None
        and cur_hist is not None
        and cur_hist.edges == ref_hist.edges
        and len(ref_hist.edges) > 0
        and ref_hist.edges[0] == low
        and ref_hist.edges[-1] == np.nextafter(high, np.inf)
    )
    if tails_are_range:
        assert cur_hist is not None
        below, above = cur_hist.counts[0] / finite, cur_hist.counts[-1] / finite
    else:
        sketch = cur.numeric.quantiles
        below = sketch.rank(low, inclusive=False)
        above = 1.0 - sketch.rank(high, inclusive=True)
    row["share_below_ref_min"], row["share_above_ref_max"] = float(below), float(above)
    side, share = (
        ("below the reference min", below)
        if below > above
        else (
            "above the reference max",
            above,
        )
    )
    notes.append((10 * share, f"{share:.1%} of values {side}"))


def _describe_categories(ref: ColumnProfile, cur: ColumnProfile, row: Row, notes: Notes) -> None:
    if ref.categories is None or cur.categories is None or not ref.categories.exact:
        return
    known = ref.categories.counts
    assert known is not None
    new = [(value, count) for value, count in cur.categories.items() if value not in known]
    row["new_categories"] = len(new) if cur.categories.exact else None
    new_rows = sum(count for _, count in new)
    share = new_rows / cur.count if cur.count else 0.0
    row["new_category_share"] = share if cur.categories.exact else None
    row["top_new"] = ", ".join(repr(value) for value, _ in new[:3]) or None
    if new:
        if len(new) == 1:
            text = f"new category {new[0][0]!r} in {share:.1%} of rows"
        else:
            text = f"{len(new)} new categories ({row['top_new']}) in {share:.1%} of rows"
        # A value never seen in training is worth a sentence however rare: the model has no
        # learned behaviour for it.
        notes.append((max(10 * share, NOTABLE), text))
    if cur.categories.exact:
        current = cur.categories.counts
        assert current is not None
        vanished = [(v, c) for v, c in ref.categories.items() if v not in current]
        row["vanished_categories"] = len(vanished)
        if vanished and ref.count:
            lost = sum(c for _, c in vanished) / ref.count
            what = (
                f"category {vanished[0][0]!r}"
                if len(vanished) == 1
                else f"{len(vanished)} categories"
            )
            notes.append((10 * lost, f"{what} vanished (was {lost:.1%} of rows)"))
