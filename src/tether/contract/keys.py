"""Reading typed values out of a parsed contract, with errors that name the key path.

>>> number("abc", "columns.dep_delay.max")
Traceback (most recent call last):
...
tether.errors.ContractError: columns.dep_delay.max: expected a number, got 'abc'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from tether.errors import ContractError


def fail(path: str, problem: str) -> NoReturn:
    """Raise the :class:`ContractError` for the key at ``path``."""
    raise ContractError(f"{path}: {problem}")


def mapping(value: object, path: str, allowed: tuple[str, ...] | None = None) -> Mapping[str, Any]:
    """``value`` as a mapping with string keys, none of them outside ``allowed``."""
    if not isinstance(value, Mapping):
        fail(path, f"expected a mapping, got {value!r}")
    for key in value:
        if not isinstance(key, str):
            fail(path, f"keys must be strings, got {key!r}")
        if allowed is not None and key not in allowed:
            fail(f"{path}.{key}", f"unknown key (expected one of {', '.join(allowed)})")
    return value


def boolean(value: object, path: str) -> bool:
    """``value`` as a bool (``true``/``false``, not 0/1)."""
    if not isinstance(value, bool):
        fail(path, f"expected true or false, got {value!r}")
    return value


def number(value: object, path: str) -> float | int:
    """``value`` as an int or float (a bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(path, f"expected a number, got {value!r}")
    return value


def integer(value: object, path: str, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, f"expected an integer, got {value!r}")
    if value < minimum:
        fail(path, f"expected an integer of at least {minimum}, got {value!r}")
    return value


def text(value: object, path: str, choices: tuple[str, ...] | None = None) -> str:
    """``value`` as a string, one of ``choices`` when given."""
    if not isinstance(value, str):
        fail(path, f"expected a string, got {value!r}")
    if choices is not None and value not in choices:
        fail(path, f"unknown value {value!r} (expected one of {', '.join(choices)})")
    return value
