"""Bounded resources: nothing a history or a node does can make the harness grow without limit.

The checker's search is capped in memory and time and then answers "unknown" (exit 2), never an
out-of-memory kill; ``--max-ops`` bounds a run's history; a node flooding its output cannot grow
its log past the backend's cap, even across restarts, and is never blocked by the cap either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.backends.base import ClusterSpec
from splitbrain.backends.local.backend import LocalBackend
from splitbrain.checkers.linearizable import check_history
from splitbrain.checkers.models import get_model
from splitbrain.formats.porcupine import read_porcupine_kv
from splitbrain.history import read_jsonl

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(180)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), CI="1")
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


def _hard_history(path: Path, n: int = 14) -> Path:
    """n concurrent writes (one value written twice, so the unique-write fast path does not apply)
    and n concurrent reads, then two sequential reads of different values no write can separate:
    invalid, but only after the search has tried (nearly) every order of the 2n concurrent ops.
    Every value read was written, so no pre-check can reject it without searching."""
    ops: list[dict[str, object]] = []

    def add(p: int, typ: str, f: str, v: object) -> None:
        ops.append({"index": len(ops), "process": p, "type": typ, "f": f, "value": v, "time": len(ops)})

    values = [i + 1 for i in range(n - 1)] + [1]
    for i in range(n):
        add(i, "invoke", "write", values[i])
    for i in range(n):
        add(n + i, "invoke", "read", None)
    for i in range(n):
        add(i, "ok", "write", values[i])
    for i in range(n):
        add(n + i, "ok", "read", (i * 5) % (n - 1) + 1)
    for v in (2, 3):
        add(0, "invoke", "read", None)
        add(0, "ok", "read", v)
    path.write_text("".join(json.dumps(o) + "\n" for o in ops))
    return path


def test_check_memory_cap_ends_unknown_exit_2(tmp_path):
    path = _hard_history(tmp_path / "hard.jsonl")
    p = _cli("check", "--model", "register", "--max-memory", "4", "--json", str(path))
    assert p.returncode == 2, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["valid"] == "unknown" and "memory cap" in out["summary"]
    assert "Traceback" not in p.stderr


def test_check_time_cap_ends_unknown_exit_2(tmp_path):
    path = _hard_history(tmp_path / "hard.jsonl", n=18)
    start = time.monotonic()
    p = _cli("check", "--model", "register", "--timeout", "0.2", "--json", str(path))
    assert p.returncode == 2, p.stdout + p.stderr
    assert time.monotonic() - start < 30
    out = json.loads(p.stdout)
    assert out["valid"] == "unknown" and "time limit" in out["summary"]


def test_unpartitioned_porcupine_kv_under_a_tiny_cap_is_unknown(data_dir):
    """Porcupine's c10-bad kv log checked as one register of whole maps (no per-key split) is far
    beyond the search; a 2 MB cap must stop it promptly with "unknown" rather than grow."""
    history = read_porcupine_kv(str(data_dir / "porcupine" / "kv" / "c10-bad.txt"))
    whole = dataclasses.replace(get_model("kv"), partition=None)
    start = time.monotonic()
    res = check_history(history, whole, timeout_s=60, max_memory_mb=2)
    took = time.monotonic() - start
    assert res.valid == "unknown", res.summary
    assert "memory cap" in res.summary and took < 30
    # the same file, split per key as the model means it, is decided (invalid) at once
    assert check_history(history, "kv", timeout_s=60, max_memory_mb=64).valid is False


def test_max_ops_bounds_the_history(tmp_path):
    start = time.monotonic()
    p = _cli("run", "memkv", "--max-ops", "25", "--rate", "0", "--concurrency", "4", "--time-limit", "60",
             "--seed", "2", "--store", str(tmp_path / "store"), "--json", cwd=tmp_path)
    took = time.monotonic() - start
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    calls = read_jsonl(Path(out["run_dir"]) / "history.jsonl").calls()
    assert 25 <= len(calls) == out["ops"] <= 25 + 4  # the main phase's 25, plus at most a final read per worker
    assert took < 45  # stopped by the op budget, not by the 60 s time limit


# ---------------------------------------------------------------- node logs

FLOOD = """
import json, socket, sys
c = json.loads(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((c["client_host"], c["client_port"]))
s.listen()
line = b"1700000000.000000 INFO " + b"x" * 1000 + b"\\n"
while True:
    sys.stdout.buffer.write(line)
"""


@dataclasses.dataclass(frozen=True)
class FloodSystem:
    """A node that listens on its client port (so it counts as up) and writes its log as fast as it can."""

    name: str = "flood"

    def node_command(self, config, python: str) -> list[str]:  # type: ignore[no-untyped-def]
        return [python, "-c", FLOOD, config.to_json()]


def _written(pid: int) -> int:
    """Bytes the process has written (all fds), from /proc/<pid>/io."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


async def _flood_until(backend: LocalBackend, name: str, nbytes: int) -> None:
    proc = backend.nodes[name].proc
    assert proc is not None
    deadline = time.monotonic() + 60
    while _written(proc.pid) < nbytes:
        assert time.monotonic() < deadline, f"node wrote only {_written(proc.pid)} bytes in 60 s: blocked?"
        assert proc.poll() is None
        await asyncio.sleep(0.05)


def _log_bytes(log) -> int:
    rotated = log.with_name(log.name + ".1")
    return log.stat().st_size + (rotated.stat().st_size if rotated.exists() else 0)


def test_a_flooding_node_cannot_grow_its_log_past_the_cap(tmp_path):
    cap = 256 * 1024
    backend = LocalBackend({"log_max_bytes": cap, "faketime": False})
    spec = ClusterSpec(system=FloodSystem(), nodes=["n1"], run_dir=str(tmp_path), run_id="flood")
    log = tmp_path / "nodes" / "n1" / "node.log"

    async def scenario() -> list[int]:
        sizes = []
        await backend.setup(spec)
        try:
            await _flood_until(backend, "n1", 16 * cap)  # the pump keeps draining: the node never blocks
            sizes.append(_log_bytes(log))
            await backend.kill("n1")
            await backend.start("n1")  # a restarted node appends to the same, already full, log
            await _flood_until(backend, "n1", 16 * cap)
            sizes.append(_log_bytes(log))
        finally:
            await backend.teardown()
        sizes.append(_log_bytes(log))
        return sizes

    sizes = asyncio.run(scenario())
    assert all(0 < s <= cap + 1024 for s in sizes), sizes  # node.log + node.log.1 stay within the cap
    assert sizes[0] >= cap // 2, sizes  # and rotation keeps the newest half-cap of output, not nothing
    assert b"log rotated at" in log.read_bytes()[:200]


def test_a_bad_log_cap_option_is_a_usage_error(tmp_path):
    p = _cli("run", "memkv", "--time-limit", "1", "--backend-opt", "log_max_bytes=lots", "--store",
             str(tmp_path / "store"), cwd=tmp_path)
    assert p.returncode == 64, p.stderr
    assert "log_max_bytes" in p.stderr and "Traceback" not in p.stderr and "internal error" not in p.stderr


def test_time_limit_bounds_a_run_whose_node_hangs_its_clients(tmp_path):
    """Under a pause nemesis every client op can hang; --time-limit and --op-timeout still end the run."""
    start = time.monotonic()
    p = _cli("run", "memkv", "--nemesis", "pause", "--nemesis-interval", "0.3", "--time-limit", "2",
             "--op-timeout", "1", "--rate", "50", "--seed", "4", "--store", str(tmp_path / "store"), "--json",
             cwd=tmp_path)
    took = time.monotonic() - start
    assert p.returncode in (0, 2), p.stderr
    out = json.loads(p.stdout)
    results = json.loads((Path(out["run_dir"]) / "results.json").read_text())
    assert out["faults"] >= 1 and 2 <= results["duration_s"] < 20
    assert took < 40  # main phase 2 s, plus bounded healing, recovery, final reads and checking
