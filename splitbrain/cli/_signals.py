"""Ctrl-C and a CI runner's cancel stop the long-running verbs (campaign, hunt) cleanly, always.

Python raises KeyboardInterrupt on SIGINT only if SIGINT was not ignored when the interpreter
started, and a shell starts background jobs (``cmd &``, and many CI launchers) with SIGINT
ignored: such a campaign or hunt would run on through Ctrl-C. A CI runner cancelling a job
sends SIGINT, then SIGTERM. Both must reach the verbs' own stop path (which keeps what was done
and says how to resume), as ``run`` does with its event loop's handlers.
"""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """From now on SIGINT and SIGTERM raise KeyboardInterrupt in the main thread."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
