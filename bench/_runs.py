"""Shared helper for benchmarks that drive `splitbrain run` as a child process (its --json contract)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from splitbrain.harness.runjson import last_json_object


@dataclass(frozen=True)
class Plan:
    """One bench row: what ``splitbrain run`` is asked (the system's defaults otherwise) and the
    verdict expected of every seed. ``verdict`` "invalid": the anomaly must be found; "valid": the
    run must pass; "figure": either, counted; empty: invalid with a seeded ``bug``, else valid."""

    system: str
    workload: str
    bug: str | None = None
    nemesis: str = "partition"
    verdict: str = ""
    why: str = ""
    extra: tuple[str, ...] = ()

    @property
    def expect(self) -> str:
        return self.verdict or ("invalid" if self.bug else "valid")


#: ``DIR:N`` shares N run slots between every benchmark on this machine (lock files in DIR):
#: detection falls when too many clusters compete for two cores, so concurrent benches queue
SLOTS_ENV = "SPLITBRAIN_BENCH_SLOTS"
#: after this process frees a slot, its threads leave every slot alone this long: waiting benches
#: poll every 0.5 s, and without the pause the releasing bench's next run took the slot back at
#: once, so a bench that held the slots kept them until it ended (others waited 10 min and more)
HANDOFF_S = 1.5
_released_at = -HANDOFF_S


@contextlib.contextmanager
def _slot() -> Iterator[None]:
    """Hold one of the machine-wide run slots named by $SPLITBRAIN_BENCH_SLOTS (no-op if unset)."""
    global _released_at
    spec = os.environ.get(SLOTS_ENV, "")
    if not spec:
        yield
        return
    folder, _, count = spec.rpartition(":")
    os.makedirs(folder, exist_ok=True)
    while True:
        if time.monotonic() - _released_at < HANDOFF_S:
            time.sleep(0.5)
            continue
        for i in range(max(1, int(count))):
            fh = open(os.path.join(folder, f"slot{i}"), "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            try:
                yield
            finally:
                fh.close()
                _released_at = time.monotonic()
            return
        time.sleep(0.5)


def run(system: str, *, workload: str | None, nemesis: str | None, seed: int, time_limit: float,
        bug: str | None = None, backend: str = "local", store: str = "store/bench",
        extra: list[str] | None = None) -> dict[str, Any]:
    """One ``splitbrain run``; ``workload`` / ``nemesis`` None leave the run's own defaults."""
    cmd = [sys.executable, "-m", "splitbrain", "run", system, "--seed", str(seed), "--time-limit", str(time_limit),
           "--backend", backend, "--store", store, "--json"]
    if workload is not None:
        cmd += ["--workload", workload]
    if nemesis is not None:
        cmd += ["--nemesis", nemesis]
    if bug:
        cmd += ["--bug", bug]
    cmd += extra or []
    with _slot():
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CI": "1"},
                              timeout=time_limit * 4 + 180)
    out = last_json_object(proc.stdout)
    out["exit_code"] = proc.returncode
    out["wall_s"] = time.monotonic() - start
    if proc.returncode not in (0, 1, 2):
        out["stderr_tail"] = proc.stderr.strip().splitlines()[-1:]
    return out


def first_anomaly_time_s(run_dir: str) -> float | None:
    """Seconds into the run of the earliest op named by any anomaly (time to detection)."""
    try:
        with open(os.path.join(run_dir, "results.json")) as fh:
            results = json.load(fh)
        idx: set[int] = set()
        for res in results.get("checkers", {}).values():
            for a in res.get("anomalies") or []:
                idx.update(a.get("ops") or [])
        if not idx:
            return None
        times = {}
        with open(os.path.join(run_dir, "history.jsonl")) as fh:
            for line in fh:
                try:
                    op = json.loads(line)
                except ValueError:
                    break
                if op.get("index") in idx:
                    times[op["index"]] = op.get("time", 0)
        return min(times.values()) / 1e9 if times else None
    except (OSError, ValueError):
        return None
