"""Wall-clock skew for unmodified node processes, without root: libfaketime.

A node started with the library in ``LD_PRELOAD`` and ``FAKETIME_TIMESTAMP_FILE``
pointing at a per-node file reads its wall clock (``time.time()``,
``CLOCK_REALTIME``) as true time plus the offset written in that file.
``FAKETIME_NO_CACHE=1`` makes it re-read the file on every call, so the harness
moves a running node's clock by rewriting one small file. ``DONT_FAKE_MONOTONIC``
keeps ``CLOCK_MONOTONIC`` true: a skewed node still measures timeouts and
sleeps correctly, as a real machine whose NTP went wrong does.

The library comes from the PyPI ``libfaketime`` package, which bundles a build
that Python 3.11's ``time.sleep`` and asyncio survive (Debian's ``faketime``
package fakes the monotonic clock used by ``sleep`` and breaks them).

These helpers are backend-agnostic: the docker and ssh backends can copy the
``.so`` to the node host and use :func:`node_env` and :func:`offset_text` too.
"""

from __future__ import annotations

import os
import re

from splitbrain.errors import BackendUnavailable

_OFFSET = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)s?\s*$")


def library_path() -> str:
    """Path of the bundled ``libfaketime.so.1``; BackendUnavailable when it is missing."""
    try:
        import libfaketime
    except ImportError:
        raise BackendUnavailable("clock faults need the PyPI package libfaketime (pip install libfaketime)") from None
    path = os.path.join(os.path.dirname(libfaketime.__file__), "vendor", "libfaketime", "src", "libfaketime.so.1")
    if not os.path.exists(path):
        raise BackendUnavailable(f"libfaketime is installed but its library is missing: {path}")
    return path


def available() -> bool:
    try:
        library_path()
    except BackendUnavailable:
        return False
    return True


def offset_text(offset_s: float) -> str:
    """The timestamp-file line for an offset from true time (libfaketime's relative format)."""
    return f"{offset_s:+.6f}s\n"


def parse_offset(text: str) -> float | None:
    m = _OFFSET.match(text)
    return float(m.group(1)) if m else None


def write_command(path: str, offset_s: float) -> str:
    """Shell: what :func:`write_offset` does, on a node reached by running commands (docker, ssh)."""
    import shlex

    tmp = f"{path}.tmp"
    return (f"printf %s {shlex.quote(offset_text(offset_s))} > {shlex.quote(tmp)} && "
            f"mv -f {shlex.quote(tmp)} {shlex.quote(path)}")


def write_offset(path: str, offset_s: float) -> None:
    """Atomically replace the offset (a reader never sees a half-written file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(offset_text(offset_s))
    os.replace(tmp, path)


def read_offset(path: str) -> float | None:
    """The offset a faked process reads right now, or None when the file is unreadable."""
    try:
        with open(path, encoding="ascii") as fh:
            return parse_offset(fh.read())
    except OSError:
        return None


def node_env(timestamp_file: str, lib: str | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment that starts a process under libfaketime driven by ``timestamp_file``."""
    env = dict(os.environ if base is None else base)
    lib = lib or library_path()
    prior = env.get("LD_PRELOAD")
    env["LD_PRELOAD"] = f"{lib}:{prior}" if prior else lib
    env["FAKETIME_TIMESTAMP_FILE"] = timestamp_file
    env["FAKETIME_NO_CACHE"] = "1"
    # Both spellings: older builds read DONT_FAKE_MONOTONIC, newer FAKETIME_DONT_FAKE_MONOTONIC.
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    env["DONT_FAKE_MONOTONIC"] = "1"
    env["FAKETIME_FORCE_MONOTONIC_FIX"] = "0"
    return env


def loaded_in(pid: int) -> bool:
    """Whether libfaketime is actually mapped into process ``pid`` (a measured fact, not a setting)."""
    try:
        with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as fh:
            return any("libfaketime" in line for line in fh)
    except OSError:
        return False


#: libfaketime names a POSIX semaphore and shared-memory object after the pid of each process it
#: starts in, and removes them only in a destructor: a node killed with SIGKILL leaves both in
#: /dev/shm for ever. The harness knows its nodes' pids, so it removes them once a node is dead.
SHM_DIR = "/dev/shm"


def shm_entries(pid: int) -> list[str]:
    """The /dev/shm names libfaketime makes for process ``pid``."""
    return [f"{SHM_DIR}/faketime_shm_{pid}", f"{SHM_DIR}/sem.faketime_sem_{pid}"]


def release(pid: int) -> None:
    """Remove a dead node's libfaketime objects (call only once ``pid`` has been reaped)."""
    for path in shm_entries(pid):
        try:
            os.unlink(path)
        except OSError:
            pass


def release_orphans() -> int:
    """Remove libfaketime objects whose process is gone (a control node killed with SIGKILL never
    released its nodes'); a live process keeps its own. Returns how many objects were removed."""
    removed = 0
    try:
        names = os.listdir(SHM_DIR)
    except OSError:
        return 0
    for name in names:
        prefix = next((p for p in ("faketime_shm_", "sem.faketime_sem_") if name.startswith(p)), None)
        if prefix is None or not name[len(prefix):].isdigit():
            continue
        try:
            os.kill(int(name[len(prefix):]), 0)
            continue  # alive (or not ours to signal): leave it
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            os.unlink(os.path.join(SHM_DIR, name))
            removed += 1
        except OSError:
            pass
    return removed


def release_command(pidfile: str) -> str:
    """Shell: remove libfaketime's objects of the (dead) process whose pid is in ``pidfile``."""
    import shlex

    q = shlex.quote(pidfile)
    return (f'p="$(cat {q} 2>/dev/null)"; [ -n "$p" ] && '
            f'rm -f "{SHM_DIR}/faketime_shm_$p" "{SHM_DIR}/sem.faketime_sem_$p"; true')
