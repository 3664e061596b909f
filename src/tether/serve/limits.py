"""``Limits``: how big, deep and long a request may be, and the strict JSON reader keeping them."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import operator
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

    A body is first read as it is and proven within the limits in a few passes in C over its
    values (a body of flat records, the common one, costs about a fifth of its parse); only a
    body that this cannot prove is read again with a check of every number as it is parsed and
    walked node by node, which finds the first broken rule and words it.
    """
    try:
        value = json.loads(body, parse_constant=_unproven)
    except _Unproven:
        return _parse_strict(body, limits)
    except RecursionError:
        raise _nesting(limits) from None
    except ValueError as exc:  # JSONDecodeError, invalid UTF-8, integers too long to convert
        raise _bad_json(exc) from None
    if _within(value, limits):
        return value
    return _parse_strict(body, limits)


class _Unproven(Exception):
    """A constant (NaN, Infinity) met while reading a body fast: read it again strictly."""


def _unproven(name: str) -> Any:
    raise _Unproven(name)


def _parse_strict(body: bytes, limits: Limits) -> Any:
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JSONLimitError:
        raise
    except RecursionError:
        raise _nesting(limits) from None
    except ValueError as exc:
        raise _bad_json(exc) from None
    _check_shape(value, limits)
    return value


def _bad_json(exc: ValueError) -> JSONLimitError:
    return JSONLimitError(f"body: not valid JSON: {str(exc)[:200]} (rule bad_json)", "bad_json")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _within(value: Any, limits: Limits) -> bool:
    """Whether ``value`` surely keeps ``limits`` and holds only finite numbers (False: unsure).

    An object whose members are scalars, lists of scalars or lists of flat objects (records) is
    checked in a few passes in C: the lengths of the distinct keys and of every string, their
    encoding at once, the finiteness of every float at once. Anything else is walked node by
    node.
    """
    if type(value) is not dict or limits.max_depth < 3:
        return _walk_within(value, limits)
    keys: list[Any] = list(value)
    scalars: list[Any] = []
    for item in value.values():
        kind = type(item)
        if kind in _SCALARS:
            scalars.append(item)
        elif kind is not list:
            return _walk_within(value, limits)
        else:
            members = set(map(type, item))
            if members == {dict}:  # records: their distinct keys, then all their values
                keys += set(itertools.chain.from_iterable(item))
                scalars += itertools.chain.from_iterable(map(dict.values, item))
            elif members <= _SCALARS:
                scalars += item
            else:
                return _walk_within(value, limits)
    kinds = list(map(type, scalars))
    if not set(kinds) <= _SCALARS:
        return _walk_within(value, limits)  # a record holding a nested value
    strings = [*keys, *_of_type(scalars, kinds, str)]
    if strings:
        if max(map(len, strings)) > limits.max_string_length:
            return False
        joined = "".join(strings)
        if not joined.isascii() and not _encodes(joined):
            return False
        if "\x00" in "".join(keys):
            return False
    # an infinity makes the sum infinite or NaN (a finite sum too large for a float only sends
    # the body down the strict path); NaN cannot be there, the reader refused its literal
    return math.isfinite(sum(_of_type(scalars, kinds, float)))


def _of_type(values: list[Any], kinds: list[type], kind: type) -> Iterable[Any]:
    return itertools.compress(values, map(operator.is_, kinds, itertools.repeat(kind)))


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _walk_within(value: Any, limits: Limits) -> bool:
    """:func:`_within` node by node, for any shape."""
    stack = [(value, 1)]
    longest = limits.max_string_length
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is str:
            if len(node) > longest or not (node.isascii() or _encodes(node)):
                return False
        elif kind is float:
            if not math.isfinite(node):
                return False
        elif kind is dict or kind is list:
            if depth > limits.max_depth:
                return False
            if kind is dict:
                for key in node:
                    if len(key) > longest or "\x00" in key or not (key.isascii() or _encodes(key)):
                        return False
            children: Iterable[Any] = node.values() if kind is dict else node
            stack.extend((child, depth + 1) for child in children)
    return True


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
