"""The monitoring job: cut windows of logged traffic from the store, run every check against the
bundle's reference, persist tidy, versioned results; export production data for retraining and
samples for human review."""

from tether.monitor.export import TrainingSetExport, export_training_set
from tether.monitor.job import Monitor, MonitorRun
from tether.monitor.result import RESULT_SCHEMA, result, results_frame
from tether.monitor.review import export_review, import_review

__all__ = [
    "RESULT_SCHEMA",
    "Monitor",
    "MonitorRun",
    "TrainingSetExport",
    "export_review",
    "export_training_set",
    "import_review",
    "result",
    "results_frame",
]
