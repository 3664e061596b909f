"""What changed between two model versions: code, data, parameters, contract, metrics, packages.

The question after every retrain and before every promotion. :func:`diff_bundles` compares two
bundles section by section; metrics are joined on (segment, value, metric) so a segment that got
worse shows even when the overall number improved, and each change says whether the two
bootstrap intervals overlap (a change inside both intervals is likely noise).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import polars as pl

from tether.bundle.bundle import Bundle
from tether.bundle.lineage import environment_diff

_DATA_FIELDS = ("hash", "rows", "time_min", "time_max")
_CODE_FIELDS = ("commit", "branch", "dirty", "diff_hash")


@dataclasses.dataclass(frozen=True)
class BundleDiff:
    """The differences between bundle ``a`` (before) and ``b`` (after).

    Every section is a list of ``{"field", "a", "b"}`` changes except ``metrics``, a frame with
    ``segment, value, metric, a, b, delta, a_low, a_high, b_low, b_high, overlap``.
    """

    a: str
    b: str
    code: list[dict[str, Any]]
    data: list[dict[str, Any]]
    features: list[dict[str, Any]]
    parameters: list[dict[str, Any]]
    contract: list[dict[str, Any]]
    model: list[dict[str, Any]]
    packages: list[dict[str, Any]]
    metrics: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["metrics"] = self.metrics.to_dicts()
        return out

    def summary(self) -> list[str]:
        """One line per change, metrics overall first."""
        lines = []
        for section in ("code", "data", "features", "parameters", "model", "contract"):
            lines += [
                f"{section}: {c['field']}: {c['a']!r} -> {c['b']!r}" for c in getattr(self, section)
            ]
        if self.packages:
            lines.append(
                "packages: "
                + ", ".join(
                    f"{c['field'].removeprefix('packages.')} {c['recorded']} -> {c['current']}"
                    for c in self.packages[:10]
                )
                + (f" (+{len(self.packages) - 10} more)" if len(self.packages) > 10 else "")
            )
        for row in self.metrics.filter(pl.col("delta").abs() > 0).iter_rows(named=True):
            where = "overall" if row["segment"] == "all" else f"{row['segment']}={row['value']}"
            noise = " (intervals overlap)" if row["overlap"] else ""
            lines.append(f"metric {row['metric']} {where}: {row['a']:.4f} -> {row['b']:.4f}{noise}")
        return lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def diff_bundles(a: Bundle, b: Bundle) -> BundleDiff:
    """Compare bundle ``a`` (before) with ``b`` (after).

    Example
    -------
    >>> import polars as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 50, "y": [0, 0, 1, 1] * 50})
    >>> first = Bundle.build(LogisticRegression().fit(frame.select("x"), frame["y"]),
    ...                      train=frame, valid=frame, target="y", n_resamples=20)
    >>> second = Bundle.build(LogisticRegression(C=0.01).fit(frame.select("x"), frame["y"]),
    ...                       train=frame, valid=frame, target="y", n_resamples=20)
    >>> diff_bundles(first, second).parameters
    [{'field': 'C', 'a': 1.0, 'b': 0.01}]
    """
    la, lb = a.lineage, b.lineage
    data = [
        change
        for part in ("train", "valid")
        for change in _changes(la[part], lb[part], _DATA_FIELDS, prefix=f"{part}.")
    ]
    added = [f for f in b.features if f not in a.features]
    removed = [f for f in a.features if f not in b.features]
    features = [{"field": "added", "a": None, "b": added}] if added else []
    features += [{"field": "removed", "a": removed, "b": None}] if removed else []
    if not features and a.features != b.features:
        features = [{"field": "order", "a": a.features, "b": b.features}]
    model_fields = {
        "summary": (a.metadata["model"]["summary"], b.metadata["model"]["summary"]),
        "kind": (a.metadata["model"]["kind"], b.metadata["model"]["kind"]),
        "online_path": (a.online_path, b.online_path),
        "threshold": (a.threshold, b.threshold),
    }
    return BundleDiff(
        a=a.version,
        b=b.version,
        code=_changes(la["git"], lb["git"], _CODE_FIELDS),
        data=data,
        features=features,
        parameters=_changes(la["params"] or {}, lb["params"] or {}),
        contract=_contract_changes(a, b),
        model=[{"field": k, "a": x, "b": y} for k, (x, y) in model_fields.items() if x != y],
        packages=environment_diff(la["environment"], lb["environment"]),
        metrics=_metric_changes(a.metrics, b.metrics),
    )


def _changes(
    a: dict[str, Any], b: dict[str, Any], fields: tuple[str, ...] | None = None, prefix: str = ""
) -> list[dict[str, Any]]:
    keys = fields if fields is not None else tuple(sorted(set(a) | set(b)))
    return [
        {"field": f"{prefix}{key}", "a": a.get(key), "b": b.get(key)}
        for key in keys
        if a.get(key) != b.get(key)
    ]


def _contract_changes(a: Bundle, b: Bundle) -> list[dict[str, Any]]:
    specs_a = {name: spec.to_dict() for name, spec in a.contract.columns.items()}
    specs_b = {name: spec.to_dict() for name, spec in b.contract.columns.items()}
    changes = []
    for name in sorted(set(specs_a) | set(specs_b)):
        if name not in specs_b or name not in specs_a:
            changes.append({"field": name, "a": specs_a.get(name), "b": specs_b.get(name)})
            continue
        changes += _changes(specs_a[name], specs_b[name], prefix=f"{name}.")
    return changes


def _metric_changes(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    keys = ["segment", "value", "metric"]
    if a.is_empty() or b.is_empty():
        return pl.DataFrame(schema={k: pl.String for k in keys})
    pick = [*keys, "estimate", "low", "high"]
    joined = a.select(pick).join(b.select(pick), on=keys, how="full", coalesce=True, suffix="_b")
    return joined.select(
        *keys,
        pl.col("estimate").alias("a"),
        pl.col("estimate_b").alias("b"),
        (pl.col("estimate_b") - pl.col("estimate")).alias("delta"),
        pl.col("low").alias("a_low"),
        pl.col("high").alias("a_high"),
        pl.col("low_b").alias("b_low"),
        pl.col("high_b").alias("b_high"),
        ((pl.col("low_b") <= pl.col("high")) & (pl.col("low") <= pl.col("high_b"))).alias(
            "overlap"
        ),
    ).sort("segment", "value", "metric")
