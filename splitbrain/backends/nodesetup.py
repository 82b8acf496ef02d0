"""A system's files and setup hooks on its nodes: one sequence, every backend.

Before a node's process starts, each backend ships the files the system
declares (``SystemTraits.files``) into the node's ``files_dir`` through the
node's :class:`~splitbrain.systems.capabilities.NodeHandle`, then runs the
system's ``setup_node`` hook (:class:`~splitbrain.systems.capabilities.NodeSetup`).
At teardown it runs ``teardown_node`` while the node's host is still there.
Backends differ only in their handle (a child process, ``docker exec``, an
SSH channel), so a plugin behaves the same on local, docker and ssh.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from splitbrain.errors import HarnessError, UsageError
from splitbrain.systems.capabilities import NodeHandle, NodeSetup, traits_of

log = logging.getLogger(__name__)


def check_files(system: Any) -> None:
    """Every declared file exists on the control host (checked before anything starts: exit 64)."""
    for name, path in traits_of(system).files.items():
        if not os.path.isfile(path):
            raise UsageError(f"system {system.name!r} ships {name!r} from {path}, which is not a file")


def prepare(system: Any, node: NodeHandle) -> None:
    """Ship the system's files to ``node`` and run its setup hook; a failure names the node (exit 255)."""
    ship(system, node)
    setup(system, node)


def ship(system: Any, node: NodeHandle) -> None:
    """Copy every declared file into the node's ``files_dir``."""
    for name, path in traits_of(system).files.items():
        try:
            node.upload(path, name)
        except OSError as e:
            raise HarnessError(f"cannot ship {path} to node {node.name}: {e}") from None


def needs_setup(system: Any) -> bool:
    return isinstance(system, NodeSetup)


def setup(system: Any, node: NodeHandle) -> None:
    """Run the system's ``setup_node`` hook, if it has one."""
    if isinstance(system, NodeSetup):
        try:
            system.setup_node(node)
        except HarnessError:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's hook failing is one line, not a traceback
            raise HarnessError(f"setup of node {node.name} failed: {type(e).__name__}: {e}") from None


def finish(system: Any, node: NodeHandle) -> None:
    """Run the system's teardown hook on ``node``; never raises (teardown must reach every node)."""
    if not isinstance(system, NodeSetup):
        return
    try:
        system.teardown_node(node)
    except Exception:  # noqa: BLE001
        log.warning("teardown of node %s failed", node.name, exc_info=True)
