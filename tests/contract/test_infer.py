"""What Contract.infer writes down about each column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from tether.contract import Contract
from tether.errors import InputError


def test_dtype_role_and_nullability_are_recorded() -> None:
    frame = pl.DataFrame(
        {
            "flight_id": ["a", "b", "c"],
            "dep_delay": [1.0, None, 3.0],
            "late": [True, False, True],
            "time_hour": [dt.datetime(2013, 1, 1, h, tzinfo=dt.UTC) for h in range(3)],
        }
    )
    contract = Contract.infer(frame, target="late", id_column="flight_id", time_column="time_hour")
    columns = contract.columns
    assert list(columns) == ["flight_id", "dep_delay", "late", "time_hour"]
    assert [c.role for c in columns.values()] == ["id", "feature", "target", "time"]
    assert columns["time_hour"].dtype == "datetime[us, UTC]"
    assert columns["dep_delay"].nullable
    assert columns["dep_delay"].missing_rate == 0.3333
    assert not columns["flight_id"].nullable
    assert contract.target == "late"
    assert contract.id_column == "flight_id"


def test_a_single_outlier_does_not_define_the_band() -> None:
    values = np.random.default_rng(1).normal(100, 10, 5_000)
    contract = Contract.infer(pl.DataFrame({"x": np.append(values, 1e6)}))
    spec = contract.columns["x"]
    assert spec.max < 300
    assert spec.max >= values.max()


def test_a_continuous_heavy_tail_is_kept() -> None:
    values = np.random.default_rng(2).lognormal(0, 1, 20_000)
    contract = Contract.infer(pl.DataFrame({"x": values}))
    assert contract.validate(pl.DataFrame({"x": values})).ok


def test_a_value_slightly_above_the_training_max_is_accepted() -> None:
    values = np.random.default_rng(3).uniform(10, 20, 1_000)
    contract = Contract.infer(pl.DataFrame({"x": values}))
    nudged = values.max() + 0.01 * (values.max() - values.min())
    assert contract.validate_record({"x": nudged}) == []
    assert contract.validate_record({"x": values.max() * 2})[0]["rule"] == "above_max"


def test_a_never_negative_column_keeps_zero_as_its_floor() -> None:
    contract = Contract.infer(pl.DataFrame({"n": [0.5, 1.0, 2.0, 40.0]}))
    assert contract.columns["n"].min == 0.0
    assert contract.validate_record({"n": -0.1})[0]["rule"] == "below_min"


def test_integer_columns_get_integer_bounds_and_whole_floats_are_marked() -> None:
    frame = pl.DataFrame({"i": list(range(30)), "w": [float(v) for v in range(30)]})
    contract = Contract.infer(frame)
    assert isinstance(contract.columns["i"].min, int)
    assert isinstance(contract.columns["i"].max, int)
    assert contract.columns["w"].integer
    assert contract.validate_record({"i": 3, "w": 2.5})[0]["rule"] == "not_integer"


def test_nan_and_inf_are_allowed_only_when_seen() -> None:
    frame = pl.DataFrame({"a": [1.0, float("nan")], "b": [1.0, 2.0]})
    contract = Contract.infer(frame)
    assert contract.columns["a"].allow_nan
    assert not contract.columns["b"].allow_nan
    assert contract.validate_record({"a": float("nan"), "b": float("nan")})[0]["rule"] == "nan"


def test_low_cardinality_strings_get_categories_and_codes_get_a_pattern() -> None:
    rng = np.random.default_rng(4)
    frame = pl.DataFrame(
        {
            "carrier": rng.choice(["AA", "UA", "B6"], 500),
            "tailnum": [f"N{i:03d}XY" for i in range(500)],
            "comment": [f"free text number {i}!" for i in range(500)],
        }
    )
    columns = Contract.infer(frame).columns
    assert columns["carrier"].categories == ("AA", "B6", "UA")
    assert columns["tailnum"].pattern == "^[A-Z0-9]{6}$"
    assert columns["tailnum"].max_length == 16
    assert columns["comment"].pattern is None
    assert columns["comment"].max_length == 2 * frame["comment"].str.len_chars().max()


def test_datetime_band_has_tolerance_and_the_time_column_no_max() -> None:
    times = [dt.datetime(2013, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=d) for d in range(100)]
    frame = pl.DataFrame({"when": times, "born": times})
    contract = Contract.infer(frame, time_column="when")
    assert contract.columns["when"].max is None
    assert contract.columns["born"].max > times[-1]
    assert contract.columns["born"].min < times[0]


def test_empty_frame_infers_a_permissive_contract() -> None:
    frame = pl.DataFrame({"x": [], "s": []}, schema={"x": pl.Float64, "s": pl.String})
    contract = Contract.infer(frame)
    spec = contract.columns["x"]
    assert spec.nullable
    assert spec.min is None
    assert spec.missing_rate is None
    assert contract.validate(frame).ok


def test_one_row_constant_and_all_missing_columns() -> None:
    one = Contract.infer(pl.DataFrame({"x": [5.0]}))
    assert one.validate_record({"x": 5.0}) == []
    constant = Contract.infer(pl.DataFrame({"c": [7] * 50}))
    assert (constant.columns["c"].min, constant.columns["c"].max) == (7, 7)
    missing = Contract.infer(pl.DataFrame({"m": [None, None]}))
    assert missing.columns["m"].dtype == "null"
    assert missing.columns["m"].nullable
    assert missing.validate_record({"m": "anything"}) == []


def test_unicode_strings_are_inferred_without_a_pattern() -> None:
    frame = pl.DataFrame({"city": ["Zürich", "東京", "São Paulo"] * 10})
    contract = Contract.infer(frame)
    assert contract.columns["city"].pattern is None
    assert contract.validate(frame).ok


def test_unsupported_column_type_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"'nested'.*cannot describe"):
        Contract.infer(pl.DataFrame({"nested": [[1], [2]]}))


def test_role_column_absent_from_the_data_is_an_input_error() -> None:
    with pytest.raises(InputError, match="target column 'late'"):
        Contract.infer(pl.DataFrame({"x": [1]}), target="late")


def test_identifiers_get_no_range_and_no_category_set() -> None:
    frame = pl.DataFrame({"flight_id": np.arange(1_000), "code": ["A1", "B2"] * 500})
    contract = Contract.infer(frame, id_column="flight_id")
    spec = contract.columns["flight_id"]
    assert (spec.min, spec.max, spec.categories) == (None, None, None)
    later_ids = pl.DataFrame({"flight_id": [10**9], "code": ["A1"]})
    assert contract.validate(later_ids).ok


def test_a_hundred_airports_form_a_category_set() -> None:
    rng = np.random.default_rng(4)
    airports = [f"{chr(65 + i // 26)}{chr(65 + i % 26)}X" for i in range(95)]
    frame = pl.DataFrame({"dest": rng.choice(airports, 20_000)})
    spec = Contract.infer(frame).columns["dest"]
    assert spec.categories is not None
    assert len(spec.categories) == 95
