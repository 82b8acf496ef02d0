"""``splitbrain hunt SYSTEM``: find a failing run within a budget, shrink it, print how to replay it.

The hunt itself is :meth:`splitbrain.hunt.search.Hunt.hunt`; this command checks the flags, shows
its progress and prints (and stores) what it returns.

Exit codes: 1 a failure was found (its minimal reproducer is stored), 0 the
budget ended with no failure ("no failure found in N runs"), 130 interrupted
before anything was found, 64 bad flags, 255 no run could be started.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from splitbrain.cli._signals import stop_on_signals
from splitbrain.errors import EXIT_HARNESS, EXIT_INTERRUPTED, HarnessError, UsageError


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise UsageError(f"--budget expects a duration like 90s, 10m or 1h, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


@click.command()
@click.argument("system")
@click.option("--bug", default=None, help="Seeded bug to enable in the system.")
@click.option("--workload", "-w", default=None, help="Workload (default: run's default).")
@click.option("--budget", default="10m", show_default=True, help="Total time: search, then shrink (90s, 10m, 1h).")
@click.option("--runs", "max_runs", type=int, default=None, help="At most this many search runs.")
@click.option("--time-limit", type=float, default=20.0, show_default=True, help="Seconds per search run.")
@click.option("--seed", type=int, default=None, help="First seed (default: random, printed).")
@click.option("--store", default="store", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome at the end.")
def hunt(system: str, bug: str | None, workload: str | None, budget: str, max_runs: int | None, time_limit: float,
         seed: int | None, store: str, as_json: bool) -> None:
    """Search seeds and fault schedules of SYSTEM for a failing run; shrink it to a minimal reproducer."""
    import secrets

    from splitbrain.harness.build import build_test
    from splitbrain.hunt.search import Hunt

    budget_s = parse_duration(budget)
    if budget_s <= 0 or time_limit <= 0 or (max_runs is not None and max_runs < 1):
        raise UsageError("--budget and --time-limit must be > 0 and --runs >= 1")
    # every name checked before the first run (exit 64 naming the valid ones)
    build_test(system, workload or "register", None, None, "local", time_limit, None, 100.0, 0, bug, store, None,
               3.0, 5.0, {})
    seed = secrets.randbelow(2**30) if seed is None else seed
    home = Path(store) / "hunt" / f"{system}{'-' + bug if bug else ''}" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    home.mkdir(parents=True, exist_ok=True)
    say = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    h = Hunt(system, home, budget_s, max_runs, bug, workload, time_limit, seed, say=say)
    say(f"hunting {system}{' --bug ' + bug if bug else ''} for {budget_s:g} s from seed {seed}; runs in {home}")
    stop_on_signals()
    result = h.hunt()  # search, shrink, search on while a failure does not replay; Ctrl-C keeps what was found
    found, minimal = result.found, result.minimal
    outcome = _finish(h, found, minimal, home)
    if as_json:
        click.echo(json.dumps(outcome))
    else:
        for line in outcome["lines"]:
            click.echo(line)
    if found is not None:
        sys.exit(1)
    if h.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if h.runs and all(r.exit_code not in (0, 1, 2) for r in h.runs):
        raise HarnessError(f"no run could be carried out; last: {h.runs[-1].valid}")
    sys.exit(0 if h.runs or not h.interrupted else EXIT_HARNESS)


def _finish(h: Any, found: Any, minimal: Any, home: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"system": h.system, "bug": h.bug, "runs": len(h.runs), "hunt_dir": str(home),
                           "seconds": round(time.monotonic() - h.started, 1), "found": found is not None}
    lines: list[str] = []
    if found is None:
        lines.append(f"no failure found in {len(h.runs)} runs ({out['seconds']:g} s)")
    else:
        out["failing_run"] = str(found.run_dir)
        out["first_anomaly_s"] = found.anomaly_s
        out["time_to_failure_s"] = round(sum(r.wall_s for r in h.runs[: h.runs.index(found) + 1]), 1)
    if minimal is not None:
        cand = minimal.candidate
        path = home / "minimal-schedule.json"
        sched = cand.schedule({"from": "hunt", "system": h.system, "bug": h.bug})
        sched.save(path)
        summary = (f"minimal reproducer: {cand.faults} faults, {cand.time_limit_s:g} s, "
                   f"fails {minimal.fails}/{minimal.replays} replays")
        command = shlex.join(h.replay_spec((minimal.run or found).spec, cand, path.resolve()).argv(with_store=False))
        out.update({"minimal": summary, "faults": cand.faults, "time_limit_s": cand.time_limit_s,
                    "reproduced": [minimal.fails, minimal.replays], "schedule": str(path), "replay": command,
                    "candidates_tried": minimal.tried,
                    "minimal_run": str(minimal.run.run_dir) if minimal.run and minimal.run.run_dir else None})
        lines += [summary, f"  {cand.describe()}; {minimal.tried} candidates tried",
                  f"schedule: {path}", f"replay: {command}"]
        if minimal.run is not None and minimal.run.run_dir is not None:
            _mark(minimal.run.run_dir, summary)
            lines.append(f"report: {minimal.run.run_dir / 'report.html'}")
    (home / "hunt.json").write_text(json.dumps({k: v for k, v in out.items()}, indent=1, default=str) + "\n")
    out["lines"] = lines
    return out


def _mark(run_dir: Path, summary: str) -> None:
    """The minimal run's schedule.json and report say that it is the shrunk reproducer."""
    from splitbrain.reports.html import write_report

    path = run_dir / "schedule.json"
    try:
        data = json.loads(path.read_text())
        data["shrunk"] = summary
        path.write_text(json.dumps(data, indent=1, default=str) + "\n")
        write_report(run_dir)
    except (OSError, ValueError):
        pass
