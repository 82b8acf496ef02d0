"""The disk fault end to end: runs that power-fail nodes, and nothing left mounted however they end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _helpers import needs_docker
from lazyfs_mount import lazyfs

from splitbrain.backends.disk import mount as diskmount

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(diskmount.unavailable() is not None, reason=str(diskmount.unavailable()))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "CI": "1"}


def _cmd(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "splitbrain", "run", *args, "--store", str(tmp / "store")]


def _mounts_under(tmp: Path) -> list[str]:
    return [m for m in diskmount.leftover_mounts() if m.startswith(str(tmp))]


def _history(tmp: Path) -> list[dict]:
    latest = tmp / "store" / "latest"
    return [json.loads(line) for line in (latest / "history.jsonl").read_text().splitlines()]


def _wait_for_mounts(tmp: Path, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(_mounts_under(tmp)) < n:
        assert time.monotonic() < deadline, "the run never mounted its fault filesystems"
        time.sleep(0.1)


def test_power_loss_run_reports_what_it_dropped_and_unmounts(tmp_path):
    proc = subprocess.run(_cmd(tmp_path, "raft", "--nodes", "3", "--nemesis", "disk:lose-unfsynced",
                               "--time-limit", "8", "--nemesis-interval", "1.5", "--seed", "3", "--json"),
                          capture_output=True, text=True, timeout=180, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    starts = [op for op in _history(tmp_path) if op["f"] == "start-disk:lose-unfsynced"]
    assert starts, "no power loss happened"
    for op in starts:
        v = op["value"]
        assert v["verified"] is True and v["variant"] == "lose-unfsynced"
        assert set(v["dropped"]) == set(v["nodes"]) and {"dropped_bytes", "dropped_files", "undone_names"} <= set(v)
    assert _mounts_under(tmp_path) == []
    node_dir = tmp_path / "store" / "latest" / "nodes" / "n1"
    assert (node_dir / "data" / "raft-log").exists() and not (node_dir / "data.disk").exists()


def test_ctrl_c_leaves_nothing_mounted(tmp_path):
    proc = subprocess.Popen(_cmd(tmp_path, "raft", "--nodes", "3", "--nemesis", "disk", "--time-limit", "60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        _wait_for_mounts(tmp_path, 3)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _mounts_under(tmp_path) == []


def test_killed_control_node_leaves_nothing_mounted(tmp_path):
    proc = subprocess.Popen(_cmd(tmp_path, "raft", "--nodes", "3", "--nemesis", "disk", "--time-limit", "60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        _wait_for_mounts(tmp_path, 3)
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 15  # daemons die with the control node; fusermount3 unmounts after them
    while _mounts_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _mounts_under(tmp_path) == []


def _kill_without_watchdog(daemon: subprocess.Popen[bytes]) -> None:
    """SIGKILL a lazyfs daemon after its fusermount3 watchdog: the mount stays behind, dead."""
    children = []
    for task in Path(f"/proc/{daemon.pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(p) for p in (task / "children").read_text().split()]
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    daemon.kill()
    daemon.wait(10)


def test_cleanup_unmounts_a_dead_mount_and_spares_a_live_one(tmp_path):
    live, dead = tmp_path / "live", tmp_path / "dead"
    live.mkdir()
    dead.mkdir()
    run_id = f"test-dead-{os.getpid()}"
    with lazyfs(live, "test-live:n1"):
        m = diskmount.Mount.under(str(dead), "n1")
        diskmount.prepare(m)
        d = subprocess.Popen(m.command(sys.executable, f"{run_id}:n1"), env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        diskmount.wait_mounted(m)
        _kill_without_watchdog(d)
        try:
            assert diskmount.mounted(m.mountpoint), "no dead mount to clean up"
            # Every dead mount goes, live ones stay (what `splitbrain cleanup` does first) ...
            assert m.mountpoint in diskmount.unmount_leftovers()
            assert not diskmount.mounted(m.mountpoint) and diskmount.mounted(str(live / "data"))
            # ... and the command does it for one named run (named, so no one else's containers go).
            d = subprocess.Popen(m.command(sys.executable, f"{run_id}:n1"), env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            diskmount.wait_mounted(m)
            _kill_without_watchdog(d)
            subprocess.run([sys.executable, "-m", "splitbrain", "cleanup", "--run", run_id], capture_output=True,
                           text=True, timeout=120, env=_env())
            assert not diskmount.mounted(m.mountpoint)
        finally:
            diskmount.unmount(m.mountpoint)


@pytest.mark.parametrize("args, needle", [
    (["raft", "--nemesis", "disk:nosuch"], "unknown disk variant 'nosuch' in disk:nosuch; valid: lose-unfsynced"),
    (["raft", "--nemesis", "disk", "--backend", "ssh"], "the disk fault cannot run on the ssh backend"),
])
def test_refusals_exit_64_with_the_reason(tmp_path, args, needle):
    proc = subprocess.run(_cmd(tmp_path, *args), capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 64 and needle in proc.stderr, proc.stderr


@pytest.mark.slow
def test_raft_no_fsync_is_caught_by_power_loss_and_missed_by_kill(tmp_path):
    codes = {}
    for nemesis in ("disk:lose-unfsynced", "kill"):
        proc = subprocess.run(_cmd(tmp_path, "raft", "--workload", "set", "--bug", "no-fsync", "--nemesis", nemesis,
                                   "--time-limit", "20",
                                   "--seed", "1"), capture_output=True, text=True, timeout=240, env=_env())
        codes[nemesis] = proc.returncode
    assert codes == {"disk:lose-unfsynced": 1, "kill": 0}


def test_every_variant_acts_and_is_verified_through_the_backend_seam(tmp_path):
    """fsync-error fires on the next fsync and names it (raft stops on it and is restarted),
    slow-fsync is read back from the daemon, a torn power loss kills and restarts its targets."""
    import asyncio
    import dataclasses
    import random

    from splitbrain.backends.base import ClusterSpec
    from splitbrain.backends.local.backend import LocalBackend
    from splitbrain.nemesis.base import NemesisContext
    from splitbrain.nemesis.disk import variant
    from splitbrain.systems.raft import SYSTEM as RAFT

    async def write_until_ok(b: LocalBackend, value: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for node in sorted(b.nodes):
                client = RAFT.client(*b.client_address(node))
                try:
                    if (await client.invoke("write", None, value, 2.0)).get("ok"):
                        return
                except (TimeoutError, ConnectionError, OSError):
                    pass
                finally:
                    await client.close()
            await asyncio.sleep(0.2)
        raise AssertionError("no write succeeded")

    async def go() -> None:
        nodes = ["n1", "n2", "n3"]
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=RAFT, nodes=nodes, run_dir=str(tmp_path), run_id="disk-seam", disk=True))
        ctx = NemesisContext(backend=b, nodes=nodes, rng=random.Random(4))
        try:
            await write_until_ok(b, 1)
            fault = variant("fsync-error")
            started = await fault.start(ctx)
            assert started["verified"] is True
            # One target: a leader and the other follower can commit without it, so it may fsync (and
            # meet the armed error) only after the write is acknowledged -- seconds later on a loaded
            # machine. Keep writing until every target's error has fired.
            deadline = time.monotonic() + 60
            for value in range(2, 10**6):
                await write_until_ok(b, value)
                armed = [(await b.disk(n, {"cmd": "stats"}))["armed_fsync_errors"] for n in started["nodes"]]
                if not any(armed) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            stopped = await fault.stop(ctx)
            fired = [f for fs in stopped["failed_fsyncs"].values() for f in fs]
            assert fired and all(f["path"].startswith("/raft-") for f in fired), stopped
            v = await b.verify()
            assert v.killed == [] and v.lost == []  # a node stopping on the EIO is the fault's doing

            fault = variant("slow-fsync")
            started = await fault.start(ctx)
            delays = {n: (await b.disk(n, {"cmd": "stats"}))["fsync_delay_ms"] for n in started["nodes"]}
            assert started["verified"] and set(delays.values()) == {started["delay_ms"]}
            await fault.stop(ctx)
            assert {(await b.disk(n, {"cmd": "stats"}))["fsync_delay_ms"] for n in nodes} == {0}

            fault = variant("torn-write")  # one node: down from the crash until the window's stop
            started = await fault.start(dataclasses.replace(ctx, params={"mode": "one"}))
            assert started["verified"] and started["mode"] == "one" and "restarted" not in started
            assert set(started["nodes"]) == set((await b.verify()).killed)
            await fault.stop(ctx)
            assert (await b.verify()).killed == []
            await write_until_ok(b, 3)

            # as an essential window schedules it: every node at once, all restarted at once (a whole
            # cluster held down for the window only took test time from every other fault)
            started = await fault.start(dataclasses.replace(ctx, params=dict(fault.essential or {})))
            assert started["mode"] == "all" and started["nodes"] == nodes, started
            assert started["verified"] and started["restarted"] is True and started["dropped"].keys() == set(nodes)
            assert (await b.verify()).killed == []
            await write_until_ok(b, 4)
            await fault.stop(ctx)
            assert (await b.verify()).killed == []
        finally:
            await b.teardown()
        assert _mounts_under(tmp_path) == []

    asyncio.run(go())


@pytest.mark.slow
@pytest.mark.timeout(600)
@needs_docker
def test_docker_power_loss_catches_no_fsync_and_containers_get_only_fuse_and_sys_admin(tmp_path):
    """lazyfs inside each container: the seeded bug is caught, correct raft stays valid, the containers
    had /dev/fuse and SYS_ADMIN (besides iptables' NET_ADMIN) and no privileged mode, and nothing stays."""
    import docker

    codes = {}
    for bug in ("no-fsync", None):
        proc = subprocess.run(_cmd(tmp_path, "raft", "--backend", "docker", "--nodes", "3", "--workload", "set",
                                   "--nemesis", "disk:lose-unfsynced", "--time-limit", "15", "--nemesis-interval", "2",
                                   "--seed", "1", "--json", *(["--bug", bug] if bug else [])),
                              capture_output=True, text=True, timeout=400, env=_env())
        codes[bug] = proc.returncode
        run_dir = Path(json.loads(proc.stdout.strip().splitlines()[-1])["run_dir"])
        facts = json.loads((run_dir / "backend.json").read_text())
        assert facts["lazyfs"] is True and sorted(facts["cap_add"]) == ["NET_ADMIN", "SYS_ADMIN"], facts
        assert facts["devices"] == ["/dev/fuse"] and not facts["privileged"], facts
        crashes = [op["value"] for op in _history(tmp_path) if op["f"] == "start-disk:lose-unfsynced"]
        assert crashes and all(v.get("verified") for v in crashes), crashes
        assert (run_dir / "nodes" / "n1" / "data" / "raft-log").exists()
        run_id = f"{run_dir.parent.name}/{run_dir.name}"
        assert not docker.from_env().containers.list(all=True, filters={"label": f"splitbrain.run={run_id}"})
    assert codes == {"no-fsync": 1, None: 0}, codes
