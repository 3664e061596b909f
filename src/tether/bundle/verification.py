"""``verify``: re-train a bundle's model from its recorded entry point and compare.

How, and what it checks: :mod:`tether.bundle.reproducibility`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tether.bundle.bundle import Bundle, encode_target, model_scores
from tether.bundle.lineage import environment, environment_diff
from tether.bundle.reproducibility import (
    compare_metrics,
    compare_predictions,
    resolve_entry_point,
    seed_everything,
)
from tether.errors import InputError
from tether.frame import Data, content_hash, read
from tether.performance import compute_metrics


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What re-training showed: ``predictions`` (max difference and verdict), ``metrics`` (one
    comparison per metric) and ``environment`` (recorded vs current differences)."""

    reproduced: bool
    predictions: dict[str, Any]
    metrics: list[dict[str, Any]]
    environment: list[dict[str, Any]]

    def summary(self) -> list[str]:
        """Lines for the terminal."""
        verdict = "reproduced" if self.reproduced else "NOT reproduced"
        p = self.predictions
        lines = [
            f"{verdict}: max |score difference| {p['max_abs_diff']:.3g} over {p['rows']:,} "
            f"validation rows (tolerance {p['tolerance']:g})"
        ]
        lines += [
            f"  {m['metric']}: recorded {m['recorded']:.6f}, reproduced {m['reproduced']:.6f}"
            + ("" if m["within_tolerance"] else "  <- differs")
            for m in self.metrics
        ]
        if self.environment:
            lines.append(f"environment differences ({len(self.environment)}):")
            lines += [
                f"  {d['field']}: {d['recorded']} -> {d['current']}" for d in self.environment[:20]
            ]
        return lines


def verify(bundle: Bundle, *, train: Data, valid: Data, tolerance: float = 1e-6) -> VerifyResult:
    """Re-train ``bundle``'s model on ``train`` and compare it on ``valid``.

    Both frames must hash to the contents the bundle recorded (``InputError`` otherwise).
    """
    lineage = bundle.lineage
    spec = lineage.get("entry_point")
    if not spec:
        raise InputError(
            "this bundle records no training entry point; build it with entry_point='module:fn'"
        )
    frames = {}
    for part, data in (("train", train), ("valid", valid)):
        frame = read(data)
        recorded, actual = lineage[part]["hash"], content_hash(frame)
        if actual != recorded:
            raise InputError(
                f"{part} data hashes to {actual[:19]}…, the bundle recorded {recorded[:19]}…: "
                "it is not the data the model was built from"
            )
        frames[part] = frame
    train_fn = resolve_entry_point(spec)
    if lineage.get("seed") is not None:
        seed_everything(int(lineage["seed"]))
    model = train_fn(frames["train"], dict(lineage.get("params") or {}))
    features = frames["valid"].select(bundle.features)
    recorded_scores = bundle.scores(features)
    reproduced_scores = model_scores(model, features, bundle.task)
    predictions = compare_predictions(recorded_scores, reproduced_scores, tolerance=tolerance)
    y_true = encode_target(frames["valid"][bundle.target], bundle.task, bundle.classes)
    metrics = compare_metrics(
        compute_metrics(bundle.task, y_true, recorded_scores, threshold=bundle.threshold),
        compute_metrics(bundle.task, y_true, reproduced_scores, threshold=bundle.threshold),
        tolerance=tolerance,
    )
    return VerifyResult(
        reproduced=bool(predictions["within_tolerance"])
        and all(m["within_tolerance"] for m in metrics),
        predictions=predictions,
        metrics=metrics,
        environment=environment_diff(lineage["environment"], environment()),
    )
