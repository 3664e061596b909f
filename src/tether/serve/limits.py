"""``Limits``: how big, deep and long a request may be, and the strict JSON reader keeping them."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from typing import Any

from tether.errors import InputError


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what one request may hold; anything beyond is refused before it reaches a model.

    A server takes input from anyone who can reach it, so every dimension an attacker could blow
    up is bounded: bytes (HTTP 413), records per request, string length and nesting depth (HTTP
    422 naming the limit). Defaults fit a tabular model's requests with a wide margin.

    Parameters
    ----------
    max_body_bytes
        Largest request body.
    max_records
        Most records in one predict request, and labels in one labels request.
    max_explain_records
        Most records in one explain request (explaining costs far more than predicting).
    max_string_length
        Longest string (keys included), in characters.
    max_depth
        Deepest nesting of objects and arrays (the body itself is depth 1).

    Example
    -------
    >>> limits = Limits(max_depth=3)
    >>> parse_json(b'{"records": [{"x": 1.5}]}', limits)
    {'records': [{'x': 1.5}]}
    >>> parse_json(b'{"records": [{"x": [1]}]}', limits)
    Traceback (most recent call last):
    ...
    tether.serve.limits.JSONLimitError: body: nesting deeper than max_depth=3 (rule max_depth)
    """

    max_body_bytes: int = 1_000_000
    max_records: int = 1_000
    max_explain_records: int = 100
    max_string_length: int = 10_000
    max_depth: int = 8

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"Limits.{field.name}={value!r} must be a positive integer")


class JSONLimitError(InputError):
    """A body that is not strict JSON or breaks a :class:`Limits` bound; ``rule`` names which."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def parse_json(body: bytes, limits: Limits) -> Any:
    """The value of a strict JSON body within ``limits``, else :class:`JSONLimitError`.

    Python's reader accepts ``NaN``, ``Infinity`` and numbers that overflow to infinity, which
    JSON does not have and no model input should hold; they are refused here, as are strings
    that are not valid Unicode (lone surrogates), which no store could write back, and keys
    holding NUL, which PostgreSQL cannot keep as a field name.
    """
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JSONLimitError:
        raise
    except RecursionError:
        raise _nesting(limits) from None
    except ValueError as exc:  # JSONDecodeError, invalid UTF-8, integers too long to convert
        message = f"body: not valid JSON: {str(exc)[:200]} (rule bad_json)"
        raise JSONLimitError(message, "bad_json") from None
    _check_shape(value, limits)
    return value


def _refuse_constant(name: str) -> Any:
    raise JSONLimitError(
        f"body: {name} is not a JSON number; send null for a missing value (rule non_finite)",
        "non_finite",
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONLimitError(
            f"body: number {text[:40]} overflows a 64-bit float (rule non_finite)", "non_finite"
        )
    return value


def _nesting(limits: Limits) -> JSONLimitError:
    return JSONLimitError(
        f"body: nesting deeper than max_depth={limits.max_depth} (rule max_depth)", "max_depth"
    )


def _check_shape(value: Any, limits: Limits) -> None:
    """Depth, string length and encodability of every node, without recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_string(node, limits)
        elif isinstance(node, dict | list):
            if depth > limits.max_depth:
                raise _nesting(limits)
            if isinstance(node, dict):
                for key in node:
                    _check_key(key, limits)
            children: Iterable[Any] = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _check_key(key: str, limits: Limits) -> None:
    _check_string(key, limits)
    if "\x00" in key:
        raise JSONLimitError(
            f"body: key {key[:40]!r} holds a NUL character, which a store cannot keep as a field "
            "name (rule bad_key)",
            "bad_key",
        )


def _check_string(text: str, limits: Limits) -> None:
    if len(text) > limits.max_string_length:
        raise JSONLimitError(
            f"body: a string of {len(text)} characters is longer than "
            f"max_string_length={limits.max_string_length} (rule max_string_length)",
            "max_string_length",
        )
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise JSONLimitError(
                f"body: string {text[:40]!r} is not valid Unicode (rule bad_unicode)",
                "bad_unicode",
            ) from None
