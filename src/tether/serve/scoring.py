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
        holding values a contract flagged or coerces, go through a frame and the batch path
        (:meth:`predict_frame`), where values are converted to the training schema as the batch
        validator does.
        """
        if len(records) == 1 and clean and not self._needs_conversion(records[0]):
            return [bundle.predict_record(records[0])]
        return self.predict_frame(bundle, records).to_dicts()

    def predict_frame(
        self,
        bundle: Bundle,
        records: Sequence[Mapping[str, Any]],
        inputs: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """The outputs of ``bundle`` for ``records`` on the batch path, one row per record
        (``inputs``: the records as :func:`tether.store.json_frame` gives them, when it does)."""
        return bundle.predict(self.frame(bundle, records, inputs))

    def frame(
        self,
        bundle: Bundle,
        records: Sequence[Mapping[str, Any]],
        inputs: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """Records as a frame of ``bundle``'s features with its training schema; values that do
        not convert become null (the contract has already rejected or flagged them).

        ``inputs``, the same records already typed (:func:`tether.store.json_frame`), is cast
        column by column where that gives what converting each value would (same type,
        integers to floats, nulls); otherwise the records are read value by value.
        """
        schema = bundle.metadata["feature_schema"]
        dtypes = {name: contract_dtypes.to_polars(schema[name]) for name in bundle.features}
        if inputs is not None and _casts_exactly(inputs.schema, dtypes):
            return inputs.select(
                pl.col(name).cast(dtype)
                if name in inputs.schema
                else pl.lit(None, dtype).alias(name)
                for name, dtype in dtypes.items()
            )
        return pl.DataFrame(
            [
                pl.Series(
                    name,
                    [_scalar(record.get(name)) for record in records],
                    dtype=dtype,
                    strict=False,
                )
                for name, dtype in dtypes.items()
            ]
        )

    def _needs_conversion(self, record: Mapping[str, Any]) -> bool:
        return any(isinstance(record.get(name), str) for name in self.coerced) or any(
            isinstance(record.get(name), dict | list) for name in self.bundle.features
        )


def _casts_exactly(given: Mapping[str, pl.DataType], wanted: Mapping[str, pl.DataType]) -> bool:
    """Whether casting columns of types ``given`` to ``wanted`` gives what converting each value
    on its own does (a missing column: all null), with at least one column there."""
    return any(name in given for name in wanted) and all(
        name not in given
        or given[name] == dtype
        or given[name] == pl.Null
        or (given[name] == pl.Int64 and dtype.is_float())
        for name, dtype in wanted.items()
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


def answer_lines(
    outputs: pl.DataFrame, ids: Sequence[str], status: Sequence[str], warnings: Sequence[str]
) -> list[str]:
    """The JSON text of each row's answer, ``{"id", **answer_fields(row), "status",
    "warnings"}``, encoded in one polars pass (``warnings``: each row's list, as JSON text).

    Example
    -------
    >>> outputs = pl.DataFrame({"prediction": ["b", "a"], "proba_a": [0.25, 0.5],
    ...                         "proba_b": [0.75, 0.5]})
    >>> answer_lines(outputs, ["p1", "p2"], ["ok", "ok"], ["[]", "[]"])[0]
    '{"id":"p1","prediction":"b","probabilities":{"a":0.25,"b":0.75},"status":"ok","warnings":[]}'
    """
    fields: list[pl.Expr] = [pl.col("prediction")]
    if "score" in outputs.columns:
        fields.append(pl.col("score"))
    probabilities = [name for name in outputs.columns if name.startswith("proba_")]
    if probabilities:
        fields.append(
            pl.struct(pl.col(name).alias(name[6:]) for name in probabilities).alias("probabilities")
        )
    # a float32 output is answered as the float64 it is stored as, like answer_fields's value
    wide = outputs.with_columns(pl.col(pl.Float32).cast(pl.Float64))
    lines = wide.select(
        pl.struct(
            pl.Series("id", ids, dtype=pl.String), *fields, pl.Series("status", status)
        ).struct.json_encode()
    ).to_series()
    return [
        f'{line[:-1]},"warnings":{found}}}'
        for line, found in zip(lines.to_list(), warnings, strict=True)
    ]
