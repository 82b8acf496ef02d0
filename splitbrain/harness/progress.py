"""Live progress of a run: a rich panel on a terminal, plain periodic lines elsewhere.

A person watching a run wants to see it breathe (elapsed, ops/s, outcomes,
which faults are active); a CI log wants a line every few seconds, not a
stream of terminal escapes. ``--json`` keeps stdout for its one object, so
progress then goes to stderr as plain lines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

#: a snapshot: elapsed_s, counts {"ok","fail","info","invoke"}, active faults, phase
Snapshot = dict[str, Any]


def live_allowed(as_json: bool) -> bool:
    return not as_json and sys.stdout.isatty() and not os.environ.get("CI")


def format_line(s: Snapshot, rate: float) -> str:
    c = s["counts"]
    faults = ",".join(s["active"]) or "-"
    return (f"[{s['elapsed_s']:6.1f}s] {s['phase']:<8} {rate:7.1f} ops/s  ok {c['ok']}  fail {c['fail']}  "
            f"info {c['info']}  faults: {faults}")


class Progress:
    """Polls ``snapshot()``; call :meth:`tick` often, :meth:`close` at the end."""

    def __init__(self, snapshot: Callable[[], Snapshot], live: bool, stream: TextIO | None = None,
                 every_s: float = 5.0) -> None:
        self.snapshot = snapshot
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._last_print = time.monotonic()
        self._window: list[tuple[float, int]] = []
        self._live: Any = None
        if live:
            from rich.live import Live

            self._live = Live(self._render(snapshot(), 0.0), refresh_per_second=4, transient=False)
            self._live.start()

    def _rate(self, s: Snapshot) -> float:
        done = s["counts"]["ok"] + s["counts"]["fail"] + s["counts"]["info"]
        now = time.monotonic()
        self._window.append((now, done))
        while len(self._window) > 2 and now - self._window[0][0] > 3.0:
            self._window.pop(0)
        t0, d0 = self._window[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0

    def _render(self, s: Snapshot, rate: float) -> Any:
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        c = s["counts"]
        t.add_row("elapsed", f"{s['elapsed_s']:.1f} s", "phase", s["phase"])
        t.add_row("ops/s", f"{rate:.1f}", "faults", ", ".join(s["active"]) or "none")
        t.add_row("[green]ok[/]", str(c["ok"]), "[red]fail[/]", str(c["fail"]))
        t.add_row("[yellow]info[/]", str(c["info"]), "nemesis events", str(s.get("faults", 0)))
        return t

    def tick(self) -> None:
        s = self.snapshot()
        rate = self._rate(s)
        if self._live is not None:
            self._live.update(self._render(s, rate))
        elif time.monotonic() - self._last_print >= self.every_s:
            self._last_print = time.monotonic()
            print(format_line(s, rate), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
