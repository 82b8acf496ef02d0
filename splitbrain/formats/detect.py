"""``--format auto``: tell a history's format from its first meaningful line."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from splitbrain.errors import BadInputError, MissingInputError, UsageError
from splitbrain.history import History, read_jsonl

FORMATS = ("jsonl", "porcupine-etcd", "porcupine-kv", "edn")
_KV = re.compile(r'^\{:process \d+, :type :\w+, :f :(get|put|append), :key ')


def detect_format(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise MissingInputError(f"{path}: no such file") from None
    except OSError as e:
        raise BadInputError(f"cannot read: {e.strerror}", path) from None
    if not head.strip():
        raise BadInputError("empty file: no history", path, 1)
    if b"\x00" in head:
        raise BadInputError("binary data (NUL byte): not a history", path, head[: head.index(b"\x00")].count(b"\n") + 1)
    text = head.decode("utf-8", errors="replace")
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        if s.startswith("INFO") and "jepsen.util" in s:
            return "porcupine-etcd"
        if _KV.match(s):
            return "porcupine-kv"
        if s.startswith(("{\"", "{ \"")) or s == "{":
            return "jsonl"
        if s.startswith(("[", "(", "{:", "{")):
            return "edn"
        break
    raise BadInputError("cannot tell the history format (jsonl, porcupine-etcd, porcupine-kv or edn); "
                        "pass --format", path, 1)


def reader(fmt: str) -> Callable[[str], History]:
    if fmt == "jsonl":
        return lambda p: read_jsonl(p)
    if fmt == "porcupine-etcd":
        from splitbrain.formats.porcupine import read_porcupine_etcd
        return read_porcupine_etcd
    if fmt == "porcupine-kv":
        from splitbrain.formats.porcupine import read_porcupine_kv
        return read_porcupine_kv
    if fmt == "edn":
        from splitbrain.formats.edn import read_edn
        return read_edn
    raise UsageError(f"unknown format {fmt!r}; valid: auto, {', '.join(FORMATS)}")


def read_history(path: str | os.PathLike[str], fmt: str = "auto",
                 on_progress: Callable[[int], None] | None = None) -> History:
    """Read any supported history; malformed input raises BadInputError naming file:line.

    ``on_progress(ops_read)`` is called now and then while a JSON Lines history streams in.
    """
    p = os.fspath(path)
    if fmt == "auto":
        fmt = detect_format(p)
    elif os.path.isfile(p) and os.path.getsize(p) == 0:
        raise BadInputError("empty file: no history", p, 1)
    if fmt == "jsonl":
        return read_jsonl(p, on_progress)
    return reader(fmt)(p)
