"""Shrinking a failing run: smaller candidates of its schedule and settings, smallest first.

A failing run is a :class:`Candidate`: its schedule's fault windows plus the
settings that shape the load (run length, clients, clients per key). Every
function here is pure: it proposes smaller candidates, and ``hunt`` keeps the
first one that still fails in at least 3 of 5 replays (a bug that shows once
in ten replays is not reproduced, it is a coincidence). The order matters when
each proposal costs minutes of replays, so the cheapest big cuts come first:

1. keep only the windows of the fault group in effect at the first anomaly
   (:func:`in_effect`), moved to the start of a run that ends just after it:
   an anomaly follows from the fault acting when it happened, and a run drawn at
   a short time scale has windows of three or four other groups in the seconds
   before it (paxos ``accept-lower-ballot`` hunts kept 11 and 27 faults when the
   search had drawn 1 s intervals); then all the windows active in the few
   seconds before it (:func:`around_anomaly`): this one proposal often takes a
   dozen windows down to one to three (delta debugging alone, at three to five
   replays a candidate, used up a 10-minute budget at about twelve windows);
2. else cut the run just after the first anomaly: later faults cannot have caused it;
   then keep the windows of one fault only, for the faults that started last before
   the anomaly (:func:`one_kind`): a bug usually needs one kind of fault, and when the
   window in effect was too short to replay (a 0.2 s clock bump) another window of the
   same kind often does;
3. drop fault windows, halves first, then one at a time (delta debugging);
4. shorten the remaining windows (a 5 s partition that still fails at 2 s);
5. fewer clients, fewer clients per key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from splitbrain.nemesis.plan import Schedule, Window

#: a run never gets shorter than this (setup noise dominates below it)
MIN_TIME_S = 4.0
#: seconds kept after the first anomaly when the run is cut there
TAIL_S = 2.0
#: :func:`around_anomaly` keeps the windows in effect up to this long before the first anomaly
LOOKBACK_S = 3.0
#: and starts the first of them this long into the run (the cluster has a leader by then)
LEAD_S = 2.0
#: :func:`in_effect` and :func:`one_kind` propose at most this many fault groups alone (each costs 3-5 replays)
KINDS_TRIED = 2


@dataclass(frozen=True)
class Candidate:
    """A schedule's windows and the load settings it is replayed with. ``keyed``: the workload has
    independent keys, the only place clients per key mean anything (``set`` has one set for every
    client), so only then is ``clients_per_key`` shrunk or passed on."""

    windows: tuple[Window, ...]
    time_limit_s: float
    concurrency: int
    clients_per_key: int | None = None
    nodes: tuple[str, ...] = ()
    keyed: bool = False

    @property
    def faults(self) -> int:
        return len(self.windows)

    def schedule(self, origin: dict[str, object] | None = None) -> Schedule:
        return Schedule.from_windows(list(self.windows), self.nodes, dict(origin or {}))

    def describe(self) -> str:
        kinds = ",".join(w.fault for w in self.windows) or "none"
        per_key = f", {self.clients_per_key} per key" if self.clients_per_key is not None else ""
        return f"{self.faults} faults ({kinds}), {self.time_limit_s:g} s, {self.concurrency} clients{per_key}"


def _with(c: Candidate, **changes: object) -> Candidate:
    return dataclasses.replace(c, **changes)  # type: ignore[arg-type]


def truncated(c: Candidate, anomaly_s: float | None) -> Candidate | None:
    """Cut the run ``TAIL_S`` after the first anomaly; windows starting later go."""
    if anomaly_s is None:
        return None
    end = max(MIN_TIME_S, round(anomaly_s + TAIL_S, 1))
    if end >= c.time_limit_s - 0.5:
        return None
    kept = tuple(dataclasses.replace(w, stop_s=min(w.stop_s, end)) for w in c.windows if w.start_s < end)
    return _with(c, windows=kept, time_limit_s=end)


def around_anomaly(c: Candidate, anomaly_s: float | None) -> Candidate | None:
    """Only the windows in effect at the first anomaly or up to ``LOOKBACK_S`` before it, moved so
    the first starts ``LEAD_S`` into the run, and the run cut ``TAIL_S`` after the anomaly; None
    when that keeps every window (or none)."""
    if anomaly_s is None:
        return None
    return _moved(c, _near(c, anomaly_s), anomaly_s)


def _near(c: Candidate, anomaly_s: float) -> list[Window]:
    """The windows in effect at some time in the :data:`LOOKBACK_S` before the first anomaly."""
    return [w for w in c.windows if w.start_s <= anomaly_s and w.stop_s >= anomaly_s - LOOKBACK_S]


def in_effect(c: Candidate, anomaly_s: float | None, group: Callable[[str], str] = str) -> list[Candidate]:
    """For each fault group with a window in effect at the first anomaly (the one whose window
    started last first, at most :data:`KINDS_TRIED`), that group's windows of
    :func:`around_anomaly` alone, moved and cut the same way. ``group`` names a fault's group
    (faults of one group never overlap: ``partition``, ``partition-leader`` and
    ``partition-one-way`` are one); by default each fault is its own."""
    if anomaly_s is None:
        return []
    near = _near(c, anomaly_s)
    acting = sorted((w for w in near if w.stop_s >= anomaly_s), key=lambda w: -w.start_s)
    out = []
    for g in list(dict.fromkeys(group(w.fault) for w in acting))[:KINDS_TRIED]:
        cand = _moved(c, [w for w in near if group(w.fault) == g], anomaly_s)
        if cand is not None and len(cand.windows) < len(near):
            out.append(cand)
    return out


def _moved(c: Candidate, kept: list[Window], anomaly_s: float) -> Candidate | None:
    """Only ``kept``, moved so the first starts ``LEAD_S`` into the run, the run cut ``TAIL_S``
    after the anomaly; None when that keeps every window (or none)."""
    if not kept or len(kept) == len(c.windows):
        return None
    shift = max(0.0, min(w.start_s for w in kept) - LEAD_S)
    end = anomaly_s + TAIL_S
    moved = tuple(dataclasses.replace(w, start_s=round(w.start_s - shift, 3), stop_s=round(min(w.stop_s, end) - shift, 3))
                  for w in kept)
    return _with(c, windows=moved, time_limit_s=min(c.time_limit_s, max(MIN_TIME_S, round(end - shift, 1))))



def one_kind(c: Candidate, anomaly_s: float | None, group: Callable[[str], str] = str) -> list[Candidate]:
    """The windows of one fault group alone (``group`` as in :func:`in_effect`), for the groups whose
    windows started last before the first anomaly (the most recent first, at most
    :data:`KINDS_TRIED`); none that would keep every window.
    A wall-clock bug's anomaly can follow its cause by seconds (a clock set ahead makes every later
    write lose while the skew lasts), and ``hunt ring --bug lww-clock`` kept 7 of 25 windows when
    only delta debugging was left after the windows around its anomaly did not replay."""
    if anomaly_s is None:
        return []
    before = sorted((w for w in c.windows if w.start_s <= anomaly_s), key=lambda w: -w.start_s)
    out = []
    for g in list(dict.fromkeys(group(w.fault) for w in before))[:KINDS_TRIED]:
        kept = tuple(w for w in c.windows if group(w.fault) == g)
        if len(kept) < len(c.windows):
            out.append(_with(c, windows=kept))
    return out


def fewer_windows(c: Candidate) -> Iterator[Candidate]:
    """Delta debugging over the windows: drop halves, then quarters, ..., then single windows."""
    n = len(c.windows)
    size = max(1, n // 2)
    seen: set[tuple[int, ...]] = set()
    while size >= 1:
        for start in range(0, n, size):
            kept = c.windows[:start] + c.windows[start + size:]
            ids = tuple(w.window for w in kept)
            if len(kept) < n and ids not in seen:
                seen.add(ids)
                yield _with(c, windows=kept)
        if size == 1:
            break
        size //= 2


def shorter_windows(c: Candidate) -> Iterator[Candidate]:
    """Every window at half its length (at least 0.3 s)."""
    if any(w.stop_s - w.start_s > 0.6 for w in c.windows):
        yield _with(c, windows=tuple(dataclasses.replace(w, stop_s=round(w.start_s + max(0.3, (w.stop_s - w.start_s) / 2), 3))
                                     for w in c.windows))


def fewer_clients(c: Candidate, nodes: int) -> Iterator[Candidate]:
    """Half the clients (never fewer than one per node), then fewer clients per key (a workload with
    independent keys only)."""
    if c.concurrency // 2 >= max(1, nodes):
        yield _with(c, concurrency=c.concurrency // 2)
    per_key = min(c.clients_per_key or c.concurrency, c.concurrency)
    if c.keyed and per_key // 2 >= 2:
        yield _with(c, clients_per_key=per_key // 2)


def shorter_run(c: Candidate) -> Iterator[Candidate]:
    """Three quarters of the run, dropping windows that would start after it ends."""
    end = round(max(MIN_TIME_S, c.time_limit_s * 0.75), 1)
    if end < c.time_limit_s:
        yield _with(c, time_limit_s=end, windows=tuple(
            dataclasses.replace(w, stop_s=min(w.stop_s, end)) for w in c.windows if w.start_s < end - 0.2))


def proposals(c: Candidate, nodes: int) -> Iterator[Candidate]:
    """Smaller candidates, in the order worth trying (after truncation, done by the caller)."""
    yield from fewer_windows(c)
    yield from shorter_windows(c)
    yield from fewer_clients(c, nodes)
    yield from shorter_run(c)


def smaller(a: Candidate, b: Candidate) -> bool:
    """Is ``a`` strictly smaller than ``b`` (fewer faults, then shorter, then fewer clients)?"""
    size_a = (a.faults, sum(w.stop_s - w.start_s for w in a.windows), a.time_limit_s, a.concurrency,
              a.clients_per_key or a.concurrency)
    size_b = (b.faults, sum(w.stop_s - w.start_s for w in b.windows), b.time_limit_s, b.concurrency,
              b.clients_per_key or b.concurrency)
    return size_a < size_b
