"""The few file operations the registry's guarantees rest on, atomic where the file system allows.

On a local disk a file is replaced with ``os.replace`` and a folder is published with
``os.rename``, both atomic: a reader sees the old state or the new one, never a half-written file
or folder. Alias changes hold a ``filelock.FileLock`` (released by the OS if its process dies).

Object stores (``s3://``, ``gs://``, ``memory://`` ...) have no rename and no lock. There a single
object write is atomic, so alias files and audit events are never seen half-written; a bundle is
written in place with its manifest last, and a version counts as stored only once its manifest
exists; concurrent alias changes are last writer wins.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterator

import filelock
import fsspec
from fsspec.implementations.local import LocalFileSystem

from tether.errors import TetherError

LOCK_TIMEOUT = 120.0
STAGING_PREFIX = ".tmp-"


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is the local disk, where renames are atomic and file locks exist."""
    return isinstance(fs, LocalFileSystem)


def put(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the whole file or none of it.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> fs = LocalFileSystem()
    >>> put(fs, f"{folder}/a/alias.json", b"{}")
    >>> fs.cat_file(f"{folder}/a/alias.json"), len(fs.ls(f"{folder}/a"))  # no staging file left
    (b'{}', 1)
    """
    parent = posixpath.dirname(path)
    fs.makedirs(parent, exist_ok=True)
    if not is_local(fs):
        fs.pipe_file(path, data)
        return
    staging = _staging_name(parent)
    try:
        with open(staging, "wb") as handle:
            handle.write(data)
            handle.flush()
            # On disk before the rename, so a crash cannot leave an empty alias or event file.
            os.fsync(handle.fileno())
        os.replace(staging, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(staging)


@contextlib.contextmanager
def staged(parent: str) -> Iterator[str]:
    """A fresh local folder path under ``parent`` to build content in before :func:`publish`;
    whatever is left of it afterwards is removed."""
    path = _staging_name(parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def publish(staging: str, target: str) -> bool:
    """Rename the local folder ``staging`` to ``target`` atomically; False when ``target``
    already exists, so a stored folder is never overwritten."""
    try:
        os.rename(staging, target)
    except OSError as exc:
        # POSIX refuses to rename onto a non-empty folder with ENOTEMPTY or EEXIST; Windows
        # refuses any existing target. Either way another writer got there first.
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not os.path.isdir(target):
            raise
        return False
    return True


def remove_folder(fs: fsspec.AbstractFileSystem, path: str, first: str) -> None:
    """Remove the folder ``path`` so that it disappears for readers at once.

    On a local disk the folder is first renamed to a staging name beside it; elsewhere the file
    ``first`` (the one whose presence makes the folder count) is removed before the rest.
    """
    if is_local(fs):
        doomed = _staging_name(posixpath.dirname(path))
        os.rename(path, doomed)
        shutil.rmtree(doomed)
        return
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(posixpath.join(path, first))
    with contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


@contextlib.contextmanager
def locked(fs: fsspec.AbstractFileSystem, folder: str) -> Iterator[None]:
    """Hold the lock of ``folder`` (``<folder>/.lock``) on a local disk; elsewhere do nothing."""
    if not is_local(fs):
        yield
        return
    fs.makedirs(folder, exist_ok=True)
    lock = filelock.FileLock(posixpath.join(folder, ".lock"), timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise TetherError(
            f"{folder} is locked by another process for over {LOCK_TIMEOUT:.0f} s; retry later"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _staging_name(parent: str) -> str:
    return posixpath.join(parent, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
