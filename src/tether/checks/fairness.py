"""The pre-deploy gate's fairness check: does the challenger widen a disparity the champion had?

Both models are measured on the same rows (the validation data the caller passes, or each
bundle's own validation report when none is given), with the sensitive attributes the challenger
declares, and the challenger's disparities are compared with the champion's by
:meth:`~tether.performance.fairness.FairnessReport.compare`: a disparity that grew beyond both
intervals and a practical floor fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from tether.bundle.bundle import encode_target
from tether.errors import InputError
from tether.frame import Data, read
from tether.performance.baseline import segment_labels
from tether.performance.fairness import FairnessReport, fairness

if TYPE_CHECKING:
    from tether.bundle import Bundle


@dataclass(frozen=True)
class FairnessCheck:
    """The verdict of :func:`check_fairness`.

    Parameters
    ----------
    passed
        False when a disparity of the challenger grew beyond the champion's.
    changes
        One row per disparity: :meth:`~tether.performance.fairness.FairnessReport.compare`'s
        columns (the challenger's value and interval, the champion's as ``baseline_*``,
        ``change``, ``grew``).
    challenger, champion
        The two reports compared.
    rows
        Where they were measured: ``"the given data"`` or ``"each bundle's validation data"``.
    """

    passed: bool
    changes: pl.DataFrame
    challenger: FairnessReport
    champion: FairnessReport
    rows: str

    def summary(self) -> list[str]:
        """One line per disparity that grew, or one line saying none did."""
        grew = self.changes.filter(pl.col("grew"))
        if grew.height == 0:
            return [f"fairness: no disparity grew against the champion (on {self.rows})"]
        return [
            f"fairness: {r['attribute']} {r['metric']} {r['baseline_value']:.3f} -> "
            f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}] grew against the champion's "
            f"[{r['baseline_low']:.3f}, {r['baseline_high']:.3f}] (on {self.rows})"
            for r in grew.iter_rows(named=True)
        ]


def check_fairness(
    challenger: Bundle,
    champion: Bundle,
    valid: Data | None = None,
    *,
    floor: float = 0.02,
    n_resamples: int = 200,
    seed: int = 0,
) -> FairnessCheck:
    """Compare the challenger's disparities with the champion's.

    With ``valid`` (features, the target and the sensitive columns), both models score the
    same rows and are measured with the same resamples, so the comparison is of the models
    alone. Without it, the bundles' stored validation reports are compared, which is only
    fair when both were validated on the same data.

    Example
    -------
    See ``tests/checks/test_check_fairness.py``::

        verdict = check_fairness(registry.load("late@challenger"),
                                 registry.load("late@champion"), valid=march)
        verdict.passed, verdict.summary()
    """
    sensitive = challenger.metadata["sensitive"]
    if not sensitive:
        raise InputError(
            f"the challenger (version {challenger.version[:12]}) declares no sensitive "
            "attributes; build it with sensitive=[...] to check fairness"
        )
    if valid is None:
        new, old = challenger.fairness, champion.fairness
        if new is None or old is None:
            missing = "challenger" if new is None else "champion"
            raise InputError(
                f"the {missing} carries no fairness report; pass valid= data with the "
                f"sensitive columns {sensitive} to measure both on the same rows"
            )
        rows = "each bundle's validation data"
    else:
        frame = read(valid)
        # both cut at the challenger's edges: the same groups for both models
        edges = challenger.metadata.get("segment_edges") or {}
        new, old = (
            _measure(bundle, frame, sensitive, edges, n_resamples, seed)
            for bundle in (challenger, champion)
        )
        rows = f"the given {frame.height:,} rows"
    changes = new.compare(old, floor=floor)
    return FairnessCheck(not changes["grew"].any(), changes, new, old, rows)


def _measure(
    bundle: Bundle,
    frame: pl.DataFrame,
    sensitive: list[str],
    edges: dict[str, list[float]],
    n_resamples: int,
    seed: int,
) -> FairnessReport:
    target = bundle.metadata["target"]
    needed = [*bundle.features, target, *sensitive]
    missing = [name for name in dict.fromkeys(needed) if name not in frame.columns]
    if missing:
        raise InputError(f"valid lacks the columns {missing} the fairness check needs")
    groups = frame.select(segment_labels(frame[name], edges.get(name)) for name in sensitive)
    y = encode_target(frame[target], bundle.task, bundle.classes)
    return fairness(
        bundle.task, bundle.scores(frame), groups, y_true=y, threshold=bundle.threshold,
        n_resamples=n_resamples, seed=seed,
    )  # fmt: skip
