"""Contract YAML text: written for people to read and edit, read back with clear errors.

The file is block-style YAML in a fixed key order: the format header, ``strict``, then one
mapping per column in data order. Strings that YAML would read as something else (``yes``,
``null``, ``2024-01-01``) are quoted, so a round trip gives back exactly what was written.

>>> print(dump({"format": "tether-contract", "columns": {"x": {"dtype": "int64"}}}), end="")
format: tether-contract
columns:
  x:
    dtype: int64
>>> load("columns: [1, 2")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tether.errors.ContractError: contract YAML is not valid at line 1, column 15: expected ',' or ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tether.errors import ContractError, InputError


def dump(data: dict[str, Any]) -> str:
    """YAML text of a contract dict, keys in the order given."""
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


def load(text: str) -> Any:
    """The parsed YAML ``text``; a syntax error becomes a :class:`ContractError` with its place."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ContractError(f"contract YAML is not valid{where}: {problem}") from exc


def read_text(text_or_path: str | os.PathLike[str]) -> str:
    """The YAML text itself, or the content of the file it names.

    A string is taken as a path when it is one line ending in ``.yaml``/``.yml`` or names an
    existing file; anything else is taken as YAML text.
    """
    if isinstance(text_or_path, str) and "\n" not in text_or_path:
        looks_like_path = text_or_path.endswith((".yaml", ".yml")) or Path(text_or_path).is_file()
    else:
        looks_like_path = not isinstance(text_or_path, str)
    if not looks_like_path:
        return str(text_or_path)
    path = Path(text_or_path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the contract ({exc.strerror})") from exc


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write ``text`` to ``path``."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write the contract ({exc.strerror})") from exc
