"""Lengths of the strings in a column, exact and mergeable."""

from __future__ import annotations

import polars as pl

from tether.profile.serialize import Fields


class StringLengths:
    """Shortest, longest and total length, in characters, of a column's non-missing strings.

    Parameters
    ----------
    count
        Number of strings measured.
    min, max
        Shortest and longest length (``None`` before any string).
    total
        Sum of all lengths, so the mean stays exact across merges.

    Example
    -------
    >>> lengths = StringLengths()
    >>> lengths.add(pl.Series(["Oslo", "Zürich"]).str.len_chars(), pl.Series([2, 1]))
    >>> lengths.min, lengths.max, lengths.total, lengths.mean
    (4, 6, 14, 4.666666666666667)
    """

    def __init__(
        self, count: int = 0, min: int | None = None, max: int | None = None, total: int = 0
    ) -> None:
        self.count = count
        self.min = min
        self.max = max
        self.total = total

    def add(self, lengths: pl.Series, counts: pl.Series) -> None:
        """Add strings of the given ``lengths``, each occurring ``counts`` times."""
        if lengths.len() == 0:
            return
        self.merge_into(
            StringLengths(
                int(counts.sum()),
                int(lengths.min()),  # type: ignore[arg-type]
                int(lengths.max()),  # type: ignore[arg-type]
                int((lengths.cast(pl.Int64) * counts.cast(pl.Int64)).sum()),
            )
        )

    def merge_into(self, other: StringLengths) -> None:
        if other.min is None or other.max is None:
            return
        self.min = other.min if self.min is None else min(self.min, other.min)
        self.max = other.max if self.max is None else max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    def merge(self, other: StringLengths) -> StringLengths:
        merged = StringLengths(self.count, self.min, self.max, self.total)
        merged.merge_into(other)
        return merged

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def to_dict(self) -> dict[str, object]:
        return {"count": self.count, "min": self.min, "max": self.max, "total": self.total}

    @classmethod
    def from_dict(cls, fields: Fields) -> StringLengths:
        count = fields.integer("count")
        if count == 0:
            return cls(total=fields.integer("total"))
        return cls(count, fields.integer("min"), fields.integer("max"), fields.integer("total"))
