"""Structured logging of the server: one JSON object per line through the standard ``logging``."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOGGER = logging.getLogger("tether.serve")
"""The server's logger: one ``request`` line per request, warnings and errors with a request id."""


class JSONFormatter(logging.Formatter):
    """Formats a record as one JSON object: ``time``, ``level``, ``logger``, ``message`` and the
    fields passed in ``extra={"fields": {...}}``, plus ``error`` with the traceback if any.

    Example
    -------
    >>> record = logging.LogRecord("tether.serve", logging.INFO, "", 0, "request", None, None)
    >>> record.fields = {"status": 200}
    >>> line = json.loads(JSONFormatter().format(record))
    >>> line["message"], line["status"]
    ('request', 200)
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= getattr(record, "fields", {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def log(level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` on the server's logger."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, message, extra={"fields": fields})


def configure(level: str | int = "INFO") -> None:
    """Send the server's log lines, as JSON, to standard error (for ``run``; an embedding
    application configures logging itself)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False
