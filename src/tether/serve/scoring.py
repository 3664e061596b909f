"""``Served``: the bundle a server answers with, and how records are checked and scored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tether.contract import dtypes as contract_dtypes

if TYPE_CHECKING:
    from tether.bundle import Bundle

Problem = dict[str, Any]


class Served:
    """A champion bundle (and optionally a challenger scored in its shadow), ready to answer.

    Built once per loaded bundle and swapped as a whole on reload, so a request that took a
    reference to one keeps using it to the end while new requests get the next.

    Parameters
    ----------
    bundle
        The model answering clients.
    name
        Its registry name.
    challenger
        A bundle scored on the same valid records; its outputs are logged, never returned.

    Example
    -------
    >>> import polars as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> from tether.bundle import Bundle
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 50, "y": [0, 0, 1, 1] * 50})
    >>> model = LogisticRegression().fit(frame.select("x"), frame["y"])
    >>> served = Served(Bundle.build(model, train=frame, valid=frame, target="y", n_resamples=20),
    ...                 "demo")
    >>> served.check([{"x": 3.0, "y": 1}, {"x": "3"}])[1][0]["rule"]
    'wrong_type'
    >>> served.predict(served.bundle, [{"x": 3.0}])[0]["prediction"]
    1
    """

    def __init__(self, bundle: Bundle, name: str, challenger: Bundle | None = None) -> None:
        self.bundle = bundle
        self.name = name
        self.challenger = challenger
        contract = bundle.contract
        # clients send features; the id is the prediction id, the target comes as a label, and
        # the server stamps the time itself
        roles = (contract.id_column, contract.target, contract.time_column)
        self.ignored = frozenset(c for c in roles if c)
        self.known = frozenset(contract.columns)
        self.coerced = frozenset(
            n for n, spec in contract.columns.items() if spec.policy == "coerce"
        )
        self.budget_ms: float | None = bundle.metadata.get("latency_budget_ms")

    def warm_up(self) -> None:
        """Score two training rows on both paths with every bundle, so that the first client
        does not pay for lazy initialization (tens of milliseconds in polars and the runtimes)."""
        rows = self.bundle.background.head(2).to_dicts()
        for bundle in (self.bundle, self.challenger):
            if bundle is not None:
                self.predict(bundle, rows[:1])
                self.predict(bundle, rows)

    def check(self, records: Sequence[Mapping[str, Any]]) -> list[list[Problem]]:
        """The contract problems of each record, without those of the id, target and time
        columns."""
        validate = self.bundle.contract.validate_record
        ignored = self.ignored
        return [[p for p in validate(record) if p["column"] not in ignored] for record in records]

    def predict(
        self,
        bundle: Bundle,
        records: Sequence[Mapping[str, Any]],
        *,
        clean: bool = True,
    ) -> list[dict[str, Any]]:
        """The outputs of ``bundle`` for each record as the bundle gives them: ``prediction``
        and ``score`` (binary) or ``proba_<class>`` (multiclass), the fields the store keeps.

        One clean record takes the online path (:meth:`Bundle.predict_record`); several, or one
        holding values a contract flagged or coerces, go through a frame and the batch path,
        where values are converted to the training schema as the batch validator does.
        """
        if len(records) == 1 and clean and not self._needs_conversion(records[0]):
            return [bundle.predict_record(records[0])]
        return bundle.predict(self.frame(bundle, records)).to_dicts()

    def frame(self, bundle: Bundle, records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
        """Records as a frame of ``bundle``'s features with its training schema; values that do
        not convert become null (the contract has already rejected or flagged them)."""
        schema = bundle.metadata["feature_schema"]
        return pl.DataFrame(
            [
                pl.Series(
                    name,
                    [_scalar(record.get(name)) for record in records],
                    dtype=contract_dtypes.to_polars(schema[name]),
                    strict=False,
                )
                for name in bundle.features
            ]
        )

    def _needs_conversion(self, record: Mapping[str, Any]) -> bool:
        return any(isinstance(record.get(name), str) for name in self.coerced) or any(
            isinstance(record.get(name), dict | list) for name in self.bundle.features
        )


def _scalar(value: Any) -> Any:
    # a flagged nested value must not make polars build a struct or list column
    return None if isinstance(value, dict | list) else value


def answer_fields(out: Mapping[str, Any]) -> dict[str, Any]:
    """A bundle's output row as a response shows it: ``proba_<class>`` fields become one
    ``probabilities`` mapping.

    Example
    -------
    >>> answer_fields({"prediction": "b", "proba_a": 0.25, "proba_b": 0.75})
    {'prediction': 'b', 'probabilities': {'a': 0.25, 'b': 0.75}}
    """
    shaped: dict[str, Any] = {"prediction": out["prediction"]}
    if "score" in out:
        shaped["score"] = out["score"]
    probabilities = {k[6:]: v for k, v in out.items() if k.startswith("proba_")}
    if probabilities:
        shaped["probabilities"] = probabilities
    return shaped
