"""The monitoring job: cut windows of logged traffic from the store, run every check against the
bundle's reference, persist tidy, versioned results."""

from tether.monitor.result import RESULT_SCHEMA, result, results_frame

__all__ = ["RESULT_SCHEMA", "result", "results_frame"]
