"""Time-ordered prediction ids."""

from __future__ import annotations

import os
import threading
import time
import uuid

_id_lock = threading.Lock()
_id_last = (0, 0)  # (milliseconds, 12-bit counter) of the last id made in this process


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
    global _id_last
    random = int.from_bytes(os.urandom(10), "big")  # 62 bits for the id, 11 to seed a counter
    seed = (random >> 62) & 0x7FF
    with _id_lock:
        last_ms, counter = _id_last
        now = max(time.time_ns() // 1_000_000, last_ms)
        if now == last_ms and counter < 0xFFF:
            counter += 1
        elif now == last_ms:
            now, counter = last_ms + 1, seed  # counter exhausted: borrow the next ms
        else:
            counter = seed  # a fresh ms starts the counter in its lower half (room to count)
        _id_last = (now, counter)
    value = (now << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | (random & (2**62 - 1))
    return str(uuid.UUID(int=value))
