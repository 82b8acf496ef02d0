"""A system's files and setup hooks reach its nodes the same way on local, docker and ssh.

A plugin-style system (written against splitbrain.api only) ships the pbkv
server as a file, and in ``setup_node`` runs a command on the node and uploads
a second file; the node then starts from the shipped file and serves. The
teardown hook runs while the node is still there. Real processes, containers
and sshd hosts.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from splitbrain.api import (
    ClusterSpec,
    HarnessError,
    NodeConfig,
    NodeHandle,
    SystemClient,
    SystemTraits,
    WireClient,
)

SERVER = Path(__file__).resolve().parent.parent / "examples" / "pbkv-plugin" / "pbkv_plugin" / "server.py"


@dataclass
class Hooked:
    """pbkv through a plugin with setup/teardown hooks that record what they saw."""

    name: str = "hooked"
    workloads: tuple[str, ...] = ("set",)
    bugs: dict[str, str] = field(default_factory=dict)
    traits: SystemTraits = SystemTraits(files={"srv/pbkv.py": str(SERVER)})
    fail_on: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    torn_down: list[str] = field(default_factory=list)

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        peers = ",".join(f"{n}={h}:{p}" for n, (h, p) in sorted(config.peers.items()))
        return [python, f"{config.files_dir}/srv/pbkv.py", "--name", config.name,
                "--nodes", ",".join(sorted([config.name, *config.peers])), "--listen", config.client_host,
                "--port", str(config.client_port), "--peer-listen", config.peer_host,
                "--peer-port", str(config.peer_port), "--peers", peers, "--data", config.data_dir]

    def client(self, host: str, port: int) -> SystemClient:
        return WireClient(host, port)

    def setup_node(self, node: NodeHandle) -> None:
        if node.name == self.fail_on:
            raise RuntimeError("the license server said no")
        node.upload(SERVER, "copy/again.py")
        r = node.run(["sh", "-c", "ls srv copy && echo \"$0\"", node.name])
        assert r.exit_code == 0, r.output
        self.seen[node.name] = r.output
        assert node.run(["sh", "-c", "exit 7"]).exit_code == 7

    def teardown_node(self, node: NodeHandle) -> None:
        self.torn_down.append(node.name)


async def _serve_once(backend: Any, system: Hooked, tmp_path: Path, run_id: str) -> dict[str, Any]:
    try:
        await backend.setup(ClusterSpec(system, ["n1", "n2"], str(tmp_path), run_id))
        client = system.client(*backend.client_address("n1"))
        try:
            return await client.invoke("add", "s", 1, 5.0)
        finally:
            await client.close()
    finally:
        await backend.teardown()


def _backend(kind: str, lab: Any) -> Any:
    if kind == "local":
        from splitbrain.backends.local.backend import LocalBackend

        return LocalBackend({})
    if kind == "docker":
        from splitbrain.backends.docker.backend import DockerBackend

        return DockerBackend({})
    from splitbrain.backends.ssh.backend import SshBackend

    return SshBackend({"nodes_file": lab["nodes_file"], "ssh_key": lab["ssh_key"], "known_hosts": lab["known_hosts"]})


def _docker_ok() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001
        return False


DOCKER = _docker_ok()
BACKENDS = [
    "local",
    pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.skipif(not DOCKER, reason="no Docker engine")]),
    pytest.param("ssh", marks=[pytest.mark.docker, pytest.mark.skipif(not DOCKER, reason="no Docker engine")]),
]


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """sshd hosts, only when an ssh case runs."""
    if not DOCKER or not any("ssh" in item.name for item in request.session.items):
        yield None
        return
    from splitbrain.backends.docker.lab import lab_down, lab_up

    d = str(tmp_path_factory.mktemp("lab"))
    info = lab_up(2, d)
    yield info
    lab_down(d, quiet=True)


@pytest.mark.parametrize("kind", BACKENDS)
def test_files_and_hooks_reach_every_node(kind: str, lab: Any, tmp_path: Path) -> None:
    system = Hooked()
    resp = asyncio.run(_serve_once(_backend(kind, lab), system, tmp_path, f"hooks-{uuid.uuid4().hex[:8]}"))
    assert resp.get("ok") is True, resp
    assert sorted(system.seen) == ["n1", "n2"]
    for name, out in system.seen.items():
        assert "pbkv.py" in out and "again.py" in out and out.strip().endswith(name), out
    assert sorted(system.torn_down) == ["n1", "n2"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_failing_setup_hook_names_the_node_and_leaves_nothing(kind: str, lab: Any, tmp_path: Path) -> None:
    system = Hooked(fail_on="n2")
    with pytest.raises(HarnessError, match="setup of node n2 failed: RuntimeError: the license server said no"):
        asyncio.run(_serve_once(_backend(kind, lab), system, tmp_path, f"hookfail-{uuid.uuid4().hex[:8]}"))
    import subprocess

    assert not subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout
