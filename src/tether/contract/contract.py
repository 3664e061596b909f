"""``Contract``: what production data must look like for a model to be trusted on it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from tether.contract import keys, yaml_io
from tether.contract.infer import infer_specs
from tether.contract.record import Checker, Problem, compile_checker
from tether.contract.result import ValidationResult
from tether.contract.rules import column_message, error_policy
from tether.contract.spec import ColumnSpec, specs_from_mapping
from tether.contract.validate import validate_frame
from tether.errors import InputError, UnsupportedVersionError, ValidationError
from tether.frame import Data, read

FORMAT = "tether-contract"
"""Value of the ``format`` key of every contract file."""

FORMAT_VERSION = 1
"""Version of the contract file layout this tether writes and the newest it reads."""

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Contract:
    """The schema a model's input must keep: one :class:`ColumnSpec` per column.

    Infer it from training data, save it as YAML next to the model, edit it by hand if needed, and
    check frames (:meth:`validate`, vectorized) or single records (:meth:`validate_record`,
    microseconds) against it. Both paths apply the same rules with the same messages.

    Duplicated ids are not checked: the contract speaks about values, one row at a time, so a
    frame and the same rows sent one by one get the same verdicts.

    Parameters
    ----------
    columns : the column specs, by name, in data order.
    strict : when true, a column the contract does not know is an ``extra_column`` error.

    Example
    -------
    >>> import polars as pl
    >>> train = pl.DataFrame({"flight_id": ["a1", "a2", "a3"], "dep_delay": [1.0, 5.0, -3.0]})
    >>> contract = Contract.infer(train, id_column="flight_id")
    >>> contract.columns["dep_delay"].max
    5.8
    >>> Contract.from_yaml(contract.to_yaml()) == contract
    True
    >>> contract.validate_record({"flight_id": "a4", "dep_delay": 99.0})[0]["message"]
    'dep_delay: value 99.0 above max 5.8 (rule above_max)'
    """

    columns: dict[str, ColumnSpec]
    strict: bool = False
    _checkers: tuple[tuple[str, bool, Checker], ...] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name, spec in self.columns.items():
            if spec.name != name:
                keys.fail(f"columns.{name}", f"holds the spec of column {spec.name!r}")
        checkers = tuple(
            (name, spec.required, compile_checker(spec)) for name, spec in self.columns.items()
        )
        object.__setattr__(self, "_checkers", checkers)

    @classmethod
    def infer(
        cls,
        data: Data,
        *,
        target: str | None = None,
        id_column: str | None = None,
        time_column: str | None = None,
        prediction_column: str | None = None,
        strict: bool = False,
    ) -> Contract:
        """Infer a contract from training data (rules and their parameters:
        :mod:`tether.contract.infer`)."""
        frame = read(data)
        roles = {
            column: role
            for role, column in (
                ("target", target),
                ("id", id_column),
                ("time", time_column),
                ("prediction", prediction_column),
            )
            if column is not None
        }
        for column, role in roles.items():
            if column not in frame.columns:
                raise InputError(f"{role} column {column!r} is not in the data ({frame.columns})")
        return cls(infer_specs(frame, roles), strict=strict)

    def _column_with_role(self, role: str) -> str | None:
        return next((name for name, spec in self.columns.items() if spec.role == role), None)

    @property
    def target(self) -> str | None:
        """The target column's name, if the contract has one."""
        return self._column_with_role("target")

    @property
    def id_column(self) -> str | None:
        """The id column's name, if the contract has one."""
        return self._column_with_role("id")

    @property
    def time_column(self) -> str | None:
        """The time column's name, if the contract has one."""
        return self._column_with_role("time")

    @property
    def prediction_column(self) -> str | None:
        """The prediction column's name, if the contract has one."""
        return self._column_with_role("prediction")

    def validate(self, data: Data) -> ValidationResult:
        """Check every cell of a frame (anything :func:`tether.frame.read` accepts)."""
        return validate_frame(self.columns, data, strict=self.strict, id_column=self.id_column)

    def validate_record(
        self, record: Mapping[str, Any], *, raise_on_reject: bool = False
    ) -> list[Problem]:
        """The problems of one record (empty when clean), with the batch path's messages.

        Each problem is a dict with ``column``, ``value`` (shown as text, None for a column
        problem), ``rule``, ``policy`` and ``message``. With ``raise_on_reject``, a problem whose
        policy is ``reject`` raises :class:`~tether.errors.ValidationError` carrying them all.
        """
        if not isinstance(record, Mapping):
            raise InputError(f"a record must be a mapping of column to value, got {record!r:.100}")
        problems: list[Problem] = []
        present = 0
        for name, required, check in self._checkers:
            value = record.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    problems.append(_column_problem("missing_column", name))
                continue
            present += 1
            found = check(value)
            if found:
                problems += found
        if self.strict and len(record) > present:
            problems += [
                _column_problem("extra_column", name) for name in record if name not in self.columns
            ]
        if raise_on_reject and any(p["policy"] == "reject" for p in problems):
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ValidationError(problems[0]["message"] + more, problems=problems)
        return problems

    def to_dict(self) -> dict[str, Any]:
        """The contract as plain values, in the layout of its YAML file."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "strict": self.strict,
            "columns": {name: spec.to_dict() for name, spec in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: object) -> Contract:
        """Read :meth:`to_dict` output, naming the key path of anything wrong."""
        top = keys.mapping(data, "contract", ("format", "format_version", "strict", "columns"))
        if top.get("format") != FORMAT:
            keys.fail("format", f"expected {FORMAT!r}, got {top.get('format')!r}")
        version = keys.integer(top.get("format_version"), "format_version", 1)
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"format_version: {version} is newer than this tether reads ({FORMAT_VERSION}); "
                "upgrade tether"
            )
        strict = keys.boolean(top.get("strict", False), "strict")
        if "columns" not in top:
            keys.fail("columns", "missing (a contract needs its columns)")
        return cls(specs_from_mapping(top["columns"]), strict=strict)

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The contract as YAML text, also written to ``path`` when given."""
        text = yaml_io.dump(self.to_dict())
        if path is not None:
            yaml_io.write_text(text, path)
        return text

    @classmethod
    def from_yaml(cls, text_or_path: str | os.PathLike[str]) -> Contract:
        """Read a contract from YAML text or a YAML file."""
        return cls.from_dict(yaml_io.load(yaml_io.read_text(text_or_path)))


def _column_problem(rule: str, column: str) -> Problem:
    return {
        "column": column,
        "value": None,
        "rule": rule,
        "policy": error_policy("reject"),
        "message": column_message(rule, column),
    }
