"""paxos at the user's defaults: a set, so a diverged log stays visible.

A broken Paxos shows as a diverged log: two values chosen for one slot, and each
replica answering its own clients from what it learned. On a register the next write
to the key makes the replicas agree again within tens of milliseconds; in a set a
lost ``add`` stays lost, and every later read on a replica without it shows it. These
runs are real clusters on the local backend, with no ``--workload``: what a user who
types ``splitbrain run paxos`` gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from splitbrain.harness.build import build_test
from splitbrain.harness.runnemesis import make_schedule


def _run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """``splitbrain run paxos ARGS --json`` (no workload given); (exit code, results.json)."""
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "paxos", *args, "--store", str(tmp_path), "--json"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "1"})
    assert r.returncode in (0, 1), r.stdout[-2000:] + r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    run_dir = Path(out["run_dir"])
    assert json.loads((run_dir / "test.json").read_text())["workload"] == "set"
    return r.returncode, json.loads((run_dir / "results.json").read_text())


def test_paxos_runs_a_set_unless_told_otherwise() -> None:
    test, _, wl, _ = build_test("paxos", None, None, None, "local", 30, None, 100, 401, "accept-lower-ballot",
                                "store", None, 3.0, 5.0, {})
    assert test.workload == "set" and wl.name == "set"
    assert [c.name for c in wl.checkers()] == ["set"]
    # the other workloads are still there when asked for
    test, _, wl, _ = build_test("paxos", "register", None, None, "local", 30, None, 100, 401, None,
                                "store", None, 3.0, 5.0, {})
    assert test.workload == "register"


def _topologies(system: str, seed: int, tmp_path: Path) -> list[str]:
    """The partition shapes of a default 30 s run's schedule (``--nemesis all``, as ``run`` makes it)."""
    test, configured, _, _ = build_test(system, None, None, None, "local", 30, None, 100, seed, None, "store", None,
                                        3.0, 5.0, {})
    sched = make_schedule(test, configured, tmp_path)
    return [str(w.params.get("topology")) for w in sched.windows() if w.fault.startswith("partition")]


def test_every_default_paxos_run_has_dueling_proposers(tmp_path: Path) -> None:
    """``partition`` on paxos draws a leader bridge or overlapping majorities, every default run
    duels (overlapping majorities after the leader cut, and a leader bridge where the partition
    windows leave room: guarantees._duel); the leader cut and the one-way cuts still come from the
    other partition faults, and the run still opens with a leader cut."""
    runs = [_topologies("paxos", seed, tmp_path) for seed in range(1, 101)]
    assert all(shapes[1] == "majorities-ring" for shapes in runs)
    assert sum("leader-bridge" in shapes for shapes in runs) > 80
    assert all(shapes[0] == "leader-minority" for shapes in runs)
    assert sum("one-way-random" in shapes for shapes in runs) > 60
    assert {t for shapes in runs for t in shapes} == {"leader-minority", "isolate-leader", "one-way-random",
                                                       "leader-bridge", "majorities-ring"}
    # a system that does not aim its partitions at dueling proposers gets no leader bridge
    for system in ("raft", "zookeeper"):
        assert not any("leader-bridge" in _topologies(system, seed, tmp_path) for seed in range(1, 31)), system


def test_every_default_paxos_run_duels_alone_after_the_leader_cut() -> None:
    """The second burst of every default paxos run is a duel: overlapping majorities (no node hears
    everyone, so no hub can win and end it), at least one interval long, with no other fault in
    effect. Left to the decks, 3 of 20 runs missed accept-lower-ballot: their one duel was skipped
    under load or shared with a clock bump and a disk fault that let the bridge's hub win."""
    import random

    from splitbrain.nemesis.compose import generate
    from splitbrain.nemesis.partition import for_system
    from splitbrain.systems.paxos import PARTITIONS

    faults = ["partition", "partition-leader", "partition-one-way", "kill", "pause", "packet", "clock", "disk"]
    for seed in range(200):
        ws = generate(faults, ["n1", "n2", "n3", "n4", "n5"], random.Random(seed), 30.0, 5.0,
                      draws={"partition": for_system(PARTITIONS)}).windows()
        cut, duel = ws[0], ws[1]
        assert cut.params.get("topology") == "leader-minority", (seed, ws)
        assert duel.fault == "partition" and duel.params.get("topology") == "majorities-ring", (seed, ws)
        assert duel.start_s > cut.stop_s and duel.stop_s - duel.start_s >= 5.0 and duel.start_s < 15.0, (seed, duel)
        # nothing else from the leader cut's heal to the duel's (no power loss restarting nodes into it)
        assert not [w for w in ws[2:] if w.start_s < duel.stop_s and w.stop_s > cut.stop_s], (seed, ws)


def test_short_runs_and_other_fault_lists_get_their_duel_too() -> None:
    """With less room (20 s runs, 2 s intervals) the duel still comes, in a gap or in place of a
    partition window of a fault that has several: never the opening cut, never a fault's only window."""
    import random

    from splitbrain.nemesis.compose import generate
    from splitbrain.nemesis.partition import for_system
    from splitbrain.systems.paxos import PARTITIONS

    faults = ["partition", "partition-leader", "partition-one-way", "kill"]
    for seed in range(100):
        sched = generate(faults, ["n1", "n2", "n3", "n4", "n5"], random.Random(seed), 20.0, 2.0,
                         draws={"partition": for_system(PARTITIONS)})
        ws = sched.windows()
        duels = [w for w in ws if w.params.get("topology") == "leader-bridge"]
        assert duels, (seed, ws)
        assert ws[0].params.get("topology") == "leader-minority"
        assert {"partition-leader", "partition-one-way", "kill"} <= {w.fault for w in ws}


@pytest.mark.slow
def test_dueling_proposers_lose_acknowledged_adds_with_the_bug_and_none_without(tmp_path: Path) -> None:
    """A leader bridge (two proposers dueling over the hub for the whole window) at the default
    workload: with ``accept-lower-ballot`` the hub accepts both ballots, both sides learn their own
    values for the same slots and acknowledge them, and the set shows adds lost or missing from later
    reads; the correct paxos under the same seed and schedule loses nothing."""
    common = ("--nemesis", "partition:leader-bridge", "--seed", "3", "--time-limit", "15")
    code, results = _run(tmp_path / "bug", "--bug", "accept-lower-ballot", *common)
    s = results["checkers"]["set"]
    assert code == 1 and s["valid"] is False, s["summary"]
    assert {a["kind"] for a in s["anomalies"]} & {"lost", "stale"}, s["summary"]
    code, results = _run(tmp_path / "ok", *common)
    s = results["checkers"]["set"]
    assert code == 0 and s["valid"] is True, s["summary"]
    assert s["stats"]["acknowledged"] > 100  # the correct cluster did work under the same faults
