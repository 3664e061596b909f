"""Lineage of a model: the code, data, environment and training run that produced it.

Every function returns plain JSON values with keys in a fixed order, so a bundle can store them
in ``lineage.json`` and a later audit can compare them field by field. Nothing secret is
recorded: no environment variables, and git remote URLs lose their user names, passwords,
tokens and query strings.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import importlib.metadata
import os
import platform
import re
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import polars as pl

from tether.bundle.reproducibility import seed_everything
from tether.errors import InputError
from tether.frame import Data, content_hash, read

GIT_TIMEOUT_S = 60.0
"""Longest wait for one git command; a hung git (network file system, lock) gives up, not hangs."""

_WORKTREE_HASH_FORMAT = b"tether-git-worktree-v1\0"

# Pinned so that the diff bytes depend on the work tree only, not on the user's git config
# (colour, external diff drivers, rename detection, prefixes, abbreviated blob ids).
_DIFF_ARGS = (
    "diff",
    "HEAD",
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--full-index",
    "--unified=3",
    "--diff-algorithm=myers",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


def git_lineage(path: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """The commit and uncommitted state of the git work tree that contains ``path``.

    Returns ``{"available": True, "commit", "branch", "dirty", "diff_hash", "untracked",
    "remote", "root"}``. ``branch`` is None on a detached HEAD. The tree is ``dirty`` when a
    tracked file differs from ``HEAD`` (staged or not) or an untracked, non-ignored file exists;
    ``diff_hash`` is then ``"sha256:<hex>"`` over ``git diff HEAD --binary`` (its output options
    pinned, so user git config does not change it) and every untracked file's path and content,
    in sorted path order, each part length-prefixed or a fixed-size digest. The same uncommitted
    state always gives the same hash and any change to it changes the hash; staging a
    modification does not, but ``git add`` of a new file does (it moves from the untracked
    files into the diff). ``remote`` is the ``origin`` URL without credentials, or None.

    When no lineage can be recorded (not a git work tree, git not installed, a repository with
    no commits, git too slow), it returns ``{"available": False, "reason": "..."}`` and never
    raises: a model trained outside git is still a model.

    Parameters
    ----------
    path
        A file or folder inside the work tree (default: the current directory).

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     git_lineage(folder)["available"]
    False
    """
    start = Path(path).resolve()
    if not start.exists():
        return _unavailable(f"{start}: no such file or directory")
    folder = start if start.is_dir() else start.parent
    try:
        return _git_state(folder)
    except _GitUnavailableError as exc:
        return _unavailable(str(exc))


def data_lineage(frame: Data, *, time_column: str | None = None) -> dict[str, Any]:
    """Fingerprint of a training table: content hash, size, schema and time span.

    Returns ``{"hash", "rows", "columns", "schema", "time_min", "time_max"}``: ``hash`` is
    :func:`tether.frame.content_hash`, ``schema`` maps each column (in table order) to its polars
    type, and ``time_min``/``time_max`` are ISO 8601 strings of the earliest and latest value of
    ``time_column`` (None without one, or when it holds only nulls).

    Parameters
    ----------
    frame
        Anything :func:`tether.frame.read` accepts.
    time_column
        A date or datetime column whose span is recorded.

    Example
    -------
    >>> frame = pl.DataFrame({"day": [dt.date(2024, 1, 2), dt.date(2024, 1, 1)], "x": [1, 2]})
    >>> record = data_lineage(frame, time_column="day")
    >>> record["rows"], record["schema"], record["time_min"], record["time_max"]
    (2, {'day': 'Date', 'x': 'Int64'}, '2024-01-01', '2024-01-02')
    """
    frame = read(frame)
    time_min = time_max = None
    if time_column is not None:
        if time_column not in frame.columns:
            raise InputError(
                f"time_column {time_column!r} is not in the data (it has {frame.columns})"
            )
        column = frame.get_column(time_column)
        if not isinstance(column.dtype, pl.Date | pl.Datetime):
            raise InputError(
                f"time_column {time_column!r} has type {column.dtype}; it must be a date or "
                "datetime column"
            )
        low, high = column.min(), column.max()
        time_min = None if low is None else low.isoformat()  # type: ignore[union-attr]
        time_max = None if high is None else high.isoformat()  # type: ignore[union-attr]
    return {
        "hash": content_hash(frame),
        "rows": frame.height,
        "columns": frame.columns,
        "schema": {name: str(dtype) for name, dtype in frame.schema.items()},
        "time_min": time_min,
        "time_max": time_max,
    }


def environment() -> dict[str, Any]:
    """The Python, installed packages, operating system and machine this process runs on.

    Returns ``{"python", "implementation", "packages", "os", "system", "release", "machine",
    "cpu", "cpu_count", "hostname", "user"}``. ``packages`` maps every installed distribution's
    name, normalized as in PEP 503 and sorted, to its version; when one is installed twice, the
    copy found first on ``sys.path`` (the one ``import`` loads) wins. ``cpu`` is the model name
    from ``/proc/cpuinfo`` on Linux, else :func:`platform.processor` (None when both are empty).
    ``user`` is None when the login name cannot be found (a container user with no passwd
    entry).

    Example
    -------
    >>> record = environment()
    >>> record["python"] == platform.python_version(), "numpy" in record["packages"]
    (True, True)
    """
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": _installed_packages(),
        "os": platform.platform(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "user": current_user(),
    }


_COMPARED_FIELDS = ("python", "os", "cpu", "machine")


def environment_diff(recorded: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between two :func:`environment` records, the fields a result depends on.

    Returns one ``{"field", "recorded", "current"}`` per difference: ``python``, ``os``, ``cpu``
    and ``machine`` first, then ``packages.<name>`` sorted by name, with None on the side where a
    package is not installed. Matching fields are left out, so an empty list means the same
    environment. Host name, user and CPU count are not compared: they do not change results.

    Parameters
    ----------
    recorded
        The environment stored with the model.
    current
        The environment now, usually :func:`environment`.

    Example
    -------
    >>> old = {"python": "3.11.7", "packages": {"numpy": "1.26.4", "six": "1.16.0"}}
    >>> new = {"python": "3.11.7", "packages": {"numpy": "2.1.0", "polars": "1.30.0"}}
    >>> for change in environment_diff(old, new):
    ...     print(change)
    {'field': 'packages.numpy', 'recorded': '1.26.4', 'current': '2.1.0'}
    {'field': 'packages.polars', 'recorded': None, 'current': '1.30.0'}
    {'field': 'packages.six', 'recorded': '1.16.0', 'current': None}
    """
    changes = [
        {"field": field, "recorded": recorded.get(field), "current": current.get(field)}
        for field in _COMPARED_FIELDS
        if recorded.get(field) != current.get(field)
    ]
    old = _packages_of(recorded, "recorded")
    new = _packages_of(current, "current")
    changes += [
        {"field": f"packages.{name}", "recorded": old.get(name), "current": new.get(name)}
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    return changes


class TrainingRun:
    """Context manager around the training call: when it ran, how long, and with which seed.

    On entering, it calls :func:`~tether.bundle.reproducibility.seed_everything` when a seed is
    given; on leaving (also when training raised, which it does not suppress) it records the end.
    :meth:`to_dict` then returns ``{"started", "ended", "duration_s", "seed", "seeding"}``:
    UTC ISO 8601 times with their ``+00:00`` offset, the duration from a monotonic clock (the
    wall clock may jump), and what ``seed_everything`` did per library (None without a seed).

    Parameters
    ----------
    seed
        Seed for every global random number generator, or None to leave them alone.

    Example
    -------
    >>> import random
    >>> with TrainingRun(seed=7) as run:
    ...     draw = random.random()
    >>> record = run.to_dict()
    >>> record["seed"], round(draw, 4), record["duration_s"] >= 0
    (7, 0.3238, True)
    >>> record["started"].endswith("+00:00")
    True
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = seed
        self._started: dt.datetime | None = None
        self._ended: dt.datetime | None = None
        self._clock_start = 0.0
        self._duration_s = 0.0
        self._seeding: dict[str, str] | None = None

    def __enter__(self) -> TrainingRun:
        self._seeding = None if self.seed is None else seed_everything(self.seed)
        self._ended = None
        self._started = dt.datetime.now(dt.UTC)
        self._clock_start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._duration_s = time.perf_counter() - self._clock_start
        self._ended = dt.datetime.now(dt.UTC)

    def to_dict(self) -> dict[str, Any]:
        """The run record; only after the ``with`` block has ended."""
        if self._started is None or self._ended is None:
            raise InputError(
                "TrainingRun.to_dict() was called before the run ended: call it after the "
                "`with TrainingRun(...)` block"
            )
        return {
            "started": self._started.isoformat(),
            "ended": self._ended.isoformat(),
            "duration_s": self._duration_s,
            "seed": self.seed,
            "seeding": self._seeding,
        }


class _GitUnavailableError(Exception):
    """Why no git lineage can be recorded; becomes ``{"available": False, "reason": ...}``."""


def _unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason}


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    # --no-optional-locks: never take index.lock, which would race the user's own git commands.
    try:
        return subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT_S,
        )
    except FileNotFoundError as exc:
        raise _GitUnavailableError("git is not installed: no git executable on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise _GitUnavailableError(
            f"git {args[0]} did not finish within {GIT_TIMEOUT_S:.0f} s in {cwd}"
        ) from exc
    except OSError as exc:
        raise _GitUnavailableError(f"git could not be run in {cwd} ({exc})") from exc


def _git_text(cwd: Path, *args: str, failure: str) -> str:
    done = _git(cwd, *args)
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise _GitUnavailableError(f"{failure} ({detail[0]})" if detail else failure)
    return os.fsdecode(done.stdout).strip()


def _git_state(folder: Path) -> dict[str, Any]:
    root = Path(
        _git_text(folder, "rev-parse", "--show-toplevel", failure=f"{folder} is not in a git tree")
    )
    no_commits = f"git repository {root} has no commits"
    commit = _git_text(root, "rev-parse", "--verify", "HEAD^{commit}", failure=no_commits)
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    remote = _git(root, "remote", "get-url", "origin")
    diff = _git(root, *_DIFF_ARGS)
    if diff.returncode != 0:
        raise _GitUnavailableError(f"git diff failed in {root}")
    listed = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    if listed.returncode != 0:
        raise _GitUnavailableError(f"git ls-files failed in {root}")
    untracked = sorted(name for name in listed.stdout.split(b"\0") if name)
    dirty = bool(diff.stdout) or bool(untracked)
    return {
        "available": True,
        "commit": commit,
        "branch": os.fsdecode(branch.stdout).strip() if branch.returncode == 0 else None,
        "dirty": dirty,
        "diff_hash": _worktree_hash(root, diff.stdout, untracked) if dirty else None,
        "untracked": len(untracked),
        "remote": _sanitized_url(os.fsdecode(remote.stdout).strip())
        if remote.returncode == 0
        else None,
        "root": str(root),
    }


def _worktree_hash(root: Path, diff: bytes, untracked: list[bytes]) -> str:
    total = hashlib.sha256(_WORKTREE_HASH_FORMAT)
    total.update(struct.pack("<Q", len(diff)) + diff)
    total.update(struct.pack("<Q", len(untracked)))
    for name in untracked:
        total.update(struct.pack("<Q", len(name)) + name)
        total.update(_entry_digest(root / os.fsdecode(name)))
    return "sha256:" + total.hexdigest()


def _entry_digest(path: Path) -> bytes:
    """A kind byte and a SHA-256 of one untracked entry, read in chunks so size does not matter."""
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            return b"l" + hashlib.sha256(os.fsencode(os.readlink(path))).digest()
        if stat.S_ISDIR(mode):
            # git lists a nested repository as one folder; its own commit is out of our reach.
            return b"d" + hashlib.sha256().digest()
        with path.open("rb") as handle:
            return b"f" + hashlib.file_digest(handle, "sha256").digest()
    except OSError as exc:
        # Unreadable now: still counted, and told apart from any content it could have had.
        return b"e" + hashlib.sha256(type(exc).__name__.encode()).digest()


def _sanitized_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        # scp-style user@host:path or a local path: no password or token can be in it.
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _installed_packages() -> dict[str, str]:
    packages: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), distribution.version)
    return dict(sorted(packages.items()))


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def current_user() -> str | None:
    """The login name of the user running this process, or None where there is none (some
    containers run as a uid without a passwd entry)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None


def _packages_of(record: dict[str, Any], side: str) -> dict[str, Any]:
    packages = record.get("packages", {})
    if not isinstance(packages, dict):
        raise InputError(
            f"{side} environment has packages of type {type(packages).__name__}; it must be a "
            "dict of name -> version"
        )
    return packages
