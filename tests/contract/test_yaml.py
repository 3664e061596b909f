"""Contract YAML: readable output, exact round trip, and errors that name the key path."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tether.contract import ColumnSpec, Contract
from tether.errors import ContractError, InputError, UnsupportedVersionError

GOOD = """\
format: tether-contract
format_version: 1
strict: false
columns:
  dep_delay:
    dtype: float64
    min: -43.0
    max: 1720.0
"""


def test_yaml_is_block_style_with_header_first(tmp_path) -> None:
    frame = pl.DataFrame({"carrier": ["AA", "UA"] * 50, "x": [1.0, 2.0] * 50})
    contract = Contract.infer(frame)
    text = contract.to_yaml(tmp_path / "c.yaml")
    assert text.splitlines()[:4] == [
        "format: tether-contract", "format_version: 1", "strict: false", "columns:",
    ]  # fmt: skip
    assert "  carrier:\n    dtype: string\n" in text
    assert "{" not in text
    assert (tmp_path / "c.yaml").read_text() == text
    assert Contract.from_yaml(tmp_path / "c.yaml") == contract
    assert Contract.from_yaml(str(tmp_path / "c.yaml")) == contract


def test_round_trip_keeps_strings_that_yaml_would_reinterpret() -> None:
    tricky = ("yes", "null", "1", "2020-01-01", "ünï", "", "a: b", "#x")
    contract = Contract(
        {
            "c": ColumnSpec("c", "string", categories=tricky),
            "t": ColumnSpec("t", "datetime[ns, Europe/Paris]", min=dt.datetime(2020, 1, 1, 5, 30)),
            "d": ColumnSpec("d", "date", max=dt.date(2030, 1, 1), policy="coerce"),
        },
        strict=True,
    )
    assert Contract.from_yaml(contract.to_yaml()) == contract


def test_a_person_can_edit_a_bound() -> None:
    contract = Contract.from_yaml(GOOD.replace("1720.0", "100"))
    assert contract.columns["dep_delay"].max == 100.0
    assert contract.validate_record({"dep_delay": 101.0})[0]["rule"] == "above_max"


BROKEN = [
    (GOOD.replace("1720.0", "abc"), "columns.dep_delay.max: expected a number, got 'abc'"),
    (GOOD.replace("max:", "maxx:"), "columns.dep_delay.maxx: unknown key"),
    (GOOD.replace("-43.0", "2000.0"), "columns.dep_delay.min: 2000.0 is greater than max 1720.0"),
    (GOOD + "    policy: rejct\n", "columns.dep_delay.policy: unknown value 'rejct'"),
    (GOOD.replace("float64", "flot64"), "columns.dep_delay.dtype: unknown dtype 'flot64'"),
    (GOOD + "    nullable: 'no'\n", "columns.dep_delay.nullable: expected true or false, got 'no'"),
    (GOOD + "    categories: [a]\n", "columns.dep_delay.categories: only applies to string"),
    (GOOD.replace("strict: false", "strict: 3"), "strict: expected true or false, got 3"),
    (GOOD.replace("tether-contract", "other"), "format: expected 'tether-contract'"),
    (GOOD + "extra: 1\n", "contract.extra: unknown key"),
    ("columns: [1, 2", "contract YAML is not valid at line 1"),
    ("- just\n- a list\n", "contract: expected a mapping"),
    (
        GOOD.replace("float64", "string").replace(
            "    min: -43.0\n    max: 1720.0\n", "    pattern: '[a-'\n"
        ),
        "columns.dep_delay.pattern: invalid regular expression",
    ),
    (GOOD.replace("    min: -43.0\n", "    role: targett\n"), "columns.dep_delay.role: unknown"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_yaml_names_the_key_path(text: str, message: str) -> None:
    with pytest.raises(ContractError) as info:
        Contract.from_yaml(text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_newer_format_version_is_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError, match="format_version: 2 is newer"):
        Contract.from_yaml(GOOD.replace("format_version: 1", "format_version: 2"))


def test_missing_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read the contract"):
        Contract.from_yaml(str(tmp_path / "nope.yaml"))
