"""etcd, software nobody here wrote, under faults: valid by default, the weakened read mode caught."""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None,
                                reason="etcd not installed (make test installs Debian's etcd-server)")


def _run(tmp_path, *args):
    cmd = [sys.executable, "-m", "splitbrain", "run", "etcd", "--workload", "register", "--store",
           str(tmp_path / "store"), "--json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "1"})


def test_etcd_valid_under_partition_kill_pause(tmp_path):
    r = _run(tmp_path, "--nemesis", "partition,kill,pause", "--time-limit", "20", "--seed", "11")
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["valid"] is True and out["faults"] >= 1 and out["ops"] > 100
    assert not subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout, "etcd left running"


@pytest.mark.slow
def test_etcd_serializable_reads_caught(tmp_path):
    # Partitions let an isolated member serve stale serializable reads; a few seeds make this certain.
    codes = []
    for seed in (3, 4, 5, 6, 7):
        r = _run(tmp_path, "--nemesis", "partition", "--nemesis-interval", "2", "--time-limit", "15",
                 "--seed", str(seed), "--bug", "serializable-reads")
        codes.append(r.returncode)
        if r.returncode == 1:
            break
    assert 1 in codes, codes
