"""One run of ``hunt``: ``splitbrain run ... --json`` as a child process, and what it left behind.

A child process per run keeps every run exactly what a user would get from the
same command line (the command ``hunt`` prints is the one it ran), and lets
Ctrl-C reach the run itself, which heals, checks and reports before it exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.harness.runjson import last_json_object
from splitbrain.history import NEMESIS
from splitbrain.results import RunResult


@dataclass(frozen=True)
class RunSpec:
    """The flags of one ``splitbrain run`` (None: the run's own default)."""

    system: str
    seed: int
    time_limit_s: float
    store: str
    bug: str | None = None
    workload: str | None = None
    nemesis: str | None = None
    nemesis_interval_s: float | None = None
    concurrency: int | None = None
    clients_per_key: int | None = None
    schedule: str | None = None
    extra: tuple[str, ...] = ()

    def argv(self, with_store: bool = True) -> list[str]:
        """The command line; the minimal reproducer hunt prints is the one its replays ran, without
        ``--store`` (``with_store=False``: a user's replay lands in their own store)."""
        argv = ["splitbrain", "run", self.system, "--seed", str(self.seed), "--time-limit", f"{self.time_limit_s:g}"]
        for flag, value in (("--bug", self.bug), ("--workload", self.workload), ("--nemesis", self.nemesis),
                            ("--nemesis-interval", self.nemesis_interval_s), ("--concurrency", self.concurrency),
                            ("--clients-per-key", self.clients_per_key), ("--schedule", self.schedule)):
            if value is not None:
                argv += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return [*argv, *(["--store", self.store] if with_store else []), *self.extra]


@dataclass
class HuntRun:
    """One search or replay run of a hunt, and what it showed: when the first anomaly came, which
    faults troubled the clients."""

    spec: RunSpec
    exit_code: int
    run_dir: Path | None
    wall_s: float
    valid: Any = None
    #: seconds into the run of the earliest op any anomaly names
    anomaly_s: float | None = None
    #: fault kind -> info/fail outcomes completed while it was active (or just after)
    trouble: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.exit_code == 1


#: how long an interrupted run gets to heal, tear down and report before it is killed
STOP_GRACE_S = 120.0


def execute(spec: RunSpec) -> HuntRun:
    """Run it to the end.

    The child runs in its own session, so a terminal's Ctrl-C reaches the hunt only; the hunt
    then sends the run one SIGTERM (its own clean stop: heal, tear down, report) and waits for
    it before the KeyboardInterrupt goes on. Killing it instead would leave faults unhealed."""
    start = time.monotonic()
    cmd = [sys.executable, "-m", "splitbrain", *spec.argv()[1:], "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    out = last_json_object(stdout)
    run_dir = Path(out["run_dir"]) if isinstance(out.get("run_dir"), str) else None
    res = HuntRun(spec, proc.returncode, run_dir, time.monotonic() - start, out.get("valid"))
    if run_dir is not None:
        res.anomaly_s, res.trouble = read_run(run_dir)
    if proc.returncode not in (0, 1, 2) and run_dir is None:
        tail = stderr.strip().splitlines()[-1:] or ["(no output)"]
        res.valid = f"error: {tail[0]}"
    return res


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "CI": "1"}  # plain progress lines, no live display in a child


def read_run(run_dir: Path) -> tuple[float | None, dict[str, int]]:
    """(first anomaly's time, trouble per fault kind) from a stored run; (None, {}) if unreadable."""
    results = RunResult.read(run_dir)
    try:
        ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None, {}
    if results is None:
        return None, {}
    named: set[int] = set()
    for res in results.checkers.values():
        for a in (res or {}).get("anomalies") or []:
            named.update(i for i in a.get("ops") or [] if isinstance(i, int))
    times = [op["time"] / 1e9 for op in ops if op.get("index") in named and isinstance(op.get("time"), int)]
    return (min(times) if times else None), _trouble(ops)


def _trouble(ops: list[dict[str, Any]]) -> dict[str, int]:
    """Indefinite and failed outcomes while each fault kind was active, or within a second after it."""
    windows: list[tuple[str, float, float]] = []
    open_: dict[str, float] = {}
    for op in ops:
        if op.get("process") != NEMESIS or not isinstance(op.get("f"), str):
            continue
        kind, t = op["f"].split("-", 1)[-1], op.get("time", 0) / 1e9
        if op["f"].startswith("start-"):
            open_[kind] = t
        elif op["f"].startswith("stop-") and kind in open_:
            windows.append((kind, open_.pop(kind), t + 1.0))
    windows += [(k, t, float("inf")) for k, t in open_.items()]
    out: dict[str, int] = {}
    for op in ops:
        if op.get("process") == NEMESIS or op.get("type") not in ("info", "fail"):
            continue
        t = op.get("time", 0) / 1e9
        for kind, a, b in windows:
            if a <= t <= b:
                out[kind] = out.get(kind, 0) + 1
    return out
