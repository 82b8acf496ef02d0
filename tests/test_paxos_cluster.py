"""Real multi-process Paxos clusters: nodes started as the harness starts them, peers dialled directly.

:class:`Cluster` is also used by the ring's cluster tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from splitbrain.backends.local.nodeproc import free_ports
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.wire import ClientConnection

REPO = Path(__file__).resolve().parent.parent


class Cluster:
    def __init__(self, system: str, tmp: Path, n: int = 3, bug: str | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.system = system
        self.names = [f"n{i + 1}" for i in range(n)]
        ports = free_ports(2 * n)
        self.client_ports = dict(zip(self.names, ports[:n], strict=True))
        self.peer_ports = dict(zip(self.names, ports[n:], strict=True))
        self.configs = {
            name: NodeConfig(
                name=name,
                client_host="127.0.0.1",
                client_port=self.client_ports[name],
                peer_host="127.0.0.1",
                peer_port=self.peer_ports[name],
                peers={p: ("127.0.0.1", self.peer_ports[p]) for p in self.names if p != name},
                data_dir=str(tmp / name / "data"),
                log_file=str(tmp / name / "node.log"),
                bug=bug,
                options=options or {},
            )
            for name in self.names
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        cfg = self.configs[name]
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"splitbrain.systems.{self.system}", "--config", cfg.to_json()],
            env=env, stdout=subprocess.DEVNULL, stderr=open(Path(cfg.data_dir).parent / "stderr", "ab"),  # noqa: SIM115
        )

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        p.kill()
        p.wait(10)

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.procs[name].send_signal(sig)

    def __enter__(self) -> Cluster:
        for n in self.names:
            self.start(n)
        return self

    def __exit__(self, *exc: Any) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
        for p in self.procs.values():
            p.wait(10)

    def log(self, name: str) -> str:
        return Path(self.configs[name].log_file or "").read_text()

    async def call(self, name: str, op: str, key: Any = None, value: Any = None,
                   timeout_s: float = 4.0) -> dict[str, Any]:
        conn = ClientConnection("127.0.0.1", self.client_ports[name])
        try:
            req: dict[str, Any] = {"op": op}
            if key is not None:
                req["key"] = key
            if value is not None:
                req["value"] = value
            return await conn.request(req, timeout_s)
        finally:
            await conn.close()

    async def until_ok(self, name: str, op: str, key: Any = None, value: Any = None,
                       within_s: float = 30.0) -> dict[str, Any]:
        """Retry until the op succeeds (a cluster electing a leader answers errors meanwhile)."""
        deadline = time.monotonic() + within_s
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = await self.call(name, op, key, value)
                if last.get("ok"):
                    return last
            except (OSError, TimeoutError, ConnectionError) as e:
                last = e
            await asyncio.sleep(0.2)
        pytest.fail(f"{op} {key} on {name} never succeeded: {last}")


def latest_leader(c: Cluster) -> str:
    """The node whose log says most recently that it took the lead."""
    best = (0.0, "")
    for n in c.names:
        for line in c.log(n).splitlines():
            if " leading with ballot" in line:
                best = max(best, (float(line.split()[0]), n))
    assert best[1], "nobody ever led"
    return best[1]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_paxos_cluster_replicates_survives_leader_kill_and_restart(tmp_path):
    async def body(c: Cluster) -> None:
        await c.until_ok("n1", "write", "x", 1)
        for name, v in zip(c.names, (2, 3, 4), strict=True):
            assert (await c.until_ok(name, "write", "x", v))["value"] == v
        assert (await c.until_ok("n3", "read", "x"))["value"] == 4
        assert (await c.until_ok("n2", "cas", "x", [4, 5]))["value"] == [4, 5]
        leader = latest_leader(c)
        c.kill(leader)
        alive = [n for n in c.names if n != leader]
        assert (await c.until_ok(alive[0], "read", "x"))["value"] == 5
        await c.until_ok(alive[1], "write", "y", "after")
        c.start(leader)  # restarts from its fsync'd acceptor state and catches up
        assert (await c.until_ok(leader, "read", "y"))["value"] == "after"
        ids = {(await c.until_ok(n, "generate"))["value"] for n in c.names for _ in range(2)}
        assert len(ids) == 6

    with Cluster("paxos", tmp_path) as c:
        asyncio.run(body(c))
