"""The strict JSON reader's fast proof of a body gives what the node-by-node reader gives, and the
predict body's shortcut past pydantic gives what pydantic gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.serve.app import _predict_request
from tether.serve.http import Refused, parsed
from tether.serve.limits import JSONLimitError, Limits, _parse_strict, parse_json
from tether.serve.models import PredictRequest

LIMITS = Limits(max_string_length=12, max_depth=4)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.one_of(
    st.text(max_size=16),
    st.sampled_from(["\ud800", "a\x00b", "é" * 13, "ok", "\udc80x"]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1.7976931348623157e308, 0.0, -0.0]), TEXT,
)  # fmt: skip
RECORDS = st.lists(st.dictionaries(TEXT, SCALARS, max_size=4), max_size=6)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
NUMBERS = st.dictionaries(
    st.sampled_from(["x", "y"]),
    st.floats(allow_nan=False) | st.integers() | st.sampled_from([float("inf"), -float("inf")]),
)
BODIES = st.one_of(
    st.fixed_dictionaries({"records": st.lists(NUMBERS, max_size=4)}),  # a model's usual input
    st.fixed_dictionaries({"records": RECORDS}, optional={"ids": st.lists(TEXT, max_size=3)}),
    st.dictionaries(st.sampled_from(["records", "ids", "x"]), RECORDS | VALUES, max_size=3),
    VALUES,
)


def outcome(read: Any, body: bytes) -> tuple[Any, ...]:
    try:
        return ("value", read(body, LIMITS))
    except JSONLimitError as exc:
        return ("refused", str(exc), exc.rule)


@SETTINGS
@given(BODIES, st.booleans())
def test_the_fast_reader_reads_and_refuses_as_the_strict_one(value: Any, overflow: bool) -> None:
    text = json.dumps(value)  # NaN and infinities as their literals, surrogates escaped
    if overflow:
        text = text.replace("Infinity", "1e999")  # a number too large, not a literal
    body = text.encode()
    assert outcome(parse_json, body) == outcome(_parse_strict, body)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b'{"records": [{"x": 1e999}]}', "non_finite"),
        (b'{"records": [{"x": 1.0}, {"x": -1e999}], "ids": ["a"]}', "non_finite"),
        (b'{"records": [{"x": NaN}]}', "non_finite"),
        (b'{"records": [{"x": "' + b"a" * 13 + b'"}]}', "max_string_length"),
        (b'{"records": [{"' + b"k" * 13 + b'": 1}]}', "max_string_length"),
        (b'{"records": [{"x\\u0000": 1}]}', "bad_key"),
        (b'{"records": [{"x": "\\ud800"}]}', "bad_unicode"),
        (b'{"records": [{"x": [[[1]]]}]}', "max_depth"),
        (b'{"ids": ["' + b"i" * 13 + b'"], "records": [{"x": 1}]}', "max_string_length"),
    ],
)
def test_every_rule_is_found_in_a_body_of_records(body: bytes, rule: str) -> None:
    with pytest.raises(JSONLimitError) as refused:
        parse_json(body, LIMITS)
    assert refused.value.rule == rule
    assert outcome(parse_json, body) == outcome(_parse_strict, body)


def test_a_body_of_flat_records_within_the_limits_is_read_as_json_reads_it() -> None:
    body = json.dumps(
        {"records": [{"x": 1.5, "c": "é", "n": None, "b": True, "i": 2**70}] * 3, "ids": None}
    ).encode()
    assert parse_json(body, LIMITS) == json.loads(body)


IDS = st.lists(st.sampled_from(["", "a", "b" * 200, "c" * 201]) | st.integers(), max_size=3)
FLAT = st.dictionaries(st.text(max_size=2), SCALARS, max_size=2)
PREDICT_BODIES = st.one_of(
    # the usual shape, with ids right at their bounds
    st.fixed_dictionaries({"records": st.lists(FLAT, min_size=1, max_size=3),
                           "ids": st.none() | IDS}),
    st.fixed_dictionaries(
        {"records": st.lists(FLAT | SCALARS, max_size=3) | SCALARS},
        optional={"ids": IDS | SCALARS, "other": SCALARS},
    ),
    st.lists(SCALARS, max_size=2),
)  # fmt: skip


@SETTINGS
@given(PREDICT_BODIES)
def test_the_predict_body_shortcut_accepts_and_refuses_as_pydantic(value: Any) -> None:
    def read(how: Any) -> Any:
        try:
            body = how(value)
        except Refused as refused:
            return refused.status, refused.body
        return body.records, body.ids

    assert read(_predict_request) == read(lambda v: parsed(PredictRequest, v))
