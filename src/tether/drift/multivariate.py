"""Multivariate drift: changes in the joint structure of many columns, not one at a time.

Univariate methods look at each column's marginal distribution. Two changes escape them: a
change in how columns move together (a correlation that flips sign leaves every marginal as it
was) and many small shifts that are each below a column's threshold but add up. Two detectors
here look at all columns at once:

* :class:`PCAReconstructionDrift` learns the reference's principal subspace and measures how
  badly the current rows are reconstructed from it. Cheap, streams over the current data, and
  says which columns carry the extra error.
* :class:`DomainClassifierDrift` trains gradient boosting to tell reference rows from current
  rows. If it can (cross-validated AUROC above ``min_auc``), the sets differ; permutation
  importance on held-out folds names the columns that separate them. Stronger than PCA on
  non-linear changes and mixed types, but it costs a model fit per fold.

Both follow one shape: parameters in the constructor, ``fit(reference)`` learns, ``score(current)``
returns a frozen result with the statistic, its threshold, the effect, the verdict and a reason.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tether.drift.features import (
    FeatureColumn,
    as_codes,
    as_number,
    current_columns,
    feature_columns,
    ranked_levels,
)
from tether.errors import InputError
from tether.frame import Data, read

__all__ = [
    "DomainClassifierDrift",
    "DomainClassifierResult",
    "PCAReconstructionDrift",
    "ReconstructionResult",
]

_SCORE_BATCH_ROWS = 100_000
"""Current rows encoded and reconstructed at a time, so memory stays flat on large inputs."""

_RESAMPLED_BELOW = 1_000
"""Below this many current rows the threshold comes from resampling reference row errors (their
distribution is skewed, so a normal bound would be too low); at and above it, from the normal
approximation of a mean."""

_RESAMPLES = 4_000

_MIN_CHUNK_ROWS = 10

_IMPORTANCE_ROWS = 10_000
"""Held-out rows per fold on which columns are shuffled for permutation importance: enough to
rank the separating columns (the AUROC of 10,000 rows is known to about 0.006), and the cost no
longer grows with ``max_rows``."""

_HGB_MAX_LEVELS = 253
"""Categories kept per column for gradient boosting (its native categorical support takes at most
255 codes); the rest, and categories unseen in the reference, share one "other" code."""


def _sample(frame: pl.DataFrame, max_rows: int | None, rng: np.random.Generator) -> pl.DataFrame:
    """At most ``max_rows`` rows drawn without replacement, kept in their original order."""
    if max_rows is None or frame.height <= max_rows:
        return frame
    rows = np.sort(rng.choice(frame.height, size=max_rows, replace=False))
    return frame[rows]


def _check_alpha(alpha: float, who: str) -> None:
    if not 0.0 < alpha < 0.5:
        raise InputError(f"{who}: alpha must be between 0 and 0.5, got {alpha}")


# --------------------------------------------------------------------------------------------
# PCA reconstruction error


@dataclass(frozen=True)
class _Block:
    """How one original column is encoded into consecutive features."""

    column: FeatureColumn
    start: int
    width: int
    center: float = 0.0  # numeric: reference mean of the imputed values
    scale: float = 1.0  # numeric: reference standard deviation (or a fallback when constant)
    fill: float = 0.0  # numeric: reference median, used for missing values
    missing: bool = False  # a missing indicator follows the value / the levels
    levels: tuple[str, ...] = ()  # categorical: the kept levels; "other" follows them
    shares: tuple[float, ...] = ()  # reference share of each indicator feature of the block


class _Encoder:
    """Reference-fitted encoding of a frame into a dense float32 matrix for PCA."""

    def __init__(
        self, frame: pl.DataFrame, schema: list[FeatureColumn], top_categories: int
    ) -> None:
        n = frame.height
        numeric = [c for c in schema if c.kind in ("numeric", "temporal")]
        stats_row = (
            frame.select(
                *(as_number(c).median().alias(f"m{i}") for i, c in enumerate(numeric)),
                *(as_number(c).null_count().alias(f"n{i}") for i, c in enumerate(numeric)),
            ).row(0)
            if numeric
            else ()
        )
        medians = dict(zip((c.name for c in numeric), stats_row[: len(numeric)], strict=True))
        nulls = dict(zip((c.name for c in numeric), stats_row[len(numeric) :], strict=True))
        moments_row = (
            frame.select(
                *(
                    as_number(c).fill_null(medians[c.name]).mean().alias(f"a{i}")
                    for i, c in enumerate(numeric)
                ),
                *(
                    as_number(c).fill_null(medians[c.name]).std(ddof=0).alias(f"s{i}")
                    for i, c in enumerate(numeric)
                ),
            ).row(0)
            if numeric
            else ()
        )
        means = dict(zip((c.name for c in numeric), moments_row[: len(numeric)], strict=True))
        sds = dict(zip((c.name for c in numeric), moments_row[len(numeric) :], strict=True))

        self.blocks: list[_Block] = []
        start = 0
        for column in schema:
            if column.kind == "empty":
                # Nothing to standardize: only whether a value is present can move.
                block = _Block(column, start, 1, missing=True, shares=(1.0,))
            elif column.kind in ("numeric", "temporal"):
                rate = nulls[column.name] / n
                mean, sd = float(means[column.name]), float(sds[column.name])
                # A constant column has no spread to standardize by; its own magnitude (or 1)
                # keeps a later change visible without making it infinitely large.
                scale = sd if sd > 1e-12 * max(1.0, abs(mean)) else max(1.0, abs(mean))
                block = _Block(
                    column,
                    start,
                    1 + (rate > 0),
                    center=mean,
                    scale=scale,
                    fill=float(medians[column.name]),
                    missing=rate > 0,
                    shares=(rate,) if rate > 0 else (),
                )
            else:
                values = frame.get_column(column.name).cast(pl.String)
                levels, counts = ranked_levels(values, top_categories)
                present = n - values.null_count()
                shares = [float(c) / n for c in counts]
                other = (present - int(counts.sum())) / n
                rate = values.null_count() / n
                block = _Block(
                    column,
                    start,
                    len(levels) + 1 + (rate > 0),
                    missing=rate > 0,
                    levels=tuple(levels),
                    shares=(*shares, other, *((rate,) if rate > 0 else ())),
                )
            self.blocks.append(block)
            start += block.width
        self.width = start
        centers = np.zeros(self.width)
        for block in self.blocks:
            offset = block.start + (block.column.kind in ("numeric", "temporal"))
            centers[offset : offset + len(block.shares)] = block.shares
        self.centers = centers.astype(np.float32)
        self.starts = np.array([b.start for b in self.blocks], dtype=np.int64)

    def __call__(self, frame: pl.DataFrame) -> np.ndarray:
        n = frame.height
        dense: list[pl.Expr] = []
        positions: list[int] = []
        codes: list[pl.Expr] = []
        code_blocks: list[_Block] = []
        for block in self.blocks:
            column = block.column
            if column.kind == "empty":
                dense.append(pl.col(column.name).is_null())
                positions.append(block.start)
            elif column.kind in ("numeric", "temporal"):
                value = as_number(column)
                dense.append((value.fill_null(block.fill) - block.center) / block.scale)
                positions.append(block.start)
                if block.missing:
                    dense.append(value.is_null())
                    positions.append(block.start + 1)
            else:
                k = len(block.levels)
                value = pl.col(column.name).cast(pl.String)
                code = value.replace_strict(
                    list(block.levels), list(range(k)), default=k, return_dtype=pl.Int64
                )
                if block.missing:
                    code = pl.when(value.is_null()).then(k + 1).otherwise(code)
                elif block.levels:
                    # No missing value in the reference: impute its most frequent level.
                    code = code.fill_null(0)
                else:
                    code = code.fill_null(k)
                codes.append(code.alias(f"c{len(codes)}"))
                code_blocks.append(block)
        out = np.zeros((n, self.width), dtype=np.float32)
        if dense:
            selected = frame.select(
                e.cast(pl.Float32).alias(f"d{i}") for i, e in enumerate(dense)
            ).to_numpy()
            out[:, positions] = selected
        if codes:
            code_matrix = frame.select(codes).to_numpy()
            rows = np.arange(n)
            for j, block in enumerate(code_blocks):
                out[rows, block.start + code_matrix[:, j]] = 1.0
        out -= self.centers
        return out


@dataclass(frozen=True)
class ReconstructionResult:
    """What :meth:`PCAReconstructionDrift.score` found.

    ``error`` is the current rows' mean squared reconstruction error, ``reference_error`` the
    reference's (out of sample, cross-fitted), ``effect`` their relative difference (``error /
    reference_error - 1``), and ``columns`` one row per original column with its mean squared
    residual in the reference and in the current data and the change, largest change first.
    Both per-column values use the fitted components (the reference's in sample, a little
    below the out-of-sample ``reference_error``); the current ones add up to ``error``.
    """

    error: float
    threshold: float
    reference_error: float
    effect: float
    min_effect: float
    drifted: bool
    n_rows: int
    n_components: int
    columns: pl.DataFrame = field(repr=False)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain Python values (JSON-ready)."""
        return {
            "method": "pca_reconstruction",
            "error": self.error,
            "threshold": self.threshold,
            "reference_error": self.reference_error,
            "effect": self.effect,
            "min_effect": self.min_effect,
            "drifted": self.drifted,
            "n_rows": self.n_rows,
            "n_components": self.n_components,
            "columns": self.columns.to_dicts(),
            "reason": self.reason,
        }


class PCAReconstructionDrift:
    """Drift in the joint structure of the columns, by PCA reconstruction error.

    The reference is encoded into numbers, its principal components kept up to
    ``n_components`` of the variance, and each row's *reconstruction error* is the squared
    distance between the row and its projection onto those components. Data that keeps the
    reference's structure reconstructs as well as the reference; data whose columns stop moving
    together the way they did (a correlation that changes sign, a new mix of categories) lands
    off the subspace and its error rises, even when every column's own distribution is unchanged.
    Prefer it to univariate methods to catch changes in relations between columns, and to a
    domain classifier when you need something cheap that streams over large windows; it is blind
    to shifts that stay inside the subspace (e.g. a mean shift along a kept component), which
    univariate methods and :class:`DomainClassifierDrift` see.

    Encoding (learned on the reference):

    * numeric, boolean and temporal columns: non-finite values count as missing and are imputed
      with the reference median; values are standardized by the reference mean and standard
      deviation (a constant column by its own magnitude, or 1); a missing indicator follows only
      when the reference had missing values;
    * categorical columns: one-hot of the ``top_categories`` most frequent reference levels plus
      "other" (rarer and unseen levels), plus "missing" when the reference had missing values
      (otherwise missing values take the most frequent level). One-hot rather than frequency
      encoding because frequency encoding maps two levels of equal share to the same number, so
      a swap of their roles (and a new level with a familiar share) would be invisible;
    * indicators are centered on their reference share and *not* scaled: a categorical column
      then weighs at most as much as one standardized numeric column, and a rare level or a rare
      missing value cannot produce a huge, heavy-tailed value that drowns the rest;
    * a column missing entirely in the reference keeps only a "value present" indicator.

    Components: the eigenvectors of the encoded reference's covariance, largest first, as many as
    ``n_components`` asks (scikit-learn's ``covariance_eigh`` PCA solver and its rule for a
    variance share; a test pins the equality). They are computed from per-chunk Gram matrices
    so that the cross-fitted PCAs below share one pass over the data.

    Threshold (calibrated on the reference, at the current's sample size): the reference
    (at most ``max_rows`` of it, drawn in order) is cut into ``chunks`` consecutive chunks, and
    each chunk's rows are reconstructed by a PCA fitted on the *other* chunks, so the reference
    errors are out of sample, as the current's are. From the chunk means ``e_k`` (``K`` chunks of
    ``m`` rows) and the row errors (variance ``s_row^2``) come the mean ``mu``, the chunk
    variance ``s^2`` and the between-chunk excess ``tau^2 = max(0, s^2 - s_row^2 / m)`` (the
    reference's own ups and downs over time). For ``n`` current rows the threshold is the upper
    ``1 - alpha`` prediction bound ``mu + t(1 - alpha, K - 1) * sqrt(s_row^2 / n + tau^2 +
    s^2 / K)``; below 1,000 rows, where row errors are too skewed for a normal bound, the row
    term is replaced by the ``1 - alpha`` quantile of means of ``n`` reference row errors drawn
    with replacement. A current from the reference's distribution crosses it in about ``alpha``
    of cases. The verdict also needs the relative rise ``effect`` to reach ``min_effect``.

    Parameters
    ----------
    n_components
        Share of the reference variance the kept components explain (a float in (0, 1); 0.65
        as NannyML), or a number of components (an int, capped at the number of features).
    chunks
        Number of reference chunks the threshold is calibrated on (at least 2).
    chunk_size
        Rows per reference chunk instead of ``chunks`` (the count is then ``rows // chunk_size``).
    alpha
        False-alarm rate of the threshold.
    min_effect
        Smallest relative rise of the mean reconstruction error that counts as drift.
    top_categories
        Levels one-hot encoded per categorical column; the rest share "other".
    max_rows
        Most reference rows fitted and calibrated on (a seeded sample, in original order).
    columns
        Columns to use; default all of the reference's except date and time columns (a
        timestamp moves in every window by construction; name it here to include it).
    seed
        Seed of every random choice (sampling, resampling).

    Examples
    --------
    Two columns that move together in the reference and against each other in the current:
    each column alone is the same standard normal, only their correlation flipped.

    >>> import numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> def pair(rho, n):
    ...     x = rng.normal(size=(n, 2)) @ np.linalg.cholesky([[1, rho], [rho, 1]]).T
    ...     return pl.DataFrame({"x": x[:, 0], "y": x[:, 1]})
    >>> detector = PCAReconstructionDrift().fit(pair(0.8, 5_000))
    >>> same, flipped = detector.score(pair(0.8, 2_000)), detector.score(pair(-0.8, 2_000))
    >>> same.drifted, flipped.drifted
    (False, True)
    >>> round(same.reference_error, 1), round(flipped.error, 1)
    (0.2, 1.8)
    >>> flipped.columns.select("column", pl.col("change").round(1)).sort("column").rows()
    [('x', 0.8), ('y', 0.8)]

    References
    ----------
    NannyML, "Data reconstruction with PCA",
    https://nannyml.readthedocs.io/en/stable/how_it_works/multivariate_drift.html
    S. Rabanser, S. Günnemann, Z. Lipton, "Failing loudly: an empirical study of methods for
    detecting dataset shift", NeurIPS 2019.
    """

    def __init__(
        self,
        n_components: float | int = 0.65,
        *,
        chunks: int = 10,
        chunk_size: int | None = None,
        alpha: float = 0.01,
        min_effect: float = 0.02,
        top_categories: int = 20,
        max_rows: int | None = 200_000,
        columns: list[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.n_components = n_components
        self.chunks = chunks
        self.chunk_size = chunk_size
        self.alpha = alpha
        self.min_effect = min_effect
        self.top_categories = top_categories
        self.max_rows = max_rows
        self.columns = columns
        self.seed = seed

    # ---- fitting

    def _check_params(self) -> None:
        who = type(self).__name__
        n = self.n_components
        if isinstance(n, bool) or not (
            (isinstance(n, int) and n >= 1) or (isinstance(n, float) and 0.0 < n < 1.0)
        ):
            raise InputError(
                f"{who}: n_components must be a share of variance in (0, 1) or a count >= 1, "
                f"got {n!r}"
            )
        if self.chunk_size is None and self.chunks < 2:
            raise InputError(f"{who}: chunks must be at least 2, got {self.chunks}")
        if self.chunk_size is not None and self.chunk_size < _MIN_CHUNK_ROWS:
            raise InputError(
                f"{who}: chunk_size must be at least {_MIN_CHUNK_ROWS}, got {self.chunk_size}"
            )
        _check_alpha(self.alpha, who)
        if self.min_effect < 0:
            raise InputError(f"{who}: min_effect must be >= 0, got {self.min_effect}")
        if self.top_categories < 1:
            raise InputError(f"{who}: top_categories must be at least 1, got {self.top_categories}")
        if self.max_rows is not None and self.max_rows < 2 * _MIN_CHUNK_ROWS:
            raise InputError(
                f"{who}: max_rows must be at least {2 * _MIN_CHUNK_ROWS}, got {self.max_rows}"
            )

    def _pca(self, gram: np.ndarray, total: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and components (k x d) of a PCA of ``n`` rows with ``gram = X.T @ X`` and
        ``total = X.sum(0)``; no components when the rows are constant.

        The covariance is ``(gram - n * mean mean^T) / (n - 1)`` and its eigenvectors, largest
        first, are the components: scikit-learn's ``covariance_eigh`` solver, done on Gram
        matrices so the reference's cross-fitted PCAs share one pass over the data. The number
        of components follows scikit-learn's rule for a variance share (the fewest whose
        cumulative explained share exceeds it).
        """
        d = gram.shape[0]
        mean = total / n
        if n < 2:
            return mean, np.zeros((0, d))
        covariance = (gram - n * np.outer(mean, mean)) / (n - 1)
        values, vectors = np.linalg.eigh(covariance)
        values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
        variance = float(values.sum())
        if variance <= 1e-12 * max(1.0, float(np.abs(np.diag(gram)).max()) / n):
            return mean, np.zeros((0, d))
        target = self.n_components
        if isinstance(target, int):
            k = min(target, d, n)
        else:
            k = int(np.searchsorted(np.cumsum(values) / variance, target, side="right")) + 1
            k = min(k, d)
        components = vectors[:, :k].T
        # A deterministic sign, as scikit-learn's svd_flip: the largest loading is positive.
        signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
        return mean, components * np.where(signs == 0, 1.0, signs)[:, None]

    @staticmethod
    def _residuals(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
        centered = x - mean
        return centered - (centered @ components.T) @ components

    def fit(self, reference: Data) -> PCAReconstructionDrift:
        """Learn the encoding, the principal components and the threshold from ``reference``."""
        self._check_params()
        who = type(self).__name__
        frame = read(reference)
        schema = feature_columns(frame, self.columns, who)
        rng = np.random.default_rng(self.seed)
        frame = _sample(frame.select(c.name for c in schema), self.max_rows, rng)
        n = frame.height
        chunks = n // self.chunk_size if self.chunk_size is not None else self.chunks
        if chunks < 2 or n < chunks * _MIN_CHUNK_ROWS:
            raise InputError(
                f"{who}: the reference has {n} rows, too few for {max(chunks, 2)} chunks of at "
                f"least {_MIN_CHUNK_ROWS} rows; pass more rows or fewer chunks"
            )
        encoder = _Encoder(frame, schema, self.top_categories)
        x = encoder(frame)

        bounds = np.linspace(0, n, chunks + 1).astype(np.int64)
        grams, totals = [], []
        for lo, hi in itertools.pairwise(bounds):
            part = x[lo:hi].astype(np.float64)
            grams.append(part.T @ part)
            totals.append(part.sum(axis=0))
        gram, total = np.sum(grams, axis=0), np.sum(totals, axis=0)
        # Each chunk is reconstructed by a PCA of the other chunks: its errors are out of sample.
        row_errors = np.empty(n)
        for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            mean, components = self._pca(gram - grams[k], total - totals[k], n - (hi - lo))
            residual = self._residuals(x[lo:hi].astype(np.float64), mean, components)
            row_errors[lo:hi] = np.square(residual).sum(axis=1)
        chunk_means = np.add.reduceat(row_errors, bounds[:-1]) / np.diff(bounds)

        self.mean_, self.components_ = self._pca(gram, total, n)
        # Per-column reference errors come from the final components, the ones the current data
        # is reconstructed with: when several directions carry equal variance, the cross-fitted
        # PCAs keep different ones, and comparing columns across them would show noise as change.
        residual_sums = np.zeros(encoder.width)
        for lo, hi in itertools.pairwise(bounds):
            residual = self._residuals(x[lo:hi].astype(np.float64), self.mean_, self.components_)
            residual_sums += np.square(residual).sum(axis=0)
        self.encoder_ = encoder
        self.schema_ = schema
        self.n_reference_ = n
        self.n_chunks_ = chunks
        self.chunk_errors_ = chunk_means
        self.reference_error_ = float(row_errors.mean())
        self.row_errors_ = row_errors
        self.reference_contributions_ = np.add.reduceat(residual_sums, encoder.starts) / n
        row_variance = float(row_errors.var(ddof=1))
        chunk_variance = float(chunk_means.var(ddof=1))
        self.row_variance_ = row_variance
        self.chunk_variance_ = chunk_variance
        self.excess_variance_ = max(0.0, chunk_variance - row_variance / (n / chunks))
        self._thresholds: dict[int, float] = {}
        return self

    @property
    def n_components_(self) -> int:
        """Number of principal components kept."""
        self._check_fitted()
        return int(self.components_.shape[0])

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise InputError(
                f"{type(self).__name__} is not fitted; call fit(reference) before score(current)"
            )

    def threshold(self, n_rows: int) -> float:
        """The mean reconstruction error above which ``n_rows`` current rows count as drifted."""
        self._check_fitted()
        if n_rows < 1:
            raise InputError(f"n_rows must be at least 1, got {n_rows}")
        if n_rows in self._thresholds:
            return self._thresholds[n_rows]
        k = self.n_chunks_
        t = float(stats.t.ppf(1.0 - self.alpha, k - 1))
        shared = self.excess_variance_ + self.chunk_variance_ / k
        if n_rows >= _RESAMPLED_BELOW:
            bound = t * math.sqrt(self.row_variance_ / n_rows + shared)
        else:
            rng = np.random.default_rng(self.seed)
            errors = self.row_errors_
            means = np.empty(_RESAMPLES)
            step = max(1, 2_000_000 // n_rows)
            for lo in range(0, _RESAMPLES, step):
                hi = min(_RESAMPLES, lo + step)
                draws = rng.integers(0, errors.size, size=(hi - lo, n_rows))
                means[lo:hi] = errors[draws].mean(axis=1)
            row_term = float(np.quantile(means, 1.0 - self.alpha)) - self.reference_error_
            # Adding the shared term linearly (not in quadrature) errs on the quiet side.
            bound = max(row_term, 0.0) + t * math.sqrt(shared)
        value = self.reference_error_ + bound
        self._thresholds[n_rows] = value
        return value

    def score(self, current: Data) -> ReconstructionResult:
        """Reconstruct ``current`` with the reference's components and judge its error."""
        self._check_fitted()
        who = type(self).__name__
        frame = current_columns(read(current), self.schema_, who)
        encoder = self.encoder_
        residual_sums = np.zeros(encoder.width)
        for lo in range(0, frame.height, _SCORE_BATCH_ROWS):
            x = encoder(frame.slice(lo, _SCORE_BATCH_ROWS)).astype(np.float64)
            residual = self._residuals(x, self.mean_, self.components_)
            residual_sums += np.square(residual).sum(axis=0)
        n = frame.height
        contributions = np.add.reduceat(residual_sums, encoder.starts) / n
        error = float(contributions.sum())
        threshold = self.threshold(n)
        reference = self.reference_error_
        effect = error / reference - 1.0 if reference > 0 else (math.inf if error > 0 else 0.0)
        drifted = error > threshold and effect >= self.min_effect
        columns = (
            pl.DataFrame(
                {
                    "column": [c.name for c in self.schema_],
                    "reference": self.reference_contributions_,
                    "current": contributions,
                },
                schema={"column": pl.String, "reference": pl.Float64, "current": pl.Float64},
            )
            .with_columns(change=pl.col("current") - pl.col("reference"))
            .sort(["change", "column"], descending=[True, False])
        )
        top = columns.head(3).filter(pl.col("change") > 0)
        moved = ", ".join(f"{c} ({d:+.3g})" for c, d in top.select("column", "change").rows())
        reason = (
            f"reconstruction error {error:.4g} vs {reference:.4g} in the reference "
            f"({effect:+.1%}), threshold {threshold:.4g} at {n} rows"
            + (f"; most changed: {moved}" if moved else "")
        )
        return ReconstructionResult(
            error=error,
            threshold=threshold,
            reference_error=reference,
            effect=effect,
            min_effect=self.min_effect,
            drifted=bool(drifted),
            n_rows=n,
            n_components=self.n_components_,
            columns=columns,
            reason=reason,
        )


# --------------------------------------------------------------------------------------------
# Domain classifier


@dataclass(frozen=True)
class DomainClassifierResult:
    """What :meth:`DomainClassifierDrift.score` found.

    ``auroc`` is the mean of the held-out folds' AUROC at telling current rows from reference
    rows (0.5: indistinguishable), ``ci_low``/``ci_high`` its two-sided ``1 - alpha`` interval,
    ``fold_auroc`` each fold's value, and ``columns`` one row per column with its permutation
    importance (mean drop in held-out AUROC when the column is shuffled, and its spread over
    folds), most important first.
    """

    auroc: float
    ci_low: float
    ci_high: float
    min_auc: float
    drifted: bool
    n_reference: int
    n_current: int
    fold_auroc: tuple[float, ...]
    columns: pl.DataFrame = field(repr=False)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain Python values (JSON-ready)."""
        return {
            "method": "domain_classifier",
            "auroc": self.auroc,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "min_auc": self.min_auc,
            "drifted": self.drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "fold_auroc": list(self.fold_auroc),
            "columns": self.columns.to_dicts(),
            "reason": self.reason,
        }


def _auroc_delong(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """AUROC of ``scores`` for ``labels`` (1 positive) and its DeLong variance."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    m, n = positive.size, negative.size
    ranks = stats.rankdata(np.concatenate([positive, negative]))
    within_positive = stats.rankdata(positive)
    within_negative = stats.rankdata(negative)
    v10 = (ranks[:m] - within_positive) / n
    v01 = 1.0 - (ranks[m:] - within_negative) / m
    auc = float(v10.mean())
    variance = (v10.var(ddof=1) if m > 1 else 0.0) / m + (v01.var(ddof=1) if n > 1 else 0.0) / n
    return auc, float(variance)


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = stats.rankdata(scores)
    m = int(labels.sum())
    n = labels.size - m
    return float((ranks[labels == 1].sum() - m * (m + 1) / 2) / (m * n))


class DomainClassifierDrift:
    """Drift as the ability of a classifier to tell current rows from reference rows.

    Reference rows (label 0) and current rows (label 1), at most ``max_rows`` of each drawn at
    random, are split into ``folds`` stratified folds; on each, gradient boosting
    (scikit-learn's ``HistGradientBoostingClassifier``, with native categorical splits and
    missing values) is trained on the other folds and scored on the held-out one. If the two sets
    come from one distribution no model beats a coin (AUROC 0.5); any difference it can learn,
    in one column, in a relation between columns, in a category mix, raises the AUROC. Prefer
    it when you need one verdict that sees every kind of change and the columns that carry it;
    it costs ``folds`` model fits, so on many windows use :class:`PCAReconstructionDrift` or the
    univariate methods first.

    Interval: the held-out AUROC of each fold and its DeLong variance (exact for that fold's
    fixed model and test rows); the folds' test rows are disjoint, so the mean AUROC has variance
    ``sum(v_j) / folds^2`` and the two-sided ``1 - alpha`` normal interval around it. The
    interval does not count the variation between models trained on different folds, which is
    why the decision asks more than significance: drift is declared only when the *lower* end of
    the interval exceeds ``min_auc`` (a practical margin above 0.5), so a same-distribution
    current is flagged far less often than ``alpha``.

    Column importance: for each held-out fold and column, the column's values are shuffled
    among the fold's rows (seeded) and the fold model's AUROC recomputed; the importance is the
    mean drop over folds (negative values are noise). Columns that separate the sets come first.

    Categorical columns keep their 253 most frequent reference levels as categories; rarer and
    unseen levels share one "other" category, so new values in the current data separate it.
    Numeric non-finite values are missing; a column all missing in the reference is replaced by
    its "value present" indicator.

    Parameters
    ----------
    max_rows
        Most rows sampled from each side (seeded).
    folds
        Stratified cross-validation folds (at least 2; each side needs this many rows).
    alpha
        One minus the confidence level of the AUROC interval.
    min_auc
        The interval's lower end must exceed this AUROC for drift.
    max_iter
        Boosting iterations per fold model (early stopping applies above 10,000 training rows).
    n_threads
        OpenMP threads for gradient boosting; default the library's (all cores). Pass 1 on a
        machine busy with other work: spinning threads on oversubscribed cores can make
        training ten times slower.
    columns
        Columns to use; default all of the reference's except date and time columns (a
        timestamp separates any later window by construction; name it here to include it).
    seed
        Seed of sampling, folds, models and shuffles.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> def frame(shift, n=2_000):
    ...     return pl.DataFrame({"a": rng.normal(size=n), "b": rng.normal(shift, 1, size=n),
    ...                          "c": rng.choice(["x", "y", "z"], size=n)})
    >>> detector = DomainClassifierDrift(n_threads=1, max_iter=30).fit(frame(0.0))
    >>> detector.score(frame(0.0)).drifted
    False
    >>> result = detector.score(frame(1.0))
    >>> result.drifted, result.columns.get_column("column")[0]
    (True, 'b')

    References
    ----------
    S. Rabanser, S. Günnemann, Z. Lipton, "Failing loudly: an empirical study of methods for
    detecting dataset shift", NeurIPS 2019 (domain classifiers).
    E. DeLong, D. DeLong, D. Clarke-Pearson, "Comparing the areas under two or more correlated
    receiver operating characteristic curves", Biometrics 44, 1988.
    """

    def __init__(
        self,
        *,
        max_rows: int = 50_000,
        folds: int = 5,
        alpha: float = 0.01,
        min_auc: float = 0.55,
        max_iter: int = 100,
        n_threads: int | None = None,
        columns: list[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.max_rows = max_rows
        self.folds = folds
        self.alpha = alpha
        self.min_auc = min_auc
        self.max_iter = max_iter
        self.n_threads = n_threads
        self.columns = columns
        self.seed = seed

    def _check_params(self) -> None:
        who = type(self).__name__
        if self.max_rows < 2:
            raise InputError(f"{who}: max_rows must be at least 2, got {self.max_rows}")
        if self.folds < 2:
            raise InputError(f"{who}: folds must be at least 2, got {self.folds}")
        _check_alpha(self.alpha, who)
        if not 0.5 <= self.min_auc < 1.0:
            raise InputError(f"{who}: min_auc must be in [0.5, 1), got {self.min_auc}")
        if self.max_iter < 1:
            raise InputError(f"{who}: max_iter must be at least 1, got {self.max_iter}")
        if self.n_threads is not None and self.n_threads < 1:
            raise InputError(f"{who}: n_threads must be at least 1, got {self.n_threads}")

    def fit(self, reference: Data) -> DomainClassifierDrift:
        """Sample ``reference`` and learn its columns' kinds and category codes."""
        self._check_params()
        who = type(self).__name__
        frame = read(reference)
        schema = feature_columns(frame, self.columns, who)
        if frame.height < self.folds:
            raise InputError(
                f"{who}: the reference has {frame.height} rows; it needs at least "
                f"folds={self.folds}"
            )
        rng = np.random.default_rng(self.seed)
        frame = _sample(frame.select(c.name for c in schema), self.max_rows, rng)
        self.schema_ = schema
        self.levels_ = {
            c.name: ranked_levels(frame.get_column(c.name).cast(pl.String), _HGB_MAX_LEVELS)[0]
            for c in schema
            if c.kind == "categorical"
        }
        self.reference_ = self._encode(frame)
        return self

    def _encode(self, frame: pl.DataFrame) -> np.ndarray:
        return as_codes(frame, self.schema_, self.levels_)

    def score(self, current: Data) -> DomainClassifierResult:
        """Train and cross-validate the domain classifier on the reference against ``current``."""
        if not hasattr(self, "reference_"):
            raise InputError(
                f"{type(self).__name__} is not fitted; call fit(reference) before score(current)"
            )
        who = type(self).__name__
        frame = current_columns(read(current), self.schema_, who)
        if frame.height < self.folds:
            raise InputError(
                f"{who}: the current data has {frame.height} rows; it needs at least "
                f"folds={self.folds} (one per fold)"
            )
        rng = np.random.default_rng(self.seed + 1)
        current_x = self._encode(_sample(frame, self.max_rows, rng))
        reference_x = self.reference_
        x = np.concatenate([reference_x, current_x])
        y = np.concatenate([np.zeros(len(reference_x), np.int8), np.ones(len(current_x), np.int8)])

        if self.n_threads is None:
            fold_auc, fold_var, drops = self._cross_validate(x, y)
        else:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=self.n_threads, user_api="openmp"):
                fold_auc, fold_var, drops = self._cross_validate(x, y)

        auroc = float(np.mean(fold_auc))
        se = math.sqrt(sum(fold_var)) / self.folds
        z = float(stats.norm.ppf(1.0 - self.alpha / 2))
        low, high = max(0.0, auroc - z * se), min(1.0, auroc + z * se)
        drifted = low > self.min_auc
        columns = pl.DataFrame(
            {
                "column": [c.name for c in self.schema_],
                "importance": drops.mean(axis=0),
                "importance_sd": drops.std(axis=0, ddof=1),
            },
            schema={"column": pl.String, "importance": pl.Float64, "importance_sd": pl.Float64},
        ).sort(["importance", "column"], descending=[True, False])
        top = columns.head(3).filter(pl.col("importance") > 0)
        named = ", ".join(f"{c} ({d:.3f})" for c, d in top.select("column", "importance").rows())
        reason = (
            f"AUROC {auroc:.3f} [{low:.3f}, {high:.3f}] at telling current from reference rows "
            f"({'above' if drifted else 'not above'} {self.min_auc})"
            + (f"; separating columns: {named}" if named and drifted else "")
        )
        return DomainClassifierResult(
            auroc=auroc,
            ci_low=low,
            ci_high=high,
            min_auc=self.min_auc,
            drifted=bool(drifted),
            n_reference=len(reference_x),
            n_current=len(current_x),
            fold_auroc=tuple(float(a) for a in fold_auc),
            columns=columns,
            reason=reason,
        )

    def _cross_validate(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[list[float], list[float], np.ndarray]:
        """Held-out AUROC and DeLong variance per fold, and each column's AUROC drop per fold."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import StratifiedKFold

        categorical = np.array([c.kind == "categorical" for c in self.schema_])
        splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        fold_auc: list[float] = []
        fold_var: list[float] = []
        drops = np.zeros((self.folds, x.shape[1]))
        for j, (train, test) in enumerate(splitter.split(x, y)):
            model = HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                categorical_features=categorical if categorical.any() else None,
                random_state=self.seed + j,
            ).fit(x[train], y[train])
            auc, variance = _auroc_delong(model.predict_proba(x[test])[:, 1], y[test])
            fold_auc.append(auc)
            fold_var.append(variance)
            shuffle = np.random.default_rng(self.seed + 100 + j)
            if test.size > _IMPORTANCE_ROWS:
                test = np.sort(shuffle.choice(test, size=_IMPORTANCE_ROWS, replace=False))
            x_test, y_test = x[test], y[test]
            if y_test.min() == y_test.max():
                continue  # a subsample with one side only cannot rank; leave zeros
            base = _auroc(model.predict_proba(x_test)[:, 1], y_test)
            for k in range(x.shape[1]):
                shuffled = x_test.copy()
                shuffled[:, k] = shuffled[shuffle.permutation(len(test)), k]
                drops[j, k] = base - _auroc(model.predict_proba(shuffled)[:, 1], y_test)
        return fold_auc, fold_var, drops
