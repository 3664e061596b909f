"""The interface every prediction store keeps, and the bookkeeping all backends share.

A :class:`PredictionStore` is append-only for predictions (a logged record is never rewritten),
last-writer-wins for labels, and keeps every version of the monitoring job's results for a
window. Backends only supply the SQL; validation, JSON encoding, duplicate handling, the label
bookkeeping and the versioning of results live here and in :mod:`tether.store.rows` and
:mod:`tether.store.results`, so that SQLite and PostgreSQL behave the same way, which the suites
in ``tests/store/`` check on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tether.errors import InputError
from tether.store import frame
from tether.store.batch import PredictionBatch, batch_fields, batch_rows
from tether.store.records import (
    DuplicateIdError,
    LabelRecord,
    LabelResult,
    PredictionRecord,
    StoreError,
)
from tether.store.results import (
    MODELS,
    Dialect,
    SavedWindow,
    result_frame,
    result_rows,
    window_frame,
)
from tether.store.rows import (
    Field,
    LabelRow,
    PredictionRow,
    Shape,
    StoredRow,
    Window,
    label_row,
    prediction_row,
    shape,
    shape_fields,
    stored_record,
    utc_window,
)
from tether.store.schema import Cursor, Migration

__all__ = ["DuplicateIdError", "PredictionStore", "StoreError", "split_labels"]

READ_CHUNK_ROWS = 100_000
"""Lines per NDJSON chunk a window read hands to the parser: large enough for polars to parse in
parallel, small enough to overlap with the database producing the next."""


def split_labels(
    rows: Sequence[LabelRow], known: set[str], stored: Mapping[str, str]
) -> tuple[list[LabelRow], list[LabelRow], LabelResult]:
    """Split label rows into new labels and replacements, given the ids of the predictions that
    exist (``known``) and their stored label values (``stored``, JSON text).

    Backends call it inside the transaction that read ``known`` and ``stored``. Rows apply in
    order, as if sent one by one; a value equal (as JSON text) to the current one is unchanged.

    Example
    -------
    >>> at = datetime(2024, 1, 1, tzinfo=UTC)
    >>> new, replaced, result = split_labels(
    ...     [("a", "1", at), ("b", "0", at), ("b", "1", at), ("x", "1", at)],
    ...     known={"a", "b"}, stored={"a": "1"})
    >>> [row[:2] for row in new], replaced
    ([('b', '1')], [])
    >>> result
    LabelResult(accepted=1, unchanged=1, updated=1, unknown=['x'])
    """
    current = dict(stored)
    new: dict[str, LabelRow] = {}
    replaced: dict[str, LabelRow] = {}
    accepted = unchanged = updated = 0
    unknown: dict[str, None] = {}
    for row in rows:
        prediction_id, value = row[0], row[1]
        if prediction_id not in known:
            unknown[prediction_id] = None
        elif prediction_id not in current:
            accepted += 1
            new[prediction_id] = row
            current[prediction_id] = value
        elif current[prediction_id] == value:
            unchanged += 1
        else:
            updated += 1
            current[prediction_id] = value
            (new if prediction_id in new else replaced)[prediction_id] = row
    result = LabelResult(accepted, unchanged, updated, list(unknown))
    return list(new.values()), list(replaced.values()), result


class PredictionStore(ABC):
    """The durable prediction log: append predictions, join labels, read windows into polars.

    Backends (:class:`~tether.store.sqlite.SQLiteStore`,
    :class:`~tether.store.postgres.PostgresStore`) are opened with
    :func:`~tether.store.open_store`. Every method is safe to call from many threads. ``log``
    and ``add_labels`` are one transaction each and durable when they return. Times come back
    as timezone-aware UTC datetimes with microsecond precision.

    Example
    -------
    >>> import tempfile
    >>> from tether.store import open_store
    >>> store = open_store(tempfile.mkdtemp() + "/log.db")
    >>> at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    >>> store.log([PredictionRecord("p1", "late", "v1", at, {"x": 2.5}, {"prediction": 1}, "ok")])
    >>> store.add_labels([LabelRecord("p1", 0), LabelRecord("p9", 1)])
    LabelResult(accepted=1, unchanged=0, updated=0, unknown=['p9'])
    >>> store.read("late").select("id", "x", "prediction", "label").rows()
    [('p1', 2.5, 1, 0)]
    >>> store.close()
    """

    url: str
    """Where the store lives, without any password."""

    migrations: tuple[Migration, ...]
    """The backend's schema migrations, oldest first."""

    dialect: Dialect
    """How the backend's SQL for the monitor's results differs from the shared statements."""

    def __init__(self) -> None:
        # What this process already wrote to the field catalog: the common batch adds nothing.
        self._shapes: set[Shape] = set()
        self._fields: set[Field] = set()

    def log(self, records: Sequence[PredictionRecord | PredictionBatch]) -> None:
        """Write ``records`` in one transaction, committed when this returns.

        Each item is one :class:`PredictionRecord` or a :class:`PredictionBatch` of many (the
        columnar form a server logs a request's predictions in: stored as its records would be,
        at a fraction of the cost). Raises :class:`DuplicateIdError` naming the ids that are
        already stored or repeated in ``records``, and then writes none of them;
        :class:`~tether.errors.InputError` for a record that breaks a field's rule.
        """
        batch: list[PredictionRow] = []
        shapes: set[Shape] = set()
        fields: set[Field] = set()
        for item in records:
            if isinstance(item, PredictionBatch):
                batch += batch_rows(item)
                fields |= batch_fields(item)
            else:
                batch.append(prediction_row(item))
                shapes.add(shape(item))
        ids = [row[0] for row in batch]
        if len(set(ids)) < len(ids):
            counts = Counter(ids)
            repeated = [i for i in dict.fromkeys(ids) if counts[i] > 1]
            raise DuplicateIdError(repeated, "appears twice in the batch")
        if not batch:
            return
        shapes -= self._shapes
        fields = fields.union(*map(shape_fields, shapes)) - self._fields
        self._insert(batch, sorted(fields))
        self._shapes |= shapes
        self._fields |= fields

    def add_labels(self, labels: Sequence[LabelRecord]) -> LabelResult:
        """Join ``labels`` to their predictions in one transaction; sending a label again is a
        no-op. Within a batch, labels apply in order (a later one for the same id wins)."""
        batch = [label_row(label) for label in labels]
        if not batch:
            return LabelResult(0, 0, 0, [])
        return self._label(batch, datetime.now(UTC))

    def get(self, prediction_id: str) -> dict[str, Any] | None:
        """Every field of one logged record plus ``label``, ``labeled_at`` and
        ``label_received_at`` (when the current label value was first received; None while
        unlabeled); None for an unknown id."""
        if not isinstance(prediction_id, str):
            raise InputError(f"prediction id {prediction_id!r:.80} is not a string")
        row = self._get(prediction_id)
        return None if row is None else stored_record(row)

    def read(
        self,
        model: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        version: str | None = None,
        schema: Mapping[str, pl.DataType | type[pl.DataType]] | None = None,
        labels: bool = True,
        problems: bool = False,
    ) -> pl.DataFrame:
        """The predictions of ``model`` made in ``[start, end)``, oldest first, as one frame.

        Columns: ``id``, ``model``, ``version``, ``created_at`` (Datetime us UTC), ``status``,
        ``request_id``, one per input, the output fields (``prediction`` always, ``score`` or
        ``proba_*``), ``latency_total_ms`` and, with ``labels``, ``label`` and ``labeled_at``.
        ``problems`` adds what the monitoring job needs beyond that: ``rules`` after
        ``status`` (List(String): the rule of each contract problem the record had, in order;
        empty for none) and, with ``labels``, ``label_received_at`` last (when the current
        label value was first received: a new value moves it, the same value sent again does
        not). An input named like one of those columns is renamed ``input_<name>`` (an output
        field, ``output_<name>``), prefixed again while that name is taken.

        Input columns are typed by ``schema`` (the bundle's feature schema) when given: exactly
        its columns, in its order. Otherwise there is one column per input field ever logged for
        ``model`` (and ``version``), typed, like the outputs and the label, by the JSON types
        written under that field: integers -> Int64, integers and reals -> Float64, booleans ->
        Boolean, only nulls -> Null, anything else (strings, mixes, nested values) -> String
        (nested values as their JSON text). A value that does not fit its column's type (say, a
        string in a flagged record's numeric input) reads as null; :meth:`get` keeps it raw.
        Rows with equal ``created_at`` are ordered by ``id``.
        """
        if not isinstance(model, str):
            raise InputError(f"model {model!r} is not a string")
        window = utc_window(start, end)
        if version is not None and not isinstance(version, str):
            raise InputError(f"version {version!r} is not a string")
        with frame.WindowParser(schema=schema, labels=labels, problems=problems) as parser:
            self._window(model, window, version, parser=parser)
            return parser.frame()

    def models(self) -> list[str]:
        """The models that logged predictions, sorted by name."""
        return sorted(model for (model,) in self._query(MODELS, ()))

    def save_window(
        self,
        model: str,
        window_start: datetime,
        window_end: datetime,
        fingerprint: str,
        results: pl.DataFrame,
        *,
        bundle_version: str,
        rows: int,
        labeled: int,
        complete: bool,
    ) -> int | None:
        """Keep the monitoring job's ``results`` for one window of ``model`` as its next version.

        In one transaction: when the window's newest stored version has this ``fingerprint``
        (a re-run on unchanged data), nothing is written and the answer is None; otherwise the
        window is written as version ``newest + 1`` (1 at first) with ``computed_at`` (now, UTC)
        and the results, and the answer is that version. Earlier versions are kept as they were:
        late labels that change a window give it a new version. Savers of one window are
        serialized, so concurrent saves with different fingerprints get consecutive versions.

        Parameters
        ----------
        model
            The model the window belongs to.
        window_start, window_end
            ``[window_start, window_end)``, timezone-aware, start before end.
        fingerprint
            What the results were computed from (:func:`tether.monitor.windows.fingerprint`).
        results
            The window's tidy result rows: the columns of :data:`tether.monitor.RESULT_SCHEMA`
            (cast where the meaning is kept; see :func:`tether.store.results.result_rows`).
        bundle_version
            The bundle version whose reference the window was compared with.
        rows, labeled
            Predictions in the window, and how many of them had labels.
        complete
            Whether the window was over (no prediction can still fall into it).

        Raises :class:`~tether.errors.InputError` naming the argument or results column that
        breaks its rule, before anything is written.

        Example
        -------
        >>> import tempfile
        >>> from tether.store import open_store
        >>> from tether.store.results import RESULT_COLUMNS
        >>> store = open_store(tempfile.mkdtemp() + "/log.db")
        >>> day = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
        >>> psi = {"check": "drift", "metric": "psi", "column": "x", "value": 0.31, "alert": True}
        >>> found = pl.DataFrame([psi], schema=RESULT_COLUMNS)  # as tether.monitor.results_frame
        >>> facts = {"bundle_version": "ab12", "rows": 500, "labeled": 0, "complete": True}
        >>> store.save_window("late", *day, "f1", found, **facts)
        1
        >>> store.save_window("late", *day, "f1", found, **facts) is None  # nothing changed
        True
        >>> store.save_window("late", *day, "f2", found, **{**facts, "labeled": 120})
        2
        >>> store.read_results("late").select("version", "labeled", "metric", "value").rows()
        [(2, 120, 'psi', 0.31)]
        >>> store.close()
        """
        saved = SavedWindow.check(
            model, window_start, window_end, fingerprint, bundle_version, rows, labeled, complete
        )
        table = result_rows(results)
        dialect = self.dialect
        key = (saved.model, dialect.time(saved.start), dialect.time(saved.end))
        with self._transaction() as cursor:
            if dialect.lock is not None:
                cursor.execute(dialect.lock, (saved.lock_key(),))
            cursor.execute(dialect.latest(), key)
            newest = cursor.fetchone()
            if newest is not None and newest[1] == saved.fingerprint:
                return None
            version = 1 if newest is None else int(newest[0]) + 1
            computed_at = dialect.time(datetime.now(UTC))
            cursor.execute(
                dialect.insert_window(),
                (
                    *key,
                    version,
                    saved.fingerprint,
                    computed_at,
                    saved.bundle_version,
                    saved.rows,
                    saved.labeled,
                    saved.complete,
                ),
            )
            if table:
                cursor.executemany(
                    dialect.insert_results(),
                    [(*key, version, position, *row) for position, row in enumerate(table)],
                )
        return version

    def read_results(
        self,
        model: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        check: str | None = None,
        all_versions: bool = False,
    ) -> pl.DataFrame:
        """The stored results of ``model``'s windows that overlap ``[start, end)``.

        Only each window's newest version unless ``all_versions``; only the rows of ``check``
        when given. Columns (:data:`tether.store.results.RESULT_FRAME_COLUMNS`): the window's
        ``model``, ``window_start``, ``window_end`` (Datetime us UTC), ``version``,
        ``computed_at``, ``bundle_version``, ``window_rows`` (its ``rows``), ``labeled`` and
        ``complete``, then the result columns with their types. Ordered by window start, end,
        version, then as saved. A window overlaps when it starts before ``end`` and ends after
        ``start``; an empty range matches none. No result gives an empty frame of these columns.
        """
        if not isinstance(model, str):
            raise InputError(f"model {model!r} is not a string")
        window = utc_window(start, end)
        if check is not None and not isinstance(check, str):
            raise InputError(f"check {check!r} is not a string")
        if window[0] is not None and window[0] == window[1]:
            return result_frame([])
        sql, params = self.dialect.select_results(
            model, window, check, all_versions=bool(all_versions)
        )
        return result_frame(self._query(sql, params))

    def read_windows(self, model: str, *, all_versions: bool = False) -> pl.DataFrame:
        """The saved windows of ``model``: for each, its newest version unless ``all_versions``.

        Columns (:data:`tether.store.results.WINDOW_COLUMNS`): ``model``, ``window_start``,
        ``window_end``, ``version``, ``fingerprint``, ``computed_at``, ``bundle_version``,
        ``rows``, ``labeled``, ``complete``; ordered by window start, end and version.
        """
        if not isinstance(model, str):
            raise InputError(f"model {model!r} is not a string")
        sql, params = self.dialect.select_windows(model, all_versions=bool(all_versions))
        return window_frame(self._query(sql, params))

    @abstractmethod
    def count(self, model: str | None = None) -> int:
        """How many predictions are stored (of ``model`` when given)."""

    @abstractmethod
    def ready(self) -> bool:
        """Whether the store answers and can write; never raises."""

    @abstractmethod
    def schema_version(self) -> int:
        """The database's schema version (the highest migration applied)."""

    @abstractmethod
    def migrate(self) -> list[int]:
        """Apply the missing migrations in one transaction; the versions applied, oldest first.

        Raises :class:`~tether.errors.UnsupportedVersionError` when the database was migrated by
        a newer tether."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections; the store cannot be used afterwards."""

    @abstractmethod
    def _insert(self, rows: list[PredictionRow], fields: list[Field]) -> None:
        """Insert rows and add ``fields`` to the catalog (if missing) in one transaction; raise
        DuplicateIdError (nothing written) on a stored id."""

    @abstractmethod
    def _label(self, rows: list[LabelRow], received_at: datetime) -> LabelResult:
        """Apply label rows in one transaction with :func:`split_labels`, adding their types to
        the catalog (:func:`tether.store.rows.label_fields`)."""

    @abstractmethod
    def _get(self, prediction_id: str) -> StoredRow | None:
        """The stored columns of one prediction joined with its label."""

    @abstractmethod
    def _window(
        self,
        model: str,
        window: Window,
        version: str | None,
        *,
        parser: frame.WindowParser,
    ) -> None:
        """From one snapshot of the database, hand ``parser`` the catalog's entries of ``model``
        (and ``version``), then the window's predictions as NDJSON chunks of about
        :data:`READ_CHUNK_ROWS` lines in :mod:`tether.store.frame`'s layout (with the fields the
        parser's ``labels`` and ``problems`` ask for), in any order."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in a write transaction, committed when the block ends without error."""

    @abstractmethod
    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of one read-only statement."""

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
