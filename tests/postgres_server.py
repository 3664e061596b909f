"""A throwaway PostgreSQL server for tests, started from the Debian binaries on this machine.

``running_postgres()`` runs ``initdb`` in a fresh temporary folder, starts a server listening only
on 127.0.0.1 on a free port (its unix socket inside the folder, trust authentication, ``fsync=on``
so durability tests mean something), creates a database, yields its URL and, whatever happens,
stops the server (``pg_ctl stop -m fast``) and deletes the folder. PostgreSQL refuses to run as
root, so as root the binaries run as the ``postgres`` system user. Each pytest-xdist worker that
asks for one gets its own server. Use it from a session-scoped fixture::

    @pytest.fixture(scope="session")
    def postgres_url():
        try:
            with running_postgres() as url:
                yield url
        except PostgresUnavailable as exc:
            pytest.fail(str(exc))
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

BIN_GLOB = "/usr/lib/postgresql/*/bin"
NEEDED = ("initdb", "pg_ctl", "postgres")
SERVICE_USER = "postgres"
MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in "
    f"{BIN_GLOB} or on PATH; `make test` installs them (Debian package `postgresql`), or run "
    "`apt-get install -y postgresql`"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says how to get one."""


def find_binaries() -> Path:
    """The folder of the newest PostgreSQL server binaries on this machine."""
    folders = [Path(p) for p in glob.glob(BIN_GLOB) if _complete(Path(p))]
    if folders:
        return max(folders, key=lambda p: _major(p.parent.name))
    on_path = shutil.which("pg_ctl")
    if on_path and _complete(Path(on_path).parent):
        return Path(on_path).parent
    raise PostgresUnavailable(MISSING)


@contextlib.contextmanager
def running_postgres(*, database: str = "tether", timeout: float = 60.0) -> Iterator[str]:
    """Start a throwaway server, yield ``postgresql://postgres@127.0.0.1:<port>/<database>``,
    then stop it and delete its folder."""
    binaries = find_binaries()
    folder = Path(tempfile.mkdtemp(prefix="tether-pg-"))
    data = folder / "data"
    prefix = _as_service_user(folder)
    try:
        initdb = [binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust"]
        _run([*prefix, *initdb, "--encoding=UTF8", "--locale=C", "--no-sync"], timeout)
        for attempt in range(3):  # another process may take the free port before the server does
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={port} "
                f"-c unix_socket_directories={folder} -c fsync=on -c max_connections=40"
            )
            start = ["-l", folder / "server.log", "-o", options, "-w", "-t", str(int(timeout))]
            try:
                _run([*prefix, binaries / "pg_ctl", "-D", data, *start, "start"], timeout + 10)
            except PostgresUnavailable:
                if attempt == 2:
                    raise
                continue
            break
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        yield create_database(url, database)
    finally:
        if (data / "postmaster.pid").exists():  # also a server pg_ctl gave up waiting for
            _stop(prefix, binaries, data, timeout)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url``; return its URL."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _stop(prefix: list[str], binaries: Path, data: Path, timeout: float) -> None:
    try:
        _run([*prefix, binaries / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t",
              str(int(timeout)), "stop"], timeout + 10)  # fmt: skip
    except PostgresUnavailable:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)


def _as_service_user(folder: Path) -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVICE_USER!r} user to run PostgreSQL as; "
            "`make test` installs the Debian package `postgresql`, which creates it"
        ) from None
    os.chown(folder, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", SERVICE_USER, "--"]


def _run(command: list[object], timeout: float) -> None:
    args = [str(part) for part in command]
    try:
        done = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{Path(args[-1]).name}: {exc}") from exc
    if done.returncode != 0:
        log = Path(args[args.index("-l") + 1]) if "-l" in args else None
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise PostgresUnavailable(
            f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()} {tail}".strip()
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _complete(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in NEEDED)


def _major(version: str) -> int:
    return int(version) if version.isdigit() else -1
