"""A real lazyfs mount for tests: the daemon as a child process over a temp dir."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from splitbrain.backends.disk import mount as diskmount


@contextlib.contextmanager
def lazyfs(tmp: Path, source: str = "test:n1", cache_s: float = 0.0,
           names: str = "posix") -> Iterator[tuple[Path, Any]]:
    """Yields (mount point, control(request) -> answer); unmounts and checks it is gone after.

    ``cache_s=0``: the kernel caches no names or attributes, so a test may look right after a
    crash (runs cache them and wait that long after a crash, as one test here does too).
    ``names="posix"``: the strict rule (only a directory fsync makes its names durable)."""
    m = diskmount.Mount.under(str(tmp), "n1")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    try:
        diskmount.start(m, sys.executable, source, env, cache_s, names)
        yield Path(m.mountpoint), lambda req: diskmount.control(m.control, req)
    finally:
        diskmount.release(m)
        assert not diskmount.mounted(m.mountpoint)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, sync: bool = False, mode: str = "wb") -> None:
    with open(path, mode) as fh:
        fh.write(data)
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
