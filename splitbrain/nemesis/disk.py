"""disk: storage faults through the fault filesystem (:mod:`splitbrain.backends.disk.lazyfs`).

A process kill cannot test durability: the kernel keeps a killed process's
unsynced writes. These faults act on what a node's disk has *promised*:

* ``lose-unfsynced``: power loss. The targets are killed, everything they
  wrote but never fsync'd (data, and names no directory fsync made durable)
  is dropped, and they restart at stop from what is left;
* ``torn-write``: the same, but the newest unsynced write keeps a random
  prefix of itself, as a sector write cut by the power failure;
* ``fsync-error``: the next fsync on each target fails with EIO, once, as
  on a failing disk (the targets are restarted at stop if that killed them);
* ``slow-fsync``: every fsync of the targets takes ``delay_ms`` longer.

``disk`` draws one of them per start (power loss most often: it is the one
that finds acknowledged writes that were never durable); ``disk:<variant>``
always uses that one. Power loss hits the whole cluster two times in three,
a majority one in six, and one node, a minority or the leader otherwise: a
write acknowledged by a quorum that never fsync'd is lost only when every
copy is (a node that kept it teaches it back to the others), so a power
failure of every node at once, as Jepsen's lazyfs tests use, is the one
that tests every durability promise. A power loss of every node restarts them at once
rather than at the window's stop: with the whole cluster down no op can succeed, and holding
it down for the window (2.5-7.5 s, and a slow restart on top) took a sixth to a third of a
30-second run from every other fault, while what the crash lost is fixed the moment it
happens. Drawn per window, a 30-second run with
one or two disk windows still went without one now and then (a missed bug),
so that window is :attr:`DiskFault.essential`: every schedule has one
(``{"variant": "lose-unfsynced", "mode": "all"}`` in its parameters, which
``start`` obeys as it obeys a replayed schedule's).

Verified like every fault: a crash answers with the bytes, files and names
it dropped (recorded in the history), an armed fsync error or delay is read
back from the daemon's stats, and a fired fsync error names the file.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from splitbrain.backends.base import DiskBackend, Measurement
from splitbrain.backends.disk.mount import CRASH_SETTLE_S
from splitbrain.errors import UsageError
from splitbrain.nemesis.base import FaultNotEffective, NemesisContext, leaderish, minority

VARIANTS = ("lose-unfsynced", "torn-write", "fsync-error", "slow-fsync")
#: how often plain ``disk`` draws each variant
WEIGHTS = (6, 2, 1, 1)
SLOW_FSYNC_MS = (20.0, 200.0)


def _has_disk(ctx: NemesisContext) -> DiskBackend:
    if not isinstance(ctx.backend, DiskBackend):
        raise UsageError(f"backend {getattr(ctx.backend, 'name', '?')} has no fault filesystem for disk faults")
    return ctx.backend


async def _targets(ctx: NemesisContext, power_loss: bool) -> tuple[str, list[str]]:
    nodes = sorted(ctx.nodes)
    modes, weights = ["one", "minority", "leader"], [1, 1, 1]
    if power_loss:  # what a quorum acknowledged is lost only when every copy is: mostly the whole cluster
        modes, weights = modes + ["majority", "all"], weights + [3, 12]
    asked = ctx.params.get("mode")  # the schedule's (an essential window's), else drawn now
    mode = asked if isinstance(asked, str) and asked in modes else ctx.rng.choices(modes, weights)[0]
    if mode == "all":
        return mode, nodes
    k = {"one": 1, "leader": 1, "minority": ctx.rng.randint(1, minority(len(nodes))),
         "majority": len(nodes) // 2 + 1}[mode]
    targets = sorted(ctx.rng.sample(nodes, k))
    if mode == "leader":
        node, how = await leaderish(ctx, targets[0])
        return f"leader:{how}", [node]
    return mode, targets


@dataclass
class DiskFault:
    name: str
    #: None: draw a variant per start
    variant: str | None = None
    #: a power loss kills processes: never scheduled to overlap kill or pause
    group: str = "process"

    @property
    def essential(self) -> dict[str, Any] | None:
        """The window every run gets (:class:`~splitbrain.nemesis.base.Essential`): every node
        loses power at once; none for the variants that never crash a node."""
        if self.variant in ("fsync-error", "slow-fsync"):
            return None
        return {"variant": self.variant or "lose-unfsynced", "mode": "all"}

    async def start(self, ctx: NemesisContext) -> dict[str, Any]:
        backend = _has_disk(ctx)
        variant = self.variant or ctx.params.get("variant") or ctx.rng.choices(VARIANTS, WEIGHTS)[0]
        if variant not in VARIANTS:
            raise UsageError(f"unknown disk variant {variant!r} in the schedule; valid: {', '.join(VARIANTS)}")
        crash = variant in ("lose-unfsynced", "torn-write")
        mode, targets = await _targets(ctx, crash)
        ctx.state[self.name] = (variant, targets, {})
        details: dict[str, Any] = {"variant": variant, "nodes": targets, "mode": mode}
        if crash:
            seeds = [ctx.rng.randrange(2**31) for _ in targets]
            reports = await asyncio.gather(*(backend.power_loss(n, variant == "torn-write", seed)
                                             for n, seed in zip(targets, seeds, strict=True)))
            await asyncio.sleep(CRASH_SETTLE_S)  # the kernel forgets names and sizes the crash rolled back
            details["dropped"] = dict(zip(targets, reports, strict=True))
            details["dropped_bytes"] = sum(int(r["dropped_bytes"]) for r in reports)
            details["dropped_files"] = sum(int(r["dropped_files"]) for r in reports)
            details["undone_names"] = sum(int(r["undone_names"]) for r in reports)
            killed = Measurement.of(await ctx.backend.verify()).killed
            alive = set(targets) - set(targets if killed is None else killed)
            if alive:
                raise FaultNotEffective(self.name, f"still running after the power loss: {sorted(alive)}", details)
            details["verified"] = True
            if mode == "all":
                # Nothing runs while every node is down: restart now, not at the window's stop.
                await asyncio.gather(*(ctx.backend.start(n) for n in targets))
                details["restarted"] = True
            return details
        if variant == "fsync-error":
            before = await asyncio.gather(*(backend.disk(n, {"cmd": "stats"}) for n in targets))
            ctx.state[self.name] = (variant, targets, {n: len(s["failed_fsyncs"]) for n, s in zip(targets, before,
                                                                                                 strict=True)})
            answers = await asyncio.gather(*(backend.disk(n, {"cmd": "fsync-error", "count": 1}) for n in targets))
            details["verified"] = all(a.get("armed_fsync_errors") == 1 for a in answers)
        else:
            delay = round(ctx.rng.uniform(*SLOW_FSYNC_MS), 1)
            answers = await asyncio.gather(*(backend.disk(n, {"cmd": "slow-fsync", "delay_ms": delay})
                                             for n in targets))
            details["delay_ms"] = delay
            details["verified"] = all(abs(float(a.get("fsync_delay_ms", 0)) - delay) < 1e-6 for a in answers)
        if not details["verified"]:
            raise FaultNotEffective(self.name, f"the fault filesystem did not arm {variant}: {answers}", details)
        return details

    async def stop(self, ctx: NemesisContext) -> dict[str, Any]:
        variant, targets, seen = ctx.state.pop(self.name, (None, [], {}))
        backend = _has_disk(ctx)
        details: dict[str, Any] = {"variant": variant, "nodes": targets}
        if variant == "fsync-error":
            stats = {n: await backend.disk(n, {"cmd": "stats"}) for n in targets}
            details["failed_fsyncs"] = {n: s["failed_fsyncs"][seen.get(n, 0):] for n, s in stats.items()
                                        if s["failed_fsyncs"][seen.get(n, 0):]}
            details["unfired"] = sorted(n for n, s in stats.items() if s["armed_fsync_errors"])
            # Correct nodes stop on a failed fsync rather than trust unsynced data: restarted below.
            details["stopped"] = sorted(set(targets) & set(Measurement.of(await ctx.backend.verify()).killed or []))
        if variant in ("fsync-error", "slow-fsync"):
            for n in targets:
                await backend.disk(n, {"cmd": "clear"})
        # A power loss restarts here (all at once: a node takes seconds to start on a loaded
        # machine); a node that stopped on an injected fsync error too.
        await asyncio.gather(*(ctx.backend.start(n) for n in targets))
        return details


FAULT = DiskFault("disk")


def variant(name: str) -> DiskFault:
    """``disk:<variant>``: a disk fault that always uses that variant."""
    if name not in VARIANTS:
        raise UsageError(f"unknown disk variant {name!r} in disk:{name}; valid: {', '.join(VARIANTS)}")
    return DiskFault(f"disk:{name}", name)
