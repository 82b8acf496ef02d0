"""The harness under its own faults: a control node SIGKILLed or interrupted mid-run.

A run that dies must not take its evidence with it, and must not leave nodes or
proxies behind to disturb the next run. These tests kill or interrupt a real
``splitbrain run`` subprocess (real node processes, real proxies) and then judge
what is left through the CLI, as a user would. (SIGTERM mid-run is covered in
test_harness_e2e.py; here: SIGKILL, SIGINT, and SIGINT before any op completes.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.history import parse_jsonl

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(240)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["CI"] = "1"
    return env


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "splitbrain", "run", *args, "--store", str(tmp_path / "store")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, env=_env())


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


def _wait_for(proc: subprocess.Popen[str], ready, what: str, limit: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before {what}: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        if ready():
            return
        time.sleep(0.1)
    pytest.fail(f"no {what} within {limit:.0f} s")


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def _run_processes(run_dir: Path) -> dict[int, str]:
    """Live processes whose command line names this run (nodes carry their data dir in their config)."""
    found: dict[int, str] = {}
    needle = str(run_dir).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in cmd and state != "Z":
            found[int(entry)] = cmd.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found


def _node_ports(run_dir: Path) -> set[int]:
    """Every port a node of this run listened on or dialled through (its own ports, and the
    link proxies it was given for its peers), read from the node commands while they run."""
    ports: set[int] = set()
    for pid in _run_processes(run_dir):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for i, arg in enumerate(argv[:-1]):
            if arg == b"--config":
                cfg = json.loads(argv[i + 1])
                ports |= {cfg["client_port"], cfg["peer_port"]}
                ports |= {int(addr[1]) for addr in cfg.get("peers", {}).values()}
    return ports


def _listening(ports: set[int]) -> dict[int, int]:
    """Which of ``ports`` some socket still listens on (state 0A in /proc/net/tcp), by socket inode."""
    live: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 3 and cols[3] == "0A":
                port = int(cols[1].rsplit(":", 1)[1], 16)
                if port in ports:
                    live[port] = int(cols[9])
    return live


def _owners(inodes: set[int]) -> dict[int, str]:
    """The processes holding these socket inodes (to say who kept a port open)."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
                if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                    found[int(entry)] = cmd.decode(errors="replace")[:160]
        except OSError:
            continue
    return found


def _gone_within(run_dir: Path, seconds: float) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = _run_processes(run_dir)
        if not left:
            return {}
        time.sleep(0.1)
    return _run_processes(run_dir)


def test_sigkilled_control_node_leaves_a_checkable_run_and_no_processes(tmp_path):
    proc = _start(tmp_path, "raft", "--workload", "register", "--nemesis", "partition,kill", "--time-limit", "60",
                  "--seed", "9")
    history = tmp_path / "store" / "latest" / "history.jsonl"
    try:
        _wait_for(proc, lambda: _lines(history) >= 50, "50 history lines")
        run_dir = history.parent.resolve()
        ports = _node_ports(run_dir)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    assert ports, "the nodes' ports were not seen while the run was alive"
    left = _gone_within(run_dir, 5)
    assert not left, f"processes of the killed run survive: {left}"
    deadline = time.monotonic() + 5  # a dying process drops its cmdline before it closes its sockets
    while (still := _listening(ports)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not still, f"ports of the killed run still listening: {still}, held by {_owners(set(still.values()))}"

    # the evidence is intact up to the kill: every line but at most a torn last one parses
    text = (run_dir / "history.jsonl").read_text()
    ops = parse_jsonl(text[: text.rfind("\n") + 1], "history.jsonl")  # all complete lines
    assert len(ops) >= 50
    assert not (run_dir / "results.json").exists()  # nobody judged it yet

    checked = _cli(tmp_path, "check", str(run_dir))
    assert checked.returncode in (0, 1, 2), checked.stderr
    assert "Traceback" not in checked.stderr + checked.stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] in (True, False, "unknown") and results["ops"] >= 20

    (run_dir / "report.html").unlink(missing_ok=True)  # `check` renders one too: prove `report` does
    reported = _cli(tmp_path, "report", str(run_dir))
    assert reported.returncode == 0, reported.stderr
    assert "Traceback" not in reported.stderr
    html = (run_dir / "report.html").read_text()
    assert "raft" in html and len(html) > 1000


def test_sigint_mid_run_heals_reports_and_exits_with_its_verdict(tmp_path):
    proc = _start(tmp_path, "raft", "--workload", "register", "--nemesis", "partition", "--nemesis-interval", "0.5",
                  "--time-limit", "120", "--rate", "40", "--seed", "3", "--json")
    history = tmp_path / "store" / "latest" / "history.jsonl"

    def busy() -> bool:
        try:
            text = history.read_text()
        except OSError:
            return False
        return '"start-partition"' in text and text.count('"ok"') >= 10

    try:
        _wait_for(proc, busy, "a partition and 10 completed ops")
        run_dir = history.parent.resolve()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        _stop(proc)
    assert took < 15, f"stopping took {took:.1f} s"
    assert proc.returncode in (0, 1, 2), err
    assert "Traceback" not in err
    results = json.loads((run_dir / "results.json").read_text())
    assert results["interrupted"] is True and results["ops"] >= 10
    assert json.loads(out)["valid"] == results["valid"]
    assert (run_dir / "report.html").is_file()
    ops = parse_jsonl((run_dir / "history.jsonl").read_text(), "history.jsonl")
    starts = sum(1 for op in ops if op.process == "nemesis" and op.f == "start-partition")
    stops = sum(1 for op in ops if op.process == "nemesis" and op.f == "stop-partition")
    assert starts >= 1 and stops >= starts  # the partition was healed before the nodes stopped
    assert not _gone_within(run_dir, 3)


def test_sigint_before_any_op_completed_exits_130_with_a_report(tmp_path):
    # --rate 0.05 with seed 4: the first op is due ~26 s in, so the signal lands before any completes
    proc = _start(tmp_path, "memkv", "--rate", "0.05", "--seed", "4", "--time-limit", "60")
    log = tmp_path / "store" / "latest" / "harness.log"

    def up() -> bool:
        try:
            return "cluster of 1 up" in log.read_text()
        except OSError:
            return False

    try:
        _wait_for(proc, up, "the cluster coming up")
        run_dir = log.parent.resolve()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        _stop(proc)
    assert took < 15, f"stopping took {took:.1f} s"
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    results = json.loads((run_dir / "results.json").read_text())
    assert results["interrupted"] is True and results["ops"] == 0
    assert (run_dir / "report.html").is_file()
    assert not _gone_within(run_dir, 3)


def test_sigkilled_control_node_takes_a_paused_node_with_it(tmp_path):
    """A SIGSTOPped node cannot act on anything; the kernel's parent-death SIGKILL must still end it."""
    proc = _start(tmp_path, "memkv", "--nemesis", "pause", "--nemesis-interval", "3", "--time-limit", "60",
                  "--rate", "50", "--seed", "6")
    history = tmp_path / "store" / "latest" / "history.jsonl"

    def stopped() -> list[int]:
        """Node processes of this run in state T (stopped by the pause fault)."""
        out = []
        for pid in _run_processes(history.parent.resolve()) if history.exists() else []:
            try:
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
                    out.append(pid)
            except (OSError, IndexError):
                pass
        return out

    paused: list[int] = []

    def seen_paused() -> bool:
        paused[:] = stopped()  # kept as seen: a second look could miss a pause that just ended
        return bool(paused)

    try:
        _wait_for(proc, seen_paused, "a node paused")
        proc.send_signal(signal.SIGKILL)  # at once: a pause lasts far longer than this gap
        proc.wait(timeout=30)
        run_dir = history.parent.resolve()
    finally:
        _stop(proc)
    assert paused, "the paused node was resumed before the control node died"
    left = _gone_within(run_dir, 5)
    assert not left, f"processes of the killed run survive: {left}"


@pytest.mark.skipif(not shutil.which("etcd"), reason="etcd-server is not installed")
def test_sigkilled_control_node_takes_real_etcd_servers_with_it(tmp_path):
    """etcd is not ours: its servers must die with the control node too (the parent-death signal
    set before exec survives the exec of a foreign binary)."""
    proc = _start(tmp_path, "etcd", "--nemesis", "partition", "--time-limit", "60", "--seed", "2")
    history = tmp_path / "store" / "latest" / "history.jsonl"
    try:
        _wait_for(proc, lambda: _lines(history) >= 30, "30 history lines")
        run_dir = history.parent.resolve()
        servers = [cmd for cmd in _run_processes(run_dir).values() if "etcd" in cmd.split()[0]]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    assert servers, "no etcd server of the run was seen"
    left = _gone_within(run_dir, 5)
    assert not left, f"processes of the killed run survive: {left}"
