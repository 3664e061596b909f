"""The model registry: immutable, content-addressed bundle versions with aliases and an audit log.

``Registry(root)`` works over a local folder (default ``~/.tether/registry``) or any fsspec URL;
see :mod:`tether.registry.registry` for the layout on disk and the concurrency guarantees.
"""

from tether.registry.registry import Registry

__all__ = ["Registry"]
