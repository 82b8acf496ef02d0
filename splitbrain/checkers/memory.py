"""The memory cap: what the whole checking process holds, measured, not estimated.

A checker's memory is the process's resident set (``/proc/self/statm``): the
parsed history, the search memo and everything else, as the kernel counts it.
The cap (``--max-memory MB``) defaults to a fraction of the memory available when
the process starts, so a large history ends in an honest ``unknown`` that says how
far the check got, instead of the kernel's out-of-memory killer ending the
machine's other work. CPython rarely hands freed memory back, so the figure is
close to the process's peak, which is what a cap has to bound.
"""

from __future__ import annotations

import _thread
import os
import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_FRACTION", "ENV_VAR", "MemoryCap", "MemoryCapReached", "available_mb", "default_cap_mb", "peak_rss_mb",
           "rss_mb"]

#: share of the memory available at start that a checker may use by default
DEFAULT_FRACTION = 0.5
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MB = 1024 * 1024


def rss_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / _MB
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def available_mb() -> float:
    """Memory the kernel could give without swapping (MemAvailable), in MB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * _PAGE / _MB
    except (ValueError, OSError, AttributeError):
        return 4096.0


#: environment variable that sets the default cap (MB): how ``campaign`` shares memory among parallel runs
ENV_VAR = "SPLITBRAIN_MAX_MEMORY_MB"


def default_cap_mb() -> float:
    """The default ``--max-memory``: $SPLITBRAIN_MAX_MEMORY_MB, else half the memory available now (>= 256 MB)."""
    try:
        return float(os.environ[ENV_VAR])
    except (KeyError, ValueError):
        return max(256.0, round(available_mb() * DEFAULT_FRACTION))


class _Tripped(BaseException):
    """Raised in the main thread by the cap's watcher (a BaseException: no ``except Exception`` eats it)."""


class MemoryCapReached(Exception):
    """The process reached its memory cap; ``progress`` says how far the work got."""

    def __init__(self, cap_mb: float, progress: dict[str, Any]) -> None:
        self.cap_mb = cap_mb
        self.progress = progress
        done = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in progress.items())
        super().__init__(f"memory cap of {cap_mb:.0f} MB reached ({done}); raise it with --max-memory MB "
                         f"(or {ENV_VAR} for run and campaign)")


@dataclass
class MemoryCap:
    """A resident-memory limit for this process. ``None`` or ``<= 0`` means no limit.

    :meth:`check` reads /proc (a few microseconds): callers check every few thousand items.
    """

    limit_mb: float | None = None
    #: the highest resident figure seen by :meth:`over`, in MB
    seen_mb: float = field(default=0.0)

    @classmethod
    def default(cls, limit_mb: float | None = None) -> MemoryCap:
        return cls(default_cap_mb() if limit_mb is None else limit_mb)

    @property
    def active(self) -> bool:
        return self.limit_mb is not None and self.limit_mb > 0

    def over(self) -> bool:
        if not self.active:
            return False
        now = rss_mb()
        self.seen_mb = max(self.seen_mb, now)
        assert self.limit_mb is not None
        return now > self.limit_mb

    def check(self, **progress: Any) -> None:
        """Raise :class:`MemoryCapReached` with ``progress`` when the process is over its cap."""
        if self.over():
            assert self.limit_mb is not None
            raise MemoryCapReached(self.limit_mb, progress)

    @contextmanager
    def enforced(self, progress: dict[str, Any], every_s: float = 0.05, margin_mb: float = 32.0
                 ) -> Iterator[None]:
        """Run the block under the cap, whatever it does: a watcher thread samples the resident
        memory every ``every_s`` and interrupts the main thread when it is over, which surfaces
        here as :class:`MemoryCapReached` carrying ``progress`` (a dict the block keeps current).

        For code that has no cooperative checks of its own (the set, counter, list-append and
        perf checkers, the report renderer). Must be entered from the main thread. The overshoot
        is what one sampling interval can allocate, plus any single C call in progress; the
        watcher allows ``margin_mb`` more than the cap, so code that checks the cap itself (the
        linearizability search) stops first, with its own account of how far it got.
        """
        if not self.active or threading.current_thread() is not threading.main_thread():
            yield
            return
        assert self.limit_mb is not None
        limit = self.limit_mb + margin_mb
        stop = threading.Event()
        tripped = threading.Event()

        def watch() -> None:
            while not stop.wait(every_s):
                now = rss_mb()
                self.seen_mb = max(self.seen_mb, now)
                if now > limit and not stop.is_set():
                    tripped.set()
                    _thread.interrupt_main(signal.SIGINT)
                    return

        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum: int, frame: Any) -> None:
            if tripped.is_set():
                if stop.is_set():
                    return  # the block is over: its work is done, nothing left to stop
                raise _Tripped
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, on_sigint)  # whatever handler was installed, the cap's interrupt lands
        watcher = threading.Thread(target=watch, name="memory-cap", daemon=True)
        watcher.start()
        try:
            yield
        except _Tripped:
            assert self.limit_mb is not None
            raise MemoryCapReached(self.limit_mb, dict(progress)) from None
        finally:
            stop.set()
            watcher.join()
            signal.signal(signal.SIGINT, previous)
