"""Model bundles: the fitted model with everything later stages need, addressed by content.

``Bundle.build`` captures the model with its preprocessing, the data contract, the reference
profile, baseline metrics per segment with intervals, calibration, importance, the ONNX fast path
and the lineage; ``diff_bundles``, ``verify``, ``record_parity`` and ``feature_parity`` answer the
questions asked of a model version before and after it ships.
"""

from tether.bundle.bundle import Bundle
from tether.bundle.diff import BundleDiff, diff_bundles
from tether.bundle.lineage import TrainingRun
from tether.bundle.model_file import read_model_file
from tether.bundle.parity import FeatureParity, RecordParity, feature_parity, record_parity
from tether.bundle.reproducibility import seed_everything
from tether.bundle.verify import VerifyResult, verify

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
