"""Transactional checking beyond Elle's own cases: the model lattice, honest timeouts, the CLI flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.checkers.consistency import boundary, parse_expectation
from splitbrain.checkers.list_append import check_list_append
from splitbrain.errors import UsageError
from splitbrain.harness.config import Test
from splitbrain.harness.verdict import check
from splitbrain.workloads.base import CheckerSpec
from tests.checker_sim import Builder

PAPER = Path(__file__).resolve().parent.parent / "corpora" / "elle" / "paper-example.edn"


def write_skew() -> Builder:
    """Two txns each read the key the other appends to: G2-item, which snapshot isolation allows."""
    b = Builder()
    b.invoke(0, "txn", [["r", "x", None], ["append", "y", 1]])
    b.invoke(1, "txn", [["r", "y", None], ["append", "x", 1]])
    b.ok(0, [["r", "x", None], ["append", "y", 1]])
    b.ok(1, [["r", "y", None], ["append", "x", 1]])
    b.call(2, "txn", [["r", "x", None], ["r", "y", None]], [["r", "x", [1]], ["r", "y", [1]]])
    return b


def test_lattice_names_what_an_anomaly_rules_out() -> None:
    assert boundary(["G1a"])[0] == ["read-committed"]
    assert boundary(["G2-item"])[0] == ["repeatable-read"]
    assert boundary(["G-single-item-realtime"]) == (["strong-snapshot-isolation"], ["strict-serializable"])
    assert "serializable" in boundary(["G0"])[1]
    assert parse_expectation("serializable", None).prohibited() >= {"G2-item", "G1c", "internal"}
    assert "G2-item" not in parse_expectation("snapshot-isolation", None).prohibited()
    with pytest.raises(UsageError, match="unknown consistency model"):
        parse_expectation("serialisable", None)
    with pytest.raises(UsageError, match="unknown anomaly"):
        parse_expectation(None, "G3")


def test_models_decide_the_verdict() -> None:
    h = write_skew().history()
    assert check_list_append(h, consistency_models=["snapshot-isolation"]).valid is True
    res = check_list_append(h, consistency_models=["serializable"])
    assert res.valid is False and res.details["anomaly-types"] == ["G2-item"]
    assert res.details["not"] == ["repeatable-read"]
    steps = res.anomalies[0].data["edges"]
    assert [s["type"] for s in steps] == ["rw", "rw"] and {s["key"] for s in steps} == {"x", "y"}
    assert "did not observe" in res.anomalies[0].explanation or "initial" in res.anomalies[0].explanation


def test_a_class_search_out_of_time_is_unknown_never_valid() -> None:
    """With no time to rule G-single out, a component whose only cycle SI allows is unknown."""
    h = write_skew().history()
    res = check_list_append(h, consistency_models=["snapshot-isolation"], cycle_search_timeout_s=0)
    assert res.valid == "unknown"
    assert res.details["anomaly-types"] == ["cycle-search-timeout"]
    cst = res.anomalies[0].data
    assert cst["anomaly_spec_type"] in ("G-single-item", "G-nonadjacent-item") and cst["scc_size"] == 2
    # ... but what it found in the time it had still counts (the fallback cycle names the component).
    assert check_list_append(h, consistency_models=["serializable"], cycle_search_timeout_s=0).valid is False


def test_check_cli_flags_and_not(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "splitbrain", "check", "--model", "list-append", "--json"]
    out = subprocess.run([*cmd, "--consistency-models", "serializable", str(PAPER)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    obj = json.loads(out.stdout)
    assert obj["anomaly-types"] == ["G-single-item"] and obj["not"] == ["consistent-view", "repeatable-read"]
    assert "strict-serializable" in obj["also-not"]
    assert "no :process" in out.stderr  # Elle's paper example has no :process: said in one warning line
    bad = subprocess.run([*cmd, "--consistency-models", "snapshot", str(PAPER)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 64 and "unknown consistency model" in bad.stderr
    ok = subprocess.run([*cmd, "--consistency-models", "read-committed", str(PAPER)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True


def test_run_passes_models_to_the_transactional_checkers() -> None:
    t = Test(system="raft", workload="list-append", checker_options={"consistency_models": ["serializable"],
                                                                       "anomalies": []})
    assert "--consistency-models serializable" in t.rerun_command()
    res = check(write_skew().history(), [CheckerSpec("list-append")], 10, {"consistency_models": ["snapshot-isolation"]})
    assert res["list-append"].valid is True
    res = check(write_skew().history(), [CheckerSpec("list-append")], 10, {"consistency_models": ["serializable"]})
    assert res["list-append"].valid is False


def test_raft_serves_rw_register_transactions(tmp_path: Path) -> None:
    """A real 3-node Raft cluster runs the txn-rw-register workload (rwtxn, one log entry per
    transaction) and the rw-register checker judges it strictly serializable."""
    out = subprocess.run([sys.executable, "-m", "splitbrain", "run", "raft", "--workload", "txn-rw-register",
                          "--nodes", "3", "--time-limit", "3", "--seed", "7", "--store", str(tmp_path), "--json",
                          "--consistency-models", "strict-serializable"],
                         capture_output=True, text=True, check=False, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    obj = json.loads(out.stdout.strip().splitlines()[-1])
    assert obj["valid"] is True and obj["checkers"]["rw-register"]["valid"] is True and obj["ops"] > 20
    results = json.loads((Path(obj["run_dir"]) / "results.json").read_text())
    assert results["checkers"]["rw-register"]["details"]["consistency-models"] == ["strict-serializable"]
    assert results["checkers"]["rw-register"]["stats"]["graph"]["wr_edges"] > 0


def test_ring_cannot_serve_transactions(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "splitbrain", "run", "ring", "--workload", "txn-rw-register",
                          "--store", str(tmp_path)], capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 64 and "cannot serve workload 'txn-rw-register'" in out.stderr
