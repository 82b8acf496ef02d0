"""The nemesis runner keeps a fault group's planned recovery gap after a stop that finished late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from splitbrain.nemesis.base import NemesisContext
from splitbrain.nemesis.plan import Schedule, Window
from splitbrain.nemesis.schedule import NemesisRunner
from splitbrain.registry import FAULTS


@dataclass
class SlowRestart:
    """A process fault whose stop (the restart) takes ``restart_s``, as on a loaded machine."""

    name: str
    restart_s: float
    group: str = "process"

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        return {"nodes": ["n1"]}

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        await asyncio.sleep(self.restart_s)
        return {"nodes": ["n1"]}

    @property
    def essential(self) -> dict[str, Any] | None:
        return {"mode": "all"}


class NoBackend:
    async def heal(self) -> None:
        return None


def _run(windows: list[Window], seconds: float) -> NemesisRunner:
    runner = NemesisRunner(Schedule.from_windows(windows, ("n1",)), NoBackend(), ["n1"], lambda *a: None)

    async def go() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await runner.run(stop)
        await runner.heal()

    asyncio.run(go())
    return runner


def test_a_start_after_a_slow_restart_waits_out_the_planned_gap_or_is_skipped():
    FAULTS.register("slow-restart-test", SlowRestart("slow-restart-test", 0.8))
    # window 0's restart ends at ~1.0 s instead of 0.2; window 1 was planned 0.3 s after it: 1.3 s
    runner = _run([Window("slow-restart-test", 0.1, 0.2, 0, {}, 1),
                   Window("slow-restart-test", 0.5, 2.0, 1, {}, 2)], 3.5)
    at = {a["window"]: a["at_s"] for a in runner.applied}
    assert 1.25 <= at[1] < 1.8, runner.applied
    # pushed past its own planned stop (1.2 s), a start is skipped, not applied late
    runner = _run([Window("slow-restart-test", 0.1, 0.2, 0, {}, 1),
                   Window("slow-restart-test", 0.5, 1.2, 1, {}, 2)], 2.5)
    assert [a["window"] for a in runner.applied] == [0] and runner.skipped == [1], runner.applied
    # ...unless it is the fault's essential window: applied late, never skipped
    runner = _run([Window("slow-restart-test", 0.1, 0.2, 0, {}, 1),
                   Window("slow-restart-test", 0.5, 1.2, 1, {"mode": "all"}, 2)], 3.5)
    assert [a["window"] for a in runner.applied] == [0, 1] and runner.skipped == [], runner.applied
