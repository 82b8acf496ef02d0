"""Re-check a stored run from its files alone: ``splitbrain check RUN_DIR``.

Judges ``history.jsonl`` with the checkers the run's workload names (from
``test.json``), exactly as the run itself did, and rewrites ``results.json``
and the report. Works on a run cut short by a crashed control node: a torn
last line is dropped with a warning, and invocations left without a
completion count as ``info``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from splitbrain.errors import BadInputError, HarnessError, UsageError, exit_for_valid
from splitbrain.harness.config import Test
from splitbrain.harness.report import write_report
from splitbrain.harness.store import attach_log, detach_log
from splitbrain.harness.verdict import check, summarize
from splitbrain.history import History, read_jsonl
from splitbrain.registry import WORKLOADS
from splitbrain.results import RunResult

CHECK_TIMEOUT_S = 120.0


def recheck_run(run_dir: str | Path, timeout_s: float | None = None, quiet: bool = False) -> int:
    """Re-check ``run_dir``; returns the exit code (0 valid, 1 invalid, 2 unknown).

    Raises BadInputError (65) when ``test.json`` or the history is malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BadInputError("not a run directory", str(run_dir))
    test = Test.load(run_dir)
    path = run_dir / "history.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = read_jsonl(path) if path.exists() else History([], source=str(path))
    for w in caught:
        if not quiet:
            print(f"warning: {w.message}", file=sys.stderr, flush=True)
    history.calls(strict=True)  # structural errors are bad data (65), not an unknown verdict
    try:
        workload = WORKLOADS.get(test.workload)
    except UsageError as e:  # a name in a file is bad data (65), not a bad flag
        raise BadInputError(str(e), str(run_dir / "test.json")) from None
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"workload {test.workload!r} is not available: {e}") from None
    handler = attach_log(run_dir)  # checker tracebacks go to harness.log, not the terminal
    try:
        verdicts = check(history, workload.checkers(), timeout_s or max(test.check_timeout_s, CHECK_TIMEOUT_S),
                         test.checker_options)
    finally:
        detach_log(handler)
    extra: dict[str, object] = {"rechecked": True}
    previous = RunResult.read(run_dir)
    for key in ("interrupted", "error"):
        if previous is not None and key in previous.sections:
            extra[key] = previous.sections[key]
    results = summarize(history, verdicts, test.seed, extra)
    code = exit_for_valid(results.valid)
    results.sections["exit_code"] = code
    results.save(run_dir)
    handler = attach_log(run_dir)
    try:
        write_report(run_dir)
    finally:
        detach_log(handler)
    if not quiet:
        for name, r in verdicts.items():
            print(f"  {name:<14} {json.dumps(r.valid):<9} {r.summary}", flush=True)
        print(f"{run_dir}: valid: {json.dumps(results.valid)} ({results.ops} ops, {results.faults} faults)", flush=True)
    return code
