"""Fairness: do a model's decisions and errors differ between groups of people?

Three places on the path use it. :func:`representation` describes the training data: how many
rows each group has and how often its label is positive. :func:`fairness` measures a model on
validation data (with labels) or on a production window before labels arrive (then only what
needs no label: selection rate and mean score). :meth:`FairnessReport.compare` says whether a
disparity grew beyond sampling noise and a practical floor, between the bundle's baseline and a
window, or between the champion and a challenger.

**Groups.** Each sensitive attribute is cut into levels like a segment column
(:func:`~tether.performance.baseline.segment_levels`): strings, booleans and small sets of
numbers as they are, many-valued numbers at their deciles, the levels beyond ``max_levels`` as
``"(other)"`` and nulls as ``"(missing)"`` (a value that is itself the text ``"(missing)"``
counts as missing too, and one that is ``"(other)"`` joins the rarer levels). Numbers are cut
at the deciles of the rows passed, so two calls on two windows cut them at different edges: to
compare windows, cut the columns first at edges stored once
(:func:`~tether.performance.baseline.range_edges` and
:func:`~tether.performance.baseline.segment_labels`), as the bundle, the gate and the monitor
do. With two or more attributes, every pair also forms an attribute of its own,
``"sex & race"``, whose groups are ``"Male & White"`` and so on (intersections hide disparities
that each attribute alone averages away; pairs rather than the full product, whose groups would
mostly be too small to measure); an attribute's own name may therefore not contain ``" & "``.

**Metrics per group** (binary task; the predicted label is ``score >= threshold``):
``selection_rate`` (share predicted positive) and ``mean_score``; with labels also ``base_rate``
(share of positive labels), ``true_positive_rate``, ``false_positive_rate``, ``precision`` and
``calibration_gap`` (mean score minus base rate: positive where the model overstates the group's
risk). Regression: ``mean_prediction``; with labels ``mean_label`` and ``mae``. Multiclass
models have no single selection rate: pass one class's probabilities as a binary task.

**Disparities per attribute**, over its compared groups: ``demographic_parity_difference``
(largest minus smallest selection rate) and ``demographic_parity_ratio`` (smallest over
largest; below 0.8 fails the four-fifths rule); with labels ``equalized_odds_difference`` (the
larger of the true and false positive rate differences), ``equal_opportunity_difference``
(true positive rates) and ``predictive_parity_difference`` (precision). Regression:
``mean_prediction_difference`` and ``mae_difference``. The definitions are fairlearn's
(``MetricFrame`` and its disparity functions; Bird et al., 2020), and the tests hold every
value to theirs on the same rows wherever the value is defined (next paragraph). fairlearn is
not needed to run this: ``MetricFrame`` spends about two seconds per metric on 500,000 rows
converting them in Python, so the values come from per-group sums instead (below), over ten
times faster with all intervals included.

**Where the values differ from fairlearn.** A rate whose denominator is zero in a group is
undefined here: the true positive rate of a group without positive labels, its false positive
rate without negative labels, its precision when none of it is selected. Its value is null, its
row says why in ``detail`` and is not ``compared``, and the disparities over that rate are
taken over the other groups (equalized odds: each of its two rates over the groups where that
rate is defined). fairlearn 0.15 sets such a rate to 0 (scikit-learn's ``zero_division``
default) and compares it, so a group of 300 people none of whom is positive reads as a true
positive rate of 0 against the others' 0.5: a disparity of 0.5 that says nothing about the
model, only that the group has no positives to find. The two then disagree on
``equalized_odds_difference``, ``equal_opportunity_difference`` and
``predictive_parity_difference`` (and on the group rate itself, null here, 0 there); where
every group's rates are defined they agree to rounding.

**Which groups count.** A group with fewer than ``min_group_rows`` rows keeps its row count and
share but gets no metrics: they would be mostly noise. The ``"(missing)"`` group (and any
intersection with it) gets metrics but is left out of the disparities: a missing value is a fact
about data collection, not a group of people, and a shift in who lacks the value would alert as
unfairness when the contract and drift checks are the ones that should catch it. ``"(other)"``
is compared: its rows are real people with known, rarer values.

**Intervals.** The rows of the whole input are resampled, so the groups' sizes vary between
resamples as they do between real samples. Every metric of every group is a ratio of per-group
weighted sums, so a chunk of resamples is a ``(b, n)`` matrix of multinomial counts
(:func:`~tether.performance.bootstrap.resample_counts`) and one matrix product per cell of the
attributes' intersection gives all sums of the chunk (fairlearn's own bootstrap recomputes a
pandas group-by per resample, far too slow for a monitor). A group metric gets the percentile
interval, as in :func:`~tether.performance.bootstrap.bootstrap_metrics` and fairlearn. A
disparity does not: the largest-minus-smallest of noisy group values is biased away from
equality, and resampling adds the bias again, so its percentile interval almost never covers a
true disparity near zero, and a small window's interval would sit above a large baseline's with
nothing changed. A disparity's interval comes instead from a band that holds all pairwise
comparisons of its groups at once (:func:`_simultaneous`): valid however close the groups are,
the usual interval for two groups, wider for many. Its point value is still fairlearn's.

Two cases the plain bootstrap gets wrong. A rate at 0 or 1 in a group (none of 300 selected)
is 0 in every resample, so its interval would be the single point and every disparity through
it as narrow (a ratio of exactly 0, "certain" from 300 rows). Such a rate is drawn instead, in
each resample, from the Jeffreys posterior ``Beta(hits + 1/2, misses + 1/2)`` of that resample's
counts, the interval Brown, Cai & DasGupta (2001) recommend for proportions near 0 and 1: 0 of
300 gets about ``[0, 0.008]`` (the rule of three says 0.01). And a few resamples give intervals
too narrow to compare: the percentile interval needs at least one resample beyond each bound,
so ``n_resamples`` must be at least :func:`min_resamples` (40 at 95%). Below it, a window of
1,000 rows from an unchanged population was reported as grown against a 5,000-row baseline in
2% of 200 trials at 20 resamples and 3.5% at 10, against 0.5% at 40 and none at 60 or more.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from tether.errors import FormatError, InputError, UnsupportedVersionError
from tether.frame import Data, read
from tether.performance.baseline import MISSING, segment_levels
from tether.performance.bootstrap import CHUNK_BYTES, resample_counts
from tether.performance.metrics import (
    check_finite,
    check_inputs,
    check_probabilities,
    check_task,
    check_threshold,
    ratio,
)

FORMAT = "tether-fairness"
FORMAT_VERSION = 1

PAIR_CHUNK = 1 << 22
"""Most resampled statistics (resamples x pairs of groups) held at once."""

PAIRWISE_GROUPS = 60
"""Most groups whose disparity interval comes from all pairs of groups (see
:func:`_simultaneous`); 60 groups make 3,600 pairs per resample."""

SEPARATOR = " & "
"""Joins the attribute names, and the group names, of an intersection."""

GROUP_METRICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "binary": (
        ("selection_rate", "mean_score"),
        (
            "base_rate",
            "true_positive_rate",
            "false_positive_rate",
            "precision",
            "calibration_gap",
        ),
    ),
    "regression": (("mean_prediction",), ("mean_label", "mae")),
}
"""Per task: the group metrics computed without labels, and those that need labels."""

DISPARITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "demographic_parity_difference": ("difference", ("selection_rate",)),
    "demographic_parity_ratio": ("ratio", ("selection_rate",)),
    "equalized_odds_difference": ("difference", ("true_positive_rate", "false_positive_rate")),
    "equal_opportunity_difference": ("difference", ("true_positive_rate",)),
    "predictive_parity_difference": ("difference", ("precision",)),
    "mean_prediction_difference": ("difference", ("mean_prediction",)),
    "mae_difference": ("difference", ("mae",)),
}
"""Each disparity: ``"difference"`` (largest minus smallest group value, the larger over several
metrics) or ``"ratio"`` (smallest over largest), and the group metrics it is taken over. A
difference grows with unfairness; a ratio shrinks."""

REPRESENTATION_SCHEMA = {
    "attribute": pl.String,
    "group": pl.String,
    "rows": pl.Int64,
    "share": pl.Float64,
    "base_rate": pl.Float64,
}
"""Columns of :func:`representation`."""

GROUPS_SCHEMA = {
    "attribute": pl.String,
    "group": pl.String,
    "rows": pl.Int64,
    "share": pl.Float64,
    "metric": pl.String,
    "value": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "compared": pl.Boolean,
    "detail": pl.String,
}
"""Columns of :attr:`FairnessReport.groups`."""

DISPARITIES_SCHEMA = {
    "attribute": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "groups": pl.String,
    "n_groups": pl.Int64,
}
"""Columns of :attr:`FairnessReport.disparities`."""

UNDEFINED = {
    "true_positive_rate": "no positive labels",
    "false_positive_rate": "no negative labels",
    "precision": "none selected",
}
"""The rates a group can lack a denominator for, and why."""


def min_resamples(confidence: float) -> int:
    """Fewest bootstrap resamples :func:`fairness` accepts at ``confidence``:
    ``max(20, ceil(2 / (1 - confidence)))``, so that each tail of a percentile interval holds at
    least one resample and the band's standard errors rest on at least 20.

    >>> min_resamples(0.95), min_resamples(0.99)
    (40, 200)
    """
    _check_confidence(confidence)
    # rounded first: 2 / (1 - 0.95) is 39.99999999999996 in floating point
    return max(20, math.ceil(round(2.0 / (1.0 - confidence), 9)))


@dataclass(frozen=True, eq=False)
class FairnessReport:
    """Group metrics and disparities of one model on one set of rows, with bootstrap intervals.

    Built by :func:`fairness`; serialized into the bundle with :meth:`to_dict` and compared
    across windows, or between champion and challenger, with :meth:`compare`.

    Parameters
    ----------
    groups
        One row per (attribute, group, metric): ``attribute, group, rows, share, metric, value,
        low, high, compared, detail``. ``compared`` says whether the group enters the
        disparities; ``detail`` says why not (too few rows, or a missing value).
    disparities
        One row per (attribute, disparity): ``attribute, metric, value, low, high, groups,
        n_groups``. ``groups`` names the two groups that set the value, highest first
        (``"Male vs Female"``); ``n_groups`` counts the groups compared. Values are null when
        fewer than two groups could be compared.

    Example
    -------
    A window where one group's scores rose by 0.2 selects that group far more often than the
    baseline did:

    >>> rng = np.random.default_rng(1)
    >>> sex = pl.DataFrame({"sex": rng.choice(["female", "male"], 4000)})
    >>> scores = rng.random(4000)
    >>> baseline = fairness("binary", scores, sex, n_resamples=100)
    >>> raised = np.where(sex["sex"] == "male", np.minimum(scores + 0.2, 1.0), scores)
    >>> window = fairness("binary", raised, sex, n_resamples=100)
    >>> changes = window.compare(baseline).select("metric", "value", "baseline_value", "grew")
    >>> changes.with_columns(pl.col("value", "baseline_value").round(3)).rows()
    [('demographic_parity_difference', 0.177, 0.026, True), \
('demographic_parity_ratio', 0.745, 0.95, True)]
    >>> FairnessReport.from_dict(window.to_dict()).disparities.equals(window.disparities)
    True
    """

    groups: pl.DataFrame
    disparities: pl.DataFrame

    def compare(self, baseline: FairnessReport, *, floor: float = 0.02) -> pl.DataFrame:
        """Each disparity of this report against the same one in ``baseline``.

        One row per disparity of this report: ``attribute, metric, value, low, high,
        baseline_value, baseline_low, baseline_high, change`` (value minus baseline value) and
        ``grew``. A difference grew when this report's lower bound is above the baseline's upper
        bound *and* it rose by at least ``floor``; a ratio grew (worse) when its upper bound is
        below the baseline's lower bound and it fell by at least ``floor``. Disjoint intervals
        keep sampling noise from alerting at any window size; the floor keeps a real but
        negligible change on a million rows from alerting. A disparity the baseline lacks, or
        without intervals, never grew.

        Parameters
        ----------
        baseline
            The report to compare with: the bundle's validation report, an earlier window, or
            the champion's report on the rows the challenger was scored on.
        floor
            Smallest change that matters, in the disparity's own units.
        """
        if not isinstance(baseline, FairnessReport):
            raise InputError(
                f"baseline is a {type(baseline).__name__}; it must be a FairnessReport"
            )
        if not (_is_number(floor) and math.isfinite(floor) and floor >= 0):
            raise InputError(f"floor is {floor!r}; it must be a finite number >= 0")
        keys = ["attribute", "metric"]
        earlier = baseline.disparities.select(
            *keys,
            baseline_value="value",
            baseline_low="low",
            baseline_high="high",
        )
        joined = self.disparities.select(*keys, "value", "low", "high").join(
            earlier, on=keys, how="left"
        )
        ratios = [name for name, (kind, _) in DISPARITIES.items() if kind == "ratio"]
        change = pl.col("value") - pl.col("baseline_value")
        worse = (
            pl.when(pl.col("metric").is_in(ratios))
            .then((pl.col("high") < pl.col("baseline_low")) & (-change >= floor))
            .otherwise((pl.col("low") > pl.col("baseline_high")) & (change >= floor))
        )
        return joined.with_columns(change=change, grew=worse.fill_null(False))

    def compared_groups(self) -> dict[str, list[str]]:
        """Per attribute, the groups that entered its disparities (pass it as another
        report's ``compared_groups`` to compare over the same groups)."""
        kept = self.groups.filter(pl.col("compared")).unique(
            ["attribute", "group"], maintain_order=True
        )
        by_attribute = kept.group_by("attribute", maintain_order=True).agg("group")
        return dict(by_attribute.iter_rows())

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (nulls as ``None``)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "groups": self.groups.to_dicts(),
            "disparities": self.disparities.to_dicts(),
        }

    @classmethod
    def from_dict(cls, data: object) -> FairnessReport:
        """Read a report written by :meth:`to_dict`; raise ``FormatError`` naming what is wrong."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise FormatError(f"fairness report: format must be {FORMAT!r}, got {found!r}")
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise FormatError(
                f"fairness report: format_version must be an integer >= 1, got {version!r}"
            )
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"fairness report has format_version {version}, this tether reads up to "
                f"{FORMAT_VERSION}; upgrade tether to read it"
            )
        return cls(
            groups=_records(data, "groups", GROUPS_SCHEMA),
            disparities=_records(data, "disparities", DISPARITIES_SCHEMA),
        )


def _records(data: dict[str, Any], key: str, schema: dict[str, Any]) -> pl.DataFrame:
    records = data.get(key)
    if not isinstance(records, list):
        raise FormatError(f"fairness report: {key} must be a list of rows, got {records!r:.60}")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.keys() != schema.keys():
            raise FormatError(
                f"fairness report: {key}[{index}] must be an object with keys {list(schema)}, "
                f"got {record!r:.80}"
            )
    try:
        return pl.DataFrame(records, schema=schema, strict=True)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise FormatError(f"fairness report: {key} has a value of the wrong type ({exc})") from exc


@dataclass(frozen=True)
class _Partition:
    """Rows split into cells (the intersection of every attribute), and the groups over cells.

    Every group (a level of one attribute, or of a pair) is a union of cells, so sums per cell
    give sums per group by one sparse product, however many attributes and pairs there are.
    """

    cells: np.ndarray
    """Cell code of each row, ``0..size-1``."""
    size: int
    groups: pl.DataFrame
    """One row per group: ``attribute, group, missing``, attributes in order, groups within."""
    membership: sparse.csr_array
    """``(groups, cells)``: 1 where the cell belongs to the group."""
    spans: list[tuple[str, int, int]]
    """Each attribute with its first and past-the-last group index."""

    def totals(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Per group: its number of rows, or the sum of ``weights`` over its rows."""
        return np.asarray(self.membership @ np.bincount(self.cells, weights, self.size))

    def group_sums(self, cell_sums: np.ndarray) -> np.ndarray:
        """Sums ``(b, cells, k)`` per cell as sums ``(b, groups, k)`` per group."""
        b, cells, k = cell_sums.shape
        flat = cell_sums.transpose(1, 0, 2).reshape(cells, b * k)
        out = np.asarray(self.membership @ flat)
        return out.reshape(-1, b, k).transpose(1, 0, 2)


def _partition(sensitive: pl.DataFrame, intersections: bool, max_levels: int) -> _Partition:
    if intersections and sensitive.width >= 2:
        joined = [name for name in sensitive.columns if SEPARATOR in name]
        if joined:
            raise InputError(
                f"sensitive column {joined[0]!r} contains {SEPARATOR!r}, which joins the names "
                "of a pair of attributes (it would read as one); rename the column"
            )
    levels = []
    for name in sensitive.columns:
        try:
            levels.append(_merge_same_names(*segment_levels(sensitive[name], max_levels)))
        except InputError:
            raise InputError(
                f"sensitive column {name!r} has type {sensitive[name].dtype}; sensitive "
                "attributes must be strings, categories, booleans, numbers or dates"
            ) from None
    cells = np.zeros(sensitive.height, dtype=np.int64)
    for labels, codes in levels:
        cells = np.unique(cells * len(labels) + codes, return_inverse=True)[1].reshape(-1)
    size = int(cells.max()) + 1
    # each cell's level of every attribute (all rows of a cell share them)
    cell_levels = np.empty((len(levels), size), dtype=np.int64)
    cell_levels[:, cells] = np.stack([codes for _, codes in levels])

    attributes: list[str] = []
    names: list[str] = []
    missing: list[bool] = []
    group_of_cell: list[np.ndarray] = []  # per attribute: the group index of each cell
    spans = []

    def add(attribute: str, labels: list[str], missed: list[bool], of_cell: np.ndarray) -> None:
        start = len(names)
        attributes.extend([attribute] * len(labels))
        names.extend(labels)
        missing.extend(missed)
        group_of_cell.append(start + of_cell)
        spans.append((attribute, start, len(names)))

    for name, (labels, _), of_cell in zip(sensitive.columns, levels, cell_levels, strict=True):
        add(name, labels, [label == MISSING for label in labels], of_cell)
    if intersections:
        for a, b in itertools.combinations(range(len(levels)), 2):
            labels_a, labels_b = levels[a][0], levels[b][0]
            pairs, of_cell = np.unique(
                cell_levels[a] * len(labels_b) + cell_levels[b], return_inverse=True
            )
            first, second = np.divmod(pairs, len(labels_b))
            add(
                sensitive.columns[a] + SEPARATOR + sensitive.columns[b],
                [labels_a[i] + SEPARATOR + labels_b[j] for i, j in zip(first, second, strict=True)],
                [MISSING in (labels_a[i], labels_b[j]) for i, j in zip(first, second, strict=True)],
                of_cell.reshape(-1),
            )
    group_of = np.concatenate(group_of_cell)
    membership = sparse.csr_array(
        (np.ones(len(group_of)), (group_of, np.tile(np.arange(size), len(group_of_cell)))),
        shape=(len(names), size),
    )
    groups = pl.DataFrame(
        {"attribute": attributes, "group": names, "missing": missing},
        schema={"attribute": pl.String, "group": pl.String, "missing": pl.Boolean},
    )
    return _Partition(cells, size, groups, membership, spans)


def _merge_same_names(labels: list[str], codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """One level per name: a value that is itself the text ``"(missing)"`` (or ``"(other)"``)
    joins the level of that name rather than forming a second group called the same."""
    names = list(dict.fromkeys(labels))
    if len(names) == len(labels):
        return labels, codes
    position = np.array([names.index(label) for label in labels])
    return names, position[codes]


def _sensitive_frame(sensitive: Data, rows: int) -> pl.DataFrame:
    frame = read(sensitive)
    if frame.width == 0:
        raise InputError("sensitive has no columns; pass at least one sensitive attribute")
    if frame.height != rows:
        raise InputError(
            f"sensitive has {frame.height} rows but scores has {rows}; they must have one row each"
        )
    return frame


def _check_predictions(task: str, scores: Any, y_true: Any) -> tuple[np.ndarray, np.ndarray | None]:
    check_task(task)
    if task not in GROUP_METRICS:
        raise InputError(
            f"task {task!r} has no single selection rate; fairness compares one class at a "
            "time: pass scores[:, k] as task 'binary' (with y_true == k)"
        )
    if y_true is not None:
        _check_known(y_true)
        y, s = check_inputs(task, y_true, scores)
        return s, y
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"scores must be numbers for task {task!r}") from None
    if s.ndim != 1 or s.size == 0:
        raise InputError(f"scores has shape {s.shape}; it must be a non-empty 1-D array")
    check_finite("scores", s)
    if task == "binary":
        check_probabilities(s)
    return s, None


def _check_known(y_true: Any) -> None:
    """Raise ``InputError`` naming the first label that is ``None`` or NaN."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        return  # check_inputs names the shape
    if y.dtype == object:
        # NaN is the one value not equal to itself
        unknown = np.equal(y, np.array(None, dtype=object)) | np.not_equal(y, y)
    elif y.dtype.kind == "f":
        unknown = np.isnan(y)
    else:
        return
    if unknown.any():
        row = int(np.argmax(unknown))
        value = y[row : row + 1].tolist()[0]  # a Python value: None or nan, not np.float64
        raise InputError(
            f"y_true holds {value!r} at row {row} ({int(unknown.sum())} of {len(y)} labels "
            "unknown); labels must all be known: pass only the labelled rows, or y_true=None "
            "for rows whose labels have not arrived"
        )


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_confidence(confidence: object) -> None:
    if not (_is_number(confidence) and 0.0 < confidence < 1.0):  # type: ignore[operator]
        raise InputError(f"confidence is {confidence!r}; it must be a number within (0, 1)")


def _check_count(name: str, value: object) -> int:
    """``value`` as an int, or ``InputError`` unless it is a positive integer (numpy's too)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{name} is {value!r}; it must be a positive integer")
    return int(value)


def _row_values(
    task: str, scores: np.ndarray, y: np.ndarray | None, threshold: float
) -> np.ndarray:
    """The per-row terms whose per-group sums give every group metric, as columns ``(n, k)``.

    Binary: rows, selected, score, then with labels positive and true positive. Regression:
    rows, prediction, then label and absolute error.
    """
    columns = [np.ones(len(scores))]
    if task == "binary":
        selected = (scores >= threshold).astype(np.float64)
        columns += [selected, scores]
        if y is not None:
            columns += [y.astype(np.float64), y * selected]
    else:
        columns.append(scores)
        if y is not None:
            columns += [y, np.abs(y - scores)]
    return np.column_stack(columns)


def _cell_sums(weights: np.ndarray, bounds: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted sums ``(b, cells, k)`` of rows sorted by cell (cell ``c`` is rows
    ``bounds[c]:bounds[c+1]``).

    Like :func:`~tether.performance.metrics.group_sums` on contiguous groups, but for ``k``
    value columns at once, so each chunk of ``(b, n)`` weights is read from memory once.
    """
    out = np.empty((weights.shape[0], len(bounds) - 1, values.shape[1]))
    for cell in range(len(bounds) - 1):
        part = slice(bounds[cell], bounds[cell + 1])
        out[:, cell] = weights[:, part] @ values[part]
    return out


def _group_metrics(
    task: str, sums: np.ndarray, labelled: bool, rng: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """Every group metric from per-group sums ``(..., groups, k)`` of :func:`_row_values`.

    With ``rng`` the sums are resamples ``(B, groups, k)``, and a rate that is 0 (or 1) in
    every resample of a group is drawn from the Jeffreys posterior instead (:func:`_rate`).
    """
    rows = sums[..., 0]
    if task == "regression":
        out = {"mean_prediction": ratio(sums[..., 1], rows)}
        if labelled:
            out["mean_label"] = ratio(sums[..., 2], rows)
            out["mae"] = ratio(sums[..., 3], rows)
        return out
    selected = sums[..., 1]
    out = {
        "selection_rate": _rate(selected, rows, rng),
        "mean_score": ratio(sums[..., 2], rows),
    }
    if labelled:
        positive, true_positive = sums[..., 3], sums[..., 4]
        out["base_rate"] = _rate(positive, rows, rng)
        out["true_positive_rate"] = _rate(true_positive, positive, rng)
        out["false_positive_rate"] = _rate(selected - true_positive, rows - positive, rng)
        out["precision"] = _rate(true_positive, selected, rng)
        out["calibration_gap"] = out["mean_score"] - out["base_rate"]
    return out


def _rate(hits: np.ndarray, trials: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """``hits / trials`` per group, NaN without trials.

    With ``rng`` (resamples ``(B, groups)``), a group whose rate is 0 in every resample, or 1
    in every resample, never varies, and a bootstrap interval of a single point would claim
    certainty from any number of rows. Its rate in each resample is drawn instead from the
    Jeffreys posterior ``Beta(hits + 1/2, misses + 1/2)`` of that resample's counts (Brown, Cai
    & DasGupta, 2001).
    """
    rates = ratio(hits, trials)
    if rng is None:
        return rates
    counted = trials > 0
    stuck = np.all((hits == 0) | ~counted, axis=0) | np.all((hits == trials) | ~counted, axis=0)
    stuck &= counted.any(axis=0)
    if stuck.any():
        h, t = hits[:, stuck], trials[:, stuck]
        posterior = rng.beta(h + 0.5, t - h + 0.5)
        rates[:, stuck] = np.where(t > 0, posterior, np.nan)
    return rates


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each column of ``draws`` ``(B, m)``, ignoring NaN draws.

    Linear interpolation between order statistics, as ``np.quantile``; NaN where more than half
    of the draws are NaN (as :func:`~tether.performance.bootstrap.bootstrap_metrics`).
    """
    defined = (~np.isnan(draws)).sum(axis=0)
    ordered = np.sort(draws, axis=0)  # NaN sorts last
    alpha = (1.0 - confidence) / 2.0
    last = np.maximum(defined - 1, 0)
    bounds = []
    for q in (alpha, 1.0 - alpha):
        position = q * last
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, last)
        fraction = position - below
        low = np.take_along_axis(ordered, below[None], axis=0)[0]
        high = np.take_along_axis(ordered, above[None], axis=0)[0]
        value = low + fraction * (high - low)
        bounds.append(np.where(2 * defined >= len(draws), value, np.nan))
    return bounds[0], bounds[1]


def _disparity(kind: str, sources: list[np.ndarray]) -> tuple[float, int, int]:
    """A disparity over the group values ``(g,)`` of each source metric, and the positions of
    the two groups that set it (highest first); NaN when fewer than two groups are defined."""
    best = (math.nan, 0, 0)
    for values in sources:
        defined = np.flatnonzero(~np.isnan(values))
        if len(defined) < 2:
            continue
        top = defined[np.argmax(values[defined])]
        # the last smallest, so that equal groups still name two different ones
        bottom = defined[len(defined) - 1 - np.argmin(values[defined][::-1])]
        high, low = values[top], values[bottom]
        value = float(ratio(low, high)) if kind == "ratio" else float(high - low)
        # equalized odds: the larger of its differences, and that difference's groups
        if math.isnan(best[0]) or value > best[0]:
            best = (value, int(top), int(bottom))
    return best


def _pairs(kind: str, values: np.ndarray) -> np.ndarray:
    """The statistic of every ordered pair of groups, ``(..., g)`` to ``(..., g * g)``:
    ``a - b`` for a difference, ``a / b`` for a ratio."""
    first, second = values[..., :, None], values[..., None, :]
    pairs = ratio(first, second) if kind == "ratio" else first - second
    return pairs.reshape(*values.shape[:-1], -1)


def _band(
    estimate: np.ndarray, resampled: Callable[[int, int], np.ndarray], rows: int, confidence: float
) -> tuple[np.ndarray, float] | None:
    """Standard errors of ``estimate`` ``(m,)`` and the critical value of a simultaneous band.

    ``resampled(start, stop)`` gives the resampled statistics ``(stop - start, m)``, read in
    chunks so that pairs of many groups never sit in memory at once. The critical value is the
    ``confidence`` quantile over resamples of the largest studentized deviation of any
    statistic (the bootstrap max-t). ``None`` when a statistic is undefined in more than half
    of the resamples.
    """
    count, total, squares = np.zeros((3, len(estimate)))
    step = max(1, PAIR_CHUNK // len(estimate))
    for start in range(0, rows, step):
        part = resampled(start, min(start + step, rows))
        defined = ~np.isnan(part)
        count += defined.sum(axis=0)
        part[~defined] = 0.0
        total += part.sum(axis=0)
        squares += (part**2).sum(axis=0)
    used = ~np.isnan(estimate)
    if np.any(2 * count[used] < rows):
        return None
    mean = total / np.maximum(count, 1)
    spread = np.sqrt(np.maximum(squares - count * mean**2, 0.0) / np.maximum(count - 1, 1))
    # statistics that never vary (a group with itself, a rate at 0 in every resample) are
    # bounded exactly and do not set the critical value
    scale = np.where(used & (spread > 0), spread, np.inf)
    largest = np.full(rows, -np.inf)
    for start in range(0, rows, step):
        deviation = np.abs(resampled(start, min(start + step, rows)) - estimate) / scale
        largest[start : start + step] = np.where(np.isnan(deviation), -np.inf, deviation).max(1)
    finite = largest[np.isfinite(largest)]
    return spread, float(np.quantile(finite, confidence)) if finite.size else 0.0


def _simultaneous(
    kind: str, points: list[np.ndarray], draws: list[np.ndarray], confidence: float
) -> tuple[float, float]:
    """Confidence interval of a disparity from a band that holds all its groups at once.

    ``points`` holds each source metric's group values ``(g,)``, ``draws`` their resamples
    ``(B, g)``. Up to :data:`PAIRWISE_GROUPS` groups the band is over every ordered pair of
    groups (``a - b`` for a difference, ``a / b`` for a ratio), as Tukey's simultaneous
    pairwise comparisons: the disparity is the largest difference (or smallest ratio) of a
    pair, so when every pair lies in its band the disparity lies between the largest (or
    smallest) lower and upper bounds. For two groups this is the usual interval of their
    difference. With more groups the pairs cost too much and the band is over the groups
    themselves, and the disparity ranges from the closest to the farthest the band lets the
    extreme groups be: valid too, up to about 1.4 times wider.

    Either way the interval covers however close the groups are, where the percentile
    interval of the resampled largest-minus-smallest value, biased away from equality (the
    largest of noisy values overshoots), almost never covers a disparity near zero.
    """
    rows = len(draws[0])
    pairwise = max(len(values) for values in points) <= PAIRWISE_GROUPS
    if pairwise:
        estimate = np.concatenate([_pairs(kind, values) for values in points])

        def resampled(start: int, stop: int) -> np.ndarray:
            return np.concatenate([_pairs(kind, d[start:stop]) for d in draws], axis=1)

    else:
        estimate = np.concatenate(points)

        def resampled(start: int, stop: int) -> np.ndarray:
            return np.concatenate([d[start:stop] for d in draws], axis=1)

    band = _band(estimate, resampled, rows, confidence)
    if band is None:
        return math.nan, math.nan
    spread, critical = band
    lows, highs, start = [], [], 0
    for values in points:
        size = len(values) ** 2 if pairwise else len(values)
        part = slice(start, start + size)
        start += size
        used = ~np.isnan(estimate[part])
        lower = estimate[part][used] - critical * spread[part][used]
        upper = estimate[part][used] + critical * spread[part][used]
        if len(lower) == 0:
            continue
        if pairwise and kind == "ratio":
            lows.append(float(lower.min()))
            highs.append(float(upper.min()))
        elif pairwise:
            lows.append(float(lower.max()))
            highs.append(float(upper.max()))
        elif kind == "ratio":
            floor = np.maximum(lower, 0.0)
            lows.append(float(ratio(floor.min(), upper.max())))
            highs.append(float(ratio(upper.min(), floor.max())) if floor.max() > 0 else 1.0)
        else:
            lows.append(float(lower.max() - upper.min()))
            highs.append(float(upper.max() - lower.min()))
    if not lows:
        return math.nan, math.nan
    top = 1.0 if kind == "ratio" else math.inf
    return min(max(0.0, max(lows)), top), min(max(highs), top)


def fairness(
    task: str,
    scores: Any,
    sensitive: Data,
    *,
    y_true: Any = None,
    threshold: float = 0.5,
    intersections: bool = True,
    n_resamples: int = 200,
    confidence: float = 0.95,
    min_group_rows: int = 30,
    max_levels: int = 50,
    seed: int = 0,
    compared_groups: Mapping[str, Collection[str]] | None = None,
) -> FairnessReport:
    """Group metrics and disparities of a model's predictions, with bootstrap intervals.

    See the module docstring for the groups, metrics, disparities and intervals.

    Parameters
    ----------
    task
        ``"binary"`` (scores are P(positive)) or ``"regression"``; for a multiclass model pass
        one class's probabilities as ``"binary"``.
    scores
        One score (binary) or prediction (regression) per row.
    sensitive
        A table (polars, pandas, pyarrow) of sensitive attributes, one row per score. A
        many-valued numeric column is cut at the deciles of *these* rows, so two calls on two
        windows would compare different groups: to compare reports, pass columns already cut
        at edges stored once (:func:`~tether.performance.baseline.range_edges` on the
        reference, then :func:`~tether.performance.baseline.segment_labels` on each window),
        as the bundle, the gate and the monitor do.
    y_true
        Labels in the conventions of :mod:`tether.performance.metrics`, every one known, or
        ``None`` for a window whose labels have not arrived (then only the label-free
        metrics). Rows still waiting for their label are left out, not passed as ``None``.
    threshold
        Score at or above which a binary prediction is positive (selected).
    intersections
        Whether every pair of attributes is also an attribute (``"sex & race"``).
    n_resamples, confidence, seed
        Bootstrap resamples, at least :func:`min_resamples` of ``confidence`` (40 at 0.95);
        interval coverage; and the seed of ``np.random.default_rng``.
    min_group_rows
        Fewest rows a group needs to get metrics and enter the disparities.
    max_levels
        Most levels kept per attribute (the rest are ``"(other)"``); also the number of
        distinct values above which numbers are cut at their deciles.
    compared_groups
        Per attribute, the only groups that may enter its disparities, e.g. a baseline's
        :meth:`FairnessReport.compared_groups`: a window is then compared with the baseline
        over the same groups, and a group that was too small to measure before does not read
        as a disparity that grew. An attribute it does not name compares all its groups. The
        groups it leaves out keep their metrics, with ``compared`` false and the reason in
        ``detail``.

    Example
    -------
    Labels positive more often for men, and a model that widens the gap:

    >>> rng = np.random.default_rng(0)
    >>> sex = rng.choice(["female", "male"], 2000)
    >>> y = rng.random(2000) < np.where(sex == "male", 0.3, 0.1)
    >>> scores = np.clip(0.3 * y + 0.5 * rng.random(2000) + 0.1 * (sex == "male"), 0, 1)
    >>> report = fairness("binary", scores, pl.DataFrame({"sex": sex}), y_true=y)
    >>> rates = report.groups.filter(pl.col("metric").is_in(["selection_rate", "base_rate"]))
    >>> rates.select("group", "rows", "metric", pl.col("value").round(3)).rows()
    [('male', 1043, 'selection_rate', 0.389), ('male', 1043, 'base_rate', 0.314), \
('female', 957, 'selection_rate', 0.073), ('female', 957, 'base_rate', 0.113)]
    >>> report.disparities.select(
    ...     "metric", pl.col("value", "low", "high").round(3), "groups"
    ... ).rows()  # doctest: +NORMALIZE_WHITESPACE
    [('demographic_parity_difference', 0.316, 0.283, 0.349, 'male vs female'),
     ('demographic_parity_ratio', 0.188, 0.141, 0.235, 'male vs female'),
     ('equalized_odds_difference', 0.201, 0.171, 0.266, 'male vs female'),
     ('equal_opportunity_difference', 0.151, 0.044, 0.257, 'male vs female'),
     ('predictive_parity_difference', 0.355, 0.309, 0.401, 'female vs male')]

    References
    ----------
    Feldman, M., Friedler, S. A., Moeller, J., Scheidegger, C. & Venkatasubramanian, S.
    (2015). Certifying and removing disparate impact. KDD.
    Hardt, M., Price, E. & Srebro, N. (2016). Equality of opportunity in supervised learning.
    NeurIPS.
    Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a binomial
    proportion. Statistical Science, 16(2), 101-133.
    Bird, S., Dudík, M., Edgar, R., Horn, B., Lutz, R., Milan, V., Sameki, M., Wallach, H. &
    Walker, K. (2020). Fairlearn: a toolkit for assessing and improving fairness in AI.
    Microsoft Tech Report MSR-TR-2020-32.
    """
    s, y = _check_predictions(task, scores, y_true)
    if not _is_number(threshold):
        raise InputError(f"threshold is {threshold!r}; it must be a number within [0, 1]")
    check_threshold(threshold)
    n_resamples = _check_count("n_resamples", n_resamples)
    min_group_rows = _check_count("min_group_rows", min_group_rows)
    max_levels = _check_count("max_levels", max_levels)
    _check_confidence(confidence)
    if n_resamples < min_resamples(confidence):
        raise InputError(
            f"n_resamples is {n_resamples}; at confidence {confidence} it must be at least "
            f"{min_resamples(confidence)} = max(20, ceil(2 / (1 - confidence))), so that each "
            "tail of an interval holds a resample (fewer give intervals too narrow to compare)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed is {seed!r}; it must be an integer >= 0")
    partition = _partition(_sensitive_frame(sensitive, len(s)), intersections, max_levels)
    n = len(s)
    rows = partition.totals().astype(np.int64)
    estimated = rows >= min_group_rows
    missing = partition.groups["missing"].to_numpy()
    chosen = _chosen(partition.groups, compared_groups)
    compared = estimated & ~missing & chosen
    if not any(compared[start:stop].sum() >= 2 for _, start, stop in partition.spans):
        raise InputError(
            f"sensitive has no attribute with two groups of at least min_group_rows = "
            f"{min_group_rows} rows and a known value (largest groups: "
            f"{sorted(rows[~missing].tolist(), reverse=True)[:3]}); pass more rows or lower "
            "min_group_rows"
        )
    rng = np.random.default_rng(seed)
    point_sums, draw_sums = _resampled_sums(
        partition, _row_values(task, s, y, threshold), n_resamples, rng
    )
    labelled = y is not None
    point = {m: v[0] for m, v in _group_metrics(task, point_sums, labelled).items()}
    draws = _group_metrics(task, draw_sums, labelled, rng)
    return FairnessReport(
        _groups_frame(partition.groups, rows, n, point, draws, confidence, min_group_rows, chosen),
        _disparities_frame(partition, compared, point, draws, confidence),
    )


def _chosen(groups: pl.DataFrame, compared_groups: object) -> np.ndarray:
    """Whether each group may enter its attribute's disparities under ``compared_groups``."""
    if compared_groups is None:
        return np.ones(groups.height, dtype=bool)
    if not isinstance(compared_groups, Mapping) or any(
        isinstance(names, str) or not isinstance(names, Collection)
        for names in compared_groups.values()
    ):
        raise InputError(
            f"compared_groups is {compared_groups!r:.80}; it must map attribute names to lists "
            "of group names, as FairnessReport.compared_groups() returns"
        )
    allowed = [
        attribute not in compared_groups or group in compared_groups[attribute]
        for attribute, group in groups.select("attribute", "group").iter_rows()
    ]
    return np.array(allowed, dtype=bool)


def _resampled_sums(
    partition: _Partition, values: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums of the columns of ``values`` on the rows ``(1, groups, k)`` and on each
    bootstrap resample ``(n_resamples, groups, k)``."""
    order = np.argsort(partition.cells, kind="stable")
    bounds = np.searchsorted(partition.cells[order], np.arange(partition.size + 1))
    values = values[order]
    n = len(values)
    point = partition.group_sums(_cell_sums(np.ones((1, n)), bounds, values))
    draws = np.empty((n_resamples, *point.shape[1:]))
    chunk = max(1, min(n_resamples, CHUNK_BYTES // (8 * n)))
    buffer = np.empty((chunk, n))
    for start in range(0, n_resamples, chunk):
        # rows are in cell order; a resample of rows is a resample in any order
        weights = resample_counts(rng, buffer[: min(chunk, n_resamples - start)])
        draws[start : start + len(weights)] = partition.group_sums(
            _cell_sums(weights, bounds, values)
        )
    return point, draws


def _disparities_frame(
    partition: _Partition,
    compared: np.ndarray,
    point: dict[str, np.ndarray],
    draws: dict[str, np.ndarray],
    confidence: float,
) -> pl.DataFrame:
    names = partition.groups["group"].to_list()
    records = []
    for attribute, start, stop in partition.spans:
        kept = start + np.flatnonzero(compared[start:stop])
        for metric, (kind, sources) in DISPARITIES.items():
            if not all(source in point for source in sources):
                continue
            record: dict[str, Any] = {"attribute": attribute, "metric": metric}
            record["n_groups"] = len(kept)
            value, top, bottom = _disparity(kind, [point[m][kept] for m in sources])
            if not math.isnan(value):
                record["value"] = value
                record["low"], record["high"] = _simultaneous(
                    kind,
                    [point[m][kept] for m in sources],
                    [draws[m][:, kept] for m in sources],
                    confidence,
                )
                record["groups"] = f"{names[kept[top]]} vs {names[kept[bottom]]}"
            records.append(record)
    return pl.DataFrame(records, schema=DISPARITIES_SCHEMA).fill_nan(None)


def _groups_frame(
    groups: pl.DataFrame,
    rows: np.ndarray,
    total: int,
    point: dict[str, np.ndarray],
    draws: dict[str, np.ndarray],
    confidence: float,
    min_group_rows: int,
    chosen: np.ndarray,
) -> pl.DataFrame:
    metrics = list(point)
    k = len(metrics)
    estimated = rows >= min_group_rows
    missing = groups["missing"].to_numpy()
    value = np.stack([point[m] for m in metrics], axis=1)
    bounds = [_percentiles(draws[m], confidence) for m in metrics]
    # a Jeffreys draw of a rate at 0 is above 0; the interval still holds the value itself
    low = np.fmin(np.stack([b[0] for b in bounds], axis=1), value)
    high = np.fmax(np.stack([b[1] for b in bounds], axis=1), value)
    hidden = np.repeat(~estimated[:, None], k, axis=1)
    undefined = np.isnan(value) & ~hidden
    group_detail = [
        f"fewer than {min_group_rows} rows: no metrics, not compared"
        if not big
        else "missing value: not compared"
        if absent
        else "not in compared_groups: not compared"
        if not kept
        else None
        for big, absent, kept in zip(estimated, missing, chosen, strict=True)
    ]
    detail = [
        f"{UNDEFINED[metric]}: {metric} undefined, not compared"
        if group_detail[g] is None and undefined[g, j]
        else group_detail[g]
        for g in range(len(rows))
        for j, metric in enumerate(metrics)
    ]
    frame = pl.DataFrame(
        {
            "attribute": np.repeat(groups["attribute"].to_numpy(), k),
            "group": np.repeat(groups["group"].to_numpy(), k),
            "rows": np.repeat(rows, k),
            "share": np.repeat(rows / total, k),
            "metric": np.tile(metrics, len(rows)),
            "value": np.where(hidden, np.nan, value).reshape(-1),
            "low": np.where(hidden, np.nan, low).reshape(-1),
            "high": np.where(hidden, np.nan, high).reshape(-1),
            "compared": ((estimated & ~missing & chosen)[:, None] & ~undefined).reshape(-1),
            "detail": detail,
        },
        schema=GROUPS_SCHEMA,
    )
    return frame.with_columns(pl.col("value", "low", "high").fill_nan(None))


def representation(
    frame: Data,
    sensitive: Sequence[str],
    *,
    target: str | None = None,
    positive: Any = None,
    intersections: bool = True,
    max_levels: int = 50,
) -> pl.DataFrame:
    """How many rows each group has in the training data, and how often its label is positive.

    One row per (attribute, group), groups cut as in :func:`fairness` (pairs of attributes
    included when ``intersections``): ``attribute, group, rows, share, base_rate``. The base
    rate is the share of positive labels among the group's rows with a label (null without
    ``target``). A group far rarer, or with a far different base rate, than in the population
    the model will serve is where its errors will concentrate.

    Parameters
    ----------
    frame
        The training data: a polars, pandas or pyarrow table, or a path.
    sensitive
        Names of the sensitive attribute columns.
    target
        Name of the label column, if any.
    positive
        The label value that counts as positive; by default ``True`` for a boolean target and
        ``1`` for a 0/1 target (any other target needs it).
    intersections
        Whether every pair of attributes is also an attribute (``"sex & race"``).
    max_levels
        Most levels kept per attribute, as in :func:`fairness`.

    Example
    -------
    >>> train = pl.DataFrame({"sex": ["f", "m", "m", "m", None], "hired": [0, 1, 0, 1, 1]})
    >>> representation(train, ["sex"], target="hired").rows()
    [('sex', 'm', 3, 0.6, 0.6666666666666666), ('sex', 'f', 1, 0.2, 0.0), \
('sex', '(missing)', 1, 0.2, 1.0)]
    """
    if isinstance(sensitive, str) or not isinstance(sensitive, Sequence):
        raise InputError(
            f"sensitive is {sensitive!r:.60}; it must be a list of column names, such as "
            f"[{sensitive!r:.40}]"
        )
    max_levels = _check_count("max_levels", max_levels)
    data = read(frame)
    columns = list(sensitive)
    unknown = [c for c in [*columns, *([target] if target else [])] if c not in data.columns]
    if unknown:
        raise InputError(f"columns {unknown} are not in the frame (it has {data.columns})")
    if not columns:
        raise InputError("sensitive is empty; name at least one sensitive attribute column")
    if data.height == 0:
        raise InputError("frame has no rows; representation needs at least one")
    partition = _partition(data.select(columns), intersections, max_levels)
    rows = partition.totals().astype(np.int64)
    base_rate = np.full(len(rows), np.nan)
    if target is not None:
        label = _positive(data[target], positive)
        known = label.is_not_null().to_numpy().astype(np.float64)
        hits = label.fill_null(False).to_numpy().astype(np.float64)
        base_rate = ratio(partition.totals(hits), partition.totals(known))
    table = pl.DataFrame(
        {
            "attribute": partition.groups["attribute"],
            "group": partition.groups["group"],
            "rows": rows,
            "share": rows / data.height,
            "base_rate": base_rate,
        },
        schema=REPRESENTATION_SCHEMA,
    )
    return table.with_columns(pl.col("base_rate").fill_nan(None))


def _positive(label: pl.Series, positive: Any) -> pl.Series:
    """Whether each label is the positive one (null where the label is null)."""
    if positive is None:
        if label.dtype == pl.Boolean:
            return label
        known = label.drop_nulls()
        if label.dtype.is_numeric() and known.is_in([0, 1]).all():
            return label == 1
        raise InputError(
            f"target {label.name!r} holds {known.unique().head(3).to_list()}; pass positive= "
            "the label value that counts as positive"
        )
    try:
        hits = label == positive
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        raise InputError(
            f"positive is {positive!r}; it cannot be compared with target {label.name!r} of "
            f"type {label.dtype}"
        ) from None
    if not hits.any():
        raise InputError(
            f"target {label.name!r} never equals positive = {positive!r} (it holds "
            f"{label.drop_nulls().unique().head(3).to_list()}); pass a value it holds"
        )
    return hits
