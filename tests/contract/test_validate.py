"""Each rule, each policy and the edge cases, on the batch and the record path."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tether.contract import ColumnSpec, Contract
from tether.contract.result import ERROR_SCHEMA
from tether.errors import InputError, ValidationError


def contract_of(*specs: ColumnSpec, strict: bool = False) -> Contract:
    return Contract({s.name: s for s in specs}, strict=strict)


PLANTED = [
    # rule, spec, bad value, planted in a column of this polars type, expected message
    ("wrong_type", ColumnSpec("x", "float64"), "abc", pl.String,
     "x: value 'abc' is not float64 (rule wrong_type)"),
    ("null", ColumnSpec("x", "float64", nullable=False), None, pl.Float64,
     "x: value None in a non-nullable column (rule null)"),
    ("nan", ColumnSpec("x", "float64"), float("nan"), pl.Float64,
     "x: value nan not allowed (rule nan)"),
    ("inf", ColumnSpec("x", "float64"), float("-inf"), pl.Float64,
     "x: value -inf not allowed (rule inf)"),
    ("not_integer", ColumnSpec("x", "int64"), 2.5, pl.Float64,
     "x: value 2.5 is not an integer (rule not_integer)"),
    ("below_min", ColumnSpec("x", "int64", min=0), -3, pl.Int64,
     "x: value -3 below min 0 (rule below_min)"),
    ("above_max", ColumnSpec("dep_delay", "float64", max=1720.0), 9999.0, pl.Float64,
     "dep_delay: value 9999.0 above max 1720.0 (rule above_max)"),
    ("unseen_category", ColumnSpec("x", "string", categories=("AA", "UA")), "ZZ", pl.String,
     "x: value 'ZZ' not among the 2 allowed categories (rule unseen_category)"),
    ("too_long", ColumnSpec("x", "string", max_length=3), "abcd", pl.String,
     "x: value 'abcd' longer than max length 3 (rule too_long)"),
    ("bad_format", ColumnSpec("x", "string", pattern="^[A-Z]{2}$"), "a1", pl.String,
     "x: value 'a1' does not match pattern '^[A-Z]{2}$' (rule bad_format)"),
    ("above_max", ColumnSpec("d", "date", max=dt.date(2020, 1, 1)), dt.date(2021, 5, 1), pl.Date,
     "d: value 2021-05-01 above max 2020-01-01 (rule above_max)"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "spec", "bad", "dtype", "message"), PLANTED)
def test_every_rule_fires_on_a_planted_violation(rule, spec, bad, dtype, message) -> None:
    contract = contract_of(spec)
    frame = pl.DataFrame(
        {spec.name: [None if dtype != pl.String else "ok", bad]}, schema={spec.name: dtype}
    )
    frame = frame.slice(1)
    errors = contract.validate(frame).errors
    assert errors.select("row", "column", "rule", "message").rows() == [
        (0, spec.name, rule, message)
    ]
    assert contract.validate_record({spec.name: bad})[0]["message"] == message


def test_missing_and_extra_columns_are_column_level_problems() -> None:
    contract = contract_of(
        ColumnSpec("x", "int64"), ColumnSpec("y", "bool", role="target"), strict=True
    )
    result = contract.validate(pl.DataFrame({"z": [1, 2]}))
    assert result.errors.select("row", "column", "rule").rows() == [
        (None, "x", "missing_column"),
        (None, "z", "extra_column"),
    ]
    assert not result.ok
    assert result.rejected == 0
    assert [p["rule"] for p in contract.validate_record({"z": 1})] == [
        "missing_column",
        "extra_column",
    ]


def test_missing_target_and_prediction_columns_are_fine() -> None:
    contract = contract_of(
        ColumnSpec("x", "int64"), ColumnSpec("late", "bool", role="target"),
        ColumnSpec("score", "float64", role="prediction"),
    )  # fmt: skip
    assert contract.validate(pl.DataFrame({"x": [1]})).ok
    assert contract.validate_record({"x": 1}) == []


def test_extra_columns_are_ignored_unless_strict() -> None:
    contract = contract_of(ColumnSpec("x", "int64"))
    assert contract.validate(pl.DataFrame({"x": [1], "other": ["a"]})).ok
    assert contract.validate_record({"x": 1, "other": "a"}) == []


def test_reject_policy_drops_the_row_and_flag_keeps_it() -> None:
    frame = pl.DataFrame({"r": [1, 99, 2], "f": [1, 2, 99]})
    contract = contract_of(
        ColumnSpec("r", "int64", max=10), ColumnSpec("f", "int64", max=10, policy="flag")
    )
    result = contract.validate(frame)
    assert result.rejected_rows.to_list() == [1]
    assert result.valid_rows["f"].to_list() == [1, 99]
    assert result.errors.select("row", "policy").rows() == [(1, "reject"), (2, "flag")]
    assert not result.ok
    flag_only = contract_of(ColumnSpec("f", "int64", max=10, policy="flag")).validate(frame)
    assert flag_only.ok
    assert flag_only.errors.height == 1


def test_coerce_converts_text_and_rejects_what_does_not_convert() -> None:
    contract = contract_of(
        ColumnSpec("i", "int64", policy="coerce"),
        ColumnSpec("f", "float64", policy="coerce"),
        ColumnSpec("b", "bool", policy="coerce"),
        ColumnSpec("t", "datetime[us, UTC]", policy="coerce"),
    )
    frame = pl.DataFrame(
        {
            "i": ["3", "4", "x"],
            "f": ["3.5", "1e3", "2"],
            "b": ["true", "False", "true"],
            "t": ["2024-01-05T10:00:00Z", "2024-01-05 12:00", "2024-01-05"],
        }
    )
    result = contract.validate(frame)
    assert result.errors.select("row", "column", "rule", "policy").rows() == [
        (2, "i", "wrong_type", "reject")
    ]
    valid = result.valid_rows
    assert valid["i"].to_list() == [3, 4]
    assert valid["i"].dtype == pl.Int64
    assert valid["f"].to_list() == [3.5, 1000.0]
    assert valid["b"].to_list() == [True, False]
    assert valid["t"].to_list() == [
        dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 5, 12, tzinfo=dt.UTC),
    ]
    assert contract.validate_record({"i": "3", "f": "3.5", "b": "true", "t": "2024-01-05"}) == []


def test_coerced_values_then_go_through_the_other_rules() -> None:
    contract = contract_of(ColumnSpec("i", "int64", max=10, policy="coerce"))
    result = contract.validate(pl.DataFrame({"i": ["3", "30", "3.5"]}))
    assert result.errors.select("row", "rule").rows() == [(1, "above_max"), (2, "not_integer")]
    assert result.errors["value"].to_list() == ["'30'", "'3.5'"]


def test_a_wholly_wrong_column_under_reject_is_a_wrong_type_per_value() -> None:
    contract = contract_of(ColumnSpec("x", "float64"))
    result = contract.validate(pl.DataFrame({"x": ["1.0", None, "b"]}))
    assert result.errors.select("row", "rule").rows() == [(0, "wrong_type"), (2, "wrong_type")]
    assert result.valid_rows.height == 1


def test_ints_are_accepted_by_float_columns_and_whole_floats_by_int_columns() -> None:
    contract = contract_of(ColumnSpec("f", "float64"), ColumnSpec("i", "int64"))
    result = contract.validate(pl.DataFrame({"f": [1, 2], "i": [1.0, 2.0]}))
    assert result.ok
    assert result.valid_rows.schema == pl.Schema({"f": pl.Float64, "i": pl.Int64})


def test_record_path_types_bool_is_not_int_and_none_is_null() -> None:
    contract = contract_of(
        ColumnSpec("i", "int64", nullable=False),
        ColumnSpec("f", "float64"),
        ColumnSpec("s", "string"),
    )
    assert [p["rule"] for p in contract.validate_record({"i": True, "f": "1.0", "s": 3})] == [
        "wrong_type", "wrong_type", "wrong_type",
    ]  # fmt: skip
    assert contract.validate_record({"i": None, "f": None, "s": None})[0]["rule"] == "null"
    assert contract.validate_record({"i": np.int64(3), "f": np.float64(1.5), "s": "é"}) == []


def test_huge_values_are_shown_truncated_to_100_characters() -> None:
    contract = contract_of(ColumnSpec("s", "string", max_length=10))
    problem = contract.validate_record({"s": "ü" * 10_000})[0]
    assert problem["rule"] == "too_long"
    assert len(problem["value"]) == 100
    errors = contract.validate(pl.DataFrame({"s": ["ü" * 10_000]})).errors
    assert errors["value"][0] == problem["value"]
    assert errors["message"][0] == problem["message"]


def test_raise_on_reject_raises_validation_error_with_the_problems() -> None:
    contract = contract_of(ColumnSpec("x", "int64", max=5))
    with pytest.raises(ValidationError, match=r"x: value 9 above max 5") as info:
        contract.validate_record({"x": 9}, raise_on_reject=True)
    assert info.value.problems[0]["rule"] == "above_max"
    flagged = contract_of(ColumnSpec("x", "int64", max=5, policy="flag"))
    assert flagged.validate_record({"x": 9}, raise_on_reject=True)[0]["policy"] == "flag"


def test_a_record_that_is_not_a_mapping_is_an_input_error() -> None:
    with pytest.raises(InputError, match="must be a mapping"):
        contract_of(ColumnSpec("x", "int64")).validate_record([1, 2])  # type: ignore[arg-type]


def test_pandas_object_column_with_mixed_types_is_a_clear_error() -> None:
    contract = contract_of(ColumnSpec("x", "float64"))
    mixed = pd.DataFrame({"x": pd.Series([1.5, "two", 3], dtype=object)})
    with pytest.raises(InputError, match=r"mixes types|cannot be converted"):
        contract.validate(mixed)


def test_pandas_frame_with_nan_as_missing_validates() -> None:
    train = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": ["a", "b", None]})
    contract = Contract.infer(train)
    assert contract.validate(train).ok


def test_duplicated_ids_are_not_reported() -> None:
    # Documented choice: the contract checks each row on its own, as the record path must.
    contract = contract_of(ColumnSpec("id", "string", role="id"), ColumnSpec("x", "int64", max=5))
    result = contract.validate(pl.DataFrame({"id": ["a", "a"], "x": [1, 9]}))
    assert result.errors.select("row", "id", "rule").rows() == [(1, "a", "above_max")]


def test_errors_and_counts_have_their_documented_schema() -> None:
    contract = contract_of(ColumnSpec("x", "int64", max=5))
    result = contract.validate(pl.DataFrame({"x": [9, 9, 1]}))
    assert result.errors.schema == pl.Schema(ERROR_SCHEMA)
    assert result.counts.rows() == [("above_max", "x", 2)]
    assert (result.rows, result.rejected) == (3, 2)
    clean = contract.validate(pl.DataFrame({"x": [1]}))
    assert clean.errors.schema == pl.Schema(ERROR_SCHEMA)
    assert clean.counts.is_empty()


def test_validate_reads_any_input_frame_kind(tmp_path) -> None:
    contract = contract_of(ColumnSpec("x", "int64", max=5))
    frame = pl.DataFrame({"x": [1, 9]})
    frame.write_parquet(tmp_path / "f.parquet")
    for data in (frame, frame.lazy(), frame.to_arrow(), str(tmp_path / "f.parquet")):
        assert contract.validate(data).rejected == 1
