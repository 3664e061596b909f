"""new_prediction_id: UUIDv7 layout, unique, and sorted in the order the ids were made."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from tether.store import ids, new_prediction_id, new_prediction_ids

COUNT = 100_000


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    made = [new_prediction_id() for _ in range(COUNT)]
    assert len(set(made)) == COUNT
    assert sorted(made) == made


def test_id_has_the_uuidv7_layout_and_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    made = new_prediction_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(made)
    assert len(made) == 36
    assert str(parsed) == made
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after


def test_ids_keep_increasing_when_the_clock_stalls_or_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [time.time_ns() + 10**12]  # ahead of every id made so far
    monkeypatch.setattr(ids, "_id_last", ids._id_last)  # restored afterwards: no future ids
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: now[0]))
    stalled = [new_prediction_id() for _ in range(5_000)]  # more than a 12-bit counter holds
    now[0] -= 10**9  # one second back
    stepped_back = [new_prediction_id() for _ in range(10)]
    made = stalled + stepped_back
    assert sorted(made) == made
    assert len(set(made)) == len(made)
    milliseconds = [uuid.UUID(i).int >> 80 for i in made]
    assert milliseconds[0] == (now[0] + 10**9) // 1_000_000
    assert milliseconds[-1] - milliseconds[0] >= 1  # the counter ran out: the next ms was borrowed


def test_batches_of_ids_are_unique_uuidv7_and_follow_the_ids_made_before() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_prediction_id(), *new_prediction_ids(5_000), new_prediction_id()]
    made += new_prediction_ids(1) + new_prediction_ids(3) + new_prediction_ids(0)
    after = time.time_ns() // 1_000_000
    assert len(made) == 5_006
    assert len(set(made)) == len(made)
    assert sorted(made) == made
    for text in made[:3] + made[-5:]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    # a batch borrows the next milliseconds when it holds more ids than one counter does
    assert before <= uuid.UUID(made[0]).int >> 80 <= uuid.UUID(made[-1]).int >> 80 <= after + 2


def test_a_batch_larger_than_a_counter_borrows_milliseconds_while_the_clock_stalls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [time.time_ns() + 10**12]  # ahead of every id made so far
    monkeypatch.setattr(ids, "_id_last", ids._id_last)  # restored afterwards: no future ids
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: now[0]))
    made = [*new_prediction_ids(10_000), new_prediction_id()]
    assert sorted(made) == made
    assert len(set(made)) == len(made)
    milliseconds = [uuid.UUID(i).int >> 80 for i in made]
    # at most 4,096 ids per millisecond, at least 2,048 (a fresh counter starts below half-way)
    assert 10_001 / 4_096 <= milliseconds[-1] - milliseconds[0] + 1 <= 10_001 / 2_048 + 1
    counters = [(uuid.UUID(i).int >> 64) & 0xFFF for i in made]
    assert all(b == a + 1 for a, b, ms_a, ms_b in
               zip(counters, counters[1:], milliseconds, milliseconds[1:], strict=False)
               if ms_a == ms_b)  # fmt: skip
