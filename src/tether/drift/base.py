"""What every drift method shares: the binned pair of distributions and a tiny base class."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

KINDS = frozenset({"numeric", "categorical"})
"""The two families of distributions a method can compare."""


@dataclass(eq=False)
class Binned:
    """The reference and current distributions of one column, as aligned bin counts.

    Missing values are not part of either distribution (the missing rate is tested on its own).
    Numeric columns are binned on the reference's histogram edges, bins ``(-inf, e0), [e0, e1),
    ..., [ek, +inf)``; categorical columns on the reference's categories, plus, in order, a
    bucket for current values never seen in the reference (``new``) and, for sketched value
    counts, one for every value not among the frequent items (``other``). Rare reference
    categories may later be folded into one ``rare`` bucket (see
    :func:`~tether.drift.binning.fold_rare`).

    Parameters
    ----------
    column
        Column name.
    kind
        ``"numeric"`` or ``"categorical"``.
    reference, current
        Counts per bin, float arrays of equal length.
    labels
        One label per bin.
    edges
        Histogram edges of a numeric column.
    positions
        Where each numeric bin's mass sits on the value axis (bin midpoints; the open tails at
        the observed extremes), for methods that measure distances along it.
    scale
        The reference's standard deviation (numeric), the unit of distance-based effects.
    prior
        Dirichlet parameters of the reference population used by the null resampling (see
        :mod:`tether.drift.thresholds`): the reference counts plus 0.5 unless stated otherwise.
    new
        Index of the bucket holding current values never seen in the reference, or ``None``.
    other
        Index of the bucket holding values outside the frequent items of a sketch, or ``None``.
    new_items
        The values in the ``new`` bucket with their current counts (exact counts only).
    null
        How :mod:`tether.drift.thresholds` resamples the null: ``"dirichlet"`` (population
        shares from the reference, current counts drawn at the current size) or
        ``"permutation"`` (the pooled counts of each bin split at random between the two sides,
        for categories folded on pooled counts).
    note
        What the binning had to approximate, for the reader ("" when nothing).
    """

    column: str
    kind: str
    reference: np.ndarray
    current: np.ndarray
    labels: list[str]
    edges: tuple[float, ...] | None = None
    positions: np.ndarray | None = None
    scale: float | None = None
    prior: np.ndarray | None = None
    new: int | None = None
    other: int | None = None
    note: str = ""
    new_items: list[tuple[str, float]] | None = None
    null: str = "dirichlet"

    def __post_init__(self) -> None:
        self.reference = np.asarray(self.reference, dtype=np.float64)
        self.current = np.asarray(self.current, dtype=np.float64)
        if self.reference.shape != self.current.shape or self.reference.ndim != 1:
            raise ValueError("reference and current counts must be 1-D arrays of equal length")
        if len(self.labels) != self.reference.size:
            raise ValueError("one label per bin is needed")
        if self.prior is None:
            self.prior = self.reference + 0.5

    @property
    def n_reference(self) -> int:
        return round(float(self.reference.sum()))

    @property
    def n_current(self) -> int:
        return round(float(self.current.sum()))

    @property
    def bins(self) -> int:
        return int(self.reference.size)


def shares(counts: np.ndarray, smoothing: float = 0.0) -> np.ndarray:
    """Counts as shares along the last axis, after adding ``smoothing`` to every bin.

    An all-zero row stays all zero rather than dividing by zero.

    >>> shares(np.array([[1.0, 3.0], [0.0, 0.0]])).tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    total = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


class DriftMethod:
    """Base class of the drift methods: one statistic comparing two binned distributions.

    A method is a class with a name, the kinds of columns it applies to (``numeric``,
    ``categorical``), whether its statistic is symmetric in its two arguments, and its practical
    floor ``min_effect``: a column drifts only when the difference is significant *and* the
    effect reaches that floor. The floors are set at about the effect of a 0.1 standard
    deviation mean shift of a normal column, binned on 20 quantile bins, or of a 5 point move of
    one category's share, so all methods agree on what "practically relevant" means; pass
    ``min_effect=`` to choose another.

    :meth:`statistic` is vectorized over leading axes: ``reference`` and ``current`` are arrays
    of shape ``(..., bins)`` that broadcast together, so the thresholds can evaluate thousands
    of resampled pairs in one numpy call. Parameters are set in the constructor only.

    ``tail_power`` says which power of the statistic is roughly a quadratic form (2 for
    distances that are square roots of divergences), so the scaled chi-square that extends the
    resampled null into its far tail is fitted on that scale.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[frozenset[str]] = KINDS
    symmetric: ClassVar[bool] = True
    min_effect: ClassVar[float] = 0.0
    tail_power: ClassVar[float] = 1.0

    def __init__(self, *, min_effect: float | None = None) -> None:
        if min_effect is not None:
            self.min_effect = min_effect  # type: ignore[misc]

    def statistic(self, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The statistic for each pair of count vectors (last axis: bins)."""
        raise NotImplementedError

    def effect(self, binned: Binned, statistic: float) -> float:
        """The effect size compared with :attr:`min_effect`; the statistic unless overridden."""
        return float(statistic)

    def for_bins(self, binned: Binned) -> DriftMethod:
        """This method set up for one column's bins (for methods needing more than counts)."""
        return self

    def analytic_null(self, binned: Binned) -> object | None:
        """A frozen scipy distribution of the statistic under the null, where one is valid.

        ``None`` (the default) means the threshold comes from resampling.
        """
        return None

    def params(self) -> dict[str, object]:
        """The constructor parameters and their values (learned nothing, stores only these)."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name in signature.parameters
            if name != "self" and hasattr(self, name)
        }

    def key(self) -> tuple[object, ...]:
        """What identifies this method and its parameters in the threshold cache."""
        items = []
        for name, value in sorted(self.params().items()):
            if isinstance(value, np.ndarray):
                value = (value.dtype.str, value.shape, value.tobytes())
            items.append((name, value))
        return (type(self).__qualname__, tuple(items))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={v!r}" for k, v in self.params().items() if not isinstance(v, np.ndarray)
        )
        return f"{type(self).__name__}({shown})"


class SmoothedDriftMethod(DriftMethod):
    """A method that takes logarithms of shares, so it adds ``smoothing`` to every count first.

    Empty bins would make a log-ratio infinite; 0.5 (the Jeffreys-Perks value) is negligible at
    thousands of rows.
    """

    def __init__(self, smoothing: float = 0.5, *, min_effect: float | None = None) -> None:
        super().__init__(min_effect=min_effect)
        if smoothing <= 0:
            raise ValueError(f"smoothing must be positive, got {smoothing}")
        self.smoothing = smoothing

    def smoothed(self, reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both count vectors as smoothed shares."""
        return shares(reference, self.smoothing), shares(current, self.smoothing)
