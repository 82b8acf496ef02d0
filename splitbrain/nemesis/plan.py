"""A nemesis schedule as data: every fault operation of a run, decided before it starts.

A :class:`Schedule` is a list of :class:`FaultOp` s, each an offset in seconds
from the start of the main phase (history time), ``start`` or ``stop``, the
fault's name, and the parameters its ``draw`` chose (nodes, topology, delay...).
Because the whole schedule exists before the run, it is written to
``schedule.json``, drawn in the report, replayed with ``run --schedule FILE``,
and edited by ``hunt`` when it shrinks a failing run (fewer faults, shorter
windows) -- none of which a nemesis that decides as it goes can offer.

Targets that depend on the cluster's state at the time ("the leader", "a
minority containing the leader") stay symbolic here; the fault resolves them
when it is applied and the history's ``start-<fault>`` op records what they
resolved to. Each start also carries its own ``seed``: whatever a fault still
draws at apply time (including faults written before schedules existed, which
draw everything then) comes from ``Random(seed)``, so a replay draws the same.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from splitbrain.errors import BadInputError, MissingInputError

VERSION = 1
Action = Literal["start", "stop"]


@dataclass(frozen=True)
class FaultOp:
    """One thing the nemesis does at ``at_s`` seconds: start or stop one fault window."""

    at_s: float
    action: Action
    fault: str
    #: pairs a start with its stop (unique per window within a schedule)
    window: int
    #: what the fault's ``draw`` chose; JSON data, targets may be symbolic
    params: dict[str, Any] = field(default_factory=dict)
    #: seeds whatever the fault still draws when applied (start ops only)
    seed: int = 0


@dataclass(frozen=True)
class Window:
    """A start and its stop, the unit ``hunt`` removes or shortens."""

    fault: str
    start_s: float
    stop_s: float
    window: int
    params: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class Schedule:
    ops: tuple[FaultOp, ...]
    nodes: tuple[str, ...] = ()
    #: how it was made: ``{"seed": N, "generator": "...", ...}`` or ``{"from": FILE}``; for people
    origin: dict[str, Any] = field(default_factory=dict)

    @property
    def faults(self) -> list[str]:
        return list(dict.fromkeys(op.fault for op in self.ops))

    def windows(self) -> list[Window]:
        starts = {op.window: op for op in self.ops if op.action == "start"}
        stops = {op.window: op for op in self.ops if op.action == "stop"}
        out = [Window(s.fault, s.at_s, stops[w].at_s if w in stops else float("inf"), w, s.params, s.seed)
               for w, s in starts.items()]
        return sorted(out, key=lambda w: (w.start_s, w.window))

    @classmethod
    def from_windows(cls, windows: list[Window], nodes: tuple[str, ...] = (),
                     origin: dict[str, Any] | None = None) -> Schedule:
        ops: list[FaultOp] = []
        for w in windows:
            ops.append(FaultOp(round(w.start_s, 3), "start", w.fault, w.window, dict(w.params), w.seed))
            ops.append(FaultOp(round(w.stop_s, 3), "stop", w.fault, w.window))
        return cls(tuple(sorted(ops, key=_order)), nodes, dict(origin or {}))

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "nodes": list(self.nodes), "origin": self.origin,
                "ops": [asdict(op) for op in self.ops]}

    def save(self, path: Path) -> Path:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def from_json(cls, data: Any, source: str = "schedule") -> Schedule:
        """Validate and build; anything malformed is bad data (exit 65) naming what is wrong."""
        if not isinstance(data, dict) or not isinstance(data.get("ops"), list):
            raise BadInputError('expected an object with an "ops" list', source)
        nodes = data.get("nodes", [])
        if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            raise BadInputError('"nodes" must be a list of node names', source)
        ops = []
        for i, raw in enumerate(data["ops"]):
            ops.append(_op(raw, f"{source}: ops[{i}]"))
        started: dict[int, FaultOp] = {}
        for op in ops:
            if op.action == "start":
                if op.window in started:
                    raise BadInputError(f"window {op.window} starts twice", source)
                started[op.window] = op
            elif op.window not in started or started[op.window].fault != op.fault:
                raise BadInputError(f"window {op.window} stops {op.fault!r} it never started", source)
        origin = data.get("origin")
        return cls(tuple(sorted(ops, key=_order)), tuple(nodes), origin if isinstance(origin, dict) else {})

    @classmethod
    def load(cls, path: Path) -> Schedule:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise MissingInputError(f"schedule file not found: {path}") from None
        except OSError as e:
            raise BadInputError(f"cannot read: {e.strerror}", str(path)) from None
        try:
            data = json.loads(text)
        except ValueError as e:
            raise BadInputError(f"not valid JSON ({e})", str(path)) from None
        return cls.from_json(data, str(path))


def _order(op: FaultOp) -> tuple[float, int, int]:
    # at the same instant, stops go first: a fault is healed before the next one starts
    return (op.at_s, 0 if op.action == "stop" else 1, op.window)


def _op(raw: Any, where: str) -> FaultOp:
    if not isinstance(raw, dict):
        raise BadInputError("expected an object", where)
    at, action, fault, window = raw.get("at_s"), raw.get("action"), raw.get("fault"), raw.get("window")
    if not isinstance(at, int | float) or isinstance(at, bool) or not 0 <= at < 1e7:
        raise BadInputError(f'"at_s" must be a number of seconds >= 0, got {at!r}', where)
    if action not in ("start", "stop"):
        raise BadInputError(f'"action" must be "start" or "stop", got {action!r}', where)
    if not isinstance(fault, str) or not fault:
        raise BadInputError('"fault" must be a fault name', where)
    if not isinstance(window, int) or isinstance(window, bool):
        raise BadInputError(f'"window" must be an integer, got {window!r}', where)
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise BadInputError('"params" must be an object', where)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise BadInputError(f'"seed" must be an integer, got {seed!r}', where)
    return FaultOp(float(at), action, fault, window, params, seed)
