"""Helpers shared by the non-linearizability checkers (set, counter, unique-ids, list-append).

Real-time order is taken from history *positions*, not from ``time`` stamps:
the history is written in the order the control node observed events, so
"A completed before B was invoked" is exactly "A's completion index is lower
than B's invocation index", whatever clocks said. ``info`` calls never
complete (their completion position is +inf): they may take effect at any
point after their invocation.

JSON values (elements, ids, keys) may be lists or objects, which Python cannot
hash: :mod:`splitbrain.checkers.values` freezes them for every checker.
"""

from __future__ import annotations

import math
import time
from typing import Any

from splitbrain.errors import BadInputError
from splitbrain.history import Call, History

#: most anomalies of one kind a checker lists one by one (counts are always exact)
MAX_ANOMALIES_PER_KIND = 100


def sort_key(v: Any) -> tuple[str, str]:
    """A total order over arbitrary JSON values, for deterministic output."""
    if isinstance(v, bool) or v is None:
        return ("0", repr(v))
    if isinstance(v, int | float):
        return ("1", f"{float(v):+030.6f}")
    return ("2" + type(v).__name__, repr(v))


def client_calls(history: History) -> list[Call]:
    """Pairs invocations with completions (strictly: malformed structure is bad input)."""
    return history.calls(strict=True)


def inv_pos(c: Call) -> int:
    return c.invoke_index


def ret_pos(c: Call) -> float:
    """Completion position; +inf for ``info`` (may take effect any time after invocation)."""
    if c.type == "info" or c.complete_index is None:
        return math.inf
    return c.complete_index


def call_ops(c: Call) -> list[int]:
    """History indices of a call's invocation and (if any) completion, for Anomaly.ops."""
    return [c.invoke_index] if c.complete_index is None else [c.invoke_index, c.complete_index]


def bad_shape(history: History, c: Call, what: str) -> BadInputError:
    """A one-line 'wrong value shape' error naming the op (exit 65)."""
    idx = c.complete_index if c.complete_index is not None else c.invoke_index
    return BadInputError(f"op {idx} ({c.f} by process {c.process!r}): {what}", history.source)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Budget:
    """A wall-clock allowance; checkers poll :meth:`spent` in their long loops and answer
    ``unknown`` (never ``valid``) when it runs out before they could decide."""

    def __init__(self, seconds: float | None) -> None:
        self.deadline = math.inf if seconds is None or seconds <= 0 else time.monotonic() + seconds

    def spent(self) -> bool:
        return time.monotonic() > self.deadline
