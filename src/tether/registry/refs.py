"""Names, aliases and the refs that point at a stored version.

A ref is ``"name@selector"``: the selector is a version (or a unique prefix of at least
:data:`MIN_PREFIX` hex characters) or an alias; ``"name"`` alone means ``"name@champion"``. Names
and aliases follow :data:`NAME_RULE` so they are safe as folder and file names on every file
system and object store. An alias made only of hex digits could be read as a version prefix, so
such aliases of :data:`MIN_PREFIX` characters or more are refused: a ref never means two things.
"""

from __future__ import annotations

import re

from tether.errors import InputError

NAME_RULE = "[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
MIN_PREFIX = 6
DEFAULT_ALIAS = "champion"

_NAME = re.compile(NAME_RULE)
_VERSION_PREFIX = re.compile(f"[0-9a-fA-F]{{{MIN_PREFIX},}}")


def check_name(value: object, kind: str = "name") -> str:
    """``value`` when it is a valid registry name, else :class:`~tether.errors.InputError`.

    Parameters
    ----------
    value
        The candidate name.
    kind
        What the value is, for the message (``"name"``, ``"alias"``).

    Example
    -------
    >>> check_name("late-arrival")
    'late-arrival'
    >>> check_name("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tether.errors.InputError: name '../etc' is invalid: it must match [A-Za-z0-9][A-Za-z0-9._-]...
    """
    if not isinstance(value, str) or not is_name(value):
        raise InputError(f"{kind} {value!r} is invalid: it must match {NAME_RULE}")
    return value


def is_name(value: str) -> bool:
    """Whether ``value`` follows :data:`NAME_RULE`."""
    return _NAME.fullmatch(value) is not None


def check_alias(value: object) -> str:
    """``value`` when it is a valid alias: a valid name that cannot be read as a version prefix.

    Example
    -------
    >>> check_alias("challenger")
    'challenger'
    >>> check_alias("cafe42")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tether.errors.InputError: alias 'cafe42' is invalid: 6 or more hex digits read as a version...
    """
    alias = check_name(value, "alias")
    if is_version_prefix(alias):
        raise InputError(
            f"alias {alias!r} is invalid: {MIN_PREFIX} or more hex digits read as a version prefix"
        )
    return alias


def is_version_prefix(selector: str) -> bool:
    """Whether the selector of a ref names a version (hex, at least :data:`MIN_PREFIX` long).

    Example
    -------
    >>> is_version_prefix("3f9a0c"), is_version_prefix("champion"), is_version_prefix("3f9a")
    (True, False, False)
    """
    return _VERSION_PREFIX.fullmatch(selector) is not None


def parse_ref(ref: object) -> tuple[str, str]:
    """Split a ref into ``(name, selector)``; the selector is a version prefix or an alias.

    Example
    -------
    >>> parse_ref("late-arrival@challenger"), parse_ref("late-arrival")
    (('late-arrival', 'challenger'), ('late-arrival', 'champion'))
    >>> parse_ref("late-arrival@3F9A0C")
    ('late-arrival', '3f9a0c')
    """
    if not isinstance(ref, str):
        raise InputError(f"ref {ref!r} is invalid: it must be a string 'name' or 'name@version'")
    name, _, selector = ref.partition("@")
    check_name(name)
    if not selector:
        return name, DEFAULT_ALIAS
    if is_version_prefix(selector):
        return name, selector.lower()
    return name, check_name(selector, "alias")
