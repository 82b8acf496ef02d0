"""``hunt``: search for a failing run, then shrink it to a minimal, reproducible schedule.

Search: short runs, each with a fresh seed, a schedule drawn from a subset of
the faults and a time scale (``--nemesis-interval``). The subset is guided by
what earlier runs saw: every fault kind earns weight from the indefinite and
failed ops that completed while it was active (the places where a system is
under stress and bugs surface), so later runs lean toward the faults that hurt.
The search stops at the first invalid run.

Shrink (:mod:`splitbrain.hunt.shrink`): the failing run's schedule, from its
``schedule.json``, becomes a candidate; smaller candidates are replayed with
``run --schedule`` and kept while they fail in at least 3 of 5 replays (early
stop: three failures accept, three passes reject). The minimal schedule, its
reproduction rate and the command that replays it are printed and stored, and
the minimal run's report says it is a minimal reproducer.

:meth:`Hunt.hunt` is the whole of it, for the command, the pytest plugin or a script alike:
search, shrink, and when the failure found does not replay in 3 of 5, search on with the budget
left and shrink the next one; it returns the minimal reproducer (:class:`Outcome`). Callers only
show its progress lines (``say``).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from splitbrain.errors import UsageError
from splitbrain.hunt import shrink
from splitbrain.hunt.runs import HuntRun, RunSpec, execute
from splitbrain.nemesis.base import group_of
from splitbrain.nemesis.plan import Schedule
from splitbrain.registry import FAULTS, WORKLOADS
from splitbrain.workloads.independent import key_spec_for

#: a candidate is kept when it fails in at least this many of REPLAYS replays
NEEDED, REPLAYS = 3, 5
#: time scales the search draws (seconds: mean fault window and gap)
INTERVALS = (1.0, 2.0, 3.0, 5.0)


@dataclass
class Hunt:
    system: str
    store: Path
    budget_s: float
    max_runs: int | None = None
    bug: str | None = None
    workload: str | None = None
    time_limit_s: float = 20.0
    seed: int = 0
    #: progress lines
    say: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    runs: list[HuntRun] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    interrupted: bool = False
    _last_replay: tuple[int, int] = (1, 1)
    #: the search's own draws and its count of runs, kept so that a search resumed after a failure
    #: that did not replay goes on with fresh seeds instead of starting over
    _search_rng: random.Random | None = None
    _searched: int = 0

    # ------------------------------------------------------------------ bookkeeping

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def _run(self, spec: RunSpec, what: str) -> HuntRun:
        try:
            res = execute(spec)
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        self.runs.append(res)
        verdict = {0: "valid", 1: "INVALID", 2: "unknown"}.get(res.exit_code, f"exit {res.exit_code}")
        self.say(f"[run {len(self.runs):>3} | {time.monotonic() - self.started:5.0f} s | {max(0, self.left_s()):5.0f} s "
                 f"left] {what}: {verdict}")
        return res

    # ------------------------------------------------------------------ the whole hunt

    def hunt(self) -> Outcome:
        """Search, shrink what was found, and while it does not fail in 3 of 5 replays search on with
        the budget left (the search resumes with its next seeds and the weights it learnt) and
        shrink the next failure. A failure that does not replay is no reproducer: ring
        sloppy-quorum's first, at a 1 s interval, replayed 2 times in 5, and a hunt that stopped
        there left 270 s unspent. With none found after it, the first is what is kept. Ctrl-C
        (KeyboardInterrupt) stops cleanly and keeps what was found."""
        found: HuntRun | None = None
        minimal: Minimal | None = None
        try:
            found = self.search()
            while found is not None:
                self.say(f"found: run {len(self.runs)} (seed {found.spec.seed}) is INVALID"
                         f"{f', first anomaly at {found.anomaly_s:.1f} s' if found.anomaly_s is not None else ''}: "
                         f"{found.run_dir}")
                minimal = self.shrink(found)
                if minimal.reproduced or self.left_s() <= 0:
                    break
                self.say("  searching on for a failure that replays")
                again = self.search()
                if again is None:
                    break
                found, minimal = again, None
        except KeyboardInterrupt:
            self.interrupted = True
            self.say("interrupted: keeping what was found")
        return Outcome(found, minimal, self.interrupted)

    # ------------------------------------------------------------------ search

    def search(self) -> HuntRun | None:
        """Search runs until one fails (returned), the budget or ``max_runs`` ends (None). Called
        again, it resumes where it stopped: the next seed, the weights learnt so far."""
        if self._search_rng is None:
            self._search_rng = random.Random(f"{self.seed}/hunt")
        rng = self._search_rng
        while self.left_s() > 0 and (self.max_runs is None or self._searched < self.max_runs):
            n = self._searched
            spec = self._next_spec(rng, n)
            res = self._run(spec, f"seed {spec.seed}, nemesis {spec.nemesis or 'default'}, "
                                  f"interval {spec.nemesis_interval_s:g} s")
            self._searched = n = n + 1
            if n == 1 and res.run_dir is not None:
                self.faults = _faults_of(res.run_dir)
                self.weights = {f: 1.0 for f in self.faults}
            if res.failed:
                return res
            if res.exit_code not in (0, 2) and n >= 3 and all(r.exit_code not in (0, 1, 2) for r in self.runs[-3:]):
                self.say("three runs in a row could not run: stopping")
                return None
            total = sum(res.trouble.values()) or 1
            for kind, count in res.trouble.items():
                base = kind.split(":")[0]
                for f in self.faults:
                    if f == kind or f.split(":")[0] == base:
                        self.weights[f] = self.weights.get(f, 1.0) + 2.0 * count / total
        return None

    def _next_spec(self, rng: random.Random, n: int) -> RunSpec:
        nemesis = None  # the run's default: every fault the system supports (none for memkv)
        if n > 0 and self.faults and rng.random() < 0.7:
            k = min(len(self.faults), rng.choice([1, 2, 2, 3]))
            pool, chosen = list(self.faults), []
            for _ in range(k):
                pick = rng.choices(pool, [self.weights.get(f, 1.0) for f in pool])[0]
                chosen.append(pick)
                pool.remove(pick)
            nemesis = ",".join(chosen)
        return RunSpec(self.system, seed=self.seed + n, time_limit_s=self.time_limit_s, store=str(self.store),
                       bug=self.bug, workload=self.workload, nemesis=nemesis,
                       nemesis_interval_s=rng.choice(INTERVALS))

    # ------------------------------------------------------------------ shrink

    def replay(self, base: RunSpec, cand: shrink.Candidate, path: Path, what: str) -> tuple[int, int, HuntRun | None]:
        """Replay ``cand`` up to 5 times; (failures, replays, a failing run). Stops once decided."""
        cand.schedule({"from": "hunt", "shrinking": base.seed}).save(path)
        fails, runs, failing = 0, 0, None
        for i in range(REPLAYS):
            if self.left_s() <= 0 and runs > 0:
                break
            res = self._run(self.replay_spec(base, cand, path), f"replay {i + 1}/{REPLAYS} of {what}: {cand.describe()}")
            runs += 1
            if res.failed:
                fails += 1
                failing = failing or res
            if fails >= NEEDED or runs - fails > REPLAYS - NEEDED:
                break
        return fails, runs, failing

    def replay_spec(self, base: RunSpec, cand: shrink.Candidate, path: Path) -> RunSpec:
        """The run that replays ``cand`` (its schedule saved at ``path``) with ``base``'s system, seed,
        bug and workload: every replay, and the reproducer command printed at the end."""
        return RunSpec(base.system, seed=base.seed, time_limit_s=cand.time_limit_s, store=base.store, bug=base.bug,
                       workload=base.workload, concurrency=cand.concurrency, clients_per_key=cand.clients_per_key,
                       schedule=str(path))

    def shrink(self, found: HuntRun) -> Minimal:
        assert found.run_dir is not None
        sched = Schedule.load(found.run_dir / "schedule.json")
        test = json.loads((found.run_dir / "test.json").read_text())
        nodes = len(test.get("nodes") or [])
        keyed = _keyed(test.get("workload"))
        best = shrink.Candidate(tuple(sched.windows()), found.spec.time_limit_s, int(test.get("concurrency") or 1),
                                test.get("clients_per_key") if keyed else None, sched.nodes, keyed)
        base = RunSpec(self.system, seed=found.spec.seed, time_limit_s=best.time_limit_s, store=str(self.store),
                       bug=self.bug, workload=test.get("workload"))
        work = self.store / "hunt-candidates"
        work.mkdir(parents=True, exist_ok=True)
        best_fails, best_runs = 1, 1
        best_run: HuntRun | None = found
        tried = 0

        def attempt(cand: shrink.Candidate, what: str) -> bool:
            nonlocal best, best_fails, best_runs, best_run, tried
            tried += 1
            fails, runs, failing = self.replay(base, cand, work / f"candidate-{tried}.json", what)
            self._last_replay = (fails + (1 if cand is best else 0), runs + (1 if cand is best else 0))
            if fails >= NEEDED:
                best, best_fails, best_runs, best_run = cand, fails, runs, failing
                self.say(f"  smaller reproducer: {cand.describe()} (fails {fails}/{runs})")
                return True
            return False

        # the fault group acting at the first anomaly alone first, then every fault acting just before it
        focus = [(c, f"only its {_group(c.windows[0].fault)} windows at its first anomaly")
                 for c in shrink.in_effect(best, found.anomaly_s, _group)]
        around = shrink.around_anomaly(best, found.anomaly_s)
        focus += [(around, "the faults just before its first anomaly")] if around is not None else []
        reproduced = False
        for cand, what in focus:
            if self.left_s() <= 0:
                break
            if attempt(cand, what):
                reproduced = True
                break
        focused = reproduced
        cut = None if reproduced else shrink.truncated(best, found.anomaly_s)
        reproduced = reproduced or (cut is not None and self.left_s() > 0 and attempt(cut, "the run cut after its first anomaly"))
        if not reproduced and self.left_s() > 0:
            reproduced = attempt(best, "the failing run's own schedule")
            if not reproduced:
                self.say("  the failing schedule does not fail in 3 of 5 replays: not shrinking a coincidence")
                best_fails, best_runs = self._last_replay
        if reproduced and not focused:
            for alone in shrink.one_kind(best, found.anomaly_s, _group):
                if self.left_s() <= 0 or attempt(alone, f"only its {_group(alone.windows[0].fault)} windows"):
                    break
        progress = reproduced

        def reserve() -> float:  # kept back to measure the minimal one on all 5 replays
            return (REPLAYS - NEEDED) * (best.time_limit_s + 10.0)

        while progress and self.left_s() > reserve():
            progress = False
            for cand in shrink.proposals(best, nodes):
                if self.left_s() <= reserve():
                    break
                if attempt(cand, "a smaller candidate"):
                    progress = True
                    break
        if reproduced and best_runs < REPLAYS:  # early stop accepted it: finish its 5 replays
            path = work / f"candidate-{tried}-final.json"
            best.schedule({"from": "hunt"}).save(path)
            for i in range(best_runs, REPLAYS):
                res = self._run(self.replay_spec(base, best, path), f"replay {i + 1}/{REPLAYS} of the minimal one")
                best_runs += 1
                best_fails += int(res.failed)
        return Minimal(best, best_fails, best_runs, best_run, tried, reproduced)


@dataclass
class Outcome:
    """What a hunt ends with: the failing run it shrank (None: no failure found), its minimal
    reproducer (None when stopped before shrinking), and whether Ctrl-C ended it."""

    found: HuntRun | None
    minimal: Minimal | None
    interrupted: bool = False


@dataclass
class Minimal:
    candidate: shrink.Candidate
    fails: int
    replays: int
    run: HuntRun | None
    tried: int
    #: it failed in at least NEEDED of REPLAYS replays (else the failure was a coincidence, kept as found)
    reproduced: bool = True


def _keyed(workload: str | None) -> bool:
    """Does the workload run on independent keys (``--clients-per-key`` shapes only those)? A
    system's own workloads (Maelstrom's) are not in the registry and have none."""
    if workload is None or workload not in WORKLOADS:
        return False
    return key_spec_for(WORKLOADS.get(workload), None, None) is not None


def _faults_of(run_dir: Path) -> list[str]:
    try:
        return list(json.loads((run_dir / "test.json").read_text()).get("nemesis") or [])
    except (OSError, ValueError):
        return []


def _group(fault: str) -> str:
    """A fault's group (``partition-leader`` and ``partition-one-way`` are ``partition``); its own
    name when the registry does not know it (a schedule may name a fault of a plugin that is gone
    or no longer loads: the registry says so with a UsageError). Any other error is a bug and
    surfaces."""
    try:
        return group_of(FAULTS.get(fault))
    except UsageError:
        return fault
