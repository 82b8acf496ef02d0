"""What a person watching a campaign sees: a live table (rich) or plain lines under CI."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

_STYLE = {True: "green", False: "bold red", "unknown": "yellow"}


def _verdict(o: Any) -> str:
    if o.exit_code not in (0, 1, 2):
        return f"error ({o.exit_code})"
    return {True: "valid", False: "INVALID"}.get(o.valid, "unknown")


class CampaignView:
    """Runs done/left, verdicts so far and an ETA; plain lines when not on a terminal."""

    def __init__(self, runs: list[Any], live: bool) -> None:
        self.runs = runs
        self.done_runs: list[Any] = []
        self.live = live
        self.started = time.monotonic()
        self._live: Live | None = None

    def _table(self) -> Table:
        n, total = len(self.done_runs), len(self.runs)
        elapsed = time.monotonic() - self.started
        eta = (elapsed / n) * (total - n) if n else float("nan")
        counts = {"valid": 0, "INVALID": 0, "other": 0}
        for o in self.done_runs:
            v = _verdict(o)
            counts[v if v in counts else "other"] += 1
        t = Table(title=f"campaign: {n}/{total} runs, {elapsed:.0f}s elapsed, ETA {eta:.0f}s")
        t.add_column("run")
        t.add_column("verdict")
        t.add_column("s", justify="right")
        for o in self.done_runs[-15:]:
            t.add_row(o.spec.name, f"[{_STYLE.get(o.valid, 'yellow')}]{_verdict(o)}[/]", f"{o.seconds:.1f}")
        t.caption = f"valid {counts['valid']}  invalid {counts['INVALID']}  unknown/error {counts['other']}"
        return t

    def __enter__(self) -> CampaignView:
        if self.live:
            self._live = Live(self._table(), refresh_per_second=2)
            self._live.__enter__()
        else:
            click.echo(f"campaign: {len(self.runs)} runs", err=True)
        return self

    def done(self, outcome: Any) -> None:
        self.done_runs.append(outcome)
        if self._live is not None:
            self._live.update(self._table())
        else:
            click.echo(f"[{len(self.done_runs)}/{len(self.runs)}] {outcome.spec.name}: {_verdict(outcome)} "
                       f"({outcome.seconds:.1f}s) {outcome.run_dir or outcome.error}", err=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)


def print_summary(outcomes: list[Any], index: Path) -> None:
    # Not a terminal (a CI log, a pipe): no width to fit, so never cut the run-dir or nemesis columns;
    # the table takes its natural width.
    console = Console() if sys.stdout.isatty() else Console(width=4000, soft_wrap=True)
    t = Table(title="splitbrain campaign")
    for col in ("system", "workload", "nemesis", "seed", "bug", "verdict", "s", "run dir"):
        t.add_column(col)
    for o in outcomes:
        t.add_row(o.spec.system, o.spec.workload, o.spec.nemesis, str(o.spec.seed), o.spec.bug or "",
                  f"[{_STYLE.get(o.valid, 'yellow')}]{_verdict(o)}[/]", f"{o.seconds:.1f}", o.run_dir or o.error)
    console.print(t)
    console.print(f"index: {index}")
