"""Reading and writing the pieces of a profile as JSON-ready values.

A profile is written as plain JSON. Three things need care, and are handled here once:

* floats: JSON has no NaN or infinity, so non-finite floats are written as the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"``; ``null`` always means "no value" (for example the mean of a
  column without finite values);
* sketches: written as base64 of their native DataSketches ``serialize()`` bytes, so any
  DataSketches binding (Java, C++, Python) can read them;
* errors: every read goes through :class:`Fields`, which knows the key path it is reading and
  raises :class:`~tether.errors.FormatError` naming that path when a key is missing or has the
  wrong type.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from typing import Any, TypeVar

from tether.errors import FormatError

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

Sketch = TypeVar("Sketch")


def encode_float(value: float | None) -> float | str | None:
    """A float as JSON can hold it: non-finite values become strings, ``None`` stays ``None``.

    >>> [encode_float(v) for v in (1.5, float("nan"), float("-inf"), None)]
    [1.5, 'NaN', '-Infinity', None]
    """
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def encode_sketch(raw: bytes) -> str:
    """Native sketch bytes as base64 text."""
    return base64.b64encode(raw).decode("ascii")


class Fields:
    """One JSON object being read back, with its key path for error messages.

    Parameters
    ----------
    data
        The decoded JSON value that should be an object.
    path
        Where it sits in the document, such as ``columns[2].numeric``.

    Example
    -------
    >>> fields = Fields({"count": 3, "mean": "NaN"}, "columns[0]")
    >>> fields.integer("count"), fields.real("mean")
    (3, nan)
    >>> fields.integer("missing")
    Traceback (most recent call last):
    ...
    tether.errors.FormatError: profile JSON: columns[0].missing is missing
    """

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise FormatError(f"profile JSON: {path} must be an object, got {_name(data)}")
        self.data: dict[str, Any] = data
        self.path = path

    def _raw(self, key: str) -> Any:
        if key not in self.data:
            raise FormatError(f"profile JSON: {self._at(key)} is missing")
        return self.data[key]

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def wrong(self, key: str, wanted: str) -> FormatError:
        value = self.data[key]
        return FormatError(
            f"profile JSON: {self._at(key)} must be {wanted}, got {_name(value)} {value!r:.60}"
        )

    def has(self, key: str) -> bool:
        """Whether ``key`` is present (and not null)."""
        return self.data.get(key) is not None

    def integer(self, key: str) -> int:
        """A non-negative integer (counts)."""
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.wrong(key, "a non-negative integer")
        return value

    def text(self, key: str) -> str:
        value = self._raw(key)
        if not isinstance(value, str):
            raise self.wrong(key, "a string")
        return value

    def real(self, key: str) -> float | None:
        """A float written by :func:`encode_float`; ``None`` for null."""
        return self._float(self._at(key), self._raw(key))

    def number(self, key: str) -> int | float | None:
        """An int kept as int (exact integer and datetime extremes), a float as float."""
        value = self._raw(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return self._float(self._at(key), value)

    def reals(self, key: str) -> list[float]:
        """A list of floats, none of them null (histogram edges)."""
        values = self._raw(key)
        if not isinstance(values, list):
            raise self.wrong(key, "a list of numbers")
        result = []
        for i, value in enumerate(values):
            number = self._float(f"{self._at(key)}[{i}]", value)
            if number is None:
                raise FormatError(f"profile JSON: {self._at(key)}[{i}] must be a number, got null")
            result.append(number)
        return result

    @staticmethod
    def _float(where: str, value: object) -> float | None:
        if value is None:
            return None
        if isinstance(value, str) and value in _NON_FINITE:
            return _NON_FINITE[value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FormatError(
                f"profile JSON: {where} must be a number, 'NaN', 'Infinity', '-Infinity' or null, "
                f"got {_name(value)} {value!r:.60}"
            )
        return float(value)

    def integers(self, key: str) -> list[int]:
        """A list of non-negative integers (histogram counts)."""
        values = self._raw(key)
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise self.wrong(key, "a list of non-negative integers")
        return values

    def counts(self, key: str) -> dict[str, int]:
        """An object mapping each value to its count."""
        values = self._raw(key)
        if not isinstance(values, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values.values()
        ):
            raise self.wrong(key, "an object of value -> non-negative integer count")
        return values

    def child(self, key: str) -> Fields:
        return Fields(self._raw(key), self._at(key))

    def children(self, key: str) -> list[Fields]:
        values = self._raw(key)
        if not isinstance(values, list):
            raise self.wrong(key, "a list of objects")
        return [Fields(value, f"{self._at(key)}[{i}]") for i, value in enumerate(values)]

    def sketch_bytes(self, key: str) -> bytes:
        """The native bytes of a sketch, from their base64 text."""
        try:
            return base64.b64decode(self.text(key), validate=True)
        except binascii.Error as exc:
            raise FormatError(f"profile JSON: {self._at(key)} is not valid base64 ({exc})") from exc

    def sketch(self, key: str, deserialize: Callable[[bytes], Sketch]) -> Sketch:
        """A sketch from its base64 native bytes."""
        raw = self.sketch_bytes(key)
        try:
            return deserialize(raw)
        except (ValueError, RuntimeError) as exc:
            raise FormatError(
                f"profile JSON: {self._at(key)} is not a valid serialized sketch ({exc})"
            ) from exc


def _name(value: object) -> str:
    return "null" if value is None else type(value).__name__
