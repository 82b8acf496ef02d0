"""What a person watching a campaign sees: a live table (rich) or plain lines under CI."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

_STYLE = {True: "green", False: "bold red", "unknown": "yellow"}


def _verdict(o: Any) -> str:
    if o.exit_code not in (0, 1, 2):
        return f"error ({o.exit_code})"
    return {True: "valid", False: "INVALID"}.get(o.valid, "unknown")


class CampaignView:
    """Runs done/left, verdicts so far and an ETA, for this shard and for the whole campaign;
    plain lines when not on a terminal.

    The ETA counts only runs finished in this session (a resumed campaign's earlier runs
    say nothing about this machine's pace); the whole campaign's left-over assumes the
    other shards go at this shard's pace, as CI runners of one kind do."""

    def __init__(self, runs: list[Any], live: bool, shard: Any = None, total: int | None = None,
                 already: list[Any] | None = None) -> None:
        self.runs = runs
        self.done_runs: list[Any] = list(already or [])
        self.resumed = len(self.done_runs)
        self.live = live
        self.shard = shard
        self.total = total if total is not None else len(runs)
        self.started = time.monotonic()
        self._live: Live | None = None

    def progress(self) -> str:
        """``shard 2/4: 3/6 runs, 3 left, ETA 40s | campaign: 24 runs, ~21 left``."""
        n, total = len(self.done_runs), len(self.runs)
        elapsed = time.monotonic() - self.started
        fresh = n - self.resumed
        per_run = elapsed / fresh if fresh else None
        eta = f"{per_run * (total - n):.0f}s" if per_run is not None else "?"
        head = f"shard {self.shard}" if self.shard else "campaign"
        line = f"{head}: {n}/{total} runs, {total - n} left, {elapsed:.0f}s elapsed, ETA {eta}"
        if self.shard:
            # the other shards' share, assumed at this shard's pace (they run elsewhere, at once)
            left = self.total - total + (total - n)
            line += f" | campaign: {self.total} runs in {self.shard.n} shards, ~{left} left here and elsewhere"
        return line

    def _table(self) -> Table:
        counts = {"valid": 0, "INVALID": 0, "other": 0}
        for o in self.done_runs:
            v = _verdict(o)
            counts[v if v in counts else "other"] += 1
        t = Table(title=self.progress())
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
            print(self.progress(), file=sys.stderr, flush=True)
        return self

    def done(self, outcome: Any) -> None:
        self.done_runs.append(outcome)
        if self._live is not None:
            self._live.update(self._table())
        else:
            print(f"[{len(self.done_runs)}/{len(self.runs)}] {outcome.spec.name}: {_verdict(outcome)} "
                  f"({outcome.seconds:.1f}s) {outcome.run_dir or outcome.error}", file=sys.stderr, flush=True)
            print(f"  {self.progress()}", file=sys.stderr, flush=True)

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
