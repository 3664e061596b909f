"""PCA reconstruction error and domain classifier: quiet under the null, loud on planted change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from tether.drift.multivariate import DomainClassifierDrift, PCAReconstructionDrift
from tether.errors import InputError


def correlated(rho: float, n: int, seed: int) -> pl.DataFrame:
    """Two standard normals with correlation ``rho`` (marginals do not depend on ``rho``)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) @ np.linalg.cholesky([[1.0, rho], [rho, 1.0]]).T
    return pl.DataFrame({"x": x[:, 0], "y": x[:, 1]})


def mixed(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    """Numeric, correlated, categorical and integer columns; ``shift`` sd added to ``b``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pl.DataFrame(
        {
            "a": a,
            "b": rng.normal(shift, 1.0, size=n),
            "c": 0.7 * a + 0.3 * rng.normal(size=n),
            "d": rng.poisson(3, size=n),
            "cat": rng.choice(["u", "v", "w", "x"], p=[0.4, 0.3, 0.2, 0.1], size=n),
        }
    )


def allowed_alarms(trials: int, rate: float) -> int:
    """Most alarms in ``trials`` that a true rate ``rate`` produces with 99.9% probability."""
    return int(stats.binom.ppf(0.999, trials, rate))


# ---- PCA reconstruction -----------------------------------------------------------------------


def test_pca_quiet_on_same_distribution() -> None:
    detector = PCAReconstructionDrift().fit(mixed(4_000, seed=1))
    result = detector.score(mixed(2_000, seed=2))
    assert not result.drifted
    assert result.error < result.threshold
    assert abs(result.effect) < 0.05


def test_pca_detects_correlation_flip_with_unchanged_marginals() -> None:
    reference, current = correlated(0.8, 4_000, seed=1), correlated(-0.8, 2_000, seed=2)
    # The marginals really are the same: a univariate test sees nothing.
    for column in ("x", "y"):
        assert stats.ks_2samp(reference[column], current[column]).pvalue > 0.01
    detector = PCAReconstructionDrift().fit(reference)
    assert detector.n_components_ == 1
    result = detector.score(current)
    assert result.drifted
    assert result.error > 5 * result.reference_error
    assert set(result.columns.get_column("column").head(2)) == {"x", "y"}
    assert detector.score(correlated(0.8, 2_000, seed=3)).drifted is False


def test_pca_contributions_add_up_to_the_error() -> None:
    detector = PCAReconstructionDrift().fit(mixed(2_000, seed=1))
    result = detector.score(mixed(700, seed=2, shift=1.0))
    columns = result.columns
    assert columns.get_column("column").sort().to_list() == ["a", "b", "c", "cat", "d"]
    assert columns.get_column("current").sum() == pytest.approx(result.error, rel=1e-9)
    # The reference's per-column errors are in sample, so a little below the cross-fitted total.
    in_sample = columns.get_column("reference").sum()
    assert 0.9 * result.reference_error < in_sample <= result.reference_error
    assert set(result.to_dict()) >= {"error", "threshold", "effect", "drifted", "columns"}


@pytest.mark.parametrize("current_rows", [300, 1_500])
def test_pca_false_alarm_rate_respects_alpha(current_rows: int) -> None:
    # 300 rows uses the resampled bound, 1,500 the normal one; the effect floor is off so the
    # threshold alone is tested.
    trials, alpha = 30, 0.05
    alarms = 0
    for seed in range(trials):
        detector = PCAReconstructionDrift(alpha=alpha, min_effect=0.0, seed=seed)
        detector.fit(mixed(1_500, seed=1_000 + seed))
        alarms += detector.score(mixed(current_rows, seed=2_000 + seed)).drifted
    assert alarms <= allowed_alarms(trials, alpha)


def test_pca_threshold_narrows_with_sample_size() -> None:
    detector = PCAReconstructionDrift().fit(mixed(3_000, seed=1))
    thresholds = [detector.threshold(n) for n in (1, 50, 999, 1_000, 100_000)]
    assert all(t > detector.reference_error_ for t in thresholds)
    assert thresholds == sorted(thresholds, reverse=True)
    assert detector.threshold(50) == detector.threshold(50)  # cached and deterministic


def test_pca_constant_column_is_quiet_until_it_moves() -> None:
    reference = mixed(2_000, seed=1).with_columns(k=pl.lit(5.0))
    detector = PCAReconstructionDrift().fit(reference)
    assert not detector.score(mixed(1_000, seed=2).with_columns(k=pl.lit(5.0))).drifted
    moved = detector.score(mixed(1_000, seed=2).with_columns(k=pl.lit(7.0)))
    assert moved.drifted
    assert moved.columns.get_column("column")[0] == "k"


@pytest.mark.parametrize("dtype", [pl.Float64, pl.Null, pl.String])
def test_pca_all_missing_column(dtype: pl.DataType) -> None:
    reference = mixed(2_000, seed=1).with_columns(gone=pl.lit(None, dtype=dtype))
    detector = PCAReconstructionDrift().fit(reference)
    still = detector.score(mixed(1_000, seed=2).with_columns(gone=pl.lit(None, dtype=dtype)))
    assert not still.drifted
    back = detector.score(mixed(1_000, seed=2).with_columns(gone=pl.lit(1.5)))
    assert back.drifted
    assert back.columns.get_column("column")[0] == "gone"


def test_pca_missing_values_get_an_indicator_only_when_the_reference_had_them() -> None:
    reference = mixed(2_000, seed=1).with_columns(
        a=pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("a")),
        b=pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("b")),
    )
    detector = PCAReconstructionDrift().fit(reference)
    widths = {block.column.name: block.width for block in detector.encoder_.blocks}
    assert (widths["a"], widths["b"], widths["c"]) == (2, 2, 1)
    # Missing values where the reference had none are imputed, not an error.
    current = mixed(500, seed=2).with_columns(c=pl.lit(None, dtype=pl.Float64), d=pl.lit(np.inf))
    assert np.isfinite(detector.score(current).error)


def test_pca_unseen_categories_show_in_their_column() -> None:
    detector = PCAReconstructionDrift().fit(mixed(2_000, seed=1))
    current = mixed(1_000, seed=2).with_columns(
        cat=pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.lit("new")).otherwise(pl.col("cat"))
    )
    result = detector.score(current)
    assert result.drifted
    assert result.columns.get_column("column")[0] == "cat"


def test_pca_top_categories_and_categorical_dtype() -> None:
    rng = np.random.default_rng(0)
    levels = [f"l{i}" for i in range(40)]
    frame = pl.DataFrame({"z": rng.normal(size=2_000), "ids": rng.choice(levels, size=2_000)})
    detector = PCAReconstructionDrift(top_categories=5).fit(
        frame.with_columns(pl.col("ids").cast(pl.Categorical))
    )
    assert detector.encoder_.blocks[1].width == 6  # five levels and "other"
    assert not detector.score(frame.sample(500, seed=1)).drifted


def test_pca_one_row_current_has_a_defined_result() -> None:
    detector = PCAReconstructionDrift().fit(mixed(2_000, seed=1))
    result = detector.score(mixed(1, seed=2))
    assert result.n_rows == 1
    assert np.isfinite(result.threshold)
    assert result.threshold > result.reference_error
    assert not result.drifted
    assert detector.score(mixed(1, seed=2).with_columns(a=pl.lit(40.0))).drifted


def test_pca_samples_large_references_and_reads_paths(tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    mixed(3_000, seed=1).write_parquet(path)
    detector = PCAReconstructionDrift(max_rows=1_000, chunk_size=100).fit(path)
    assert detector.n_reference_ == 1_000
    assert detector.n_chunks_ == 10
    assert not detector.score(mixed(800, seed=2)).drifted


def test_pca_everything_constant() -> None:
    frame = pl.DataFrame({"a": [1.0] * 200, "b": ["x"] * 200})
    detector = PCAReconstructionDrift().fit(frame)
    assert detector.n_components_ == 0
    assert not detector.score(frame.head(20)).drifted
    assert detector.score(pl.DataFrame({"a": [1.0] * 20, "b": ["y"] * 20})).drifted


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (pl.DataFrame({"a": []}, schema={"a": pl.Float64}), None, "reference has no rows"),
        (pl.DataFrame(), None, "no rows"),
        (None, pl.DataFrame({"a": []}, schema={"a": pl.Float64}), "current data has no rows"),
        (None, pl.DataFrame({"b": [1.0]}), r"\['a'\] of the reference are not in the current"),
        (None, pl.DataFrame({"a": ["x"]}), "column 'a' is String in the current"),
        (pl.DataFrame({"a": [1.0] * 15}), None, "too few for 10 chunks"),
        (pl.DataFrame({"a": [[1.0]] * 200}), None, "column 'a' has type List"),
    ],
)
def test_pca_clear_input_errors(
    reference: pl.DataFrame | None, current: pl.DataFrame | None, message: str
) -> None:
    fitted = pl.DataFrame({"a": np.random.default_rng(0).normal(size=200)})
    with pytest.raises(InputError, match=message):
        PCAReconstructionDrift().fit(fitted if reference is None else reference).score(
            current if current is not None else fitted
        )


@pytest.mark.parametrize(
    "params",
    [
        {"n_components": 1.5},
        {"n_components": 0},
        {"chunks": 1},
        {"alpha": 0.0},
        {"top_categories": 0},
        {"min_effect": -1.0},
    ],
)
def test_pca_rejects_bad_parameters(params: dict[str, float]) -> None:
    with pytest.raises(InputError):
        PCAReconstructionDrift(**params).fit(mixed(200, seed=0))  # type: ignore[arg-type]


def test_pca_score_before_fit_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not fitted"):
        PCAReconstructionDrift().score(mixed(10, seed=0))


# ---- Domain classifier -------------------------------------------------------------------------


def test_domain_classifier_quiet_on_same_distribution() -> None:
    detector = DomainClassifierDrift(n_threads=1, max_iter=50).fit(mixed(3_000, seed=1))
    result = detector.score(mixed(3_000, seed=2))
    assert not result.drifted
    assert result.ci_low < 0.5 + 0.03 < result.ci_high + 0.03
    assert len(result.fold_auroc) == 5


def test_domain_classifier_finds_a_half_sd_shift_and_names_the_column() -> None:
    detector = DomainClassifierDrift(n_threads=1, max_iter=50).fit(mixed(3_000, seed=1))
    result = detector.score(mixed(3_000, seed=2, shift=0.5))
    assert result.drifted
    # A 0.5 sd mean shift of one normal: the best possible AUROC is Phi(0.5 / sqrt 2) = 0.638.
    assert 0.58 < result.auroc < 0.66
    assert result.ci_low > result.min_auc
    assert result.columns.get_column("column")[0] == "b"
    assert result.columns.get_column("importance")[0] > 0.05
    assert "b (" in result.reason


def test_domain_classifier_false_alarms_across_seeds() -> None:
    trials = 20
    alarms = 0
    for seed in range(trials):
        detector = DomainClassifierDrift(n_threads=1, max_iter=20, folds=3, seed=seed)
        alarms += detector.fit(mixed(400, seed=3_000 + seed)).score(mixed(300, seed=seed)).drifted
    assert alarms <= allowed_alarms(trials, 0.01)


def test_domain_classifier_edge_columns() -> None:
    def with_edges(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(k=pl.lit(1.0), gone=pl.lit(None, dtype=pl.Float64))

    detector = DomainClassifierDrift(n_threads=1, max_iter=30).fit(with_edges(mixed(1_500, seed=1)))
    assert not detector.score(with_edges(mixed(1_500, seed=2))).drifted
    # Unseen categories in the current data separate it and are named.
    new = with_edges(mixed(1_500, seed=2)).with_columns(
        cat=pl.when(pl.int_range(pl.len()) % 4 == 0).then(pl.lit("new")).otherwise(pl.col("cat"))
    )
    result = detector.score(new)
    assert result.drifted
    assert result.columns.get_column("column")[0] == "cat"
    # A column all missing in the reference that starts carrying values.
    back = detector.score(with_edges(mixed(1_500, seed=2)).with_columns(gone=pl.lit(3.0)))
    assert back.drifted
    assert back.columns.get_column("column")[0] == "gone"


def test_domain_classifier_many_levels_and_sampling() -> None:
    rng = np.random.default_rng(0)
    ids = pl.Series("ids", rng.zipf(1.3, 4_000) % 1_000).cast(pl.String)
    frame = pl.DataFrame({"z": rng.normal(size=4_000)}).with_columns(ids)
    detector = DomainClassifierDrift(n_threads=1, max_rows=1_000, max_iter=20, folds=3).fit(frame)
    result = detector.score(frame.sample(2_000, seed=3))
    assert (result.n_reference, result.n_current) == (1_000, 1_000)
    assert not result.drifted
    assert {"auroc", "ci_low", "columns"} <= set(result.to_dict())


@pytest.mark.parametrize(
    ("current", "message"),
    [
        (pl.DataFrame({"a": [0.1], "b": [0.2]}), "current data has 1 rows; it needs at least"),
        (pl.DataFrame({"a": [], "b": []}, schema={"a": pl.Float64, "b": pl.Float64}), "no rows"),
        (pl.DataFrame({"a": [0.1] * 10}), r"\['b'\]"),
    ],
)
def test_domain_classifier_clear_input_errors(current: pl.DataFrame, message: str) -> None:
    reference = pl.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0)})
    detector = DomainClassifierDrift().fit(reference)
    with pytest.raises(InputError, match=message):
        detector.score(current)


def test_domain_classifier_rejects_empty_reference_and_bad_parameters() -> None:
    with pytest.raises(InputError, match="no rows"):
        DomainClassifierDrift().fit(pl.DataFrame({"a": []}, schema={"a": pl.Float64}))
    with pytest.raises(InputError, match="min_auc"):
        DomainClassifierDrift(min_auc=0.4).fit(mixed(100, seed=0))
    with pytest.raises(InputError, match="folds"):
        DomainClassifierDrift(folds=1).fit(mixed(100, seed=0))
    with pytest.raises(InputError, match="not fitted"):
        DomainClassifierDrift().score(mixed(100, seed=0))


def test_pca_matches_scikit_learn() -> None:
    from sklearn.decomposition import PCA

    frame = mixed(3_000, seed=4)
    detector = PCAReconstructionDrift(n_components=0.8).fit(frame)
    x = detector.encoder_(frame).astype(np.float64)
    reference = PCA(n_components=0.8, svd_solver="full").fit(x)
    assert detector.n_components_ == reference.n_components_
    np.testing.assert_allclose(detector.mean_, reference.mean_, atol=1e-9)
    projection = detector.components_.T @ detector.components_
    expected = reference.components_.T @ reference.components_
    np.testing.assert_allclose(projection, expected, atol=1e-6)
    assert PCAReconstructionDrift(n_components=3).fit(frame).n_components_ == 3


@pytest.mark.parametrize("detector", [PCAReconstructionDrift(), DomainClassifierDrift(n_threads=1)])
def test_time_columns_are_used_only_when_named(
    detector: PCAReconstructionDrift | DomainClassifierDrift,
) -> None:
    frame = mixed(500, seed=1).with_columns(
        day=pl.date_range(pl.date(2020, 1, 1), pl.date(2021, 5, 14), eager=True)
    )
    detector.fit(frame)
    assert "day" not in [c.name for c in detector.schema_]
    named = PCAReconstructionDrift(columns=["a", "day"]).fit(frame)
    assert [c.name for c in named.schema_] == ["a", "day"]
    assert "day" in named.score(frame.tail(100)).columns.get_column("column").to_list()
    with pytest.raises(InputError, match="no columns to compare"):
        PCAReconstructionDrift().fit(frame.select("day"))
