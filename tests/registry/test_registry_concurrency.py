"""tether.registry under concurrent writers: processes pushing and moving aliases at once."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

from test_registry import StandIn

from tether.registry import Registry

WORKERS = 4
PUSHES = 5
CONTENTS = 6
TIMEOUT = 120.0


def seeds(worker: int) -> list[int]:
    """Every worker first pushes the same bundle (a race for one new version), then bundles it
    shares with some other workers."""
    return [0] + [(worker + step) % CONTENTS for step in range(1, PUSHES)]


def work(root: str, worker: int, start: Any) -> None:
    registry = Registry(root)
    start.wait(TIMEOUT)
    for seed in seeds(worker):
        version = registry.push(StandIn(seed), "churn", by=f"worker-{worker}")
        registry.set_alias("churn", "champion", version, by=f"worker-{worker}")


def test_concurrent_pushes_and_alias_changes_leave_a_consistent_registry(tmp_path: Path) -> None:
    root = str(tmp_path / "registry")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    workers = [context.Process(target=work, args=(root, w, start)) for w in range(WORKERS)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(TIMEOUT)
    hung = [process for process in workers if process.is_alive()]
    for process in hung:
        process.kill()
    assert hung == []
    assert [process.exitcode for process in workers] == [0] * WORKERS

    registry = Registry(root)
    expected = {StandIn(seed).version for w in range(WORKERS) for seed in seeds(w)}
    stored = [row["version"] for row in registry.versions("churn")]
    assert sorted(stored) == sorted(expected)
    assert all(registry.verify(f"churn@{version}") == version for version in stored)

    audit = registry.audit("churn")
    pushes = Counter(event["version"] for event in audit if event["event"] == "push")
    assert pushes == Counter(expected)

    # Serialized alias changes form one chain: each starts where the one before ended.
    moves = [event for event in audit if event["event"] == "alias"]
    assert 1 <= len(moves) <= WORKERS * PUSHES
    assert [move["from"] for move in moves] == [None] + [move["to"] for move in moves[:-1]]
    assert registry.aliases("churn") == {"champion": moves[-1]["to"]}
    times = [event["at"] for event in audit]
    assert times == sorted(times)

    leftovers = [p for p in Path(root).rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
