"""DriftReport: verdicts per column and window, dataset-level correction, JSON and HTML."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tether.drift.report import SCHEMA, DriftReport
from tether.errors import FormatError, InputError, UnsupportedVersionError


def row(window, column, p_value, *, effect=0.2, floor=0.05, primary=True, start=None):
    significant = p_value < 0.01
    return (
        window, start, None, column, "numeric", "ks", 0.3, 0.1, p_value, effect, floor,
        significant, significant and effect >= floor, primary, "a reason", 1000, 1000,
    )  # fmt: skip


def report(rows, correction="holm"):
    return DriftReport(
        pl.DataFrame(rows, schema=SCHEMA, orient="row"), alpha=0.01, correction=correction
    )


def test_holm_keeps_a_chance_hit_among_many_columns_from_flagging_the_dataset():
    # One p-value just under alpha among 25 columns is what chance alone produces in 22% of runs.
    rows = [row(0, f"c{i}", 0.5) for i in range(24)] + [row(0, "lucky", 0.009)]
    result = report(rows)
    assert result.drifted == ["lucky"]  # the column verdict is at alpha, per column
    assert not result.dataset_drifted  # the dataset verdict controls the 25 tests
    assert report([*rows, row(0, "real", 1e-9)]).dataset_drifted


def test_benjamini_hochberg_is_less_strict_than_holm():
    # m = 20 at alpha 0.01: Holm needs p(1) <= 0.0005, then p(2) <= 0.01/19 = 0.000526 (fails);
    # BH keeps the largest k with p(k) <= 0.0005 k, here k = 4 (0.0016 <= 0.002).
    rows = [row(0, f"c{i}", p) for i, p in enumerate([0.0001, 0.0006, 0.0011, 0.0016])] + [
        row(0, f"n{i}", 0.9) for i in range(16)
    ]
    holm = report(rows).windows()["drifted_after_correction"][0]
    bh = report(rows, correction="bh").windows()["drifted_after_correction"][0]
    assert holm == "c0"
    assert bh == "c0, c1, c2, c3"


def test_a_significant_but_tiny_effect_does_not_drift_the_dataset():
    result = report([row(0, "x", 1e-12, effect=0.001, floor=0.05)])
    assert result.drifted == []
    assert not result.dataset_drifted


def test_windows_are_judged_separately():
    rows = [row(0, "x", 0.5, start="2013-04-01"), row(1, "x", 1e-9, start="2013-05-01")]
    windows = report(rows).windows()
    assert windows["dataset_drifted"].to_list() == [False, True]
    assert windows["window_start"].to_list() == ["2013-04-01", "2013-05-01"]


def test_json_round_trip_is_exact_including_non_finite_values(tmp_path):
    rows = [row(0, "x", 1e-9), (*row(0, "y", 0.5)[:6], math.inf, *row(0, "y", 0.5)[7:])]
    original = report(rows)
    path = tmp_path / "r.json"
    original.to_json(path)
    restored = DriftReport.from_json(path)
    assert restored.to_frame().equals(original.to_frame())
    assert restored.alpha == 0.01


def test_corrupt_and_newer_reports_are_clear_errors(tmp_path):
    with pytest.raises(FormatError, match="not a drift report"):
        DriftReport.from_json('{"format": "something else"}')
    with pytest.raises(UnsupportedVersionError, match="format_version 7"):
        DriftReport.from_json('{"format": "tether-drift-report", "format_version": 7}')
    with pytest.raises(FormatError, match="cannot be read"):
        DriftReport.from_json(tmp_path / "missing.json")
    with pytest.raises(FormatError, match="corrupt"):
        DriftReport.from_json(
            '{"format": "tether-drift-report", "format_version": 1, "alpha": 0.01, '
            '"correction": "holm", "rows": [{"window": "not a number"}]}'
        )


def test_html_is_one_self_contained_page_with_escaped_text(tmp_path):
    rows = [row(0, "<script>x</script>", 1e-9)]
    page = report(rows).to_html(tmp_path / "r.html")
    assert page.startswith("<!doctype html>")
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;" in page
    assert "Drift report: drift" in page
    assert (tmp_path / "r.html").read_text() == page


def test_unknown_correction_is_a_clear_error():
    with pytest.raises(InputError, match="'holm' or 'bh'"):
        report([row(0, "x", 0.5)], correction="bonferroni").windows()
