"""libfaketime's /dev/shm objects of dead processes are removed by `splitbrain cleanup`, a live
process's are kept (a control node killed with SIGKILL cannot release its nodes' objects)."""

from __future__ import annotations

import os
import subprocess
import sys

from splitbrain.backends import faketime


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_release_orphans_removes_only_dead_processes_objects() -> None:
    dead, live = _dead_pid(), os.getpid()
    made = faketime.shm_entries(dead) + faketime.shm_entries(live)
    for path in made:
        with open(path, "w"):
            pass
    try:
        assert faketime.release_orphans() >= 2
        assert not any(os.path.exists(p) for p in faketime.shm_entries(dead))
        assert all(os.path.exists(p) for p in faketime.shm_entries(live))
    finally:
        for path in made:
            if os.path.exists(path):
                os.unlink(path)


def test_cleanup_command_reports_what_it_released() -> None:
    dead = _dead_pid()
    for path in faketime.shm_entries(dead):
        with open(path, "w"):
            pass
    p = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "/dev/shm objects of dead libfaketime processes" in p.stdout
    assert not any(os.path.exists(path) for path in faketime.shm_entries(dead))
