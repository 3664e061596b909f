"""tether.registry: storage, refs, aliases, rollback, audit and deletion on a folder and memory://."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fsspec
import numpy as np
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tether.bundle import layout
from tether.bundle.bundle import Bundle
from tether.errors import InputError, IntegrityError
from tether.registry import Registry
from tether.registry import registry as registry_module


class StandIn:
    """Moves bytes like a Bundle: ``stored()`` gives its files and canonical manifest."""

    def __init__(self, seed: int, created_at: str | None = None) -> None:
        self.files = {
            "model/weights.bin": f"weights {seed}".encode(),
            "contract.yaml": b"columns: {}\n",
        }
        self.manifest = layout.encode_manifest(
            self.files, {"task": "binary", "created_at": created_at}
        )

    def stored(self) -> tuple[dict[str, bytes], bytes]:
        return dict(self.files), self.manifest

    @property
    def version(self) -> str:
        return layout.version_of(self.manifest)


def frames(rows: int = 2_000, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A seeded binary task: train and validation halves."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, rows)
    channel = rng.choice(["web", "store", "phone"], rows)
    logit = 0.02 * (amount - 100) + (channel == "phone") * 1.0
    frame = pl.DataFrame(
        {
            "amount": amount,
            "channel": channel,
            "y": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64),
        }
    )
    return frame[: rows // 2], frame[rows // 2 :]


def build(c: float) -> Bundle:
    train, valid = frames()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["amount"]), ("cat", OneHotEncoder(), ["channel"])]
    )
    model = Pipeline([("pre", pre), ("model", LogisticRegression(C=c))])
    model.fit(train.select("amount", "channel"), train["y"].to_numpy())
    return Bundle.build(model=model, train=train, valid=valid, target="y", n_resamples=20)


@pytest.fixture(scope="module")
def built() -> tuple[Bundle, Bundle]:
    """Two real bundles of the same task: a regularized model and a looser one."""
    return build(0.01), build(10.0)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry")


@pytest.fixture(params=["local", "memory"])
def any_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    if request.param == "local":
        yield Registry(tmp_path / "registry")
        return
    root = f"memory://registry-{uuid.uuid4().hex}"
    yield Registry(root)
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def version_folder(registry: Registry, name: str, version: str) -> Path:
    return Path(registry.root) / name / "versions" / version


def events(registry: Registry, name: str, kind: str) -> list[dict[str, Any]]:
    return [event for event in registry.audit(name) if event["event"] == kind]


# -- storage --------------------------------------------------------------------------------------


def test_a_built_bundle_round_trips_and_predicts_the_same(
    any_registry: Registry, built: tuple[Bundle, Bundle]
) -> None:
    bundle = built[0]
    version = any_registry.push(bundle, "churn", by="ana")
    assert version == bundle.version
    any_registry.set_alias("churn", "champion", version)
    loaded = any_registry.load("churn")
    assert (loaded.version, loaded.metadata) == (bundle.version, bundle.metadata)
    _, valid = frames()
    assert loaded.predict(valid).equals(bundle.predict(valid))
    (row,) = any_registry.versions("churn")
    assert row == {
        "version": version,
        "created_at": bundle.metadata["created_at"],
        "aliases": ["champion"],
    }


def test_load_follows_aliases_between_built_bundles(
    registry: Registry, built: tuple[Bundle, Bundle]
) -> None:
    v1, v2 = (registry.push(bundle, "churn") for bundle in built)
    registry.set_alias("churn", "champion", v1)
    registry.set_alias("churn", "challenger", v2)
    assert (registry.load("churn").version, registry.load("churn@challenger").version) == (v1, v2)
    registry.set_alias("churn", "champion", "challenger", reason="promote")
    assert registry.load("churn").version == v2
    assert registry.rollback("churn", reason="worse on Mondays") == v1
    assert registry.load("churn").version == v1


def test_push_stores_the_bundle_under_its_manifest_hash_and_reads_it_back(
    any_registry: Registry,
) -> None:
    bundle = StandIn(1)
    version = any_registry.push(bundle, "churn", by="ana", reason="first model")
    assert version == bundle.version
    fs, path = fsspec.core.url_to_fs(any_registry.root)
    manifest, files, read_version = layout.read(
        fs, f"{path}/churn/versions/{version}", expected_version=version
    )
    assert (files, read_version) == (bundle.files, version)
    assert any_registry.verify(f"churn@{version}") == version
    shown = any_registry.show(f"churn@{version[:6]}")
    assert shown["metadata"] == manifest["metadata"] == {"task": "binary", "created_at": None}
    assert set(shown["files"]) == set(bundle.files)
    (push,) = any_registry.audit("churn")
    assert push == push | {
        "event": "push",
        "version": version,
        "by": "ana",
        "reason": "first model",
    }


def test_pushing_stored_content_again_is_a_no_op(any_registry: Registry) -> None:
    first = any_registry.push(StandIn(1), "churn")
    assert any_registry.push(StandIn(1), "churn") == first
    assert [row["version"] for row in any_registry.versions("churn")] == [first]
    assert len(events(any_registry, "churn", "push")) == 1


def test_a_push_that_loses_the_race_keeps_the_stored_version(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = registry.push(StandIn(1), "churn")
    manifest = version_folder(registry, "churn", version) / layout.MANIFEST
    before = manifest.stat()
    # As if another process stored the same bundle between the check and the rename.
    monkeypatch.setattr(registry._fs, "exists", lambda path: False)
    assert registry.push(StandIn(1), "churn") == version
    after = manifest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(events(registry, "churn", "push")) == 1
    leftovers = [p for p in Path(registry.root).rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_push_refuses_a_manifest_that_does_not_list_its_files(registry: Registry) -> None:
    bundle = StandIn(1)
    bundle.files["extra.txt"] = b"not in the manifest"
    with pytest.raises(InputError, match="canonical manifest"):
        registry.push(bundle, "churn")
    assert registry.names() == []


def test_file_url_and_default_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = Registry(f"file://{tmp_path}/by-url").push(StandIn(1), "churn")
    assert Registry(tmp_path / "by-url").verify("churn@" + version) == version
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    assert Registry().root == str(tmp_path / "home" / "registry")


# -- tampering -------------------------------------------------------------------------------------


def flip_a_byte(folder: Path) -> None:
    path = folder / "model" / "model.skops"
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(folder: Path) -> None:
    path = folder / "model" / "model.skops"
    path.write_bytes(path.read_bytes()[:-1])


def add_a_file(folder: Path) -> None:
    (folder / "model" / "backdoor.py").write_bytes(b"import os\n")


def edit_the_manifest(folder: Path) -> None:
    path = folder / layout.MANIFEST
    path.write_bytes(path.read_bytes().replace(b'"binary"', b'"regression"'))


@pytest.mark.parametrize("tamper", [flip_a_byte, truncate, add_a_file, edit_the_manifest])
def test_a_tampered_version_is_refused(
    registry: Registry, built: tuple[Bundle, Bundle], tamper: Any
) -> None:
    version = registry.push(built[0], "churn")
    registry.set_alias("churn", "champion", version)
    tamper(version_folder(registry, "churn", version))
    with pytest.raises(IntegrityError):
        registry.load("churn")
    with pytest.raises(IntegrityError):
        registry.verify("churn")


def test_an_edited_manifest_is_refused_by_show_and_versions(registry: Registry) -> None:
    version = registry.push(StandIn(1), "churn")
    edit_the_manifest(version_folder(registry, "churn", version))
    with pytest.raises(IntegrityError, match="manifest was modified"):
        registry.show(f"churn@{version}")
    with pytest.raises(IntegrityError, match="manifest was modified"):
        registry.versions("churn")


# -- names and refs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "-lead", ".hidden", "a/b", "../up", "a b", "é", "x" * 101])
def test_bad_names_are_refused_naming_value_and_rule(registry: Registry, name: str) -> None:
    with pytest.raises(InputError, match=r"name .* is invalid: it must match \[A-Za-z0-9\]"):
        registry.push(StandIn(1), name)


def test_aliases_that_read_as_version_prefixes_are_refused(registry: Registry) -> None:
    version = registry.push(StandIn(1), "churn")
    for alias in ["cafe42", "0123456789", "DEADBEEF"]:
        with pytest.raises(InputError, match=f"alias '{alias}' is invalid: 6 or more hex"):
            registry.set_alias("churn", alias, version)
    registry.set_alias("churn", "cafe4", version)  # five hex digits cannot be a prefix
    assert registry.resolve("churn@cafe4") == ("churn", version)


def colliding_pair() -> tuple[StandIn, StandIn]:
    """Two stand-ins whose versions share their first six hex digits (a birthday search)."""
    seen: dict[str, StandIn] = {}
    for seed in itertools.count():
        bundle = StandIn(seed)
        other = seen.setdefault(bundle.version[:6], bundle)
        if other is not bundle:
            return other, bundle
    raise AssertionError("unreachable")


def test_refs_resolve_versions_prefixes_aliases_and_the_champion(registry: Registry) -> None:
    first, second = colliding_pair()
    v1, v2 = registry.push(first, "churn"), registry.push(second, "churn")
    registry.set_alias("churn", "champion", v1)
    registry.set_alias("churn", "challenger", v2)
    unique = next(n for n in range(7, 64) if v1[:n] != v2[:n])
    assert registry.resolve(f"churn@{v1}") == ("churn", v1)
    assert registry.resolve(f"churn@{v2[:unique].upper()}") == ("churn", v2)
    assert registry.resolve("churn@challenger") == ("churn", v2)
    assert registry.resolve("churn") == ("churn", v1)
    with pytest.raises(InputError, match=f"prefix {v1[:6]} of churn is ambiguous: .*{v2[:12]}"):
        registry.resolve(f"churn@{v1[:6]}")


def test_unknown_refs_list_what_exists(registry: Registry) -> None:
    version = registry.push(StandIn(1), "churn")
    registry.set_alias("churn", "challenger", version)
    with pytest.raises(InputError, match=f"no version 000000; versions: {version[:12]}"):
        registry.resolve("churn@000000")
    with pytest.raises(InputError, match="no alias 'champion'; aliases: challenger"):
        registry.resolve("churn")
    with pytest.raises(InputError, match=r"no alias 'abc'.*6 or more hex digits"):
        registry.resolve("churn@abc")
    with pytest.raises(InputError, match=r"no model named 'fraud' .*; names: churn"):
        registry.resolve("fraud@challenger")


def test_names_and_versions_list_what_is_stored(registry: Registry) -> None:
    old = registry.push(StandIn(1, created_at="2026-01-01T00:00:00+00:00"), "churn")
    new = registry.push(StandIn(2, created_at="2026-02-01T00:00:00+00:00"), "churn")
    registry.push(StandIn(3), "fraud")
    (Path(registry.root) / "notes.txt").write_text("not a model")
    registry.set_alias("churn", "champion", new)
    registry.set_alias("churn", "challenger", new)
    assert registry.names() == ["churn", "fraud"]
    assert registry.versions("churn") == [
        {"version": old, "created_at": "2026-01-01T00:00:00+00:00", "aliases": []},
        {
            "version": new,
            "created_at": "2026-02-01T00:00:00+00:00",
            "aliases": ["challenger", "champion"],
        },
    ]
    assert registry.show("churn")["aliases"] == ["challenger", "champion"]


# -- aliases and rollback --------------------------------------------------------------------------


def test_rollback_moves_the_champion_back_and_records_who_when_why(registry: Registry) -> None:
    v1, v2 = registry.push(StandIn(1), "churn"), registry.push(StandIn(2), "churn")
    registry.set_alias("churn", "champion", v1, by="ana", reason="first")
    registry.set_alias("churn", "champion", v2, by="ana", reason="better AUC")
    assert registry.rollback("churn", by="bo", reason="latency regression") == v1
    assert registry.aliases("churn") == {"champion": v1}
    moves = [
        (e["event"], e["from"], e["to"], e["by"], e["reason"])
        for e in registry.audit("churn")
        if e["event"] != "push"
    ]
    assert moves == [
        ("alias", None, v1, "ana", "first"),
        ("alias", v1, v2, "ana", "better AUC"),
        ("rollback", v2, v1, "bo", "latency regression"),
    ]
    stored = json.loads((Path(registry.root) / "churn" / "aliases" / "champion.json").read_text())
    rollback = registry.audit("churn")[-1]
    assert stored == {
        "version": v1,
        "set_at": rollback["at"],
        "set_by": "bo",
        "reason": "latency regression",
    }


def test_rollbacks_undo_alias_changes_one_at_a_time(registry: Registry) -> None:
    v1, v2, v3 = (registry.push(StandIn(seed), "churn") for seed in (1, 2, 3))
    for version in (v1, v2, v3):
        registry.set_alias("churn", "champion", version)
    assert registry.rollback("churn", reason="r1") == v2
    assert registry.rollback("churn", reason="r2") == v1
    with pytest.raises(InputError, match="no earlier version to roll back to; pass to="):
        registry.rollback("churn", reason="r3")
    assert registry.rollback("churn", to=v3[:8], reason="r4") == v3
    assert registry.rollback("churn", reason="r5") == v1


def test_rollback_needs_a_reason_an_alias_and_somewhere_to_go(registry: Registry) -> None:
    version = registry.push(StandIn(1), "churn")
    with pytest.raises(InputError, match="reason='  '; say why"):
        registry.rollback("churn", reason="  ")
    with pytest.raises(InputError, match="no alias 'champion' to roll back; aliases: none"):
        registry.rollback("churn", reason="why")
    registry.set_alias("churn", "champion", version)
    with pytest.raises(InputError, match="already points at"):
        registry.rollback("churn", to=version, reason="why")


def test_rollback_refuses_an_earlier_version_that_was_deleted(registry: Registry) -> None:
    v1, v2 = registry.push(StandIn(1), "churn"), registry.push(StandIn(2), "churn")
    registry.set_alias("churn", "champion", v1)
    registry.set_alias("churn", "champion", v2)
    registry.delete("churn", v1, force=True)
    with pytest.raises(InputError, match=f"was at {v1[:12]} before, but it was deleted; pass to="):
        registry.rollback("churn", reason="regression")
    assert registry.aliases("churn") == {"champion": v2}


def test_setting_an_alias_to_its_current_version_records_nothing(registry: Registry) -> None:
    version = registry.push(StandIn(1), "churn")
    registry.set_alias("churn", "champion", version)
    registry.set_alias("churn", "champion", version[:10])
    assert len(events(registry, "churn", "alias")) == 1


def test_an_alias_can_point_where_another_alias_does(registry: Registry) -> None:
    v1, v2 = registry.push(StandIn(1), "churn"), registry.push(StandIn(2), "churn")
    registry.set_alias("churn", "champion", v1)
    registry.set_alias("churn", "challenger", f"churn@{v2}")
    assert registry.set_alias("churn", "champion", "challenger", reason="promote") == v2
    registry.push(StandIn(3), "fraud")
    with pytest.raises(InputError, match="is a version of fraud, not of churn"):
        registry.set_alias("churn", "champion", f"fraud@{StandIn(3).version}")


# -- deletion --------------------------------------------------------------------------------------


def test_delete_needs_force_and_no_alias_pointing_at_the_version(any_registry: Registry) -> None:
    v1, v2 = any_registry.push(StandIn(1), "churn"), any_registry.push(StandIn(2), "churn")
    any_registry.set_alias("churn", "champion", v1)
    with pytest.raises(InputError, match="champion point"):
        any_registry.delete("churn", v1, force=True)
    with pytest.raises(InputError, match="pass force=True"):
        any_registry.delete("churn", v2)
    assert [row["version"] for row in any_registry.versions("churn")] == sorted([v1, v2])
    any_registry.delete("churn", v2[:8], force=True, by="ana", reason="leaked labels")
    assert [row["version"] for row in any_registry.versions("churn")] == [v1]
    with pytest.raises(InputError, match=f"no version {v2[:8]}"):
        any_registry.resolve(f"churn@{v2[:8]}")
    (deleted,) = events(any_registry, "churn", "delete")
    assert deleted == deleted | {"version": v2, "by": "ana", "reason": "leaked labels"}
    fs, path = fsspec.core.url_to_fs(any_registry.root)
    assert not fs.exists(f"{path}/churn/versions/{v2}/{layout.MANIFEST}")
    assert [p for p in fs.find(path) if "/.tmp-" in p] == []


# -- audit -----------------------------------------------------------------------------------------


def test_audit_merges_names_in_the_order_events_happened(registry: Registry) -> None:
    registry.push(StandIn(1), "churn")
    registry.push(StandIn(2), "fraud")
    registry.push(StandIn(3), "churn")
    assert [(e["name"], e["event"]) for e in registry.audit()] == [
        ("churn", "push"),
        ("fraud", "push"),
        ("churn", "push"),
    ]


def test_audit_keeps_its_order_when_the_clock_steps_back(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(range(2_000_000_000_000_000_000, 0, -1_000_000_000))
    monkeypatch.setattr(registry_module, "time", SimpleNamespace(time_ns=lambda: next(clock)))
    versions = [registry.push(StandIn(seed), "churn") for seed in range(4)]
    assert [e["version"] for e in registry.audit("churn")] == versions
    stamps = sorted(p.name for p in (Path(registry.root) / "churn" / "audit").iterdir())
    assert len(set(stamps)) == 4


def test_the_audit_log_is_one_file_per_event_and_never_rewritten(registry: Registry) -> None:
    version = registry.push(StandIn(1), "churn")
    folder = Path(registry.root) / "churn" / "audit"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    registry.set_alias("churn", "champion", version)
    registry.set_alias("churn", "challenger", version)
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert len(after) == 3
    assert {name: after[name] for name in before} == before


def test_the_os_user_is_recorded_when_by_is_not_given(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "carol")
    version = registry.push(StandIn(1), "churn")
    registry.set_alias("churn", "champion", version, by="ana")
    assert [event["by"] for event in registry.audit("churn")] == ["carol", "ana"]
