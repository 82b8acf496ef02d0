"""Run a command in a container and get its real exit status: the one home of ``docker exec``.

docker-py's ``Container.exec_run`` asks the engine for the exit code once, right after the
output stream ends, and returns ``None`` when the engine has not recorded one yet. The backend
read ``None`` as success, so a fault command that failed in that window (a partition rule never
added) passed unnoticed until the fault's verification found a node without its rules. Here the
inspection is repeated until the engine knows the exit code (bounded); a code it never learns is
``None``, which callers treat as failure (or, where the container may die under the command on
purpose, as they see fit).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

#: how long to wait for the engine to record an exit after the output stream closed
EXIT_WAIT_S = 10.0


def exec_in(container: Any, argv: Sequence[str], environment: dict[str, str] | None = None,
            exit_wait_s: float = EXIT_WAIT_S) -> tuple[int | None, bytes]:
    """``(exit code, stdout+stderr)`` of ``argv`` run in ``container``, waiting up to ``exit_wait_s``
    for the exit code (``None``: the engine had not recorded one by then)."""
    api = container.client.api
    exec_id = api.exec_create(container.id, list(argv), environment=environment)["Id"]
    out = api.exec_start(exec_id) or b""
    deadline = time.monotonic() + exit_wait_s
    delay = 0.005
    while True:
        state = api.exec_inspect(exec_id)
        code = state.get("ExitCode")
        if code is not None and not state.get("Running"):
            return int(code), out
        if time.monotonic() >= deadline:
            return None, out
        time.sleep(delay)
        delay = min(0.2, delay * 2)
