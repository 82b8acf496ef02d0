"""Helpers several test modules share (imported as ``from _helpers import ...``).

A Docker engine is the one real dependency many end-to-end tests need and skip
without; asking for it once per session (it can take seconds on a loaded
machine) and in one place keeps their skip conditions the same.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest


@functools.cache
def docker_engine() -> Any | None:
    """A pinged Docker SDK client, or None when no engine answers (the test then skips)."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        return client
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return None


#: skip a test (or, as ``pytestmark``, a module) when no Docker engine answers
needs_docker = pytest.mark.skipif(docker_engine() is None, reason="no Docker engine reachable")


def run_ticking(sim: Any, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``body(sim)`` on a fresh event loop while ``sim.run()`` ticks the simulated cluster beside
    it (the in-process node tests of paxos and ring); the ticker is cancelled however body ends."""
    async def main() -> None:
        ticker = asyncio.create_task(sim.run())
        try:
            await body(sim)
        finally:
            ticker.cancel()

    asyncio.run(main())



def start_until_serving(cluster: Any, node: str, log_file: str | None, timeout_s: float = 30) -> None:
    """Start ``node`` of a local test cluster and wait for its log to say it serves clients: the
    tests that restart a node on damaged state need to know it came up, not just that it spawned.
    Fails at once if the process exits first."""
    cluster.start(node)
    deadline = time.monotonic() + timeout_s
    while "serving clients" not in (cluster.log(node) if Path(log_file or "").exists() else ""):
        assert cluster.procs[node].poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
