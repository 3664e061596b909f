"""Frames with planted weak segments: 20 features, a calibrated score, labels worse where planted.

Every frame has 20 features (``NUMERIC`` and ``CATEGORICAL``): numeric columns with different
shapes (normal, lognormal, uniform, exponential, beta, Student t, bimodal, Poisson counts, one
with 6% missing values) and categorical ones with 3 to 30 levels (uniform, skewed and Zipf-like
long tails, one with 8% missing values). Two pairs tempt a search into redundant segments:
``x_normal_twin`` is ``x_normal`` plus a little noise (correlation 0.97) and ``c_12_group``
merges the levels of ``c_12`` into 4 groups.

The model's score is ``p = sigmoid(logit)`` of a few features and the label is drawn as
``y ~ Bernoulli(p)``, so the score is calibrated by construction: with nothing planted the
model is exactly as good as its scores say, everywhere. A planted weak segment is a conjunction
of 1-3 conditions in which a share ``flip`` (0.2-0.35) of the labels is flipped after drawing,
so the model is worse there than its scores say (its 0/1 error at threshold 0.5 rises from
about 0.19 to 0.3-0.4).

Planted conditions are the ones a search over 5 quantile bins of the reference can express: a
numeric condition is one quintile bin of the *reference* (``x < q20``, ``q20 <= x < q40``, ...,
``x >= q80``; quantiles by the inverted CDF, as tether cuts them), a categorical one is one
level (among the 20 most frequent), and either may be "is missing" on the two columns with
missing values. The Poisson count column is never planted on: its quintiles fall on tied
values, where ``<`` and ``<=`` select different rows. The segments of one trial use different
columns (twins count as one column), so they barely overlap and none contains another; each
covers 1.25%-8% of the rows, half of them under 5% (``SLOTS``).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

REFERENCE_SEED = 0
NUMERIC = [
    "x_normal",
    "x_normal_twin",
    "x_lognormal",
    "x_uniform",
    "x_exponential",
    "x_beta",
    "x_student",
    "x_bimodal",
    "x_poisson",
    "x_missing",
]
LEVELS: dict[str, list[float]] = {
    "c_3": [0.5, 0.3, 0.2],
    "c_4": [0.25] * 4,
    "c_5": [0.4, 0.25, 0.15, 0.12, 0.08],
    "c_6": [0.6, 0.1, 0.1, 0.1, 0.05, 0.05],
    "c_8": [0.125] * 8,
    "c_12": list(1.0 / np.arange(1, 13) ** 0.8 / (1.0 / np.arange(1, 13) ** 0.8).sum()),
    "c_20": list(np.linspace(0.08, 0.02, 20) / np.linspace(0.08, 0.02, 20).sum()),
    "c_30": list(1.0 / np.arange(1, 31) ** 1.1 / (1.0 / np.arange(1, 31) ** 1.1).sum()),
    "c_missing": [0.3, 0.25, 0.2, 0.1, 0.1, 0.05],
}
"""Level shares of each drawn categorical column (levels named ``<column>_<k>``)."""
C_12_GROUPS = [0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3]
"""Group of each level of ``c_12`` in ``c_12_group``."""
CATEGORICAL = [*LEVELS, "c_12_group"]
FEATURES = NUMERIC + CATEGORICAL
MISSING = {"x_missing": 0.06, "c_missing": 0.08}
TWINS = {"x_normal_twin": "x_normal", "c_12_group": "c_12"}
NEVER_PLANTED = {"x_poisson"}
BINS = 5
SMALLEST = 0.0125
"""Smallest planted share: above the search's ``min_support`` of 1% with room for sampling
noise (a segment of 1.0% of the reference can hold fewer than 1% of a current frame's rows,
and then it is not tested at all)."""
SLOTS = [(3, 0.02, 0.08), (3, SMALLEST, 0.05), (1, SMALLEST, 0.05), (1, 0.05, 0.08)]
SLOTS += [(2, 0.05, 0.08), (2, SMALLEST, 0.05)]
"""The planted segments of a trial: (depth, lowest share of rows, highest share), the hardest
to fill first."""
FLIP = (0.2, 0.35)


@dataclass(frozen=True)
class Condition:
    """One condition, in the vocabulary of ``tether.performance.segments``: ``value`` (the
    column equals ``value``), ``range`` (``low <= x < high``; ``None`` is unbounded) or
    ``missing`` (the column is null)."""

    column: str
    kind: str
    value: str | None = None
    low: float | None = None
    high: float | None = None

    def expr(self) -> pl.Expr:
        column = pl.col(self.column)
        if self.kind == "missing":
            return column.is_null()
        if self.kind == "value":
            return column == self.value
        inside = column.is_not_null()
        if self.low is not None:
            inside = inside & (column >= self.low)
        if self.high is not None:
            inside = inside & (column < self.high)
        return inside

    def words(self) -> str:
        if self.kind == "missing":
            return f"{self.column} is missing"
        if self.kind == "value":
            return f"{self.column} = {self.value}"
        if self.low is None:
            return f"{self.column} < {self.high:.4g}"
        if self.high is None:
            return f"{self.column} >= {self.low:.4g}"
        return f"{self.low:.4g} <= {self.column} < {self.high:.4g}"


@dataclass(frozen=True)
class Segment:
    """A planted weak segment: its conditions, the share of labels flipped in it, and its share
    of the reference's rows."""

    conditions: tuple[Condition, ...]
    flip: float
    share: float

    def expr(self) -> pl.Expr:
        return pl.all_horizontal(c.expr() for c in self.conditions)

    def words(self) -> str:
        return " and ".join(c.words() for c in self.conditions)


def _categorical(rng: np.random.Generator, column: str, rows: int) -> pl.Series:
    shares = np.asarray(LEVELS[column])
    codes = rng.choice(len(shares), size=rows, p=shares / shares.sum())
    names = pl.Series([f"{column}_{k}" for k in range(len(shares))])
    return names.gather(codes).alias(column)


def features(rows: int, seed: int) -> pl.DataFrame:
    """The 20 feature columns, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    x_normal = rng.normal(0.0, 1.0, rows)
    bimodal = np.where(
        rng.random(rows) < 0.4, rng.normal(-2.0, 0.5, rows), rng.normal(1.5, 1.0, rows)
    )
    numeric = {
        "x_normal": x_normal,
        "x_normal_twin": 0.97 * x_normal + np.sqrt(1 - 0.97**2) * rng.normal(0.0, 1.0, rows),
        "x_lognormal": rng.lognormal(0.0, 1.0, rows),
        "x_uniform": rng.uniform(0.0, 100.0, rows),
        "x_exponential": rng.exponential(1.0, rows),
        "x_beta": rng.beta(2.0, 5.0, rows),
        "x_student": rng.standard_t(3, rows),
        "x_bimodal": bimodal,
        "x_poisson": rng.poisson(4.0, rows).astype(np.float64),
        "x_missing": rng.normal(50.0, 10.0, rows),
    }
    frame = pl.DataFrame(numeric).with_columns(_categorical(rng, column, rows) for column in LEVELS)
    groups = {f"c_12_{k}": f"c_12_group_{g}" for k, g in enumerate(C_12_GROUPS)}
    missing = {column: rng.random(rows) < rate for column, rate in MISSING.items()}
    return frame.with_columns(
        pl.col("c_12").replace_strict(groups).alias("c_12_group"),
        *(
            pl.when(pl.lit(pl.Series(mask))).then(None).otherwise(pl.col(column)).alias(column)
            for column, mask in missing.items()
        ),
    ).select(FEATURES)


def logit() -> pl.Expr:
    """The base model: a logistic score of a few features (81% accuracy at 0.5)."""
    c_5 = {"c_5_0": 0.4, "c_5_1": 0.0, "c_5_2": -0.6, "c_5_3": 0.9, "c_5_4": -1.1}
    return (
        -0.3
        + 1.4 * pl.col("x_normal")
        + 0.8 * pl.col("x_lognormal").log()
        - 0.03 * (pl.col("x_uniform") - 50.0)
        + 1.5 * (pl.col("x_beta") - 2.0 / 7.0) / 0.16
        + 0.02 * (pl.col("x_missing").fill_null(50.0) - 50.0)
        + pl.col("c_5").replace_strict(c_5, return_dtype=pl.Float64)
    )


def draw(rows: int, seed: int, planted: tuple[Segment, ...] = ()) -> pl.DataFrame:
    """Features, ``score`` (calibrated P(y=1)) and ``y``, labels flipped inside ``planted``."""
    rng = np.random.default_rng([seed, 1])
    frame = features(rows, seed)
    score = frame.select((1.0 / (1.0 + (-logit()).exp())).alias("score")).to_series()
    y = rng.random(rows) < score.to_numpy()
    if planted:
        # a row in two planted segments (rare: they use different columns) takes the larger flip
        flips = [pl.when(s.expr()).then(s.flip).otherwise(0.0) for s in planted]
        flip = frame.select(pl.max_horizontal(flips)).to_series().to_numpy()
        y ^= rng.random(rows) < flip
    return frame.with_columns(score, pl.Series("y", y.astype(np.int64)))


@functools.cache
def reference(rows: int = 100_000) -> pl.DataFrame:
    """The clean reference frame (nothing planted): what ``WeakSegments`` is fitted on and where
    the quintile edges of planted conditions come from."""
    return draw(rows, REFERENCE_SEED)


def _candidates(reference: pl.DataFrame) -> dict[str, list[tuple[Condition, float]]]:
    """Every plantable condition of each column with its share of the reference's rows."""
    candidates: dict[str, list[tuple[Condition, float]]] = {}
    for column in FEATURES:
        if column in NEVER_PLANTED:
            continue
        options: list[Condition] = []
        if column in NUMERIC:
            edges = np.quantile(
                reference[column].drop_nulls().to_numpy(),
                np.arange(1, BINS) / BINS,
                method="inverted_cdf",
            ).tolist()
            bounds = [None, *edges, None]
            options += [
                Condition(column, "range", low=lo, high=hi) for lo, hi in itertools.pairwise(bounds)
            ]
        else:
            counts = reference[column].drop_nulls().value_counts(sort=True).head(20)
            options += [Condition(column, "value", value=v) for v in counts[column].to_list()]
        if column in MISSING:
            options.append(Condition(column, "missing"))
        means = [c.expr().mean().alias(str(i)) for i, c in enumerate(options)]
        shares = reference.select(means).row(0)
        candidates[column] = [(c, float(s)) for c, s in zip(options, shares, strict=True)]
    return candidates


def plant(reference: pl.DataFrame, seed: int) -> tuple[Segment, ...]:
    """Draw the weak segments of one trial, one per slot of ``SLOTS``.

    Columns are independent apart from the twins, so a conjunction's share is the product of
    its conditions' shares; each drawn segment's real share is then measured on the reference.
    A draw that leaves a slot unfillable (its columns taken) starts over.
    """
    rng = np.random.default_rng([seed, 2])
    candidates = _candidates(reference)
    for _ in range(1_000):
        drawn = _draw_slots(rng, candidates)
        if drawn is not None:
            return tuple(
                Segment(
                    conditions,
                    float(rng.uniform(*FLIP)),
                    reference.select(pl.all_horizontal(c.expr() for c in conditions).mean()).item(),
                )
                for conditions in drawn
            )
    raise RuntimeError(f"seed {seed}: no draw of segments fills every slot of {SLOTS}")


def _draw_slots(
    rng: np.random.Generator, candidates: dict[str, list[tuple[Condition, float]]]
) -> list[tuple[Condition, ...]] | None:
    families = sorted({TWINS.get(c, c) for c in candidates})
    members = {f: [c for c in candidates if TWINS.get(c, c) == f] for f in families}
    drawn: list[tuple[Condition, ...]] = []
    for depth, low, high in SLOTS:
        used = {TWINS.get(c.column, c.column) for conditions in drawn for c in conditions}
        free = [f for f in families if f not in used]
        for _ in range(1_000):
            chosen = []
            for i in rng.choice(len(free), size=depth, replace=False):
                family = members[free[i]]
                column = family[rng.integers(len(family))]
                chosen.append(candidates[column][rng.integers(len(candidates[column]))])
            if low <= float(np.prod([share for _, share in chosen])) < high:
                drawn.append(tuple(condition for condition, _ in chosen))
                break
        else:
            return None
    return drawn
