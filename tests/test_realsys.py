"""ZooKeeper and Redis with Sentinel -- software nobody here wrote -- through the public API.

Each system runs for real (Debian's packages, PyPI's kazoo and redis clients) under faults,
with the verdict its documentation predicts: ZooKeeper's synced reads and versioned writes
are linearizable, its plain reads are not (sequential consistency); Redis with Sentinel
loses acknowledged writes when the primary is cut off and a replica is promoted.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.backends import faketime

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = [ROOT / "splitbrain/systems/zookeeper.py", ROOT / "splitbrain/systems/redis_sentinel.py"]
HAVE_ZK = Path("/usr/share/java/zookeeper.jar").exists() and shutil.which("java") is not None
HAVE_REDIS = shutil.which("redis-server") is not None and shutil.which("redis-sentinel") is not None
needs_zk = pytest.mark.skipif(not HAVE_ZK, reason="Debian's zookeeper is not installed (make test installs it)")
needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason="redis-server/redis-sentinel not installed (make test does)")


def run(tmp_path: Path, *args: str, timeout: float = 240) -> tuple[int, dict, str]:
    cmd = [sys.executable, "-m", "splitbrain", "run", *args, "--store", str(tmp_path / "store"), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    try:
        out = json.loads(line)
    except ValueError:
        out = {}
    return p.returncode, out, p.stderr


def left_running(tmp_path: Path) -> bytes:
    return subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout


def test_adapters_import_nothing_from_splitbrain_but_the_public_api() -> None:
    for path in ADAPTERS:
        tree = ast.parse(path.read_text())
        used = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used.update(a.name for a in node.names)
        ours = {m for m in used if m == "splitbrain" or m.startswith("splitbrain.")}
        assert ours == {"splitbrain.api"}, f"{path.name} imports {sorted(ours)}"


def test_nodewrap_keeps_learnt_files_stamps_lines_and_exits_with_its_daemon(tmp_path: Path) -> None:
    keep, fresh = tmp_path / "keep.conf", tmp_path / "fresh.conf"
    spec = {"files": [{"path": str(keep), "text": "v1\n", "keep": True}, {"path": str(fresh), "text": "v1\n"}],
            "procs": [{"tag": "d", "argv": ["sh", "-c", "echo '1:M 01 Dec 2026 # failing over'; exit 3"]}]}
    wrap = ROOT / "splitbrain/systems/nodewrap.py"
    p = subprocess.run([sys.executable, str(wrap), json.dumps(spec)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 3
    first = p.stdout.splitlines()[0].split(" ", 3)
    assert abs(float(first[0]) - time.time()) < 30 and first[1:3] == ["WARN", "[d]"], p.stdout
    assert "exited with status 3" in p.stdout
    keep.write_text("learnt\n")
    fresh.write_text("learnt\n")
    subprocess.run([sys.executable, str(wrap), json.dumps(spec)], capture_output=True, timeout=20)
    assert keep.read_text() == "learnt\n" and fresh.read_text() == "v1\n"


@pytest.mark.parametrize("args, words", [
    (["zookeeper", "--system-opt", "reads=stale"], "allowed values: plain, sync"),
    (["zookeeper", "--system-opt", "wait=1"], "its --system-opt keys"),
    (["redis-sentinel", "--system-opt", "wait=x"], "expected an integer"),
    (["redis-sentinel", "--workload", "set", "--nemesis", "clock"], "libfaketime"),
])
def test_bad_options_and_refused_faults_exit_64_before_anything_starts(tmp_path: Path, args: list[str],
                                                                        words: str) -> None:
    code, _, err = run(tmp_path, *args, "--time-limit", "5", timeout=60)
    assert code == 64, err
    assert words in err and "Traceback" not in err


@needs_redis
def test_redis_does_not_start_under_libfaketime_which_is_why_clock_is_refused(tmp_path: Path) -> None:
    """The measurement behind refusing ``clock`` on redis-sentinel: under the preloaded library the
    server never serves (its jemalloc and libfaketime recurse through clock_gettime)."""
    clock = tmp_path / "clock"
    faketime.write_offset(str(clock), 0.0)
    env = faketime.node_env(str(clock), faketime.library_path())
    port = 20000 + os.getpid() % 20000
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import redis

        deadline, served = time.monotonic() + 8, False
        while time.monotonic() < deadline and not served:
            try:
                served = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
            except redis.RedisError:
                time.sleep(0.2)
        assert not served, "redis-server serves under libfaketime: clock could be supported after all"
    finally:
        proc.kill()
        proc.wait()


@needs_zk
def test_the_jvm_honours_libfaketime_so_zookeeper_takes_clock_faults(tmp_path: Path) -> None:
    """The measurement behind accepting ``clock`` on zookeeper: a znode's mtime is the leader's wall
    clock, and skewing every node an hour ahead moves it an hour ahead."""
    from kazoo.client import KazooClient

    from splitbrain.api import ClusterSpec
    from splitbrain.backends.local.backend import LocalBackend
    from splitbrain.registry import SYSTEMS
    from splitbrain.systems.capabilities import wait_serving

    async def go() -> float:
        system = SYSTEMS.get("zookeeper")
        backend = LocalBackend()
        nodes = ["n1", "n2", "n3"]
        await backend.setup(ClusterSpec(system=system, nodes=nodes, run_dir=str(tmp_path), run_id="clock"))
        try:
            await wait_serving(system, {n: backend.client_address(n) for n in nodes}, 180)
            for n in nodes:
                await backend.clock(n, 3600.0)
            host, port = backend.client_address("n1")

            def write() -> float:
                zk = KazooClient(hosts=f"{host}:{port}", timeout=10)
                zk.start(timeout=20)
                try:
                    zk.create("/clock-probe", b"x")
                    return zk.exists("/clock-probe").mtime / 1000.0 - time.time()
                finally:
                    zk.stop()
                    zk.close()

            return await asyncio.to_thread(write)
        finally:
            await backend.teardown()

    ahead = asyncio.run(go())
    assert 3500 < ahead < 3700, f"znode mtime is {ahead:.0f} s from true time, expected about +3600"
    assert not left_running(tmp_path)


@needs_zk
def test_zookeeper_synced_reads_valid_under_partition_kill_pause(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "zookeeper", "--workload", "register", "--system-opt", "reads=sync",
                         "--nemesis", "partition,kill,pause", "--time-limit", "20", "--seed", "3")
    assert code == 0, err[-2000:]
    assert out["valid"] is True and out["faults"] > 0 and out["ops"] > 50
    assert not left_running(tmp_path), "a ZooKeeper server was left running"


@needs_zk
@pytest.mark.slow
@pytest.mark.parametrize("workload", ["set", "counter"])
def test_zookeeper_set_and_counter_valid_with_synced_reads(tmp_path: Path, workload: str) -> None:
    code, out, err = run(tmp_path, "zookeeper", "--workload", workload, "--system-opt", "reads=sync",
                         "--nemesis", "partition,kill", "--time-limit", "20", "--seed", "4")
    assert code == 0, err[-2000:]
    assert out["valid"] is True


@needs_zk
def test_a_follower_cut_off_from_the_leader_serves_stale_plain_reads_and_sync_refuses(tmp_path: Path) -> None:
    """The mechanism behind ZooKeeper's stale reads, step by step on a real ensemble: cut one
    follower off, write through the leader, and the follower still answers the old value to a
    plain read; with reads=sync the same read does not answer at all (sync needs the leader)."""
    from dataclasses import replace

    from splitbrain.api import ClusterSpec
    from splitbrain.backends.local.backend import LocalBackend
    from splitbrain.nemesis import grudges
    from splitbrain.registry import SYSTEMS
    from splitbrain.systems.capabilities import wait_serving

    async def go() -> tuple[dict, dict, dict]:
        system = SYSTEMS.get("zookeeper")
        backend = LocalBackend()
        nodes = ["n1", "n2", "n3"]
        await backend.setup(ClusterSpec(system=system, nodes=nodes, run_dir=str(tmp_path), run_id="stale"))
        clients = []
        try:
            addresses = {n: backend.client_address(n) for n in nodes}
            await wait_serving(system, addresses, 180)
            leader = await system.leader(addresses)
            follower = next(n for n in nodes if n != leader)
            at_leader, at_follower = system.client(*addresses[leader]), system.client(*addresses[follower])
            synced = replace(system, sync_reads=True).client(*addresses[follower])
            clients += [at_leader, at_follower, synced]
            assert (await at_leader.invoke("write", "k", 1, 10.0))["ok"]
            for _ in range(50):  # the follower has applied it
                if (await at_follower.invoke("read", "k", None, 5.0)).get("value") == 1:
                    break
                await asyncio.sleep(0.1)
            await backend.partition(grudges.complete([[follower], [n for n in nodes if n != follower]]))
            wrote = await at_leader.invoke("write", "k", 2, 10.0)
            stale = await at_follower.invoke("read", "k", None, 5.0)
            refused = await synced.invoke("read", "k", None, 3.0)
            await backend.partition({})
            return wrote, stale, refused
        finally:
            for c in clients:
                await c.close()
            await backend.teardown()

    wrote, stale, refused = asyncio.run(go())
    assert wrote["ok"], wrote
    assert stale == {"ok": True, "value": 1}, f"the cut-off follower read {stale} after 2 was acknowledged"
    assert not refused["ok"], f"a synced read on the cut-off follower answered {refused}"
    assert not left_running(tmp_path)


@needs_redis
def test_redis_sentinel_loses_acknowledged_writes_and_the_report_names_the_failover(tmp_path: Path) -> None:
    from splitbrain.reports.localize import localize
    from splitbrain.reports.rundata import load_run

    # ``partition`` as a user would pick it: on Sentinel it mostly cuts the primary off (its traits)
    code, out, err = run(tmp_path, "redis-sentinel", "--workload", "set", "--nemesis", "partition",
                         "--time-limit", "25", "--seed", "2")
    assert code == 1, err[-2000:]
    results = json.loads((Path(out["run_dir"]) / "results.json").read_text())
    lost = [a for a in results["checkers"]["set"]["anomalies"] if a["kind"] == "lost"]
    assert lost, results["checkers"]["set"]
    entries = [e for e in localize(load_run(Path(out["run_dir"]))) if e["kind"] == "lost"]
    text = "\n".join(line[3] for e in entries for line in e["lines"])
    assert "+switch-master" in text or "+promoted-slave" in text or "MASTER MODE enabled" in text
    assert not left_running(tmp_path), "a redis process was left running"


@needs_redis
@pytest.mark.slow
def test_redis_sentinel_register_shows_anomalies_under_partition(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "redis-sentinel", "--workload", "register", "--nemesis", "partition-leader",
                         "--time-limit", "25", "--seed", "2")
    assert code == 1, err[-2000:]
    assert out["checkers"]["linearizable"]["valid"] is False


def _docker_ready() -> bool:
    try:
        from splitbrain.backends.docker import images

        images.docker_client()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not _docker_ready(), reason="no Docker engine")
def test_zookeeper_on_docker_synced_reads_valid(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "zookeeper", "--backend", "docker", "--workload", "register",
                         "--system-opt", "reads=sync", "--nemesis", "partition", "--time-limit", "20",
                         "--seed", "3", timeout=900)
    assert code == 0, err[-2000:]
    assert out["valid"] is True and out["faults"] > 0


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.skipif(not _docker_ready(), reason="no Docker engine")
def test_redis_sentinel_on_docker_loses_acknowledged_writes(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "redis-sentinel", "--backend", "docker", "--workload", "set",
                         "--nemesis", "partition-leader", "--time-limit", "25", "--seed", "2", timeout=900)
    assert code == 1, err[-2000:]
    assert out["checkers"]["set"]["valid"] is False
