"""The docker backend: one container per node on a private network per run.

:mod:`.backend` is the backend (its network faults come from
:mod:`splitbrain.backends.linux`), :mod:`.images` builds the node images offline,
:mod:`.owner` labels what a run creates so ``cleanup`` spares live runs, and
:mod:`.lab` starts sshd containers to try the ssh backend on.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``from splitbrain.backends.docker import DockerBackend`` without importing the backend (and its
    dependencies) for every module of this package."""
    if name == "DockerBackend":
        from splitbrain.backends.docker.backend import DockerBackend

        return DockerBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
