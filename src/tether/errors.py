"""Errors a user can act on.

Every error tether raises on purpose is a :class:`TetherError`. Its message is one line that says
what was wrong and what to do; the CLI prints it without a traceback and exits with status 2.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for wrapping a
    library's error into a one-line tether message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


class IntegrityError(FormatError):
    """A stored artifact whose bytes do not match its recorded checksums: tampered or truncated."""


class UntrustedArtifactError(TetherError):
    """An artifact that could only be loaded by running arbitrary code (pickle, unknown types).

    It is refused unless the caller passes ``trusted=True`` for a file it knows the origin of.
    """
