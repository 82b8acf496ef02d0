"""A stored run read back for the report: whatever of it exists, with notes on what does not.

A run cut short (control node killed) leaves a torn last history line and no
``results.json``; the report still renders what is there and says what is
missing, so the page a person opens after a crash explains the crash.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInputError, MissingInputError, UsageError
from splitbrain.harness.nodestates import FILE as STATES_FILE
from splitbrain.harness.nodestates import NodeState, read_states
from splitbrain.history import NEMESIS, Call, History, Op, Skipped, read_jsonl
from splitbrain.messages import MessageRecord, read_messages
from splitbrain.results import RunResult

#: log lines kept per node (the newest ones): a report must stay openable
MAX_LOG_LINES = 20000
_LOG_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([A-Za-z]+)?\s?(.*)$")


@dataclass
class FaultWindow:
    """One fault as the report draws it: from its start op to its stop op (open while unhealed).

    Not :class:`splitbrain.nemesis.base.Fault` (a fault the nemesis can inject): this is one
    injection of it, read back from the history."""

    kind: str
    start_s: float
    stop_s: float | None
    start_index: int
    stop_index: int | None
    targets: Any


@dataclass
class RunData:
    run_dir: Path
    test: dict[str, Any]
    results: dict[str, Any] | None
    history: History
    calls: list[Call]
    faults: list[FaultWindow]
    logs: dict[str, list[tuple[float | None, str, str]]]
    notes: list[str] = field(default_factory=list)
    #: the nemesis schedule (schedule.json): planned windows and what they resolved to; None if absent
    schedule: dict[str, Any] | None = None
    #: messages.jsonl (node-to-node messages the harness saw); None if the run has none
    messages: list[MessageRecord] | None = None
    #: node-states.jsonl (each node's polled status, one entry per change); None if absent
    states: list[NodeState] | None = None

    @property
    def node_names(self) -> list[str]:
        """The cluster's nodes in test.json's order (else as the history, logs and states name them)."""
        nodes = self.test.get("nodes")
        if isinstance(nodes, list) and nodes and all(isinstance(n, str) for n in nodes):
            return list(nodes)
        seen = dict.fromkeys(sorted(self.logs))
        for st in self.states or []:
            seen.setdefault(st.node)
        return list(seen)

    @property
    def end_s(self) -> float:
        last = max((op.time for op in self.history.ops), default=0)
        return last / 1e9


def _load_json(path: Path, notes: list[str], what: str) -> Any:
    if not path.exists():
        notes.append(f"{what} is missing ({path.name} not found)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError as e:
        notes.append(f"{what} is unreadable ({path.name}: {e})")
        return None


def read_history(path: Path, notes: list[str]) -> History:
    """The history, read leniently (a report renders what a crashed run left; the notes say what
    was passed over), streamed line by line (a million-op history is never held as text)."""
    if not path.exists():
        notes.append("no history recorded (history.jsonl not found)")
        return History([], source=str(path))
    skipped = Skipped()
    history = read_jsonl(path, lenient=skipped)
    if skipped.torn_last is not None:
        notes.append(f"the history's last line is torn (line {skipped.torn_last} dropped): the run was cut short")
    if skipped.lines:
        notes.append(f"{len(skipped.lines)} malformed history line(s) skipped")
    return history


def pair_faults(ops: list[Op]) -> list[FaultWindow]:
    """Nemesis ops ``start-X``/``stop-X`` become intervals; anything else is an instant."""
    nem = [op for op in ops if op.process == NEMESIS]
    # a nemesis that logs invoke+info pairs: keep the completions only
    if any(op.type != "invoke" for op in nem):
        nem = [op for op in nem if op.type != "invoke"]
    faults: list[FaultWindow] = []
    open_: dict[str, list[FaultWindow]] = {}
    for op in nem:
        f = str(op.f)
        t = op.time / 1e9
        if f.startswith("start-"):
            flt = FaultWindow(f[6:], t, None, op.index, None, op.value)
            faults.append(flt)
            open_.setdefault(flt.kind, []).append(flt)
        elif f.startswith("stop-"):
            pending = open_.get(f[5:])
            if pending:
                flt = pending.pop(0)
                flt.stop_s, flt.stop_index = t, op.index
            else:
                faults.append(FaultWindow(f[5:], t, t, op.index, op.index, op.value))
        else:
            faults.append(FaultWindow(f, t, t, op.index, op.index, op.value))
    return faults


def read_logs(run_dir: Path, start_wall: float | None, notes: list[str]) -> dict[str, list[tuple[float | None, str, str]]]:
    logs: dict[str, list[tuple[float | None, str, str]]] = {}
    nodes = run_dir / "nodes"
    if not nodes.is_dir():
        return logs
    for d in sorted(nodes.iterdir()):
        log = d / "node.log"
        if not log.is_file() or log.is_symlink():
            continue
        with open(log, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")  # not splitlines(): U+2028 in a message is not a line break
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) > MAX_LOG_LINES:
            notes.append(f"{d.name}'s log: only its last {MAX_LOG_LINES} of {len(lines)} lines are shown")
            lines = lines[-MAX_LOG_LINES:]
        out: list[tuple[float | None, str, str]] = []
        for line in lines:
            m = _LOG_LINE.match(line)
            if m and start_wall is not None:
                out.append((round(float(m.group(1)) - start_wall, 6), m.group(2) or "", m.group(3)))
            else:
                out.append((None, "", line))
        logs[d.name] = out
    return logs


def harness_notes(results: dict[str, Any]) -> list[str]:
    """What went wrong in the harness itself (a node that did not start, a fault that could not be
    applied or healed), shown at the top of the report so a failed run explains itself."""
    out = []
    if results.get("error"):
        out.append(f"the harness failed (exit 255): {results['error']}")
    for err in results.get("nemesis_errors") or []:
        out.append(f"nemesis error: {err}")
    if results.get("system_promises"):
        out.append(f"what the system promises: {results['system_promises']}")
    return out


def load_run(run_dir: Path) -> RunData:
    """Read a run directory; a path that is not one is a usage error (64), never a traceback."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise (MissingInputError(f"{run_dir}: no such run directory") if not os.path.exists(run_dir)
               else UsageError(f"not a run directory: {run_dir}"))
    if not (run_dir / "test.json").exists() and not (run_dir / "history.jsonl").exists():
        raise BadInputError("neither test.json nor history.jsonl found: not a run directory", str(run_dir))
    notes: list[str] = []
    test = _load_json(run_dir / "test.json", notes, "the test config") or {}
    if not isinstance(test, dict):
        notes.append("test.json is not an object")
        test = {}
    try:
        verdict: RunResult | None = RunResult.load(run_dir)
    except MissingInputError:
        notes.append("the verdict (results.json) is missing (results.json not found)")
        verdict = None
    except BadInputError as e:
        notes.append(f"the verdict (results.json) is unreadable ({e})")
        verdict = None
    results = verdict.to_json() if verdict is not None else None
    if results is None:
        notes.append("no verdict: the run ended before it was checked (re-check it with `splitbrain check RUN_DIR`)")
    else:
        notes += harness_notes(results)
    history = read_history(run_dir / "history.jsonl", notes)
    calls = history.calls(strict=False)
    faults = pair_faults(history.ops)
    start_wall = test.get("start_wall_time")
    if not isinstance(start_wall, (int, float)) or isinstance(start_wall, bool) or not math.isfinite(start_wall):
        start_wall = None
    schedule = None
    if (run_dir / "schedule.json").exists():
        schedule = _load_json(run_dir / "schedule.json", notes, "the nemesis schedule")
        schedule = schedule if isinstance(schedule, dict) else None
    messages = None
    if (run_dir / "messages.jsonl").is_file():
        try:
            messages = read_messages(run_dir / "messages.jsonl")
        except (OSError, ValueError, TypeError) as e:
            notes.append(f"messages.jsonl is unreadable: {e}")
    states = read_states(run_dir / STATES_FILE) if (run_dir / STATES_FILE).is_file() else None
    return RunData(run_dir, test, results, history, calls, faults, read_logs(run_dir, start_wall, notes), notes,
                   schedule, messages, states)
