"""Errors a user can act on.

Every error tether raises on purpose is a :class:`TetherError`. Its message is one line that says
what was wrong and what to do; the CLI prints it without a traceback and exits with status 2.
"""

from __future__ import annotations


class TetherError(Exception):
    """Base class of every error tether raises on purpose."""


class InputError(TetherError):
    """Data that cannot be read or used: unknown type, missing file, unsupported column type."""


class FormatError(TetherError):
    """A serialized tether artifact (profile JSON, contract YAML) that is corrupt or unreadable."""


class UnsupportedVersionError(FormatError):
    """A serialized artifact written by a newer tether, with a format this version cannot read."""


class ContractError(FormatError):
    """A contract that is malformed: the message names the key path and what is wrong with it."""


class ValidationError(TetherError):
    """A record or frame that breaks its contract, raised only where the caller asked for it.

    ``problems`` holds one dict per broken rule: ``column``, ``value``, ``rule``, ``message``.
    """

    def __init__(self, message: str, problems: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
