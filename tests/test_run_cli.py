"""`splitbrain run` / `systems` as a user calls them: bad input fails early, before anything starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.registry import FAULTS, SYSTEMS, WORKLOADS

REPO = Path(__file__).resolve().parent.parent


def splitbrain(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**_env(), "CI": "1"})


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@pytest.mark.parametrize("args, needle", [
    (["run", "nosuch"], "unknown system 'nosuch'; valid: " + ", ".join(SYSTEMS.names())),  # with plugins
    (["run", "memkv", "--workload", "nosuch"], "valid: " + ", ".join(WORKLOADS.names())),
    (["run", "etcd", "--workload", "set"], "cannot serve workload 'set'; it serves: register, kv"),
    (["run", "memkv", "--nemesis", "kill,nosuch"], "unknown fault 'nosuch'; valid: " + ", ".join(FAULTS.names())),
    (["run", "memkv", "--bug", "nosuch"], "unknown bug 'nosuch' for system 'memkv'; valid: crash-on-start, stale-read"),
    (["run", "memkv", "--backend", "nosuch"], "unknown backend 'nosuch'; valid: docker, local, ssh"),
    (["run", "memkv", "--concurrency", "0"], "--concurrency must be >= 1"),
    (["run", "memkv", "--backend-opt", "novalue"], "--backend-opt expects KEY=VALUE"),
    (["run", "memkv", "--nemesis", "partition:nosuch"], "unknown topology 'nosuch' in partition:nosuch; valid: halves"),
    (["run", "etcd", "--nemesis", "partition,clock"], "fault 'clock' cannot act on etcd: etcd is a Go binary"),
])
def test_bad_input_exits_64_naming_the_valid_choices(tmp_path, args, needle):
    p = splitbrain(*args, "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert p.returncode == 64, p.stderr
    assert needle in p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists()  # nothing started, nothing written


def test_systems_json_follows_the_contract(tmp_path):
    p = splitbrain("systems", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert {"systems", "faults", "backends"} <= set(info)  # the contract's keys, plus origins and problems
    assert isinstance(info["problems"], list) and isinstance(info["plugins"], dict)
    assert info["faults"] == FAULTS.names() and {"clock", "kill", "packet", "partition", "pause"} <= set(info["faults"])
    assert info["backends"] == ["docker", "local", "ssh"]
    memkv = info["systems"]["memkv"]
    assert "register" in memkv["workloads"] and "kv" in memkv["workloads"]
    assert memkv["bugs"] == ["crash-on-start", "stale-read"]
    for entry in info["systems"].values():
        assert isinstance(entry["workloads"], list) and isinstance(entry["bugs"], list)
        assert sorted(entry["bug_descriptions"]) == entry["bugs"]
    assert {info["systems"][s]["origin"] for s in ("raft", "paxos", "ring", "etcd", "memkv")} == {"built-in"}
    text = splitbrain("systems", cwd=tmp_path)
    assert text.returncode == 0 and "memkv" in text.stdout and "backends:" in text.stdout


def test_all_faults_on_etcd_leave_out_the_clock_it_cannot_skew(tmp_path):
    from splitbrain.harness.build import build_test

    test, *_ = build_test("etcd", "register", "all", None, "local", 1.0, 1, 1.0, 1, None, str(tmp_path), None,
                          3.0, 1.0, {})
    # and packet on the local backend, which cannot delay links of a shared-peer-address system;
    # membership is never in `all` (asked for by name)
    assert set(test.nemesis) == set(FAULTS.names()) - {"clock", "packet", "membership"}
    test, *_ = build_test("etcd", "register", "all", None, "docker", 1.0, 1, 1.0, 1, None, str(tmp_path), None,
                          3.0, 1.0, {})
    assert "packet" in test.nemesis
