"""Time-ordered prediction ids."""

from __future__ import annotations

import os
import threading
import time
import uuid

import numpy as np

_id_lock = threading.Lock()
_id_last = (0, 0)  # (milliseconds, 12-bit counter) of the last id made in this process

_COUNTER_MAX = 0xFFF
_RANDOM_BITS = 2**62 - 1
_SEED_BITS = 0x7FF
_VERSION_HIGH = 0x7 << 12  # the version nibble, in the upper 64 bits
_VARIANT_LOW = 0b10 << 62  # the RFC 9562 variant, in the lower 64 bits


def new_prediction_id() -> str:
    """A new time-ordered unique id: a UUIDv7 string (36 characters).

    48 bits of Unix milliseconds, the version 7, a 12-bit counter (RFC 9562 section 6.2, method
    1) and 62 random bits. Ids made later in the same process sort later as strings, also within
    one millisecond and when the clock steps back (the last millisecond is reused); the random
    bits keep ids from different processes apart.

    Example
    -------
    >>> first, second = new_prediction_id(), new_prediction_id()
    >>> len(first), first[14], first < second
    (36, '7', True)

    References
    ----------
    Davis, K., Peabody, B. and Leach, P. (2024). Universally Unique IDentifiers (UUIDs).
    RFC 9562, section 5.7.
    """
    random = int.from_bytes(os.urandom(10), "big")  # 62 bits for the id, 11 to seed a counter
    ((now, counter, _),) = _reserve(1, [(random >> 62) & _SEED_BITS])
    value = (now << 80) | (0x7 << 76) | (counter << 64) | _VARIANT_LOW | (random & _RANDOM_BITS)
    return str(uuid.UUID(int=value))


def new_prediction_ids(count: int) -> list[str]:
    """``count`` new ids, as :func:`new_prediction_id` makes them one by one (sorted in the order
    made, after every id made before), at the cost of a few calls for the whole batch.

    Example
    -------
    >>> made = new_prediction_ids(3)
    >>> len(made), made == sorted(made), len(set(made)), made[0][14]
    (3, True, 3, '7')
    >>> made[-1] < new_prediction_id()
    True
    """
    if count <= 1:  # numpy's fixed costs would be most of one id's
        return [new_prediction_id() for _ in range(count)]
    random = np.frombuffer(os.urandom(8 * count), dtype=np.uint64)
    # one seed per millisecond the batch may span (a counter holds 4096 ids, and starts at most
    # half-way), drawn from spare random bytes
    seeds = np.frombuffer(os.urandom(2 * (count // 2048 + 2)), dtype=np.uint16) & _SEED_BITS
    high = np.empty(count, dtype=np.uint64)
    for now, counter, (start, stop) in _reserve(count, seeds.tolist()):
        taken = np.arange(counter - (stop - start) + 1, counter + 1, dtype=np.uint64)
        high[start:stop] = (np.uint64(now) << np.uint64(16)) | np.uint64(_VERSION_HIGH) | taken
    low = (random & np.uint64(_RANDOM_BITS)) | np.uint64(_VARIANT_LOW)
    text = np.stack([high, low], axis=1).astype(">u8").tobytes().hex()
    return [
        f"{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}-"
        f"{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


def _reserve(count: int, seeds: list[int]) -> list[tuple[int, int, tuple[int, int]]]:
    """Take the next ``count`` (millisecond, counter) slots of this process: one entry per
    millisecond used, with its last counter and the ids ``[start, stop)`` it numbers.

    Each id advances the counter of the current millisecond; a fresh millisecond starts it at a
    seed (in its lower half, leaving room to count), and a full counter borrows the next
    millisecond, so ids keep increasing whatever the clock does.
    """
    global _id_last
    spans = []
    with _id_lock:
        last_ms, counter = _id_last
        now = max(time.time_ns() // 1_000_000, last_ms)
        seed = iter(seeds)
        start = 0
        if now != last_ms:
            counter = next(seed) - 1  # the first id of a fresh ms takes the seed itself
        while start < count:
            if counter == _COUNTER_MAX:
                now, counter = now + 1, next(seed) - 1
            taken = min(count - start, _COUNTER_MAX - counter)
            counter += taken
            spans.append((now, counter, (start, start + taken)))
            start += taken
        _id_last = (now, counter)
    return spans
