"""Raft as real node processes on localhost, peers dialing each other's peer ports directly."""

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
from _helpers import start_until_serving

from splitbrain.backends.local.nodeproc import free_ports
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.wire import ClientConnection

pytestmark = pytest.mark.timeout(120)


class Cluster:
    def __init__(self, root: Path, n: int = 5, bug: str | None = None) -> None:
        self.names = [f"n{i + 1}" for i in range(n)]
        ports = free_ports(2 * n)
        self.client_port = dict(zip(self.names, ports[:n], strict=True))
        self.peer_port = dict(zip(self.names, ports[n:], strict=True))
        self.root = root
        self.bug = bug
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def config(self, name: str) -> NodeConfig:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return NodeConfig(
            name=name, client_host="127.0.0.1", client_port=self.client_port[name],
            peer_host="127.0.0.1", peer_port=self.peer_port[name],
            peers={p: ("127.0.0.1", self.peer_port[p]) for p in self.names if p != name},
            data_dir=str(d / "data"), log_file=str(d / "node.log"), bug=self.bug,
        )

    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "splitbrain.systems.raft", "--config", self.config(name).to_json()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def kill(self, name: str) -> None:
        p = self.procs[name]
        p.kill()
        p.wait()

    def signal(self, name: str, sig: int) -> None:
        os.kill(self.procs[name].pid, sig)

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()

    def log(self, name: str) -> str:
        return (self.root / name / "node.log").read_text()

    async def call(self, name: str, op: str, key: Any = None, value: Any = None, timeout_s: float = 3.0
                   ) -> dict[str, Any] | None:
        conn = ClientConnection("127.0.0.1", self.client_port[name])
        req: dict[str, Any] = {"op": op}
        if key is not None:
            req["key"] = key
        if value is not None:
            req["value"] = value
        try:
            return await conn.request(req, timeout_s)
        except (OSError, TimeoutError, ConnectionError):
            return None
        finally:
            await conn.close()

    async def until_ok(self, op: str, key: Any = None, value: Any = None, nodes: list[str] | None = None,
                       within_s: float = 20.0) -> dict[str, Any]:
        """Retry an op round-robin over ``nodes`` until it succeeds (or a definite error)."""
        deadline = time.monotonic() + within_s
        i = 0
        nodes = nodes or self.names
        while time.monotonic() < deadline:
            r = await self.call(nodes[i % len(nodes)], op, key, value)
            i += 1
            if r is not None and (r["ok"] or r.get("error") not in ("not-leader", "timeout")):
                return r
            await asyncio.sleep(0.05)
        raise AssertionError(f"{op} {key} {value} did not succeed within {within_s}s")

    async def leader(self, among: list[str] | None = None, within_s: float = 20.0) -> str:
        r = await self.until_ok("read", "probe", nodes=among, within_s=within_s)
        return r.get("leader") or r["node"]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop_all()


def test_leader_elected_and_writes_replicated_to_every_node(cluster):
    async def main():
        t0 = time.monotonic()
        cluster.start_all()
        leader = await cluster.leader()
        elected_s = time.monotonic() - t0
        assert (await cluster.until_ok("write", "k", 1))["value"] == 1
        for n in cluster.names:  # any node answers, followers by proxying to the leader
            r = await cluster.until_ok("read", "k", nodes=[n])
            assert r["value"] == 1, (n, r)
        return leader, elected_s

    leader, elected_s = asyncio.run(main())
    assert elected_s < 15
    assert "leader in term" in cluster.log(leader)


def test_committed_write_survives_killing_the_leader_and_its_restart(cluster):
    async def main():
        cluster.start_all()
        old = await cluster.leader()
        assert (await cluster.until_ok("write", "k", "durable"))["ok"]
        cluster.kill(old)
        rest = [n for n in cluster.names if n != old]
        new = await cluster.leader(rest)
        assert new != old
        assert (await cluster.until_ok("read", "k", nodes=rest))["value"] == "durable"
        assert (await cluster.until_ok("write", "k2", "after", nodes=rest))["ok"]
        cluster.start(old)  # recovers its log from the data dir and catches up
        for _ in range(100):
            r = await cluster.until_ok("read", "k2", nodes=[old])
            if r["value"] == "after":
                break
        assert r["value"] == "after"
        assert (await cluster.until_ok("read", "k", nodes=[old]))["value"] == "durable"

    asyncio.run(main())
    assert "recovered term=" in cluster.log(cluster.names[0])


def test_paused_leader_is_replaced_and_cluster_keeps_serving(cluster):
    async def main():
        cluster.start_all()
        old = await cluster.leader()
        cluster.signal(old, signal.SIGSTOP)
        rest = [n for n in cluster.names if n != old]
        new = await cluster.leader(rest)
        assert new != old
        assert (await cluster.until_ok("write", "p", 7, nodes=rest))["ok"]
        cluster.signal(old, signal.SIGCONT)
        # the old leader steps down on seeing the new term and serves the new value
        r = await cluster.until_ok("read", "p", nodes=[old])
        assert r["value"] == 7

    asyncio.run(main())


def test_whole_cluster_restart_recovers_the_log(cluster):
    async def main():
        cluster.start_all()
        await cluster.leader()
        acked = attempted = 0
        while acked < 5:  # a retried incr after a timeout may apply twice: count attempts
            r = await cluster.call(cluster.names[attempted % 5], "incr", "c", 2)
            if r is None or not r.get("definite", False):
                attempted += 1
            acked += 1 if r is not None and r["ok"] else 0
            attempted += 1 if r is not None and r["ok"] else 0
        assert (await cluster.until_ok("add", "s", 3))["ok"]
        for n in cluster.names:
            cluster.kill(n)
        cluster.start_all()
        assert 10 <= (await cluster.until_ok("read", "c"))["value"] <= 2 * attempted
        assert (await cluster.until_ok("read", "s"))["value"] == [3]

    asyncio.run(main())


def test_op_semantics_cas_txn_add_incr_generate(cluster):
    async def main():
        cluster.start_all()
        await cluster.leader()
        assert (await cluster.until_ok("cas", "r", [None, 1]))["value"] == [None, 1]
        r = await cluster.until_ok("cas", "r", [5, 6])
        assert (r["ok"], r["error"], r["definite"]) == (False, "cas-mismatch", True)
        assert (await cluster.until_ok("cas", "r", [1, 2]))["ok"]
        assert (await cluster.until_ok("read", "r"))["value"] == 2
        for e in (10, 9, 10):
            assert (await cluster.until_ok("add", "s", e))["value"] == e
        assert (await cluster.until_ok("read", "s"))["value"] == [9, 10]
        assert (await cluster.until_ok("incr", "c", 3))["value"] == 3
        assert (await cluster.until_ok("incr", "c", -1))["value"] == -1
        assert (await cluster.until_ok("read", "c"))["value"] == 2
        txn = [["append", "x", 1], ["r", "x", None], ["r", "y", None]]
        assert (await cluster.until_ok("txn", None, txn))["value"] == [
            ["append", "x", 1], ["r", "x", [1]], ["r", "y", None]]
        ids = [(await cluster.until_ok("generate", nodes=[n]))["value"] for n in cluster.names * 2]
        assert len(set(ids)) == len(ids)
        r = await cluster.call(cluster.names[0], "frobnicate")
        assert r is not None and (r["error"], r["definite"]) == ("unsupported", True)

    asyncio.run(main())


@pytest.mark.parametrize("bug", [None, "no-fsync"])
def test_a_node_with_an_empty_state_file_stops_naming_it_unless_it_never_fsyncs(tmp_path, bug):
    """A power loss empties a no-fsync node's unsynced raft-state.json: it restarts as one that never
    voted. A correct node's state file is written with fsync + rename and is never empty: finding it
    empty, it exits 1 with one line naming the file instead of forgetting its vote."""
    c = Cluster(tmp_path, n=3, bug=bug)
    config = c.config("n1")
    Path(config.data_dir).mkdir(parents=True)
    (Path(config.data_dir) / "raft-state.json").write_bytes(b"")
    if bug is None:
        p = subprocess.run([sys.executable, "-m", "splitbrain.systems.raft", "--config", config.to_json()],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert p.stderr.strip().splitlines() == [
            f"error: node n1: state file {config.data_dir}/raft-state.json is empty, though every write of it "
            "was fsync'd"], p.stderr
        return
    try:
        start_until_serving(c, "n1", config.log_file)
    finally:
        c.stop_all()
