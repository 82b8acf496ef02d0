"""The memory cap bounds the process: a low ``--max-memory`` on a large generated history ends in an
honest ``unknown`` (exit 2, with progress and the flag to raise), and the process's peak resident
memory, as the kernel accounts it, stays within the cap plus a small constant."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.checkers.memory import MemoryCap, MemoryCapReached, default_cap_mb, rss_mb
from splitbrain.checkers.synth import write_register, write_set

#: what a cap may be exceeded by: one sampling interval's allocations and the interpreter's slack
SLACK_MB = 60

_PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "print(r.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); "
         "print(r.stdout, end='')")


def _check(path: Path, model: str, cap_mb: int) -> tuple[int, int, dict]:
    """Run ``splitbrain check --json`` in a fresh process; its exit code, peak RSS (MB) and JSON line."""
    out = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "splitbrain", "check", "--model", model,
                          "--max-memory", str(cap_mb), "--json", str(path)],
                         capture_output=True, text=True, timeout=600, check=True).stdout.splitlines()
    return int(out[0]), int(out[1]), json.loads(out[2])


@pytest.fixture(scope="module")
def big_register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cap") / "register.jsonl"
    write_register(p, 150_000, seed=1)
    return p


def test_a_low_cap_stops_reading_with_progress_and_bounds_the_peak(big_register: Path) -> None:
    # 80 MB: well under what this history needs (~150 MB since the checker got leaner; at 120 MB a
    # quick check could finish between two samples of the cap)
    code, peak, obj = _check(big_register, "register", 80)
    assert code == 2 and obj["valid"] == "unknown", obj
    assert "memory cap of 80 MB" in obj["summary"] and "--max-memory" in obj["summary"]
    assert "ops read" in obj["summary"]
    assert peak <= 80 + SLACK_MB, peak


@pytest.mark.slow
def test_a_cap_with_room_decides(big_register: Path) -> None:
    code, peak, obj = _check(big_register, "register", 1500)
    assert code == 0 and obj["valid"] is True, obj
    assert peak <= 1500


def test_the_set_checker_is_capped_too(tmp_path: Path) -> None:
    p = tmp_path / "set.jsonl"
    write_set(p, 150_000, seed=2)
    code, peak, obj = _check(p, "set", 110)
    assert code == 2 and "memory cap of 110 MB" in obj["summary"], obj
    assert peak <= 110 + SLACK_MB, peak


def test_enforced_interrupts_a_block_that_never_checks() -> None:
    cap = MemoryCap(rss_mb() + 50)
    progress = {"done": 0}
    hog: list[bytes] = []
    with pytest.raises(MemoryCapReached) as e:
        with cap.enforced(progress, margin_mb=0):
            for i in range(10_000):
                hog.append(b"x" * 1_000_000)  # 1 MB each, touched
                progress["done"] = i
                time.sleep(0.001)  # at most ~50 MB per sampling interval, whatever the machine's speed
    assert e.value.progress["done"] > 0 and "--max-memory" in str(e.value)
    assert len(hog) < 50 + 32 + 150


def test_the_default_cap_follows_the_machine() -> None:
    assert 256 <= default_cap_mb()
    assert MemoryCap.default(0).active is False and MemoryCap.default(None).active


def test_a_run_checker_that_never_checks_the_cap_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extension checker with no cooperative checks: the run's checker phase still ends in unknown."""
    from splitbrain.checkers.memory import ENV_VAR
    from splitbrain.checkers.result import Result
    from splitbrain.harness.verdict import run_checker
    from splitbrain.history import History
    from splitbrain.registry import CHECKERS
    from splitbrain.workloads.base import CheckerSpec

    def hog(history: History, **kw: object) -> Result:
        held = []
        for _ in range(2_000):  # 2 GB if nothing stops it
            held.append(b"x" * 1_000_000)
            time.sleep(0.001)
        return Result("test-hog", bool(held))

    CHECKERS.register("test-hog", hog)
    monkeypatch.setenv(ENV_VAR, str(round(rss_mb() + 80)))
    r = run_checker(CheckerSpec("test-hog"), History([]), 10.0)
    assert r.valid == "unknown" and "memory cap" in r.summary and ENV_VAR in r.summary
    assert rss_mb() < 2000


def test_the_cap_lands_even_under_a_sigint_handler_that_swallows() -> None:
    import signal

    def swallow(signum: int, frame: object) -> None:
        return None

    previous = signal.signal(signal.SIGINT, swallow)
    try:
        cap = MemoryCap(rss_mb() + 40)
        hog: list[bytes] = []
        with pytest.raises(MemoryCapReached):
            with cap.enforced({}, margin_mb=0):
                for _ in range(5_000):
                    hog.append(b"x" * 1_000_000)
                    time.sleep(0.001)
        assert signal.getsignal(signal.SIGINT) is swallow
    finally:
        signal.signal(signal.SIGINT, previous)
