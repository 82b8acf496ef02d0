"""The process entry shared by splitbrain's own systems.

A node process is started as ``python3 -m splitbrain.systems.<name> --config JSON``.
Its log lines start with ``time.time()`` (not the monotonic clock) so a node's clock
skew under libfaketime is visible in its log next to the harness's timeline. The
reports parse that shape (``epoch LEVEL message``) to place node log lines on the
run's timeline, so every system's node writes it through :func:`setup_logging`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol

from splitbrain.systems import wire
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.common.storage import CorruptStateError

LOG_MAX_BYTES = 20 << 20
LOG_BACKUPS = 2

QUIET = logging.getLogger("splitbrain.node.quiet")
"""A logger that writes nowhere: the default of nodes built without a process (tests)."""
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


class NodeApp(Protocol):
    """What :func:`run_node` drives: start, answer client requests, stop."""

    async def start(self) -> None: ...

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


def parse_config(argv: list[str] | None = None) -> NodeConfig:
    parser = argparse.ArgumentParser(description="run one node")
    parser.add_argument("--config", required=True, help="NodeConfig as JSON")
    args = parser.parse_args(argv)
    try:
        return NodeConfig.from_json(args.config)
    except (ValueError, TypeError, KeyError) as e:
        parser.error(f"bad --config: {e}")
        raise  # unreachable: parser.error exits


def setup_logging(config: NodeConfig, level: int = logging.INFO) -> logging.Logger:
    """Log to the node's file (rotated, so a chatty node cannot fill the disk) or stderr."""
    handler: logging.Handler
    if config.log_file:
        handler = logging.handlers.RotatingFileHandler(
            config.log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(created).6f %(levelname)s %(message)s"))
    log = logging.getLogger(f"splitbrain.node.{config.name}")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    return log


async def serve(app: NodeApp, config: NodeConfig, log: logging.Logger) -> None:
    """Start the app, open the client port, and run until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    server = await wire.serve_clients(config.client_host, config.client_port, with_status(app), config.name)
    log.info("serving clients on %s:%d", config.client_host, config.client_port)
    try:
        await stop.wait()
        log.info("stopping on signal")
    finally:
        server.close()
        await app.stop()


def with_status(app: NodeApp) -> wire.Handler:
    """``app.handle`` plus the ``status`` op when the app has a ``status()`` (role, term, leader, ...).

    The harness polls it to draw each node's role over time next to the messages; it is
    answered here, outside the app's request path, so a status poll never becomes a
    client operation of the system (no log entry, no quorum round)."""
    status = getattr(app, "status", None)

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("op") == wire.STATUS_OP and status is not None:
            return wire.reply(req, status())
        return await app.handle(req)

    return handle


async def tick_forever(interval_s: float, fn: Callable[[], None], log: logging.Logger) -> None:
    """Call ``fn`` every ``interval_s`` (plus its own run time) until cancelled.

    A tick that raises is logged and the ticking goes on: one bad tick must not turn
    a live node into a silent one."""
    while True:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a bad tick must not kill the node
            log.error("tick failed: %s: %s", type(e).__name__, e)
        await asyncio.sleep(interval_s)


def run_node(factory: Callable[[NodeConfig, logging.Logger], NodeApp], argv: list[str] | None = None) -> int:
    """Entry point for ``__main__`` modules: returns the process exit status."""
    config = parse_config(argv)
    log = setup_logging(config)
    log.info("starting node %s bug=%s", config.name, config.bug)
    try:
        asyncio.run(serve(factory(config, log), config, log))
    except (OSError, CorruptStateError) as e:
        log.error("node failed: %s", e)
        print(f"error: node {config.name}: {e}", file=sys.stderr)
        return 1
    log.info("stopped")
    return 0
