"""The local backend: nodes as child processes on 127.0.0.1, links as harness proxies.

:mod:`.backend` is the backend, :mod:`.nodeproc` spawns and watches the node
processes, :mod:`.proxy` and :mod:`.sourceproxy` are the network between them.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``from splitbrain.backends.local import LocalBackend`` without importing the backend (and its
    dependencies) for every module of this package."""
    if name == "LocalBackend":
        from splitbrain.backends.local.backend import LocalBackend

        return LocalBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
