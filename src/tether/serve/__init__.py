"""Serving a bundle over HTTP: contract guardrails, a durable log of every prediction, shadow
scoring, labels, explanations, Prometheus metrics and an admin reload.

``create_app`` builds the FastAPI app (see :mod:`tether.serve.app` for the endpoints); ``run``
loads a registry ref and serves it with uvicorn (``tether serve NAME@ALIAS``);
``prediction_lineage`` answers where one logged prediction came from (``tether lineage ID``).
"""

from tether.serve.app import create_app
from tether.serve.limits import Limits
from tether.serve.lineage import prediction_lineage
from tether.serve.server import run

__all__ = ["Limits", "create_app", "prediction_lineage", "run"]
