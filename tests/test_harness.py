"""Harness pieces in-process against real servers: outcomes, retirement, config, store, verdicts."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from splitbrain.checkers.result import Result
from splitbrain.errors import UsageError
from splitbrain.harness import generator as g
from splitbrain.harness.build import build_test, parse_nemesis
from splitbrain.harness.catalog import systems_info
from splitbrain.harness.client import Recorder, Workers
from splitbrain.harness.config import Test
from splitbrain.harness.recheck import recheck_run
from splitbrain.harness.report import minimal_report
from splitbrain.harness.store import make_run_dir, update_latest
from splitbrain.harness.verdict import check, run_checker
from splitbrain.history import HistoryWriter, read_jsonl
from splitbrain.registry import CHECKERS, FAULTS, SYSTEMS, WORKLOADS
from splitbrain.systems import wire
from splitbrain.systems.memkv.__main__ import Store
from splitbrain.workloads.base import CheckerSpec, Request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_workers(tmp_path: Path, handler, requests: list[Request], concurrency: int = 1,
                      op_timeout_s: float = 0.3, port: int | None = None):
    """Drive ``requests`` through real Workers against a real wire server running ``handler``."""
    server = None
    if handler is not None:
        server = await wire.serve_clients("127.0.0.1", 0, handler, "n1")
        port = server.sockets[0].getsockname()[1]
    writer = HistoryWriter(tmp_path / "history.jsonl")
    rec = Recorder(writer)
    workers = Workers(system=SYSTEMS.get("memkv"), workload=WORKLOADS.get("register"), recorder=rec,
                      nodes=["n1"], address=lambda n: ("127.0.0.1", port), concurrency=concurrency,
                      op_timeout_s=op_timeout_s)
    try:
        await workers.run(g.FromIter(requests))
    finally:
        if server is not None:
            server.close()
        writer.close()
    return read_jsonl(tmp_path / "history.jsonl")


def test_ok_and_definite_fail_are_recorded_with_values(tmp_path):
    store = Store("n1", None)
    reqs = [Request("write", 3, "r"), Request("cas", [1, 2], "r"), Request("cas", [3, 4], "r"), Request("read", None, "r")]
    h = asyncio.run(run_workers(tmp_path, store.handle, reqs))
    comps = [(op.type, op.f, op.value) for op in h if op.type != "invoke"]
    assert comps == [("ok", "write", 3), ("fail", "cas", None), ("ok", "cas", [3, 4]), ("ok", "read", 4)]
    assert h[3].error == "cas-mismatch" and h[3].node == "n1"
    assert [op.index for op in h] == list(range(8))
    assert all(b.time >= a.time for a, b in zip(h.ops, h.ops[1:], strict=False))


def test_timeout_is_info_and_retires_the_process_but_a_read_is_fail(tmp_path):
    async def silent(req):
        if req["op"] == "read":
            await asyncio.sleep(5)
        if req["op"] == "write" and req["value"] == 1:
            await asyncio.sleep(5)
        return wire.reply(req, req.get("value"))

    reqs = [Request("write", 1, "r"), Request("write", 2, "r"), Request("read", None, "r"), Request("write", 3, "r")]
    h = asyncio.run(run_workers(tmp_path, silent, reqs, concurrency=2, op_timeout_s=0.2))
    calls = h.calls()  # structurally valid: no process reused after info
    by_value = {c.value: c for c in calls if c.f == "write"}
    assert by_value[1].type == "info" and by_value[1].error == "timeout"
    read = next(c for c in calls if c.f == "read")
    assert read.type == "fail" and "indefinite" in read.error
    # the retired process comes back as old + concurrency
    procs = {c.process for c in calls}
    assert by_value[1].process + 2 in procs


def test_indefinite_error_answer_is_info(tmp_path):
    async def unsure(req):
        return wire.error(req, "timeout", False)

    h = asyncio.run(run_workers(tmp_path, unsure, [Request("write", 1, "r"), Request("write", 2, "r")]))
    comps = [op for op in h if op.type != "invoke"]
    assert [op.type for op in comps] == ["info", "info"]
    assert comps[0].process == 0 and comps[1].process == 1  # retired: 0 -> 0 + concurrency(1)


def test_refused_connection_is_a_definite_fail(tmp_path):
    h = asyncio.run(run_workers(tmp_path, None, [Request("write", 1, "r")], port=free_port()))
    comp = h[1]
    assert comp.type == "fail" and "refused" in comp.error


def test_rerun_command_reproduces_the_config():
    test, *_ = build_test("memkv", "kv", "none", 1, "ssh", 12.5, 4, 0, 42, "stale-read", "st", 100, 2.0, 5.0,
                          {"ssh_user": "me", "insecure_host_keys": True, "extra": "x"})
    cmd = test.rerun_command()
    assert cmd.startswith("splitbrain run memkv --workload kv --nemesis none --nodes 1 --backend ssh")
    for part in ("--time-limit 12.5", "--concurrency 4", "--rate 0", "--seed 42", "--bug stale-read",
                 "--max-ops 100", "--op-timeout 2", "--store st", "--ssh-user me", "--insecure-host-keys",
                 "--backend-opt extra=x"):
        assert part in cmd
    assert test.rng("nemesis").random() == Test(system="x", seed=42).rng("nemesis").random()
    assert test.rng("nemesis").random() != test.rng("workload").random()


@pytest.mark.parametrize("args, needle", [
    (("nope", "register", "none", None, "local"), "valid: " + ", ".join(SYSTEMS.names())),  # plugins included
    (("memkv", "nope", "none", None, "local"), "valid: " + ", ".join(WORKLOADS.names())),
    (("memkv", "register", "kill,frobnicate", None, "local"), "valid: " + ", ".join(FAULTS.names())),
    (("memkv", "register", "none", None, "carrier-pigeon"), "valid: docker, local, ssh"),
    (("memkv", "register", "none", 0, "local"), "--nodes must be >= 1"),
])
def test_bad_names_are_usage_errors_listing_valid_ones(args, needle):
    with pytest.raises(UsageError) as e:
        build_test(*args, 10, 5, 10, 1, None, "store", None, 3.0, 5.0, {})
    assert needle in str(e.value)


def test_bad_bug_lists_the_systems_bugs():
    with pytest.raises(UsageError, match="valid: crash-on-start, stale-read"):
        build_test("memkv", "register", "none", 1, "ssh", 10, 5, 10, 1, "nope", "store", None, 3.0, 5.0, {})


def test_etcd_cannot_serve_set_and_says_what_it_serves():
    with pytest.raises(UsageError, match="it serves: register, kv"):
        build_test("etcd", "set", "none", 1, "ssh", 10, 5, 10, 1, None, "store", None, 3.0, 5.0, {})


def test_nemesis_names():
    assert parse_nemesis("none") == []
    assert parse_nemesis("all") == FAULTS.names()
    assert parse_nemesis("kill, pause,kill") == ["kill", "pause"]


def test_systems_info_shape():
    info = systems_info()
    assert {"systems", "faults", "backends"} <= set(info)
    assert info["systems"]["memkv"]["origin"] == "built-in"
    assert "lags one write" in info["systems"]["memkv"]["bug_descriptions"]["stale-read"]
    assert info["systems"]["memkv"]["workloads"][:2] == ["register", "kv"]
    assert "stale-read" in info["systems"]["memkv"]["bugs"]
    assert info["backends"] == ["docker", "local", "ssh"]


def test_store_dirs_are_unique_and_latest_follows(tmp_path):
    a = make_run_dir(tmp_path, "memkv", "register")
    b = make_run_dir(tmp_path, "memkv", "register")
    assert a != b and a.parent == b.parent == tmp_path / "memkv-register" and (a / "nodes").is_dir()
    update_latest(tmp_path, a)
    update_latest(tmp_path, b)
    assert (tmp_path / "latest").resolve() == b.resolve()


def test_a_raising_checker_is_unknown_not_a_crash(tmp_path):
    def broken(history, **kw):
        raise RuntimeError("boom")

    CHECKERS.register("test-broken", broken)
    r = run_checker(CheckerSpec("test-broken"), read_jsonl_empty(tmp_path), 1.0)
    assert r.valid == "unknown" and "boom" in r.error
    CHECKERS.register("test-fine", lambda history, **kw: Result("test-fine", True))
    results = check(read_jsonl_empty(tmp_path), [CheckerSpec("test-fine"), CheckerSpec("test-broken")], 1.0)
    assert results["test-fine"].valid is True and results["test-broken"].valid == "unknown"


def read_jsonl_empty(tmp_path: Path):
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    return read_jsonl(p)


def test_recheck_a_run_cut_short_with_a_torn_line(tmp_path):
    run_dir = make_run_dir(tmp_path, "memkv", "register")
    Test(system="memkv", workload="register", seed=9).save(run_dir)
    store = Store("n1", None)
    reqs = [Request("write", v % 5, "r") for v in range(20)] + [Request("read", None, "r")] * 20
    asyncio.run(run_workers(run_dir, store.handle, reqs, concurrency=3))
    with open(run_dir / "history.jsonl", "a") as fh:
        fh.write('{"index": 999, "process": 0, "type": "inv')  # the control node died mid-line
    code = recheck_run(run_dir, quiet=True)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["ops"] == 40 and results["seed"] == 9
    assert code == {True: 0, False: 1, "unknown": 2}[results["valid"]]
    assert "linearizable" in results["checkers"]
    assert (run_dir / "report.html").exists()


def test_minimal_report_escapes_everything(tmp_path):
    (tmp_path / "test.json").write_text(json.dumps({"system": "<script>x</script>", "seed": 1}))
    (tmp_path / "history.jsonl").write_text(json.dumps(
        {"index": 0, "process": 0, "type": "invoke", "f": "write", "value": "<img src=x onerror=alert(1)>", "time": 0}) + "\n")
    page = minimal_report(tmp_path).read_text()
    assert "<script>x" not in page and "<img" not in page and "&lt;img" in page
