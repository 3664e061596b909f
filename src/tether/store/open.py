"""Open the prediction store a URL, a path or the environment names."""

from __future__ import annotations

import os
from pathlib import Path

from tether.errors import InputError
from tether.store.base import PredictionStore

DEFAULT_FILE = "tether.db"


def open_store(url: str | os.PathLike[str] | None = None) -> PredictionStore:
    """The prediction store at ``url``, created and migrated as needed.

    Parameters
    ----------
    url
        ``sqlite:///abs/path.db`` or a plain file path: SQLite (the folder is created);
        ``postgresql://user@host:port/db`` (or ``postgres://``): PostgreSQL. When None, the
        environment variable ``TETHER_DB_URL``, else SQLite at ``$TETHER_HOME/tether.db``
        (``TETHER_HOME`` defaulting to ``~/.tether``).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> store = open_store(f"sqlite://{folder}/a/log.db")
    >>> store.url == f"sqlite://{folder}/a/log.db", type(store).__name__
    (True, 'SQLiteStore')
    >>> store.close()
    """
    if url is None:
        url = os.environ.get("TETHER_DB_URL") or str(
            Path(os.environ.get("TETHER_HOME") or "~/.tether").expanduser() / DEFAULT_FILE
        )
    text = os.fspath(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        from tether.store.postgres import PostgresStore

        return PostgresStore(text)
    from tether.store.sqlite import SQLiteStore

    if scheme == "sqlite":
        path = text[len("sqlite://") :]
        if not path.startswith("/"):
            raise InputError(
                f"store URL {text!r} has no absolute path; write sqlite:///abs/path.db "
                "(three slashes) or pass a plain file path"
            )
        return SQLiteStore("/" + path.lstrip("/"))  # sqlite:////abs (SQLAlchemy's form) too
    if scheme:
        raise InputError(
            f"store URL {text!r} has scheme {scheme!r}; use sqlite:///path, postgresql://... "
            "or a file path"
        )
    if not text:
        raise InputError("store URL '' is empty; pass a file path or a database URL")
    return SQLiteStore(text)
