"""Model bundles: the fitted model with everything later stages need, addressed by content.

``Bundle.build`` captures the model with its preprocessing, the data contract, the reference
profile, baseline metrics per segment with intervals, calibration, importance, the ONNX fast path
and the lineage; ``diff_bundles``, ``verify``, ``record_parity`` and ``feature_parity`` answer the
questions asked of a model version before and after it ships.

Names are imported on first use: the model libraries (scikit-learn, skops, onnxruntime) cost
seconds to import, and the registry, the CLI and the server's workers should not pay that for
reading a manifest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.bundle.bundle import Bundle
    from tether.bundle.diff import BundleDiff, diff_bundles
    from tether.bundle.lineage import TrainingRun
    from tether.bundle.model_file import read_model_file
    from tether.bundle.parity import FeatureParity, RecordParity, feature_parity, record_parity
    from tether.bundle.reproducibility import seed_everything
    from tether.bundle.verification import VerifyResult, verify

_WHERE = {
    "Bundle": "bundle",
    "BundleDiff": "diff",
    "diff_bundles": "diff",
    "TrainingRun": "lineage",
    "read_model_file": "model_file",
    "FeatureParity": "parity",
    "RecordParity": "parity",
    "feature_parity": "parity",
    "record_parity": "parity",
    "seed_everything": "reproducibility",
    "VerifyResult": "verification",
    "verify": "verification",
}

__all__ = [
    "Bundle",
    "BundleDiff",
    "FeatureParity",
    "RecordParity",
    "TrainingRun",
    "VerifyResult",
    "diff_bundles",
    "feature_parity",
    "read_model_file",
    "record_parity",
    "seed_everything",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"tether.bundle.{_WHERE[name]}"), name)
