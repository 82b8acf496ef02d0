"""`splitbrain hunt`: the shrink steps as pure functions, and the whole loop against real runs."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run_cli import _env

from splitbrain.cli.hunt import _finish, parse_duration
from splitbrain.hunt import search, shrink
from splitbrain.hunt.runs import HuntRun, RunSpec
from splitbrain.nemesis.plan import Schedule, Window
from splitbrain.registry import FAULTS, Entry

pytestmark = pytest.mark.timeout(400)


def windows(*spans: tuple[float, float]) -> tuple[Window, ...]:
    return tuple(Window("kill", a, b, i, {"targets": {"select": "one", "nodes": ["n1"]}}, i)
                 for i, (a, b) in enumerate(spans))


def test_truncation_cuts_the_run_after_the_first_anomaly_and_drops_later_faults():
    c = shrink.Candidate(windows((1, 3), (5, 9), (12, 14)), 20.0, 10)
    cut = shrink.truncated(c, 6.0)
    assert cut is not None and cut.time_limit_s == 8.0
    assert [(w.start_s, w.stop_s) for w in cut.windows] == [(1, 3), (5, 8.0)]
    assert shrink.truncated(c, 19.0) is None and shrink.truncated(c, None) is None


def test_around_anomaly_keeps_the_windows_just_before_it_moved_to_the_start_of_a_short_run():
    c = shrink.Candidate(windows((1, 3), (5, 9), (10, 16), (12, 14), (20, 22)), 30.0, 10)
    focus = shrink.around_anomaly(c, 15.0)
    # (10, 16) is in effect at 15 s and (12, 14) ended 1 s before; (5, 9) ended 6 s before
    assert focus is not None and [w.window for w in focus.windows] == [2, 3]
    assert [(w.start_s, w.stop_s) for w in focus.windows] == [(2.0, 8.0), (4.0, 6.0)]
    assert focus.time_limit_s == 9.0 and shrink.smaller(focus, c)
    assert shrink.around_anomaly(c, None) is None and shrink.around_anomaly(c, 0.5) is None
    assert shrink.around_anomaly(shrink.Candidate(windows((1, 3)), 10.0, 4), 2.0) is None  # nothing to drop


def test_one_kind_keeps_one_fault_alone_the_latest_to_start_before_the_anomaly_first():
    """A wall-clock bug's cause may be a clock window that was too short to replay, with another
    clock window elsewhere in the run: one fault's windows alone, for the faults that started last
    before the first anomaly."""
    def w(fault: str, a: float, b: float, i: int) -> Window:
        return Window(fault, a, b, i, {}, i)

    c = shrink.Candidate((w("partition", 1, 4, 0), w("clock", 2, 3, 1), w("kill", 5, 6, 2), w("clock", 8, 8.2, 3),
                          w("packet", 9, 12, 4), w("partition", 10, 11, 5)), 20.0, 10)
    alone = shrink.one_kind(c, 8.5)
    assert [[x.window for x in a.windows] for a in alone] == [[1, 3], [2]]  # clock (8 s), then kill (5 s)
    assert all(shrink.smaller(a, c) for a in alone)
    assert shrink.one_kind(c, None) == [] and shrink.one_kind(c, 0.5) == []
    assert shrink.one_kind(shrink.Candidate((w("clock", 1, 2, 0), w("clock", 3, 4, 1)), 10.0, 4), 5.0) == []


def test_in_effect_keeps_the_fault_group_acting_at_the_anomaly_alone_first():
    """A run drawn at a 1 s time scale has windows of several groups in the seconds before its first
    anomaly; the group acting at it goes alone first (paxos accept-lower-ballot hunts kept 11 and 27
    faults when all of them were kept together): here the partition group, its two faults as one."""
    def w(fault: str, a: float, b: float, i: int) -> Window:
        return Window(fault, a, b, i, {}, i)

    def group(fault: str) -> str:
        return fault.split("-")[0]

    c = shrink.Candidate((w("kill", 1, 2, 0), w("partition-one-way", 9, 10, 1), w("clock", 9.5, 11, 2),
                          w("packet", 10, 12.5, 3), w("partition", 10.5, 13, 4), w("pause", 13, 14, 5)), 20.0, 10)
    first, second = shrink.in_effect(c, 12.0, group)
    # the partition group acts at 12 s (its window started last, 10.5 s); the one-way cut before it
    # (9-10 s, within the 3 s looked back) is the same group; the clock window ended at 11 s
    assert [x.window for x in first.windows] == [1, 4]
    assert [(x.start_s, x.stop_s) for x in first.windows] == [(2.0, 3.0), (3.5, 6.0)]
    assert first.time_limit_s == 7.0 and shrink.smaller(first, c)
    assert [x.window for x in second.windows] == [3]  # packet, also acting at 12 s, started before it
    # every fault its own group: partition (10.5 s), then packet (10 s); the one-way cut is apart
    assert [[x.window for x in k.windows] for k in shrink.in_effect(c, 12.0)] == [[4], [3]]
    assert shrink.in_effect(c, None, group) == [] and shrink.in_effect(c, 0.5, group) == []
    only = shrink.Candidate((w("partition", 1, 5, 0), w("kill", 8, 9, 1)), 10.0, 4)
    assert shrink.in_effect(only, 3.0, group) == []  # the one group near it: around_anomaly's candidate


def test_group_names_a_vanished_plugins_fault_by_itself_and_lets_real_bugs_through(monkeypatch):
    """A replayed schedule may name a fault of a plugin that is uninstalled or no longer imports:
    the registry says so (UsageError) and the fault is its own group. Any other error is a bug."""
    assert search._group("partition-leader") == "partition" and search._group("kill") == "process"
    assert search._group("gone-plugin-fault") == "gone-plugin-fault"
    monkeypatch.setitem(FAULTS._entries, "broken-plugin-fault", Entry("no_such_module_xyz:FAULT", "gone-dist"))
    assert search._group("broken-plugin-fault") == "broken-plugin-fault"

    def bug(name: str) -> object:
        raise KeyError(name)

    monkeypatch.setattr(FAULTS, "get", bug)
    with pytest.raises(KeyError):
        search._group("kill")


def test_fewer_windows_is_delta_debugging_halves_first_then_singles():
    c = shrink.Candidate(windows((1, 2), (3, 4), (5, 6), (7, 8)), 10.0, 4)
    kept = [[w.window for w in p.windows] for p in shrink.fewer_windows(c)]
    assert kept[:2] == [[2, 3], [0, 1]]  # each half dropped
    assert [0, 1, 2] in kept and [1, 2, 3] in kept  # then each single window
    assert len(kept) == len({tuple(k) for k in kept})


def test_every_proposal_is_strictly_smaller_and_stays_a_valid_schedule():
    c = shrink.Candidate(windows((1, 3), (4, 8)), 20.0, 10, None, ("n1", "n2", "n3"), keyed=True)
    props = list(shrink.proposals(c, nodes=3))
    assert props and all(shrink.smaller(p, c) for p in props)
    assert any(p.concurrency == 5 for p in props) and any(p.clients_per_key == 5 for p in props)
    for p in props:
        assert Schedule.from_json(p.schedule().to_json()).windows() == list(p.windows)


def test_clients_per_key_is_shrunk_and_replayed_only_for_a_workload_with_independent_keys(tmp_path):
    """``set`` has one set for every client: a proposal of fewer clients per key replayed the same run,
    and the minimal reproducer carried a ``--clients-per-key`` that meant nothing."""
    assert [w for w in ("register", "rw-register", "kv", "set", "counter") if search._keyed(w)] == \
        ["register", "rw-register", "kv"]
    assert not search._keyed(None) and not search._keyed("broadcast")  # a Maelstrom workload
    c = shrink.Candidate(windows((1, 3), (4, 8)), 20.0, 10, None, ("n1", "n2", "n3"))
    props = list(shrink.proposals(c, nodes=3))
    assert props and all(p.clients_per_key is None for p in props)
    smallest = shrink.Candidate(windows((1, 3)), 6.0, 3, None, ("n1", "n2", "n3"))
    spec = RunSpec("raft", seed=4, time_limit_s=20.0, store=str(tmp_path), bug="no-fsync", workload="set",
                   nemesis="kill", nemesis_interval_s=2.0)
    found = HuntRun(spec, 1, None, 1.0)
    h = search.Hunt("raft", tmp_path, 60.0, bug="no-fsync", runs=[found])
    out = _finish(h, found, search.Minimal(smallest, 3, 5, found, 4), tmp_path)
    # the command the replays ran (Hunt.replay_spec), without the hunt's store
    assert out["replay"] == ("splitbrain run raft --seed 4 --time-limit 6 --bug no-fsync --workload set --concurrency 3 "
                             f"--schedule {tmp_path.resolve() / 'minimal-schedule.json'}")
    keyed = dataclasses.replace(smallest, clients_per_key=2, keyed=True)
    out = _finish(h, found, search.Minimal(keyed, 3, 5, found, 4), tmp_path)
    assert "--clients-per-key 2" in out["replay"]


def test_durations():
    assert [parse_duration(x) for x in ("90", "90s", "10m", "1h", "1.5m")] == [90, 90, 600, 3600, 90]
    with pytest.raises(Exception, match="--budget expects a duration"):
        parse_duration("ten minutes")


def hunt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain", "hunt", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=380, env=_env())


def test_hunt_finds_shrinks_and_prints_a_replay_that_fails(tmp_path):
    store = tmp_path / "store"
    p = hunt("memkv", "--bug", "stale-read", "--budget", "100s", "--time-limit", "4", "--seed", "3",
             "--store", str(store), "--json", cwd=tmp_path)
    assert p.returncode == 1, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["found"] and out["faults"] <= 3 and out["reproduced"][0] >= 3 and out["reproduced"][1] == 5
    assert out["minimal"].startswith(f"minimal reproducer: {out['faults']} faults")
    assert "[run   1 |" in p.stderr and "left]" in p.stderr  # live progress
    stored = json.loads((Path(out["hunt_dir"]) / "hunt.json").read_text())
    assert stored["replay"] == out["replay"] and Schedule.load(Path(out["schedule"])).nodes
    report = (Path(out["minimal_run"]) / "report.html").read_text()
    assert out["minimal"] in report
    argv = out["replay"].split()
    assert argv[:2] == ["splitbrain", "run"]
    replay = subprocess.run([sys.executable, "-m", "splitbrain", *argv[1:], "--store", str(store)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env())
    assert replay.returncode == 1, replay.stdout[-2000:]


def test_hunt_on_a_correct_system_ends_its_runs_with_no_failure(tmp_path):
    p = hunt("memkv", "--runs", "2", "--time-limit", "3", "--budget", "2m", "--store", str(tmp_path / "s"),
             cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "no failure found in 2 runs" in p.stdout


def test_hunt_as_a_library_call_returns_its_outcome(tmp_path):
    """``Hunt.hunt()`` is the whole hunt (search, shrink, search on) for a script or the pytest
    plugin; the command only shows it. A correct system: no failure, nothing to shrink."""
    from splitbrain.hunt.search import Hunt

    lines: list[str] = []
    outcome = Hunt("memkv", tmp_path / "hunt", budget_s=120, max_runs=2, time_limit_s=2, seed=7,
                   say=lines.append).hunt()
    assert outcome.found is None and outcome.minimal is None and not outcome.interrupted
    assert len(lines) == 2 and all("valid" in line for line in lines)


def test_a_search_resumed_goes_on_with_the_next_seeds(tmp_path):
    """After a failure that does not replay, hunt searches on: the search resumes with fresh seeds
    and what it learnt, never the seeds it already ran."""
    from splitbrain.hunt.search import Hunt

    lines: list[str] = []
    h = Hunt("memkv", tmp_path / "hunt", budget_s=300, max_runs=2, time_limit_s=2, seed=40, say=lines.append)
    assert h.search() is None and [r.spec.seed for r in h.runs] == [40, 41]
    h.max_runs = 3
    assert h.search() is None and [r.spec.seed for r in h.runs] == [40, 41, 42]
    assert all(r.exit_code == 0 for r in h.runs) and len(lines) == 3


def test_hunt_bad_flags_are_one_line_exit_64(tmp_path):
    for args, needle in ((["nosuch"], "unknown system"), (["memkv", "--bug", "nope"], "unknown bug"),
                         (["memkv", "--budget", "soon"], "--budget expects")):
        p = hunt(*args, cwd=tmp_path)
        assert p.returncode == 64 and needle in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_hunt_stopped_mid_run_lets_the_run_heal_and_report_then_exits_130(tmp_path, sig):
    """Started as a background job (SIGINT ignored), stopped while a run is in flight: the run gets
    its own clean stop (it writes its report) instead of a SIGKILL, nothing of it is left running."""
    store = tmp_path / "store"
    p = subprocess.Popen([sys.executable, "-m", "splitbrain", "hunt", "memkv", "--time-limit", "20", "--budget", "5m",
                          "--seed", "1", "--store", str(store)], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 60
    while not [h for h in store.rglob("history.jsonl") if h.stat().st_size] and time.monotonic() < deadline:
        time.sleep(0.2)
    p.send_signal(sig)
    out, err = p.communicate(timeout=90)
    assert p.returncode == 130, err[-2000:]
    assert "interrupted: keeping what was found" in err + out
    (history,) = [h for h in store.rglob("history.jsonl") if "hunt" not in h.parent.name]
    assert (history.parent / "report.html").exists(), sorted(x.name for x in history.parent.iterdir())
    assert not subprocess.run(["pgrep", "-f", str(store)], capture_output=True).stdout
