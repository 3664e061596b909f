"""The bundle's stored form: files plus a manifest of their checksums, addressed by content.

A stored bundle is a folder (on a local disk or any fsspec file system)::

    manifest.json          what this module writes: format, metadata and one checksum per file
    model/...              the fitted model with its preprocessing (see :mod:`.serialization`)
    model/model.onnx       the same model as ONNX, when it converted
    estimation/dle.json    a regressor's DLE nanny models (LightGBM text), for the monitor
    contract.yaml          the data contract
    reference.json         profile of the training data
    predictions.json       profile of the model's scores on the validation data
    baseline.json          baseline metrics, calibration curve, importance, expected cost
    background.parquet     a sample of training rows, the baseline of explanations
    reference_scores.parquet
                           the model's validation scores with their labels and segment columns
                           (a sample of at most 100,000 rows): the monitor's reference for
                           confidence drift, calibration and performance estimation
    lineage.json           code, data, environment and training run that produced the model

``manifest.json`` holds ``{"format": "tether-bundle", "format_version": 1, "metadata": {...},
"files": {path: {"sha256": hex, "bytes": size}}}`` serialized canonically (keys sorted, no
whitespace, UTF-8). The version of a bundle is the SHA-256 of those manifest bytes; since the
manifest lists every file's checksum, the version covers every byte of the bundle. Reading checks
every file against the manifest and the manifest against the expected version, so a tampered,
truncated or incomplete bundle is refused with :class:`~tether.errors.IntegrityError`.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from typing import Any

import fsspec

from tether.errors import FormatError, IntegrityError, UnsupportedVersionError

MANIFEST = "manifest.json"
FORMAT = "tether-bundle"
FORMAT_VERSION = 1


def encode_manifest(files: Mapping[str, bytes], metadata: Mapping[str, Any]) -> bytes:
    """The canonical manifest bytes for ``files`` (path -> content) and ``metadata``.

    Example
    -------
    >>> raw = encode_manifest({"a.txt": b"hi"}, {"task": "binary"})
    >>> version_of(raw)[:12]
    '28756b7ee8b7'
    """
    for path in files:
        _check_path(path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": dict(metadata),
        "files": {
            path: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
            for path, content in sorted(files.items())
        },
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def version_of(manifest: bytes) -> str:
    """The version id of a bundle: the SHA-256 (hex) of its manifest bytes."""
    return hashlib.sha256(manifest).hexdigest()


def write(
    fs: fsspec.AbstractFileSystem, root: str, files: Mapping[str, bytes], manifest: bytes
) -> None:
    """Write ``files`` and then ``manifest`` under ``root`` (the manifest last, so a folder with a
    manifest is complete unless it was tampered with afterwards)."""
    fs.makedirs(root, exist_ok=True)
    for path, content in files.items():
        target = posixpath.join(root, path)
        fs.makedirs(posixpath.dirname(target), exist_ok=True)
        fs.pipe_file(target, content)
    fs.pipe_file(posixpath.join(root, MANIFEST), manifest)


def read(
    fs: fsspec.AbstractFileSystem, root: str, *, expected_version: str | None = None
) -> tuple[dict[str, Any], dict[str, bytes], str]:
    """Read and verify a stored bundle: ``(manifest, files, version)``.

    Raises :class:`~tether.errors.IntegrityError` when the manifest does not hash to
    ``expected_version``, a listed file is missing, has another size or another checksum, or
    the folder holds files the manifest does not list.
    """
    manifest_path = posixpath.join(root, MANIFEST)
    try:
        raw = fs.cat_file(manifest_path)
    except FileNotFoundError:
        raise FormatError(f"{root}: no {MANIFEST}; not a tether bundle") from None
    version = version_of(raw)
    if expected_version is not None and version != expected_version:
        raise IntegrityError(
            f"{root}: manifest hashes to {version[:12]}, expected {expected_version[:12]}; "
            "the bundle was modified after it was stored"
        )
    manifest = _parse_manifest(raw, root)
    listed: dict[str, dict[str, Any]] = manifest["files"]
    files: dict[str, bytes] = {}
    for path, entry in listed.items():
        _check_path(path)
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("bytes"), int)
            and isinstance(entry.get("sha256"), str)
        ):
            raise IntegrityError(f"{root}/{MANIFEST}: the entry of {path} lacks bytes or sha256")
        try:
            content = fs.cat_file(posixpath.join(root, path))
        except FileNotFoundError:
            raise IntegrityError(f"{root}: {path} is listed in the manifest but missing") from None
        if len(content) != entry["bytes"]:
            raise IntegrityError(
                f"{root}: {path} has {len(content)} bytes, the manifest says {entry['bytes']} "
                "(truncated or replaced)"
            )
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            raise IntegrityError(f"{root}: {path} does not match its checksum (modified)")
        files[path] = content
    extra = sorted(set(_stored_paths(fs, root)) - set(listed) - {MANIFEST})
    if extra:
        raise IntegrityError(f"{root}: files not in the manifest: {', '.join(extra[:5])}")
    return manifest, files, version


def _parse_manifest(raw: bytes, root: str) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{root}/{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FormatError(f"{root}/{MANIFEST}: not a tether bundle manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"{root}: bundle format version {manifest.get('format_version')!r}; this tether "
            f"reads version {FORMAT_VERSION}. Upgrade tether to load it."
        )
    if not isinstance(manifest.get("files"), dict) or not isinstance(
        manifest.get("metadata"), dict
    ):
        raise IntegrityError(f"{root}/{MANIFEST}: 'files' and 'metadata' must be objects")
    return manifest


def _stored_paths(fs: fsspec.AbstractFileSystem, root: str) -> list[str]:
    base = fs._strip_protocol(root).rstrip("/")
    return [posixpath.relpath(fs._strip_protocol(path), base) for path in fs.find(root)]


def _check_path(path: str) -> None:
    # Paths come from a manifest that may be hostile: keep every file inside the bundle folder.
    normal = posixpath.normpath(path)
    plain = path not in ("", ".") and normal == path and "\\" not in path
    if not plain or path.startswith("/") or normal.startswith(".."):
        raise IntegrityError(f"bundle file path {path!r} is not a plain relative path")
