"""Group commit: many concurrent callers, one durable transaction.

A durable commit costs a flush to disk (an fsync in SQLite, a WAL flush in PostgreSQL), a few
milliseconds that do not grow with the number of rows. Committing every request alone caps a
server at a few hundred requests per second; committing the records of every request that
arrived while the previous commit was flushing, in one transaction, lets throughput grow with
concurrency while each caller still returns only once its own records are on disk.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from tether.errors import InputError
from tether.store.base import PredictionStore
from tether.store.batch import PredictionBatch
from tether.store.records import PredictionRecord, StoreError

Item = PredictionRecord | PredictionBatch


@dataclass
class _Pending:
    records: list[Item]
    arrived: float = field(default_factory=time.monotonic)
    future: Future[None] = field(default_factory=Future)
    rows: int = 0

    def __post_init__(self) -> None:
        self.rows = sum(len(r) if isinstance(r, PredictionBatch) else 1 for r in self.records)


class GroupCommitter:
    """Log records from many threads or tasks through one writer thread that commits them in
    shared transactions.

    The writer takes every caller waiting (up to ``max_batch`` rows, whole callers) and logs
    them with one :meth:`PredictionStore.log`; the callers that arrive during a commit form the
    next batch. Before committing, it waits for as many callers as the previous transaction
    carried, at most ``max_wait_ms`` after the oldest arrived: callers in a steady crowd go
    together instead of one arriving first and committing alone, while a lone caller, whose
    previous transaction carried only itself, never waits. A batch that fails (a duplicate id, a
    bad record) is retried caller by caller, so only the callers whose own records fail get the
    error and everyone else's records are stored.

    Parameters
    ----------
    store
        Where records go; the committer does not close it.
    max_batch
        Most rows in one transaction (a single caller's larger list still goes whole); a
        :class:`PredictionBatch` counts its rows.
    max_wait_ms
        Longest the oldest caller waits for company; 0 never waits.

    Example
    -------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from tether.store import open_store
    >>> store = open_store(tempfile.mkdtemp() + "/log.db")
    >>> at = datetime(2024, 5, 1, tzinfo=UTC)
    >>> with GroupCommitter(store) as committer:
    ...     committer.log([PredictionRecord("p1", "m", "v1", at, {"x": 1}, None, "rejected")])
    >>> store.count(), store.get("p1")["status"]
    (1, 'rejected')
    >>> store.close()

    References
    ----------
    DeWitt, D. J., Katz, R. H., Olken, F., Shapiro, L. D., Stonebraker, M. R. and Wood, D. (1984).
    Implementation techniques for main memory database systems. SIGMOD '84, 1-8.
    """

    def __init__(
        self, store: PredictionStore, *, max_batch: int = 512, max_wait_ms: float = 2.0
    ) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise InputError(f"max_batch {max_batch!r} is not a positive integer")
        if not max_wait_ms >= 0:
            raise InputError(f"max_wait_ms {max_wait_ms!r} is not a non-negative number")
        self.store = store
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.batches = 0
        """Transactions committed so far (a failed batch retried caller by caller counts each)."""
        self.records = 0
        """Rows committed so far."""
        self._pending: deque[_Pending] = deque()
        self._queued = 0
        self._company = 1  # callers in the last transaction: how many to wait for
        self._closed = False
        self._changed = threading.Condition()
        self._writer = threading.Thread(target=self._run, name="tether-group-commit", daemon=True)
        self._writer.start()

    def submit(self, records: Sequence[Item]) -> Future[None]:
        """Queue ``records`` (records or batches, as :meth:`PredictionStore.log` takes them); the
        future resolves once they are committed (or with their error)."""
        pending = _Pending(list(records))
        if not pending.rows:
            pending.future.set_result(None)
            return pending.future
        with self._changed:
            if self._closed:
                raise StoreError(f"the group committer of {self.store.url} is closed")
            self._pending.append(pending)
            self._queued += pending.rows
            self._changed.notify()
        return pending.future

    def log(self, records: Sequence[Item]) -> None:
        """Commit ``records`` together with other callers'; returns once they are durable, raises
        what logging them alone would raise."""
        self.submit(records).result()

    async def log_async(self, records: Sequence[Item]) -> None:
        """:meth:`log` for asyncio code: waits without blocking the event loop. A cancelled
        caller's records are still committed (the prediction was made)."""
        committed = asyncio.wrap_future(self.submit(records))
        # Mark the error retrieved, so that a caller cancelled meanwhile leaves no asyncio warning.
        committed.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.shield(committed)

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread; idempotent."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._writer.join()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if not self._pending:
                    return
                deadline = self._pending[0].arrived + self.max_wait_ms / 1000
                while (
                    len(self._pending) < self._company
                    and self._queued < self.max_batch
                    and not self._closed
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                batch = [self._pending.popleft()]
                size = batch[0].rows
                while self._pending and size + self._pending[0].rows <= self.max_batch:
                    size += self._pending[0].rows
                    batch.append(self._pending.popleft())
                self._queued -= size
                self._company = len(batch)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self.store.log([record for pending in batch for record in pending.records])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for pending in batch:
                self._commit([pending])
            return
        self.batches += 1
        self.records += sum(pending.rows for pending in batch)
        for pending in batch:
            pending.future.set_result(None)
