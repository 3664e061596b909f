"""Properties that must hold for any data: self-acceptance, YAML round trip, path agreement."""

from __future__ import annotations

import datetime as dt

import polars as pl
from contract_strategies import FLOATS, INT64, TEXT, UTC_DATETIMES, frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.contract import ColumnSpec, Contract

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(frames())
def test_inferred_contract_accepts_the_frame_it_was_inferred_from(frame: pl.DataFrame) -> None:
    contract = Contract.infer(frame)
    result = contract.validate(frame)
    assert result.errors.is_empty(), result.errors["message"].to_list()
    assert result.ok
    assert result.valid_rows.equals(frame)
    for record in frame.iter_rows(named=True):
        assert contract.validate_record(record) == []


@SETTINGS
@given(frames(), st.booleans())
def test_yaml_round_trip_is_exact(frame: pl.DataFrame, strict: bool) -> None:
    contract = Contract.infer(frame, strict=strict)
    text = contract.to_yaml()
    assert Contract.from_yaml(text) == contract
    assert Contract.from_yaml(text).to_yaml() == text


# One contract with every rule, and per column the kinds of input it may receive: its own type,
# text (converted under coerce) and a type it never accepts.
SPECS = {
    "f": dict(dtype="float64", min=-10.0, max=10.0, nullable=False),
    "w": dict(dtype="float64", min=0.0, max=100.0, integer=True, allow_inf=True),
    "i": dict(dtype="int64", min=0, max=50),
    "s": dict(dtype="string", categories=("AA", "UA", "ÄÖ")),
    "p": dict(dtype="string", pattern="[A-Z0-9]{2}", max_length=3, nullable=False),
    "b": dict(dtype="bool"),
    "d": dict(dtype="date", min=dt.date(2000, 1, 1), max=dt.date(2030, 12, 31)),
    "t": dict(
        dtype="datetime[us, UTC]",
        min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        max=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    ),
}
NUMBER_TEXT = st.sampled_from(
    ["3", "3.5", "-2", "1e3", " 4", "abc", "", "nan", "inf", "1_000", "+7", ".5", "5.", "99999"]
)
INPUTS: dict[str, dict[str, tuple[pl.DataType, st.SearchStrategy[object]]]] = {
    "f": {
        "float": (pl.Float64, FLOATS | st.sampled_from([-10.0, 10.0, 10.5, -0.0])),
        "int": (pl.Int64, INT64 | st.integers(-12, 12)),
        "text": (pl.String, NUMBER_TEXT | TEXT),
        "bool": (pl.Boolean, st.booleans()),
    },
    "w": {
        "float": (pl.Float64, FLOATS | st.sampled_from([3.0, 3.5, 100.0, 100.5])),
        "text": (pl.String, NUMBER_TEXT),
    },
    "i": {
        "int": (pl.Int64, INT64 | st.integers(-3, 55)),
        "float": (pl.Float64, FLOATS | st.sampled_from([3.0, 3.5, 51.0])),
        "text": (pl.String, NUMBER_TEXT),
        "bool": (pl.Boolean, st.booleans()),
    },
    "s": {
        "text": (pl.String, TEXT | st.sampled_from(["AA", "UA", "ÄÖ", "aa"])),
        "int": (pl.Int64, st.integers(-5, 5)),
    },
    "p": {
        "text": (pl.String, TEXT | st.sampled_from(["AB", "A1", "a1", "AB\n", "ABCD", "Ä1"])),
        "int": (pl.Int64, st.integers(0, 200)),
        "float": (pl.Float64, FLOATS),
    },
    "b": {
        "bool": (pl.Boolean, st.booleans()),
        "text": (pl.String, st.sampled_from(["true", "False", "TRUE", "yes", "1", ""])),
        "int": (pl.Int64, st.integers(0, 1)),
    },
    "d": {
        "date": (pl.Date, st.dates()),
        "text": (pl.String, st.dates().map(str) | st.sampled_from(["2020-02-30", "2020-1-5"])),
        "datetime": (pl.Datetime("us"), st.datetimes()),
    },
    "t": {
        "datetime": (pl.Datetime("us", "UTC"), UTC_DATETIMES),
        "naive": (pl.Datetime("us"), st.datetimes()),
        "date": (pl.Date, st.dates()),
        "text": (
            pl.String,
            st.datetimes().map(lambda d: d.isoformat())
            | st.sampled_from(
                ["2020-01-05T10:00:00Z", "2020-01-05 10:00", "2020-01-05", "2020-13-01", "x"]
            ),
        ),
    },
}


@st.composite
def cases(draw: st.DrawFn) -> tuple[Contract, pl.DataFrame, list[dict[str, object]]]:
    """A contract with drawn policies, and rows drawn per column from one input type."""
    policies = st.sampled_from(["reject", "flag", "coerce"])
    specs = {
        name: ColumnSpec(name, policy=draw(policies), **spec)  # type: ignore[arg-type]
        for name, spec in SPECS.items()
    }
    contract = Contract(specs, strict=draw(st.booleans()))
    rows = draw(st.integers(1, 20))
    data: dict[str, list[object]] = {}
    schema: dict[str, pl.DataType] = {}
    for name in draw(st.permutations(list(SPECS))):
        if draw(st.integers(0, 9)) == 0:
            continue  # this column is missing
        dtype, values = INPUTS[name][draw(st.sampled_from(sorted(INPUTS[name])))]
        data[name], schema[name] = (
            draw(st.lists(st.none() | values, min_size=rows, max_size=rows)),
            dtype,
        )
    if draw(st.booleans()):
        data["extra"], schema["extra"] = [1] * rows, pl.Int64
    frame = pl.DataFrame(data, schema=schema, strict=False)
    return contract, frame, list(frame.iter_rows(named=True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_batch_and_record_paths_agree(case: tuple[Contract, pl.DataFrame, list[dict]]) -> None:
    contract, frame, records = case
    result = contract.validate(frame)
    fields = ("column", "value", "rule", "policy", "message")
    batch_cells = {
        (row, *rest)
        for row, *rest in result.errors.select("row", *fields).rows()
        if row is not None
    }
    batch_columns = {
        tuple(r) for r in result.errors.filter(pl.col("row").is_null()).select(fields).rows()
    }
    record_cells = set()
    for row, record in enumerate(records):
        problems = contract.validate_record(record)
        record_columns = {
            tuple(p[f] for f in fields)
            for p in problems
            if p["value"] is None and p["rule"] in ("missing_column", "extra_column")
        }
        assert record_columns == batch_columns
        record_cells |= {
            (row, *(p[f] for f in fields))
            for p in problems
            if p["rule"] not in ("missing_column", "extra_column")
        }
    assert batch_cells == record_cells
    rejected_by_records = {row for row, _, _, _, policy, _ in record_cells if policy == "reject"}
    assert set(result.rejected_rows.to_list()) == rejected_by_records
