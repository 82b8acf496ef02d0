"""A run that lost control of its cluster ends 255 with the reason and is never valid; cleanup spares
live runs; a usage error writes nothing; nodes leave nothing in /dev/shm; the lab leaves nothing in
$HOME. Real processes and real containers, removed under a live run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from _helpers import docker_engine

from splitbrain.backends import faketime


def _splitbrain(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "splitbrain", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "1"}, **kw)


def _wait_ok_ops(store: Path, n: int, proc: subprocess.Popen[str], timeout_s: float = 120) -> Path:
    """The run's directory once its history holds ``n`` ok ops."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        latest = store / "latest"
        hist = latest / "history.jsonl"
        if hist.exists() and hist.read_text().count('"type": "ok"') + hist.read_text().count('"type":"ok"') >= n:
            return latest.resolve()
        time.sleep(0.3)
    raise AssertionError("the run never got going")


def _my_node_pids(marker: str) -> list[int]:
    """Node processes whose command line names this test's own directory (nobody else's)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmd and "splitbrain.systems" in cmd:
                out.append(int(d.name))
    return out


def test_local_node_killed_by_someone_else_ends_255_never_valid(tmp_path: Path) -> None:
    store = tmp_path / "store"
    p = _splitbrain("run", "raft", "--nodes", "3", "--nemesis", "none", "--time-limit", "10", "--seed", "3",
                    "--store", str(store), "--json")
    _wait_ok_ops(store, 5, p)
    victims = _my_node_pids(str(tmp_path))
    assert victims
    os.kill(victims[0], signal.SIGKILL)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 255, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["valid"] != True  # noqa: E712 - never valid
    results = json.loads((store / "latest" / "results.json").read_text())
    assert any("died without the harness killing it" in why for why in results["lost_control"]), results
    assert "lost control" in results["error"]


DOCKER = docker_engine()


@pytest.mark.docker
@pytest.mark.skipif(DOCKER is None, reason="no Docker engine running")
def test_plain_cleanup_spares_a_live_run_and_removing_its_containers_ends_it_255(tmp_path: Path) -> None:
    store = tmp_path / "store"
    p = _splitbrain("run", "raft", "--backend", "docker", "--nodes", "3", "--nemesis", "pause", "--nemesis-interval",
                    "2", "--time-limit", "40", "--seed", "4", "--store", str(store), "--json")
    run_dir = _wait_ok_ops(store, 10, p, timeout_s=180)
    run_id = json.loads((run_dir / "test.json").read_text())["run_id"]
    mine = {"label": f"splitbrain.run={run_id}"}
    assert len(DOCKER.containers.list(filters=mine)) == 3
    spared = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup", "--run", run_id], capture_output=True,
                            text=True, timeout=120)
    assert spared.returncode == 0 and "spared 1 live run" in spared.stdout, spared.stdout + spared.stderr
    assert len(DOCKER.containers.list(filters=mine)) == 3
    gone = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup", "--run", run_id, "--all"],
                          capture_output=True, text=True, timeout=120)
    assert "removed 3 containers" in gone.stdout, gone.stdout + gone.stderr
    out, err = p.communicate(timeout=240)
    assert p.returncode == 255, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["valid"] != True  # noqa: E712
    results = json.loads((run_dir / "results.json").read_text())
    assert "removed" in results["error"] or "No such container" in results["error"], results["error"]
    assert DOCKER.containers.list(all=True, filters=mine) == []


def test_usage_error_at_setup_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "old").mkdir(parents=True)
    (store / "latest").symlink_to("old")
    nodes = tmp_path / "nodes"
    nodes.write_text("192.0.2.1\n192.0.2.2\n")  # two hosts for three nodes: refused before connecting
    p = _splitbrain("run", "raft", "--backend", "ssh", "--nodes", "3", "--nodes-file", str(nodes),
                    "--store", str(store))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 64 and "3 nodes requested" in err, err
    assert sorted(x.name for x in store.iterdir()) == ["latest", "old"]
    assert os.readlink(store / "latest") == "old"


def test_nodes_leave_nothing_in_dev_shm(tmp_path: Path) -> None:
    """libfaketime makes two /dev/shm objects per node process and removes them only on a clean
    exit; the harness removes those of every node it killed or stopped."""
    from splitbrain.backends.base import ClusterSpec
    from splitbrain.backends.local.backend import LocalBackend
    from splitbrain.registry import SYSTEMS

    if not faketime.available():
        pytest.skip("libfaketime is not installed")

    async def scenario() -> list[int]:
        b = LocalBackend({})
        await b.setup(ClusterSpec(SYSTEMS.get("raft"), ["n1", "n2", "n3"], str(tmp_path), uuid.uuid4().hex[:6]))
        try:
            first = b.nodes["n1"].proc.pid  # type: ignore[union-attr]
            assert any(os.path.exists(p) for p in faketime.shm_entries(first))  # the leak is real
            await b.kill("n1")
            await b.start("n1")
            return [pid for n in b.nodes.values() for pid in n.pids] + [first]
        finally:
            await b.teardown()

    pids = asyncio.run(scenario())
    assert len(set(pids)) == 4
    assert [p for pid in pids for p in faketime.shm_entries(pid) if os.path.exists(p)] == []


@pytest.mark.docker
@pytest.mark.skipif(DOCKER is None, reason="no Docker engine running")
def test_lab_try_line_works_and_lab_down_leaves_nothing_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "CI": "1"}
    up = subprocess.run([sys.executable, "-m", "splitbrain", "lab", "up", "--nodes", "1"], capture_output=True,
                        text=True, timeout=300, env=env)
    try:
        assert up.returncode == 0, up.stderr
        line = [ln for ln in up.stdout.splitlines() if ln.startswith("try: ")][0]
        assert "--nodes 1" in line
        argv = line[len("try: "):].split()
        assert argv[0] == "splitbrain"
        run = subprocess.run([sys.executable, "-m", "splitbrain", *argv[1:], "--time-limit", "3",
                              "--store", str(tmp_path / "store")], capture_output=True, text=True, timeout=300,
                             env=env, cwd=tmp_path)
        assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
    finally:
        down = subprocess.run([sys.executable, "-m", "splitbrain", "lab", "down"], capture_output=True, text=True,
                              timeout=300, env=env)
    assert down.returncode == 0 and "removed 1 host" in down.stdout, down.stdout + down.stderr
    assert list(home.iterdir()) == []
