"""The nemesis runner keeps a fault group's planned recovery gap after a stop that finished late."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from splitbrain.nemesis.base import NemesisContext
from splitbrain.nemesis.plan import Schedule, Window
from splitbrain.nemesis.schedule import NemesisRunner
from splitbrain.registry import FAULTS


@dataclass
class SlowFault:
    """A fault whose start takes ``start_s`` (finding the leader, verifying the cut) and whose stop
    (a restart) takes ``stop_s``, as on a loaded machine; ``{"mode": "all"}`` is its essential window."""

    name: str
    start_s: float = 0.0
    stop_s: float = 0.0
    group: str = "process"

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        await asyncio.sleep(self.start_s)
        return {"nodes": ["n1"]}

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        await asyncio.sleep(self.stop_s)
        return {"nodes": ["n1"]}

    @property
    def essential(self) -> dict[str, Any] | None:
        return {"mode": "all"}


class NoBackend:
    async def heal(self) -> None:
        return None


def _run(windows: list[Window], seconds: float) -> tuple[NemesisRunner, dict[str, list[float]]]:
    """Run ``windows`` for ``seconds``: the runner, and when each start and stop was recorded
    (keyed ``start-<fault>`` / ``stop-<fault>``, on the runner's clock)."""
    times: dict[str, list[float]] = defaultdict(list)
    runner = NemesisRunner(Schedule.from_windows(windows, ("n1",)), NoBackend(), ["n1"],
                           lambda typ, f, v: times[f].append(runner.clock()))

    async def go() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await runner.run(stop)
        await runner.heal()

    asyncio.run(go())
    return runner, times


def test_a_start_after_a_slow_restart_waits_out_the_planned_gap_or_is_skipped():
    FAULTS.register("slow-restart-test", SlowFault("slow-restart-test", stop_s=0.8))
    # window 0's restart ends at ~1.0 s instead of 0.2; window 1 was planned 0.3 s after it: 1.3 s
    # (window 1 planned to 3.0 s: at load 26 the restart's 0.8 s sleep ended 0.7 s late, and a window
    # planned to stop at 2.0 s was then skipped, rightly, as reached 0.04 s before its stop)
    runner, _ = _run([Window("slow-restart-test", 0.1, 0.2, 0, {}, 1),
                   Window("slow-restart-test", 0.5, 3.0, 1, {}, 2)], 4.5)
    at = {a["window"]: a["at_s"] for a in runner.applied}
    assert 1.25 <= at[1] < 2.6, runner.applied
    # pushed past its own planned stop (1.2 s), a start is skipped, not applied late
    runner, _ = _run([Window("slow-restart-test", 0.1, 0.2, 0, {}, 1),
                   Window("slow-restart-test", 0.5, 1.2, 1, {}, 2)], 2.5)
    assert [a["window"] for a in runner.applied] == [0] and runner.skipped == [1], runner.applied
    # ...unless it is the fault's essential window: applied late, never skipped
    runner, _ = _run([Window("slow-restart-test", 0.1, 0.2, 0, {}, 1),
                   Window("slow-restart-test", 0.5, 1.2, 1, {"mode": "all"}, 2)], 3.5)
    assert [a["window"] for a in runner.applied] == [0, 1] and runner.skipped == [], runner.applied


def test_a_slow_start_keeps_its_whole_window():
    """A 1 s window whose start takes 0.7 s lasts 1 s from when the start was done (it had ended 0.3 s
    after it took effect: a leader cut too short for the majority to elect), and the gap planned after
    it is kept too."""
    FAULTS.register("slow-start-test", SlowFault("slow-start-test", start_s=0.7, group="slow-start"))
    windows = [Window("slow-start-test", 0.1, 1.1, 0, {}, 1), Window("slow-start-test", 1.4, 4.0, 1, {}, 2)]
    runner, times = _run(windows, 5.0)
    (done0, done1), (stop0, _) = times["start-slow-start-test"], times["stop-slow-start-test"]
    assert runner.skipped == [] and 0.75 <= done0 < 1.1, (times, runner.applied)
    # planned: 0.1 to 1.1; the start was done at ~0.8, so the stop comes a planned second after that
    assert stop0 >= done0 + 0.95, times
    # and the next start keeps the 0.3 s gap planned after the stop
    assert done1 >= stop0 + 0.3 + 0.7 - 0.05, times


@dataclass
class NothingHeld(SlowFault):
    """A start that waited long on a cluster that refused it: nothing for its window to keep."""

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        await asyncio.sleep(self.start_s)
        return {"nodes": [], "held": False}


def test_a_start_that_held_nothing_does_not_hold_its_window_open():
    """A membership removal refused after waiting on a partition's small side held its window open a
    whole planned length after the slow start (etcd: every later membership window then ran past its
    planned stop and was skipped). With ``"held": False`` the stop comes when planned, and the next
    window starts on time."""
    FAULTS.register("nothing-held-test", NothingHeld("nothing-held-test", start_s=0.7, group="nothing-held"))
    windows = [Window("nothing-held-test", 0.1, 1.1, 0, {}, 1), Window("nothing-held-test", 1.4, 2.6, 1, {}, 2)]
    runner, times = _run(windows, 3.5)
    (done0, done1), (stop0, _) = times["start-nothing-held-test"], times["stop-nothing-held-test"]
    assert runner.skipped == [], runner.applied
    assert 1.05 <= stop0 < done0 + 0.6, times  # at its planned 1.1 s, not a second after the start was done
    assert done1 < 2.4, times  # the next window started in its plan (1.4 s + 0.7 s)
