"""Judge a history: run the workload's checkers, merge them into the run's ``results.json``.

Shared by the run loop and by ``splitbrain check RUN_DIR`` so a stored run is
judged exactly as it was when it ran. A checker that raises, or cannot be
imported, yields ``valid: "unknown"`` with the error: one broken checker never
crashes a run, and never makes it look valid. Each checker runs under the memory
cap (:mod:`splitbrain.checkers.memory`: half the memory available, or
$SPLITBRAIN_MAX_MEMORY_MB): reaching it is an ``unknown`` that says so, not the
kernel's out-of-memory killer.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from splitbrain.checkers.memory import MemoryCap, MemoryCapReached
from splitbrain.checkers.result import Result, merge_valid
from splitbrain.history import History
from splitbrain.registry import CHECKERS
from splitbrain.results import RunResult
from splitbrain.workloads.base import CheckerSpec

log = logging.getLogger("splitbrain.harness")

#: checkers every run gets when they exist (their absence is not a verdict)
OPTIONAL = (CheckerSpec("perf"),)


def run_checker(spec: CheckerSpec, history: History, timeout_s: float) -> Result:
    start = time.monotonic()
    try:
        fn = CHECKERS.get(spec.name)
        kwargs = dict(spec.options)
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "timeout_s" in params and "timeout_s" not in kwargs:
            kwargs["timeout_s"] = timeout_s
        progress: dict[str, Any] = {"phase": f"checking {len(history.ops)} ops"}
        try:
            with MemoryCap.default().enforced(progress):
                result = fn(history, **kwargs)
        except MemoryCapReached as e:
            return Result(checker=spec.key, valid="unknown", summary=f"could not decide: {e}",
                          seconds=time.monotonic() - start, error=str(e), stats=dict(e.progress))
        if not isinstance(result, Result):
            raise TypeError(f"checker returned {type(result).__name__}, not Result")
        return result
    except Exception as e:  # noqa: BLE001 - a checker's failure is an unknown verdict, never a crash
        log.exception("checker %s failed", spec.key)
        return Result(
            checker=spec.key, valid="unknown", summary=f"checker failed: {type(e).__name__}: {e}",
            seconds=time.monotonic() - start, error=f"{type(e).__name__}: {e}",
        )


#: checkers that take the run's ``--consistency-models`` / ``--anomalies`` (Elle's names)
TXN_CHECKERS = frozenset({"list-append", "rw-register", "txn-rw-register"})


def check(history: History, specs: list[CheckerSpec], timeout_s: float,
          txn_options: dict[str, Any] | None = None) -> dict[str, Result]:
    """Run each spec; ``txn_options`` (the run's consistency models) go to the transactional checkers."""
    results: dict[str, Result] = {}
    if txn_options:
        specs = [CheckerSpec(s.name, {**s.options, **txn_options}, s.label) if s.name in TXN_CHECKERS else s
                 for s in specs]
    for spec in specs:
        results[spec.key] = run_checker(spec, history, timeout_s)
    for spec in OPTIONAL:
        if spec.key in results or spec.name not in CHECKERS:
            continue
        try:
            CHECKERS.get(spec.name)
        except (ImportError, AttributeError):
            continue
        results[spec.key] = run_checker(spec, history, timeout_s)
    return results


def summarize(history: History, results: dict[str, Result], seed: int,
              extra: dict[str, Any] | None = None) -> RunResult:
    """The run's ``results.json`` (:class:`~splitbrain.results.RunResult`) from its history and checkers."""
    client = [op for op in history.ops if op.is_client]
    times = [op.time for op in history.ops]
    return RunResult(
        valid=merge_valid([r.valid for r in results.values()]) if results else "unknown",
        checkers={name: r.to_json() for name, r in results.items()},
        ops=sum(1 for op in client if op.type == "invoke"),
        faults=sum(1 for op in history.ops if not op.is_client and op.f.startswith("start")),
        seed=seed,
        duration_s=round(max(times) / 1e9, 3) if times else 0.0,  # history time 0 is the test's start
        counts={t: sum(1 for op in client if op.type == t) for t in ("ok", "fail", "info")},
        sections=dict(extra or {}))
