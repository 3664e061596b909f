"""The durable prediction log: every prediction a server makes, joinable with late labels.

``open_store(url)`` gives a :class:`PredictionStore` on SQLite (embedded, one file, the default
at ``$TETHER_HOME/tether.db``) or PostgreSQL (``postgresql://...``, for several servers), with
the same behaviour on both. Servers log through a :class:`GroupCommitter`, which commits the
records of concurrent requests in shared transactions, a request's predictions as one columnar
:class:`PredictionBatch`; monitoring reads windows back with
:meth:`PredictionStore.read` as polars frames and keeps its results per window, every version,
with :meth:`PredictionStore.save_window` (read back with :meth:`PredictionStore.read_results`).
"""

from tether.store.base import PredictionStore, split_labels
from tether.store.batch import PredictionBatch, json_frame
from tether.store.group_commit import GroupCommitter
from tether.store.ids import new_prediction_id, new_prediction_ids
from tether.store.open import open_store
from tether.store.records import (
    STATUSES,
    DuplicateIdError,
    LabelRecord,
    LabelResult,
    PredictionRecord,
    StoreError,
)

__all__ = [
    "STATUSES",
    "DuplicateIdError",
    "GroupCommitter",
    "LabelRecord",
    "LabelResult",
    "PredictionBatch",
    "PredictionRecord",
    "PredictionStore",
    "StoreError",
    "json_frame",
    "new_prediction_id",
    "new_prediction_ids",
    "open_store",
    "split_labels",
]
