"""A run's nemesis: its schedule made (or read) up front and saved as data, the runner wired to
the system's own probes, and what each window did written back beside the plan.

The schedule is data (``schedule.json``, issue 24) so a run can be replayed exactly with
``--schedule``; symbolic targets ("the leader") stay symbolic in the plan and the runner's
``applied`` list records how each was resolved, written back into the same file at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.harness.config import Test
from splitbrain.nemesis.plan import Schedule
from splitbrain.systems.base import System
from splitbrain.systems.capabilities import LeaderProbe, Membership, traits_of


def make_schedule(test: Test, system: System, run_dir: Path) -> Schedule:
    """The run's whole nemesis schedule, made (or read) before the main phase and saved as data."""
    if test.schedule:
        sched = Schedule.load(Path(test.schedule))
    elif test.nemesis:
        from splitbrain.nemesis.compose import generate

        sched = generate(list(test.nemesis), list(test.nodes), test.rng("nemesis"), test.time_limit_s,
                         test.nemesis_interval_s, draws=_draws(system))
    else:
        sched = Schedule((), tuple(test.nodes), {"generator": "none"})
    sched.save(run_dir / "schedule.json")
    return sched


def _draws(system: System) -> dict[str, Any] | None:
    """``partition`` and ``clock`` aimed the way the system asks (``SystemTraits.partition_topologies``,
    ``SystemTraits.coordinator_clocks``)."""
    from splitbrain.nemesis import clock
    from splitbrain.nemesis.partition import for_system

    traits = traits_of(system)
    draws: dict[str, Any] = {}
    if traits.partition_topologies:
        draws["partition"] = for_system(traits.partition_topologies)
    if traits.coordinator_clocks:
        draws["clock"] = clock.COORDINATORS
    return draws or None


def runner_for(schedule: Schedule, backend: Any, system: System, nodes: list[str],
               record: Callable[[str, str, Any], None], clock: Callable[[], float]) -> Any:
    """The :class:`~splitbrain.nemesis.schedule.NemesisRunner` of ``schedule``, with the system's
    leader probe and membership access when it has them."""
    from splitbrain.nemesis.schedule import NemesisRunner

    runner = NemesisRunner(schedule, backend, list(nodes), record, clock)
    addresses = {n: backend.client_address(n) for n in nodes}
    if isinstance(system, LeaderProbe):
        probe = system
        runner.ctx.leader = lambda: probe.leader(addresses)
    if isinstance(system, Membership):
        from splitbrain.nemesis.membership_view import MembershipAccess

        runner.ctx.membership = MembershipAccess(system, addresses, traits_of(system))
    return runner


def save_applied(run_dir: Path, schedule: Schedule | None, runner: Any) -> None:
    """schedule.json gains what each window did when applied (symbolic targets resolved)."""
    if schedule is None or runner is None:
        return
    data = schedule.to_json()
    data["applied"] = runner.applied
    data["skipped"] = list(getattr(runner, "skipped", []))
    path = run_dir / "schedule.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)
