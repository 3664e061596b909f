"""Open the prediction store a URL, a path or the environment names."""

from __future__ import annotations

import os
import urllib.parse
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
        ``sqlite:///abs/path.db?synchronous=normal`` trades durability on power loss for
        commits without a disk flush (see :class:`~tether.store.sqlite.SQLiteStore`);
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
        path, _, query = text[len("sqlite://") :].partition("?")
        if not path.startswith("/"):
            raise InputError(
                f"store URL {text!r} has no absolute path; write sqlite:///abs/path.db "
                "(three slashes) or pass a plain file path"
            )
        # sqlite:////abs (SQLAlchemy's form) too
        return SQLiteStore("/" + path.lstrip("/"), synchronous=_synchronous(text, query))
    if scheme:
        raise InputError(
            f"store URL {text!r} has scheme {scheme!r}; use sqlite:///path, postgresql://... "
            "or a file path"
        )
    if not text:
        raise InputError("store URL '' is empty; pass a file path or a database URL")
    return SQLiteStore(text)


def _synchronous(url: str, query: str) -> str:
    """The ``synchronous`` setting a SQLite URL's query names (its only parameter), else full."""
    from tether.store.sqlite import SYNCHRONOUS

    synchronous = "full"
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name != "synchronous":
            raise InputError(
                f"store URL {url!r}: parameter {name!r} is unknown; SQLite takes synchronous"
            )
        if value.lower() not in SYNCHRONOUS:
            raise InputError(
                f"store URL {url!r}: parameter synchronous={value!r} is not one of "
                f"{', '.join(SYNCHRONOUS)}"
            )
        synchronous = value.lower()
    return synchronous
