"""The echo checker: every acknowledged ``echo`` returned exactly what was sent.

Maelstrom's smoke test. Ops: ``echo`` payload -> payload. An ``ok`` echo whose
answer differs from its request is a ``mismatch``; a history with no ``ok``
echo proves nothing (``unknown``).
"""

from __future__ import annotations

import time
from typing import Any

from splitbrain.checkers._common import MAX_ANOMALIES_PER_KIND, call_ops, client_calls
from splitbrain.checkers.result import Anomaly, Result, Valid
from splitbrain.history import History


def check_echo(history: History, **_opts: Any) -> Result:
    t0 = time.monotonic()
    ok = bad = 0
    anomalies: list[Anomaly] = []
    for c in client_calls(history):
        if c.f != "echo" or c.type != "ok":
            continue
        ok += 1
        if c.output != c.value:
            bad += 1
            if bad <= MAX_ANOMALIES_PER_KIND:
                anomalies.append(Anomaly("mismatch", f"echo {c.invoke_index} sent {c.value!r}, got {c.output!r}",
                                         call_ops(c)))
    valid: Valid = False if bad else (True if ok else "unknown")
    summary = f"{bad} of {ok} echoes differ" if bad else (f"all {ok} echoes match" if ok else "no echo answered")
    return Result("echo", valid, summary, anomalies, {"ok": ok, "mismatched": bad}, seconds=time.monotonic() - t0)
