"""``run``: load a model from the registry and serve it with uvicorn."""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from tether.errors import InputError
from tether.serve import logs
from tether.serve.app import create_app
from tether.serve.limits import Limits

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tether.bundle import Bundle
    from tether.registry import Registry

_CONFIG = "TETHER_SERVE_CONFIG"


def run(
    ref: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    registry: Registry | str | None = None,
    store_url: str | None = None,
    challenger: str | None = "challenger",
    token: str | None = None,
    limits: Limits | None = None,
    log_level: str = "INFO",
) -> None:
    """Serve the registry version at ``ref`` until interrupted.

    The same name's ``challenger`` alias, when it exists and points at another version, is
    scored in shadow. Each worker process loads the bundle and opens the store itself.

    Parameters
    ----------
    ref
        ``name@alias``, ``name@version`` or ``name`` (its champion).
    host, port
        Where to listen; the default answers only on this machine.
    workers
        Server processes (uvicorn workers).
    registry
        A :class:`~tether.registry.Registry` or its root (default ``$TETHER_HOME/registry``).
    store_url
        The prediction store (:func:`tether.store.open_store`; default ``$TETHER_DB_URL``).
    challenger
        Alias of the shadow model; None for no shadow.
    token
        Admin bearer token (default ``$TETHER_TOKEN``).
    limits
        Request bounds (default :class:`Limits`).
    log_level
        Level of the server's JSON log lines on standard error.
    """
    import uvicorn

    from tether.registry import Registry

    if workers < 1:
        raise InputError(f"workers={workers} must be at least 1")
    root = registry.root if isinstance(registry, Registry) else registry
    config = {
        "ref": ref,
        "registry": root,
        "store_url": store_url,
        "challenger": challenger,
        "token": token,
        "limits": None if limits is None else vars(limits),
        "log_level": log_level,
    }
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "warning",
    }
    if workers == 1:
        app = app_from_config(config)
        try:
            uvicorn.run(app, **options)
        finally:
            app.state.tether.store.close()
        return
    # workers are new processes: they rebuild the app from the configuration in the environment
    os.environ[_CONFIG] = json.dumps(config)
    uvicorn.run(
        "tether.serve.server:app_from_environment", factory=True, workers=workers, **options
    )


def app_from_environment() -> FastAPI:
    """The app of a uvicorn worker, from the configuration :func:`run` put in the environment."""
    return app_from_config(json.loads(os.environ[_CONFIG]))


def app_from_config(config: dict[str, Any]) -> FastAPI:
    """Load the bundles, open the store and build the app (see :func:`run` for the keys)."""
    from tether.registry import Registry
    from tether.store import open_store

    logs.configure(config["log_level"])
    registry = Registry(config["registry"])
    name, version = registry.resolve(config["ref"])
    bundle = registry.load(f"{name}@{version}")
    shadow = _challenger(registry, name, version, config["challenger"])
    store = open_store(config["store_url"])
    limits = Limits(**config["limits"]) if config["limits"] else None
    return create_app(
        bundle,
        model_name=name,
        store=store,
        challenger=shadow,
        registry=registry,
        token=config["token"],
        limits=limits,
    )


def _challenger(registry: Registry, name: str, champion: str, alias: str | None) -> Bundle | None:
    if alias is None or alias not in registry.aliases(name):
        return None
    _, version = registry.resolve(f"{name}@{alias}")
    if version == champion:
        return None
    logs.log(logging.INFO, "shadow", model=name, challenger=version)
    return registry.load(f"{name}@{version}")
