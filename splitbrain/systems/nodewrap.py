"""Run a real system's daemons as one splitbrain node, with timestamped logs.

Standard library only: adapters ship this file to every node (``SystemTraits.files``)
and start a node as ``python3 nodewrap.py SPEC_JSON``. It exists for three reasons:

* **One node, several daemons.** A Redis node is a ``redis-server`` and a
  ``redis-sentinel``; killing or pausing the node must hit both. The wrapper runs
  them as its children in its own process group, so a signal to the node's group
  reaches all of them, and when one daemon dies the others are stopped and the
  wrapper exits with its status (a node is up only when all of it is up).
* **Config written on the node.** Files in the spec are written before the
  daemons start; ``keep`` files only when absent, because the system rewrites
  them at run time (Sentinel records failovers in its config, a replica its new
  primary) and a restarted node must come back with what it had learnt.
* **Log lines the report can place in time.** Each output line is prefixed with
  the wall-clock epoch time it was read and the daemon's tag
  (``1796159260.291 INFO [sentinel] +switch-master ...``), the node-log shape the
  report's fault localization reads.

The children get ``PR_SET_PDEATHSIG(SIGKILL)`` so they never outlive the wrapper.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

LEVELS = {"#": "WARN", "*": "INFO", "-": "DEBUG", ".": "DEBUG"}


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def split_level(line: str) -> tuple[str, str]:
    """The line's level and the line without a leading level word: Redis marks the level with
    one of ``# * - .`` after its own timestamp, Java loggers start with the level's name."""
    first, _, rest = line.partition(" ")
    if first in ("ERROR", "WARN", "INFO", "DEBUG", "TRACE"):
        return first, rest
    for word in line.split()[:6]:
        if word in LEVELS:
            return LEVELS[word], line
    return "INFO", line


def _pump(tag: str, stream: IO[bytes], out_lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        level, line = split_level(raw.decode("utf-8", "replace").rstrip("\n"))
        with out_lock:
            sys.stdout.write(f"{time.time():.3f} {level} [{tag}] {line}\n")
            sys.stdout.flush()


def write_files(files: list[dict[str, Any]]) -> None:
    for f in files:
        path = f["path"]
        if f.get("keep") and os.path.exists(path):
            continue
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f["text"])
        os.replace(tmp, path)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    write_files(spec.get("files", []))
    lock = threading.Lock()
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    pumps: dict[str, threading.Thread] = {}
    for p in spec["procs"]:
        proc = subprocess.Popen(p["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=p.get("cwd") or None, preexec_fn=_die_with_parent)
        assert proc.stdout is not None
        pumps[p["tag"]] = threading.Thread(target=_pump, args=(p["tag"], proc.stdout, lock), daemon=True)
        pumps[p["tag"]].start()
        procs.append((p["tag"], proc))

    def stop(signum: int, _frame: Any) -> None:
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        for tag, proc in procs:
            code = proc.poll()
            if code is not None:
                pumps[tag].join(2.0)  # its last words first
                with lock:
                    sys.stdout.write(f"{time.time():.3f} ERROR [{tag}] exited with status {code}\n")
                    sys.stdout.flush()
                for _, other in procs:
                    if other.poll() is None:
                        other.kill()
                return code if code > 0 else 1
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
