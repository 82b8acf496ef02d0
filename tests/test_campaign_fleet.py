"""A campaign on a fleet: parallel ssh runs on a 6-host lab take disjoint host groups.

The hosts each run touched are read from its harness.log (the addresses it connected
to), not from the campaign's own bookkeeping. Skipped only when no Docker engine answers
(the lab's hosts are sshd containers).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import needs_docker

pytestmark = [needs_docker, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from splitbrain.backends.docker.lab import lab_down, lab_up

    d = str(tmp_path_factory.mktemp("fleet"))
    info = lab_up(6, d)
    yield info
    lab_down(d, quiet=True)


def _campaign(lab, store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "splitbrain", "campaign", "--systems", "raft", "--workloads", "register",
           "--nemesis", "partition", "--time-limit", "8", "--backend", "ssh", "--nodes", "3",
           f"--run-arg=--nodes-file={lab['nodes_file']}", f"--run-arg=--ssh-key={lab['ssh_key']}",
           f"--run-arg=--known-hosts={lab['known_hosts']}", "--store", str(store), "--json", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=500, env={**os.environ, "CI": "1"})


def test_two_parallel_ssh_runs_never_share_a_host(lab, tmp_path):
    hosts = set(Path(lab["nodes_file"]).read_text().split())
    assert len(hosts) == 6
    r = _campaign(lab, tmp_path / "store", "--parallel", "2", "--seeds", "4")
    assert r.returncode == 0, r.stderr[-3000:]
    index = json.loads(r.stdout)
    windows = []
    for run in index["runs"]:
        d = Path(run["run_dir"])
        used = set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", (d / "harness.log").read_text())) & hosts
        assert len(used) == 3, used
        start = json.loads((d / "test.json").read_text())["start_wall_time"]
        end = max((d / f).stat().st_mtime for f in ("results.json", "report.html", "harness.log"))
        windows.append((start, end, used))
    overlapped = 0
    for i, (s1, e1, h1) in enumerate(windows):
        for s2, e2, h2 in windows[i + 1:]:
            if s1 < e2 and s2 < e1:  # these two ran at the same time
                overlapped += 1
                assert not h1 & h2, (h1, h2)
    assert overlapped >= 1  # the runs really were parallel


def test_not_enough_hosts_for_the_parallelism_is_a_usage_error(lab, tmp_path):
    r = _campaign(lab, tmp_path / "store", "--parallel", "3", "--seeds", "3")
    assert r.returncode == 64 and "needs 9 hosts" in r.stderr, r.stderr
    r = _campaign(lab, tmp_path / "store", "--parallel", "2", "--seeds", "2", "--nodes", "0")
    assert r.returncode in (64,), r.stderr
