"""Group commit on each backend: shared transactions, per-caller errors, asyncio callers."""

from __future__ import annotations

import asyncio
import threading

import pytest
from store_helpers import record

from tether.errors import InputError
from tether.store import DuplicateIdError, GroupCommitter, PredictionStore, StoreError

THREADS = 8
PER_THREAD = 40


def test_concurrent_writers_store_every_acknowledged_record_once(store: PredictionStore) -> None:
    committer = GroupCommitter(store, max_wait_ms=5)
    acknowledged: list[list[str]] = [[] for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def caller(index: int) -> None:
        start.wait()
        for i in range(PER_THREAD):
            prediction_id = f"t{index}-{i}"
            committer.log([record(prediction_id, i)])
            acknowledged[index].append(prediction_id)

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    committer.close()
    ids = [i for done in acknowledged for i in done]
    assert len(ids) == THREADS * PER_THREAD
    assert store.count() == len(ids)
    assert sorted(store.read("late-arrival", labels=False)["id"].to_list()) == sorted(ids)
    # Callers shared transactions: fewer commits than records.
    assert committer.records == len(ids)
    assert committer.batches < len(ids)


def test_duplicate_caller_gets_the_error_and_the_others_are_stored(
    store: PredictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.log([record("taken")])
    entered, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []
    log = store.log

    def spied(records: list) -> None:
        calls.append([r.id for r in records])
        if len(calls) == 1:
            entered.set()
            release.wait(timeout=30)  # hold the writer so the next callers queue up together
        log(records)

    monkeypatch.setattr(store, "log", spied)
    committer = GroupCommitter(store)
    first = committer.submit([record("first")])
    assert entered.wait(timeout=30)
    futures = {name: committer.submit([record(name, i)]) for i, name in enumerate("abc")}
    duplicate = committer.submit([record("taken", 9)])
    release.set()
    committer.close()

    assert first.result() is None
    assert [future.result() for future in futures.values()] == [None, None, None]
    with pytest.raises(DuplicateIdError, match="'taken'"):
        duplicate.result()
    assert calls[1] == ["a", "b", "c", "taken"]  # one shared transaction, then one per caller
    assert sorted(calls[2:]) == [["a"], ["b"], ["c"], ["taken"]]
    assert store.count() == 5


def test_async_callers_are_committed_without_blocking_the_loop(store: PredictionStore) -> None:
    committer = GroupCommitter(store)

    async def main() -> tuple[list[object], int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(committer.log_async([record(f"a{i}", i)]) for i in range(20)),
            committer.log_async([record("a3", 99)]),
            return_exceptions=True,
        )
        stop.set()
        await ticking
        return results, ticks

    results, ticks = asyncio.run(main())
    committer.close()
    assert results[:20] == [None] * 20
    assert isinstance(results[20], DuplicateIdError)
    assert ticks > 1  # the loop ran other tasks while the commits were in flight
    assert store.count() == 20


def test_close_commits_what_is_queued_then_refuses(store: PredictionStore) -> None:
    committer = GroupCommitter(store, max_wait_ms=50)
    pending = [committer.submit([record(f"q{i}", i)]) for i in range(10)]
    committer.close()
    assert all(future.done() and future.exception() is None for future in pending)
    assert store.count() == 10
    with pytest.raises(StoreError, match="closed"):
        committer.log([record("late")])
    committer.close()  # idempotent


def test_bad_settings_are_refused(store: PredictionStore) -> None:
    with pytest.raises(InputError, match="max_batch 0"):
        GroupCommitter(store, max_batch=0)
    with pytest.raises(InputError, match="max_wait_ms -1"):
        GroupCommitter(store, max_wait_ms=-1)
