"""The ssh backend: nodes on real hosts, reached from the control node over SSH.

:mod:`.backend` is the backend, :mod:`.hosts` reads the nodes file, and
:mod:`.remote` builds the quoted shell commands it runs on the hosts.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``from splitbrain.backends.ssh import SshBackend`` without importing the backend (and its
    dependencies) for every module of this package."""
    if name == "SshBackend":
        from splitbrain.backends.ssh.backend import SshBackend

        return SshBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
