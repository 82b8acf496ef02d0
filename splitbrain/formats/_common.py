"""What every foreign-history reader shares: structural validation with real file lines.

:meth:`History.calls` checks pairing too, but it can only name an op's position;
readers know the line each op came from, so they check here first and a bad
file is reported as ``file:line: what is wrong``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from splitbrain.errors import BadInputError, MissingInputError
from splitbrain.history import NEMESIS, History, Op


def validate_pairing(ops: list[Op], lines: list[int], path: str) -> None:
    """Jepsen's pairing rules: one pending op per process, no completion without an
    invocation, no reuse of a process after ``info``, completions match their ``f``."""
    pending: dict[Any, Op] = {}
    crashed: set[Any] = set()
    for op, line in zip(ops, lines, strict=True):
        if op.process == NEMESIS:
            continue
        if op.type == "invoke":
            if op.process in pending:
                prev = pending[op.process]
                raise BadInputError(
                    f"process {op.process} invokes {op.f} while its {prev.f} (op {prev.index}) is still pending",
                    path, line)
            if op.process in crashed:
                raise BadInputError(f"process {op.process} is reused after an info completion", path, line)
            pending[op.process] = op
        else:
            inv = pending.pop(op.process, None)
            if inv is None:
                raise BadInputError(f"{op.type} {op.f} by process {op.process} has no pending invocation", path, line)
            if inv.f != op.f:
                raise BadInputError(f"completion f={op.f} does not match its invocation f={inv.f}", path, line)
            if op.type == "info":
                crashed.add(op.process)


def torn_warning(path: str, line: int) -> None:
    warnings.warn(f"{path}:{line}: dropping torn last line", stacklevel=3)


def finish(ops: list[Op], lines: list[int], path: str) -> History:
    """The History, carrying ``lines`` (file line of each op) so later errors can name ``file:line``."""
    validate_pairing(ops, lines, path)
    history = History(ops, source=path)
    setattr(history, "lines", lines)  # noqa: B010 - an optional attribute History does not declare
    return history


def numbered_lines(path: str) -> Iterator[tuple[int, str, bool]]:
    """The file's non-blank lines as ``(line number, text, torn)``: ``torn`` is true only for a last
    line with no newline after it, which a reader may drop (with :func:`torn_warning`) if it does not
    parse, since a writer killed mid-line leaves exactly that."""
    text = read_text(path)
    lines = text.split("\n")
    torn_last = not text.endswith("\n")
    for no, line in enumerate(lines, 1):
        if line.strip():
            yield no, line, torn_last and no == len(lines)


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="strict", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as e:
        line = 1
        try:
            with open(path, "rb") as fh:
                line = fh.read(e.start).count(b"\n") + 1
        except OSError:
            pass
        raise BadInputError(f"not UTF-8 text (byte {e.start})", path, line) from None
    except FileNotFoundError:
        raise MissingInputError(f"{path}: no such file") from None
    except OSError as e:
        raise BadInputError(f"cannot read: {e.strerror}", path) from None
    if "\x00" in text:
        raise BadInputError("binary data (NUL byte)", path, text[: text.index("\x00")].count("\n") + 1)
    return text
