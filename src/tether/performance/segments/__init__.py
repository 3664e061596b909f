"""Weak-segment discovery: the conjunctions of up to three conditions on the inputs where the
model does significantly worse than on the rest of the rows.

One concern per module: :mod:`.conditions` (what a column offers to search, learned on the
reference), :mod:`.losses` (the per-row loss and expected loss, summed by cell),
:mod:`.statistics` (Welch z, Benjamini-Hochberg), :mod:`.search` (the search and its
redundancy rules) and :mod:`.weak` (:class:`WeakSegments`, the public face).
"""

from tether.performance.segments.conditions import CONDITION
from tether.performance.segments.losses import error_loss, expected_error
from tether.performance.segments.weak import KINDS, WeakSegments, find_weak_segments

__all__ = [
    "CONDITION",
    "KINDS",
    "WeakSegments",
    "error_loss",
    "expected_error",
    "find_weak_segments",
]
