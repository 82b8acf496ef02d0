"""A real lazyfs mount for tests: the daemon as a child process over a temp dir."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from splitbrain.backends import diskmount


@contextlib.contextmanager
def lazyfs(tmp: Path, source: str = "test:n1") -> Iterator[tuple[Path, Any]]:
    """Yields (mount point, control(request) -> answer); unmounts and checks it is gone after."""
    m = diskmount.Mount.under(str(tmp), "n1")
    diskmount.prepare(m)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with open(tmp / "lazyfs.log", "ab") as log:
        m.proc = subprocess.Popen(m.command(sys.executable, source), stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        diskmount.wait_mounted(m)
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
