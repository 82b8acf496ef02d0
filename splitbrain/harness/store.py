"""The store: one directory per run, grouped by system and workload, plus ``latest``.

``store/<system>-<workload>/<UTC timestamp>/`` sorts by time in a plain
``ls``; ``store/latest`` always points at the newest run so a person (or CI)
can open ``store/latest/report.html`` without knowing the timestamp.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from pathlib import Path


def make_run_dir(store: Path, system: str, workload: str) -> Path:
    """Create a fresh, never-reused run directory (two runs in the same millisecond get a suffix)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    stamp = stamp[:-4] + "Z"  # milliseconds
    parent = store / f"{system}-{workload}"
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        run_dir = parent / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        (run_dir / "nodes").mkdir()
        return run_dir
    raise FileExistsError(f"cannot create a run directory under {parent}")


def update_latest(store: Path, run_dir: Path) -> None:
    """Point ``store/latest`` at ``run_dir`` atomically (a relative link, so the store can move)."""
    link = store / "latest"
    tmp = store / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(os.path.relpath(run_dir, store))
        os.replace(tmp, link)
    except OSError as e:
        logging.getLogger("splitbrain.harness").warning("cannot update %s: %s", link, e)


def latest_target(store: Path) -> str | None:
    """Where ``store/latest`` points now (to restore it if the new run turns out never to have run)."""
    try:
        return os.readlink(store / "latest")
    except OSError:
        return None


def forget_run(store: Path, run_dir: Path, previous_latest: str | None) -> None:
    """Undo a run that was refused before anything ran (a usage error found at setup, e.g. a
    refused host key): remove its directory and put ``store/latest`` back where it was, so a
    mistyped command leaves the store exactly as it found it."""
    shutil.rmtree(run_dir, ignore_errors=True)
    link = store / "latest"
    try:
        if os.readlink(link) == os.path.relpath(run_dir, store):  # else another run moved it: theirs
            if previous_latest is None:
                link.unlink()
            else:
                tmp = store / f".latest.{os.getpid()}"
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(previous_latest)
                os.replace(tmp, link)
    except OSError:
        pass
    for empty in (run_dir.parent, store):  # only if this was the first run of its kind / in this store
        try:
            empty.rmdir()
        except OSError:
            break


def attach_log(run_dir: Path) -> logging.Handler:
    """Send the harness's log records to ``harness.log`` in the run directory."""
    handler = logging.FileHandler(run_dir / "harness.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(created).6f %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("splitbrain")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return handler


def detach_log(handler: logging.Handler) -> None:
    logging.getLogger("splitbrain").removeHandler(handler)
    handler.close()
