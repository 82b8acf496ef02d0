"""Maelstrom nodes: services, topologies, checkers, message log, and real runs of real node binaries.

The nodes under test (``tests/maelstrom_nodes``) were written from Maelstrom's
published protocol alone; each workload has a correct node and one with a
classic mistake. A correct node must come out valid under partition, kill and
pause; a wrong one must be caught. Bad binaries must fail in one line naming the
node and the cause, leaving nothing running.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.checkers.counter import check_counter
from splitbrain.checkers.echo import check_echo
from splitbrain.checkers.eventual_set import check_eventual_set
from splitbrain.history import History, Op
from splitbrain.messages import MessageLog, read_messages
from splitbrain.systems.maelstrom import protocol
from splitbrain.systems.maelstrom.services import Services
from splitbrain.systems.maelstrom.workloads import topology

REPO = Path(__file__).resolve().parent.parent
PYNODE = REPO / "tests" / "maelstrom_nodes" / "pynode.py"
GONODE_SRC = REPO / "tests" / "maelstrom_nodes" / "gonode" / "main.go"


@pytest.fixture(scope="session")
def gonode(tmp_path_factory) -> Path:
    """The Go test node, built statically (so it also runs in the node image). ``make debs`` installs golang-go."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is missing: `make debs` installs golang-go")
    out = tmp_path_factory.mktemp("gonode") / "gonode"
    env = {**os.environ, "CGO_ENABLED": "0", "GO111MODULE": "off"}
    subprocess.run([go, "build", "-o", str(out), str(GONODE_SRC)], check=True, env=env, timeout=300,
                   capture_output=True)
    return out


# ---------------------------------------------------------------- services


def test_lin_kv_follows_the_documented_errors():
    s = Services(random.Random(1))
    assert s.handle("lin-kv", "n1", {"type": "read", "key": 1, "msg_id": 1})["code"] == 20
    assert s.handle("lin-kv", "n1", {"type": "cas", "key": 1, "from": 0, "to": 1, "msg_id": 2})["code"] == 20
    ok = s.handle("lin-kv", "n1", {"type": "cas", "key": 1, "from": 0, "to": 1, "create_if_not_exists": True,
                                   "msg_id": 3})
    assert ok == {"type": "cas_ok", "in_reply_to": 3}
    assert s.handle("lin-kv", "n2", {"type": "cas", "key": 1, "from": 0, "to": 2, "msg_id": 4})["code"] == 22
    assert s.handle("lin-kv", "n2", {"type": "read", "key": 1, "msg_id": 5})["value"] == 1
    assert s.handle("lin-kv", "n2", {"type": "frob", "msg_id": 6})["code"] == 10
    assert s.handle("lin-kv", "n2", {"type": "read_ok", "value": 1}) is None  # not a request: no answer
    assert s.handle("lin-tso", "n1", {"type": "ts", "msg_id": 7})["ts"] < \
        s.handle("lin-tso", "n2", {"type": "ts", "msg_id": 8})["ts"]


def test_seq_kv_serves_stale_reads_but_never_goes_back_for_one_node():
    s = Services(random.Random(3))
    seen, stale = [], 0
    for v in range(1, 200):
        s.handle("seq-kv", "n1", {"type": "write", "key": "x", "value": v, "msg_id": v})
        if v % 3 == 0:
            r = s.handle("seq-kv", "n2", {"type": "read", "key": "x", "msg_id": 1000 + v})
            seen.append(r.get("value"))
            stale += r.get("value") != v
    assert stale > 10, "seq-kv hardly ever served a stale read"
    numeric = [v if v is not None else 0 for v in seen]
    assert numeric == sorted(numeric), "a node's seq-kv reads went backwards"
    # a node sees its own write at once
    s.handle("seq-kv", "n3", {"type": "write", "key": "x", "value": 99, "msg_id": 1})
    assert s.handle("seq-kv", "n3", {"type": "read", "key": "x", "msg_id": 2})["value"] == 99


def test_lww_kv_is_last_write_wins_and_eventually_consistent():
    s = Services(random.Random(5))
    s.handle("lww-kv", "n1", {"type": "write", "key": "x", "value": 1, "msg_id": 1})
    s.handle("lww-kv", "n2", {"type": "write", "key": "x", "value": 2, "msg_id": 2})
    assert s.handle("lww-kv", "n2", {"type": "read", "key": "x", "msg_id": 3})["value"] == 2  # its own write
    seen = [s.handle("lww-kv", "n1", {"type": "read", "key": "x", "msg_id": 10 + i})["value"] for i in range(50)]
    assert seen[0] == 1 and seen[-1] == 2  # stale at first, the last write wins once the replica caught up
    assert s.handle("lww-kv", "n3", {"type": "read", "key": "y", "msg_id": 99})["code"] == 20


@pytest.mark.parametrize("kind", ["tree", "grid", "line", "total"])
def test_topologies_are_symmetric_and_connected(kind):
    nodes = [f"n{i}" for i in range(1, 11)]
    topo = topology(kind, nodes)
    assert set(topo) == set(nodes)
    for a, ns in topo.items():
        assert a not in ns
        assert all(a in topo[b] for b in ns)
    seen, todo = {"n1"}, ["n1"]
    while todo:
        for b in topo[todo.pop()]:
            if b not in seen:
                seen.add(b)
                todo.append(b)
    assert seen == set(nodes)


def test_error_codes_definite_and_indefinite():
    assert [c for c in (0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30, 1000, "x") if protocol.is_definite(c)] == \
        [1, 10, 11, 12, 14, 20, 21, 22, 30]


# ---------------------------------------------------------------- checkers


def _history(calls: list[tuple[int, str, object, object, str, str]]) -> History:
    """(process, f, invoke value, ok value or None for info, node, type) -> a sequential history."""
    ops, t = [], 0
    for proc, f, value, out, node, typ in calls:
        ops.append(Op(index=len(ops), process=proc, type="invoke", f=f, value=value, time=t, node=node))
        ops.append(Op(index=len(ops) + 1, process=proc, type=typ, f=f, value=out, time=t + 1, node=node))
        t += 10
    for i, op in enumerate(ops):
        op.index = i
    return History(ops)


def test_eventual_set_judges_every_nodes_final_read():
    base = [(0, "broadcast", 1, 1, "n1", "ok"), (2, "read", None, [], "n2", "ok"), (1, "broadcast", 2, 2, "n2", "ok")]
    good = _history(base + [(3, "read", None, [1, 2], "n1", "ok"), (4, "read", None, [2, 1], "n2", "ok")])
    r = check_eventual_set(good)
    assert r.valid is True, r.summary
    lost = check_eventual_set(_history(base + [(3, "read", None, [1, 2], "n1", "ok"), (4, "read", None, [1], "n2", "ok")]))
    assert lost.valid is False and lost.stats["lost"] == 1 and lost.anomalies[0].data == {"element": 2, "nodes": ["n2"]}
    invented = check_eventual_set(_history(base + [(3, "read", None, [1, 2, 7], "n1", "ok"),
                                                   (4, "read", None, [1, 2], "n2", "ok")]))
    assert invented.valid is False and invented.stats["unexpected"] == 1
    missing_node = check_eventual_set(_history(base + [(3, "read", None, [1, 2], "n1", "ok")]))
    assert missing_node.valid == "unknown"


def test_counter_final_only_ignores_lagging_reads_during_the_run():
    h = _history([(0, "add", 3, 3, "n1", "ok"), (1, "read", None, 0, "n2", "ok"), (2, "add", 2, 2, "n2", "ok"),
                  (3, "read", None, 5, "n1", "ok"), (4, "read", None, 5, "n2", "ok")])
    assert check_counter(h).valid is False  # the lagging read breaks the linearizable bounds
    assert check_counter(h, final_only=True).valid is True
    short = _history([(0, "add", 3, 3, "n1", "ok"), (1, "read", None, 2, "n1", "ok")])
    assert check_counter(short, final_only=True).valid is False


def test_echo_checker():
    assert check_echo(_history([(0, "echo", "a", "a", "n1", "ok")])).valid is True
    assert check_echo(_history([(0, "echo", "a", "b", "n1", "ok")])).valid is False


def test_message_log_joins_out_of_order_events_and_stays_bounded(tmp_path):
    log = MessageLog(origin_ns=1000, max_records=2)
    msg = {"src": "n1", "dest": "n2", "body": {"type": "gossip", "msg_id": 4}}
    log.event(protocol.trace("recv", "a", 1500, msg, "node"))  # reported before its send
    log.event(protocol.trace("send", "a", 1200, msg, "node"))
    log.event(protocol.trace("send", "b", 1300, msg, "node"))
    log.event(protocol.trace("send", "c", 1400, msg, "node"))
    summary = log.summary()
    assert summary["total"] == 3 and summary["recorded"] == 2 and summary["sampled_away"] == 1
    assert summary["by_link"] == {"n1->n2": 3} and summary["dropped"] == 1
    log.write(tmp_path / "m.jsonl")
    recs = read_messages(tmp_path / "m.jsonl")
    assert (recs[0].send_ns, recs[0].deliver_ns, recs[0].dropped) == (200, 500, False)
    assert recs[1].dropped is True


# ---------------------------------------------------------------- real runs


def run_node(tmp_path: Path, *args: str, bin_args: tuple[str, ...], workload: str, nemesis: str = "none",
             time_limit: int = 8, nodes: int = 3, binary: Path = PYNODE, extra: tuple[str, ...] = (),
             timeout: float = 240) -> tuple[int, dict, str]:
    argv = [sys.executable, "-m", "splitbrain", "run", "maelstrom", "--bin", str(binary),
            *(f"--bin-arg={a}" for a in bin_args), "--workload", workload, "--nemesis", nemesis,
            "--nodes", str(nodes), "--time-limit", str(time_limit), "--nemesis-interval", "2", "--seed", "3",
            "--store", str(tmp_path / "store"), "--json", *extra, *args]
    if "--backend" not in args:
        # a loaded machine starts processes slowly; the shim itself ends a start that cannot succeed
        argv += ["--backend-opt", "start_timeout_s=60"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "1"}
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    out = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    return p.returncode, out, p.stderr


def leftover(tmp_path: Path) -> list[str]:
    """Processes of this test's runs still alive: shims name their run's store on their command line,
    node binaries run with their node's directory as working directory."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(tmp_path / "store") in cmd or cwd.startswith(str(tmp_path / "store")):
            found.append(f"{pid} {cmd[:200]}")
    return found


CASES = [
    pytest.param("lin-kv", "partition,kill,pause", id="lin-kv"),
    pytest.param("broadcast", "partition,kill,pause", id="broadcast"),
    pytest.param("g-set", "partition,kill,pause", id="g-set", marks=pytest.mark.slow),
    pytest.param("g-counter", "partition,kill,pause", id="g-counter", marks=pytest.mark.slow),
    pytest.param("pn-counter", "partition,kill,pause", id="pn-counter", marks=pytest.mark.slow),
    pytest.param("txn-list-append", "partition,kill,pause", id="txn-list-append", marks=pytest.mark.slow),
    pytest.param("unique-ids", "partition,kill,pause", id="unique-ids", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("workload, nemesis", CASES)
def test_correct_node_is_valid_and_wrong_node_is_caught(tmp_path, workload, nemesis):
    code, out, err = run_node(tmp_path, bin_args=(workload,), workload=workload, nemesis=nemesis)
    assert code == 0, (out, err[-2000:])
    assert out["faults"] >= 1
    run_dir = Path(out["run_dir"])
    results = json.loads((run_dir / "results.json").read_text())
    msgs = results["maelstrom"]["messages"]
    assert msgs["total"] > 0 and msgs["by_type"]["init"] >= 3
    assert 'id="msg-links"' in (run_dir / "report.html").read_text()  # counts per type and link in the report
    records = read_messages(run_dir / "messages.jsonl")
    assert records and all(r.src and r.dest and r.type for r in records)
    if workload == "broadcast":
        assert msgs["by_type"].get("topology", 0) >= 3 and any(r.kind == "node" for r in records)
        assert "stable_latency_ms" in results["checkers"]["eventual-set"]["stats"]
    code, out, err = run_node(tmp_path, bin_args=(workload, "--wrong"), workload=workload, nemesis=nemesis)
    assert code == 1, (out, err[-2000:])
    assert out["valid"] is False
    assert leftover(tmp_path) == []


@pytest.mark.parametrize("workload", [
    "lin-kv",
    pytest.param("broadcast", marks=pytest.mark.slow),
])
def test_go_nodes_correct_valid_wrong_caught(tmp_path, gonode, workload):
    """Nodes in another language, through the same shim; broadcast on a grid topology."""
    opts = ("--system-opt", "topology=grid")
    code, out, err = run_node(tmp_path, *opts, bin_args=(workload,), workload=workload,
                              nemesis="partition,kill,pause", binary=gonode, nodes=4)
    assert code == 0, (out, err[-2000:])
    code, out, err = run_node(tmp_path, *opts, bin_args=(workload, "--wrong"), workload=workload,
                              nemesis="partition,kill,pause", binary=gonode, nodes=4)
    assert code == 1, (out, err[-2000:])
    assert leftover(tmp_path) == []


def test_echo_smoke_and_splitbrain_workload_aliases(tmp_path):
    code, out, err = run_node(tmp_path, bin_args=("echo",), workload="echo", time_limit=2, nodes=2)
    assert code == 0 and out["checkers"]["echo"]["valid"] is True, err[-2000:]
    code, out, err = run_node(tmp_path, bin_args=("unique-ids",), workload="unique-ids", time_limit=2, nodes=2)
    assert code == 0 and out["checkers"]["unique-ids"]["valid"] is True, err[-2000:]


@pytest.mark.parametrize("mode, cause", [
    ("bad-exit", "binary exited with code 1 before answering init"),
    ("bad-noinit", "binary never answered init within 5 s"),
    ("not-executable", "Permission denied"),
    ("bad-flood", "flooded stdout"),
])
def test_bad_binary_at_start_exits_255_naming_node_and_cause(tmp_path, mode, cause):
    binary = PYNODE
    if mode == "not-executable":
        binary = tmp_path / "node"
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o644)
    timeout = ("--system-opt", "init_timeout_s=5") if mode == "bad-noinit" else ()
    code, _, err = run_node(tmp_path, *timeout, bin_args=(mode,),
                            workload="echo", time_limit=2, nodes=2, binary=binary)
    assert code == 255, err
    first = [ln for ln in err.splitlines() if ln.startswith("splitbrain:")]
    assert first and "node n" in first[0] and cause in first[0], err
    assert "Traceback" not in err
    assert leftover(tmp_path) == []


@pytest.mark.parametrize("mode, needle", [
    ("bad-irt", "which answers no request of this client"),
])
def test_bad_binary_mid_run_gives_info_ops_and_a_named_cause(tmp_path, mode, needle):
    code, out, err = run_node(tmp_path, "--op-timeout", "1", bin_args=(mode,), workload="g-set", time_limit=2,
                              nodes=2)
    assert code in (1, 2), err[-2000:]
    results = json.loads((Path(out["run_dir"]) / "results.json").read_text())
    assert any(needle in e for e in results["node_errors"]), results["node_errors"]
    assert results["counts"]["ok"] == 0 and results["valid"] != True  # noqa: E712
    assert leftover(tmp_path) == []


def test_missing_binary_exits_66_and_no_binary_64(tmp_path):
    code, _, err = run_node(tmp_path, bin_args=(), workload="echo", binary=tmp_path / "nope")
    assert code == 66 and "no such file" in err and len(err.strip().splitlines()) == 1
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "splitbrain", "run", "maelstrom", "--workload", "echo"], env=env,
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 64 and "needs the node binary: --bin PATH" in p.stderr



def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means no engine
        return False


# slow: besides container start-up, the docker backend can lose control (exit 255) when a partition
# races a pause, kill or restart of the same container (`cannot exec in a stopped state`, or a grudge
# not applied to a container restarting meanwhile): a backend race, seen with fault groups 2-4 s apart
@pytest.mark.skipif(not _docker_engine(), reason="no Docker engine reachable")
@pytest.mark.parametrize("workload, binary", [
    pytest.param("lin-kv", "python", id="python-lin-kv", marks=pytest.mark.slow),
    pytest.param("broadcast", "go", id="go-broadcast", marks=pytest.mark.slow),
    pytest.param("g-counter", "python", id="python-g-counter", marks=pytest.mark.slow),
])
def test_docker_ships_the_binary_correct_valid_wrong_caught(tmp_path, request, workload, binary):
    """The node binary is shipped into each container; faults are iptables rules, docker kill and pause."""
    path = request.getfixturevalue("gonode") if binary == "go" else PYNODE
    for bin_args, expected in (((workload,), 0), ((workload, "--wrong"), 1)):
        code, out, err = run_node(tmp_path, "--backend", "docker", "--nemesis-interval", "4", bin_args=bin_args,
                                  workload=workload, nemesis="partition,kill,pause", binary=path, time_limit=12,
                                  timeout=600)
        assert code == expected, (out, err[-3000:])
        if expected == 0:
            results = json.loads((Path(out["run_dir"]) / "results.json").read_text())
            assert results["faults"] >= 1 and results["maelstrom"]["messages"]["total"] > 0
