"""The model registry: immutable bundle versions by name, movable aliases, an append-only audit.

A registry is a folder on a local disk (default ``$TETHER_HOME/registry``, ``TETHER_HOME``
defaulting to ``~/.tether``) or under any fsspec URL (``file://``, ``memory://``, ``s3://`` ...)::

    <root>/<name>/versions/<version>/        a stored bundle (tether.bundle.layout), never rewritten
    <root>/<name>/aliases/<alias>.json       {"version", "set_at", "set_by", "reason"}
    <root>/<name>/audit/<UTC time>-<rnd>.json  one event per file: push, alias, rollback, delete
    <root>/<name>/.lock                      local disks only: serializes alias changes and events
    <root>/<name>/.tmp-<uuid>/               local disks only: a push being staged

A version is the SHA-256 of the bundle's manifest, so pushing the same content twice stores it
once, and a stored version can be checked byte for byte on every load. The audit log is
append-only by construction: each event is a new file and no file is ever rewritten, which also
works on object stores that cannot append. Events of alias changes and deletes are written before
the change, so a crash may leave an event for a change that did not land but never a change
without its event.

Concurrency. On a local disk a push is staged in ``.tmp-<uuid>`` and renamed into ``versions/``
atomically: of two processes pushing the same new content, one rename wins and records the push,
the other finds the version stored and returns it. Alias changes, rollbacks, deletes and the
recording of events hold ``<root>/<name>/.lock``, so each alias change sees the one before it and
events are numbered in the order they happened. On other file systems there is no rename and no
lock: a bundle is written in place with its manifest last and counts as stored only once the
manifest exists (readers verify every file), pushing is idempotent because the content is the
address, alias files and events are single-object writes, and concurrent alias changes are last
writer wins (two simultaneous pushes of the same new bundle may both record a push event).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import fsspec

from tether.bundle import layout
from tether.bundle.lineage import current_user
from tether.errors import FormatError, InputError, IntegrityError
from tether.registry import storage

if TYPE_CHECKING:
    from tether.bundle.bundle import Bundle

from tether.registry.refs import (
    DEFAULT_ALIAS,
    MIN_PREFIX,
    check_alias,
    check_name,
    is_name,
    is_version_prefix,
    parse_ref,
)

_VERSION = re.compile("[0-9a-f]{64}")
_STAMP = "%Y%m%dT%H%M%S"


class StoredBundle(Protocol):
    """What :meth:`Registry.push` needs of a bundle: its files and canonical manifest bytes."""

    def stored(self) -> tuple[dict[str, bytes], bytes]: ...


class Registry:
    """Named, immutable, content-addressed bundle versions with aliases and an audit log.

    ``push`` stores a bundle under a name and returns its version; ``set_alias`` points an alias
    (``champion``, ``challenger`` ...) at a version; ``load("name@alias")`` gives the bundle back,
    verified byte for byte. See the module docstring for the layout and concurrency guarantees.

    Parameters
    ----------
    root
        Local folder or fsspec URL; default ``$TETHER_HOME/registry`` (``~/.tether/registry``).
    storage_options
        Passed to the fsspec file system (credentials, endpoint ...).

    Example
    -------
    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> def stand_in(text):  # anything with stored() can be pushed; normally a Bundle
    ...     files = {"model.txt": text.encode()}
    ...     return SimpleNamespace(stored=lambda: (files, layout.encode_manifest(files, {})))
    >>> registry = Registry(tempfile.mkdtemp())
    >>> v1 = registry.push(stand_in("one"), "late-arrival", by="ana")
    >>> v2 = registry.push(stand_in("two"), "late-arrival", by="ana")
    >>> registry.push(stand_in("one"), "late-arrival") == v1  # same content, same version
    True
    >>> _ = registry.set_alias("late-arrival", "champion", v1, by="ana")
    >>> _ = registry.set_alias("late-arrival", "champion", v2[:8], by="ana", reason="better AUC")
    >>> registry.rollback("late-arrival", by="bo", reason="latency regression") == v1
    True
    >>> registry.resolve("late-arrival") == ("late-arrival", v1)
    True
    >>> [event["event"] for event in registry.audit("late-arrival")]
    ['push', 'push', 'alias', 'alias', 'rollback']
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if root is None:
            root = Path(os.environ.get("TETHER_HOME", "~/.tether")).expanduser() / "registry"
        self.root = os.fspath(root)
        self._fs, path = fsspec.core.url_to_fs(self.root, **(storage_options or {}))
        self._path = path.rstrip("/")

    def __repr__(self) -> str:
        return f"Registry({self.root!r})"

    # -- reading -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The model names in the registry, sorted."""
        try:
            entries = self._fs.ls(self._path, detail=True)
        except FileNotFoundError:
            return []
        folders = [
            posixpath.basename(e["name"].rstrip("/")) for e in entries if e["type"] == "directory"
        ]
        return sorted(folder for folder in folders if is_name(folder))

    def versions(self, name: str) -> list[dict[str, Any]]:
        """The stored versions of ``name``, oldest bundle first.

        Each is ``{"version", "created_at", "aliases"}``: ``created_at`` from the bundle's
        metadata (None when it has none), ``aliases`` the sorted aliases pointing at it.
        """
        self._require(name)
        stored = self._stored_versions(name)
        pointing = self._pointing(name)
        rows = [
            {
                "version": version,
                "created_at": manifest["metadata"].get("created_at"),
                "aliases": pointing.get(version, []),
            }
            for version, manifest in zip(stored, self._manifests(name, stored), strict=True)
        ]
        return sorted(rows, key=lambda row: (str(row["created_at"] or ""), row["version"]))

    def resolve(self, ref: str) -> tuple[str, str]:
        """``(name, version)`` of a ref: ``name@version``, ``name@<prefix>``, ``name@alias`` or
        ``name`` (its champion). Unknown or ambiguous refs raise InputError listing what exists."""
        name, selector = parse_ref(ref)
        self._require(name)
        if is_version_prefix(selector):
            return name, self._match(name, selector)
        aliases = self.aliases(name)
        if selector not in aliases:
            raise InputError(
                f"{name} has no alias {selector!r}; {self._alias_list(name)} "
                f"(a version prefix needs {MIN_PREFIX} or more hex digits)"
            )
        return name, aliases[selector]

    def show(self, ref: str) -> dict[str, Any]:
        """What is stored at ``ref``: ``{"name", "version", "aliases", "metadata", "files"}``,
        ``files`` mapping each path to its ``sha256`` and ``bytes``."""
        name, version = self.resolve(ref)
        (manifest,) = self._manifests(name, [version])
        return {
            "name": name,
            "version": version,
            "aliases": self._pointing(name).get(version, []),
            "metadata": manifest["metadata"],
            "files": manifest["files"],
        }

    def verify(self, ref: str) -> str:
        """Check every byte of the version at ``ref`` against its manifest and return the version;
        a tampered, truncated or extended bundle raises IntegrityError."""
        return self._read(ref)[2]

    def load(self, ref: str, *, trusted: bool = False) -> Bundle:
        """The bundle at ``ref``, verified byte for byte.

        ``trusted`` is passed to ``Bundle.from_stored``: whether a model file that needs code to
        load (pickle) may be loaded.
        """
        manifest, files, version = self._read(ref)
        from tether.bundle.bundle import Bundle  # the model libraries load only when needed

        return Bundle.from_stored(manifest, files, version, trusted=trusted)

    def aliases(self, name: str) -> dict[str, str]:
        """``{alias: version}`` for ``name``."""
        self._require(name)
        return {
            alias: record["version"]
            for alias, record in self._json_files(self._folder(name, "aliases"))
        }

    def audit(self, name: str | None = None) -> list[dict[str, Any]]:
        """The events of ``name`` (or of every name), oldest first.

        Every event has ``event`` (push, alias, rollback, delete), ``name``, ``at`` (UTC, ISO
        8601), ``by`` and ``reason``; push and delete add ``version``; alias and rollback add
        ``alias``, ``from`` (None for a new alias) and ``to``, and rollback ``undo`` (True when
        the target came from the history rather than ``to=``).
        """
        names = self.names() if name is None else [self._require(name)]
        events = [
            (stamp, event)
            for each in names
            for stamp, event in self._json_files(self._folder(each, "audit"))
        ]
        return [event for _, event in sorted(events, key=lambda pair: pair[0])]

    # -- writing -----------------------------------------------------------------------------

    def push(
        self, bundle: StoredBundle, name: str, *, by: str | None = None, reason: str = ""
    ) -> str:
        """Store ``bundle`` under ``name`` and return its version.

        Content already stored is not written again and records no event; a stored version is
        never overwritten.

        Parameters
        ----------
        bundle
            A :class:`~tether.bundle.bundle.Bundle` (anything with ``stored()``).
        name
            Model name, matching ``[A-Za-z0-9][A-Za-z0-9._-]{0,99}``.
        by
            Who pushes, for the audit log; default the OS user.
        reason
            Why, for the audit log.
        """
        check_name(name)
        files, manifest = bundle.stored()
        version = _checked_version(files, manifest)
        target = self._version_folder(name, version)
        if self._fs.exists(posixpath.join(target, layout.MANIFEST)):
            return version
        if storage.is_local(self._fs):
            with storage.staged(self._folder(name)) as staging:
                layout.write(self._fs, staging, files, manifest)
                self._fs.makedirs(self._folder(name, "versions"), exist_ok=True)
                if not storage.publish(staging, target):
                    return version
        else:
            layout.write(self._fs, target, files, manifest)
        with self._lock(name):
            self._record(name, "push", by, reason, version=version)
        return version

    def set_alias(
        self,
        name: str,
        alias: str,
        version_or_ref: str,
        *,
        by: str | None = None,
        reason: str = "",
    ) -> str:
        """Point ``alias`` of ``name`` at a version and return it.

        ``version_or_ref`` is a version, a unique prefix, another alias of ``name`` (promote the
        challenger: ``set_alias(name, "champion", "challenger")``) or a ref ``name@...``. Setting
        an alias to the version it already points at changes nothing and records nothing.
        """
        check_alias(alias)
        self._require(name)
        with self._lock(name):
            version = self._target(name, version_or_ref)
            previous = self.aliases(name).get(alias)
            if previous != version:
                self._move(name, alias, previous, version, "alias", by, reason)
        return version

    def rollback(
        self,
        name: str,
        alias: str = DEFAULT_ALIAS,
        *,
        to: str | None = None,
        by: str | None = None,
        reason: str,
    ) -> str:
        """Move ``alias`` back and return the version it now points at.

        Without ``to`` the alias goes back to the version it pointed at before its current one:
        rollbacks undo alias changes one at a time, so after v1 -> v2 -> v3 a rollback gives v2
        and a second one v1. With ``to`` (a version, prefix, alias or ref) it goes there.

        Parameters
        ----------
        name, alias
            Which alias to move.
        to
            Explicit target instead of the previous version.
        by
            Who rolls back; default the OS user.
        reason
            Why; required, it is what the audit log is for.
        """
        check_alias(alias)
        self._require(name)
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(
                f"rollback of {name}@{alias}: reason={reason!r}; say why it rolls back"
            )
        with self._lock(name):
            current = self.aliases(name).get(alias)
            if current is None:
                raise InputError(
                    f"{name} has no alias {alias!r} to roll back; {self._alias_list(name)}"
                )
            target = self._undo_target(name, alias) if to is None else self._target(name, to)
            if target == current:
                raise InputError(f"{name}@{alias} already points at {target[:12]}; nothing to undo")
            self._move(name, alias, current, target, "rollback", by, reason, undo=to is None)
        return target

    def delete(
        self,
        name: str,
        version: str,
        *,
        force: bool = False,
        by: str | None = None,
        reason: str = "",
    ) -> None:
        """Delete a stored version (given as a version, prefix or ref); it cannot be undone.

        Refused unless ``force=True``, and always while an alias points at the version.
        """
        self._require(name)
        with self._lock(name):
            version = self._target(name, version)
            pointing = self._pointing(name).get(version)
            if pointing:
                raise InputError(
                    f"{name}@{version[:12]} is what {', '.join(pointing)} point(s) at; "
                    "move those aliases first"
                )
            if not force:
                raise InputError(
                    f"deleting {name}@{version[:12]} cannot be undone; pass force=True to delete it"
                )
            self._record(name, "delete", by, reason, version=version)
            storage.remove_folder(self._fs, self._version_folder(name, version), layout.MANIFEST)

    # -- internals ---------------------------------------------------------------------------

    def _folder(self, name: str, *parts: str) -> str:
        return posixpath.join(self._path, name, *parts)

    def _version_folder(self, name: str, version: str) -> str:
        return self._folder(name, "versions", version)

    def _lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        return storage.locked(self._fs, self._folder(name))

    def _require(self, name: str) -> str:
        check_name(name)
        if not self._fs.isdir(self._folder(name)):
            names = ", ".join(self.names()) or "none"
            raise InputError(f"no model named {name!r} in {self.root}; names: {names}")
        return name

    def _stored_versions(self, name: str) -> list[str]:
        # A version counts once its manifest exists: on object stores it is written last.
        manifests = self._fs.glob(self._folder(name, "versions", "*", layout.MANIFEST))
        found = (posixpath.basename(posixpath.dirname(path)) for path in manifests)
        return sorted(version for version in found if _VERSION.fullmatch(version))

    def _manifests(self, name: str, versions: list[str]) -> list[dict[str, Any]]:
        paths = [posixpath.join(self._version_folder(name, v), layout.MANIFEST) for v in versions]
        raw = self._fs.cat(paths) if paths else {}
        manifests = []
        for version, path in zip(versions, paths, strict=True):
            if layout.version_of(raw[path]) != version:
                raise IntegrityError(
                    f"{name}@{version[:12]}: the manifest was modified after it was stored"
                )
            manifests.append(json.loads(raw[path]))
        return manifests

    def _read(self, ref: str) -> tuple[dict[str, Any], dict[str, bytes], str]:
        name, version = self.resolve(ref)
        return layout.read(self._fs, self._version_folder(name, version), expected_version=version)

    def _match(self, name: str, prefix: str) -> str:
        stored = self._stored_versions(name)
        hits = [version for version in stored if version.startswith(prefix)]
        if not hits:
            raise InputError(f"{name} has no version {prefix}; versions: {_short(stored)}")
        if len(hits) > 1:
            raise InputError(
                f"version prefix {prefix} of {name} is ambiguous: it matches {_short(hits)}; "
                "give more digits"
            )
        return hits[0]

    def _target(self, name: str, version_or_ref: str) -> str:
        ref = version_or_ref if "@" in version_or_ref else f"{name}@{version_or_ref}"
        other, version = self.resolve(ref)
        if other != name:
            raise InputError(f"{version_or_ref!r} is a version of {other}, not of {name}")
        return version

    def _pointing(self, name: str) -> dict[str, list[str]]:
        pointing: dict[str, list[str]] = {}
        for alias, version in sorted(self.aliases(name).items()):
            pointing.setdefault(version, []).append(alias)
        return pointing

    def _alias_list(self, name: str) -> str:
        return f"aliases: {', '.join(sorted(self.aliases(name))) or 'none'}"

    def _undo_target(self, name: str, alias: str) -> str:
        # Replay the alias's history as an undo stack: a change pushes the version it replaced,
        # an undo pops it.
        earlier: list[str | None] = []
        for event in self.audit(name):
            if event["event"] not in ("alias", "rollback") or event["alias"] != alias:
                continue
            if event.get("undo"):
                if earlier:
                    earlier.pop()
            else:
                earlier.append(event["from"])
        target = earlier[-1] if earlier else None
        if target is None:
            raise InputError(
                f"{name}@{alias} has no earlier version to roll back to; pass to=<version>"
            )
        if target not in self._stored_versions(name):
            raise InputError(
                f"{name}@{alias} was at {target[:12]} before, but it was deleted; pass to=<version>"
            )
        return target

    def _move(
        self,
        name: str,
        alias: str,
        previous: str | None,
        version: str,
        event: str,
        by: str | None,
        reason: str,
        **extra: Any,
    ) -> None:
        fields = {"alias": alias, "from": previous, "to": version, **extra}
        record = self._record(name, event, by, reason, **fields)
        body = {
            "version": version,
            "set_at": record["at"],
            "set_by": record["by"],
            "reason": reason,
        }
        storage.put(self._fs, self._folder(name, "aliases", f"{alias}.json"), _encode(body))

    def _record(
        self, name: str, event: str, by: str | None, reason: str, **fields: Any
    ) -> dict[str, Any]:
        # Called under the name's lock, so the stamp can be made later than every earlier event
        # even if the clock stepped back: the audit order is the order things happened.
        folder = self._folder(name, "audit")
        stamps = [posixpath.basename(path) for path in self._json_paths(folder)]
        ns = time.time_ns()
        if stamps:
            ns = max(ns, _stamp_ns(stamps[-1]) + 1)
        seconds, fraction = divmod(ns, 10**9)
        at = datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction // 1000)
        record = {
            "event": event,
            "name": name,
            **fields,
            "at": at.isoformat(),
            "by": by or current_user() or "unknown",
            "reason": reason,
        }
        stamp = f"{at:{_STAMP}}.{fraction:09d}Z-{secrets.token_hex(4)}"
        storage.put(self._fs, posixpath.join(folder, f"{stamp}.json"), _encode(record))
        return record

    def _json_paths(self, folder: str) -> list[str]:
        try:
            listed = self._fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        # Staging files start with a dot; only finished files count.
        return sorted(
            p for p in listed if p.endswith(".json") and not posixpath.basename(p).startswith(".")
        )

    def _json_files(self, folder: str) -> list[tuple[str, Any]]:
        """``(stem, parsed content)`` of the ``*.json`` files of ``folder``, sorted by stem."""
        paths = self._json_paths(folder)
        raw = self._fs.cat(paths) if paths else {}
        parsed = []
        for path in paths:
            try:
                parsed.append((posixpath.basename(path)[: -len(".json")], json.loads(raw[path])))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise FormatError(f"{path} is not valid JSON: {exc}") from None
        return parsed


def _checked_version(files: dict[str, bytes], manifest: bytes) -> str:
    # A stored version can never be replaced, so a manifest that does not describe exactly these
    # files is refused before anything is written.
    try:
        metadata = json.loads(manifest)["metadata"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        metadata = None
    if not isinstance(metadata, dict) or layout.encode_manifest(files, metadata) != manifest:
        raise InputError(
            "bundle: its manifest is not the canonical manifest of its files; rebuild the bundle"
        )
    return layout.version_of(manifest)


def _stamp_ns(stamp: str) -> int:
    seconds = datetime.strptime(stamp[:15], _STAMP).replace(tzinfo=UTC).timestamp()
    return int(seconds) * 10**9 + int(stamp[16:25])


def _short(versions: list[str]) -> str:
    shown = ", ".join(version[:12] for version in versions[:10])
    more = f" and {len(versions) - 10} more" if len(versions) > 10 else ""
    return (shown + more) or "none"


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
