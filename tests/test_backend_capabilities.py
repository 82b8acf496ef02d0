"""Backend abilities beyond the Backend protocol are small typed Protocols the harness checks with
isinstance/issubclass (no hasattr): which backend serves which fault is decided by what it implements."""

from __future__ import annotations

from splitbrain.backends.base import DiskBackend, DiskPrecheck, NodeListChecker, WipingBackend
from splitbrain.backends.docker.backend import DockerBackend
from splitbrain.backends.local.backend import LocalBackend
from splitbrain.backends.ssh.backend import SshBackend
from splitbrain.harness.build import disk_refusal


def test_each_backend_declares_what_it_can_do() -> None:
    assert issubclass(LocalBackend, DiskBackend) and issubclass(LocalBackend, DiskPrecheck)
    assert issubclass(DockerBackend, DiskBackend) and not issubclass(SshBackend, DiskBackend)
    assert issubclass(LocalBackend, WipingBackend) and not issubclass(SshBackend, WipingBackend)
    assert issubclass(SshBackend, NodeListChecker) and not issubclass(LocalBackend, NodeListChecker)


def test_a_backend_without_the_disk_protocol_is_refused_with_the_reason() -> None:
    assert disk_refusal(SshBackend) == "it has no fault filesystem (disk faults run on the local and docker backends)"

    class Plain:
        async def disk(self, node: str, request: dict) -> dict:
            return {}

    assert disk_refusal(Plain) is not None  # half a disk backend (no power_loss) is not one
