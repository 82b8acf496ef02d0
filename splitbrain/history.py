"""Op and History: the one data type everything else passes around.

A history is what the control node saw, in the order it saw it: each client
operation appears twice, once when it was invoked and once when it completed.
The completion's ``type`` carries Jepsen's three outcomes:

* ``ok``   -- it happened, and ``value`` is what it returned;
* ``fail`` -- it certainly did not happen (a definite error);
* ``info`` -- nobody knows (timeout, crash): it may have taken effect at any
  time after its invocation, even long after the client gave up. The process
  that issued it is never reused.

An invocation with no completion by the end of the history counts as ``info``:
a history cut short by a crashed control node is a valid prefix.

Checkers rarely want raw events; :meth:`History.calls` pairs each invocation
with its completion into a :class:`Call`, with the semantics above applied.

The on-disk form is JSON Lines (``history.jsonl``), appended and flushed one
line at a time by :class:`HistoryWriter`, so a crash loses at most the line
being written. :func:`read_jsonl` reads it back, dropping a torn last line with
a warning and rejecting anything else malformed with ``file:line``.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Literal

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: frozenset[str] = frozenset({"invoke", "ok", "fail", "info"})
NEMESIS = "nemesis"

_NO_KEY: Any = None


@dataclass(slots=True)
class Op:
    """One event of a history: an invocation or a completion."""

    index: int
    process: int | str
    type: str
    f: str
    value: Any = None
    time: int = 0
    key: Any = _NO_KEY
    node: str | None = None
    error: str | None = None

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "process": self.process,
            "type": self.type,
            "f": self.f,
        }
        if self.key is not None:
            d["key"] = self.key
        d["value"] = self.value
        d["time"] = self.time
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        return d

    def to_line(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(slots=True)
class Call:
    """An invocation paired with its completion, as checkers see it.

    ``type`` is the completion's outcome (``info`` when none was seen).
    ``ret_time`` is ``math.inf`` for ``info`` calls: they may take effect at
    any point after ``call_time``. ``value`` is the invocation's argument;
    ``output`` is the completion's value (``None`` unless ``ok``).
    """

    id: int
    process: int | str
    f: str
    key: Any
    value: Any
    output: Any
    type: str
    call_time: int
    ret_time: float
    invoke_index: int
    complete_index: int | None
    node: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.type == "ok"

    @property
    def crashed(self) -> bool:
        return self.type == "info"


@dataclass
class History:
    """A sequence of ops, in observation order, with the pairing logic checkers need."""

    ops: list[Op] = field(default_factory=list)
    source: str | None = None

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __getitem__(self, i: int) -> Op:
        return self.ops[i]

    def append(self, op: Op) -> None:
        self.ops.append(op)

    def client_ops(self) -> list[Op]:
        return [op for op in self.ops if op.is_client]

    def nemesis_ops(self) -> list[Op]:
        return [op for op in self.ops if not op.is_client]

    def calls(self, strict: bool = True) -> list[Call]:
        """Pair client invocations with completions, Jepsen-style.

        With ``strict`` (the default), structural errors raise
        :class:`~splitbrain.errors.BadInputError`: a completion with no pending
        invocation, a process invoking while it already has one pending, a
        process reused after an ``info``, or a completion whose ``f`` differs
        from its invocation's. Without ``strict`` such events are skipped.
        """
        from splitbrain.errors import BadInputError

        pending: dict[Any, Call] = {}
        crashed: set[Any] = set()
        out: list[Call] = []
        for pos, op in enumerate(self.ops):
            if not op.is_client:
                continue
            line = pos + 1
            if op.type == "invoke":
                if op.process in pending:
                    if strict:
                        raise BadInputError(
                            f"process {op.process!r} invokes {op.f!r} while its earlier "
                            f"{pending[op.process].f!r} (index {pending[op.process].invoke_index}) is still pending",
                            self.source,
                            line,
                        )
                    continue
                if op.process in crashed and strict:
                    raise BadInputError(
                        f"process {op.process!r} is reused after an info completion "
                        "(a crashed process must get a fresh number)",
                        self.source,
                        line,
                    )
                call = Call(
                    id=len(out),
                    process=op.process,
                    f=op.f,
                    key=op.key,
                    value=op.value,
                    output=None,
                    type="info",
                    call_time=op.time,
                    ret_time=math.inf,
                    invoke_index=op.index,
                    complete_index=None,
                    node=op.node,
                )
                pending[op.process] = call
                out.append(call)
            elif op.type in ("ok", "fail", "info"):
                found = pending.pop(op.process, None)
                if found is None:
                    if strict:
                        raise BadInputError(
                            f"{op.type} completion of {op.f!r} by process {op.process!r} has no pending invocation",
                            self.source,
                            line,
                        )
                    continue
                call = found
                if op.f != call.f and strict:
                    raise BadInputError(
                        f"completion f={op.f!r} does not match its invocation f={call.f!r}",
                        self.source,
                        line,
                    )
                call.type = op.type
                call.complete_index = op.index
                call.error = op.error
                if op.node is not None:
                    call.node = op.node
                if op.type == "info":
                    crashed.add(op.process)
                else:
                    call.ret_time = op.time
                    if op.type == "ok":
                        call.output = op.value
            else:
                if strict:
                    raise BadInputError(f"unknown op type {op.type!r}", self.source, line)
        # Invocations left pending at the end stay as info calls with ret_time = inf.
        return out

    def to_jsonl(self) -> str:
        return "".join(op.to_line() + "\n" for op in self.ops)


# --------------------------------------------------------------------------- JSONL I/O


#: strings every op repeats (type, f, node names): one shared object each instead of one per op
_interned: dict[str, str] = {}
_TYPES = {t: t for t in OP_TYPES}


def _intern(v: str) -> str:
    return _interned.setdefault(v, v) if len(_interned) < 4096 else v


def op_from_json(obj: Any, path: str | None = None, line: int | None = None) -> Op:
    """Validate one decoded JSON object into an :class:`Op`, or raise BadInputError."""
    if type(obj) is dict:
        # the common case, checked with exact types: this runs once per event of million-op histories
        g = obj.get
        process = g("process")
        typ = g("type")
        typ = _TYPES.get(typ) if type(typ) is str else None
        f = g("f")
        t = g("time", 0)
        index = g("index")
        if (typ is not None and (type(process) is int or process == NEMESIS) and type(f) is str and f
                and type(t) is int and (index is None or type(index) is int)):
            fi = _interned.get(f) or _intern(f)
            node = g("node")
            error = g("error")
            return Op(-1 if index is None else index, process, typ, fi, g("value"), t, g("key"),
                      None if node is None else _intern(str(node)), None if error is None else str(error))
    return _op_from_json_checked(obj, path, line)


def _op_from_json_checked(obj: Any, path: str | None, line: int | None) -> Op:
    from splitbrain.errors import BadInputError

    if not isinstance(obj, dict):
        raise BadInputError(f"expected a JSON object, got {type(obj).__name__}", path, line)
    process = obj.get("process")
    if isinstance(process, bool) or not (isinstance(process, int) or process == NEMESIS):
        raise BadInputError(f'"process" must be an integer or "nemesis", got {process!r}', path, line)
    typ = obj.get("type")
    if not isinstance(typ, str) or typ not in OP_TYPES:
        raise BadInputError(f'"type" must be one of invoke/ok/fail/info, got {typ!r}', path, line)
    f = obj.get("f")
    if not isinstance(f, str) or not f:
        raise BadInputError(f'"f" must be a non-empty string, got {f!r}', path, line)
    t = obj.get("time", 0)
    if isinstance(t, bool) or not isinstance(t, int | float) or (isinstance(t, float) and not math.isfinite(t)):
        raise BadInputError(f'"time" must be an integer (ns), got {t!r}', path, line)
    index = obj.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise BadInputError(f'"index" must be an integer, got {index!r}', path, line)
    node = obj.get("node")
    error = obj.get("error")
    return Op(
        index=index if index is not None else -1,
        process=process,
        type=_intern(typ),
        f=_intern(f),
        value=obj.get("value"),
        time=int(t),
        key=obj.get("key"),
        node=None if node is None else _intern(str(node)),
        error=None if error is None else str(error),
    )


_fast_loads: Callable[[str], Any]
try:
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; the standard library is the fallback
    _fast_loads = json.loads


def loads_line(text: str) -> Any:
    """orjson (several times faster), falling back to the standard library for its error message and
    for what only it accepts (NaN, integers beyond 64 bits): the same verdict on every line."""
    try:
        return _fast_loads(text)
    except ValueError:
        return json.loads(text)


@dataclass
class Skipped:
    """What a lenient read passed over (``lenient=`` of :func:`iter_jsonl` / :func:`read_jsonl`)."""

    #: line numbers of malformed lines skipped
    lines: list[int] = field(default_factory=list)
    #: the torn last line dropped (the writer was cut short), if any
    torn_last: int | None = None


def iter_jsonl(stream: IO[str], path: str | None = None, on_progress: Callable[[int], None] | None = None,
               lenient: Skipped | None = None) -> Iterator[Op]:
    """Stream ops from JSON Lines. A torn final line (no newline, bad JSON) is dropped with a warning.

    Strict (the checkers' reading): any other malformed line is bad input (exit 65). Lenient (the
    report's: it renders whatever a crashed run left), malformed lines are skipped and recorded
    in ``lenient``, as is the torn last line, without a warning.
    ``on_progress(ops_read)`` is called every 65,536 ops (a memory cap checks there).
    """
    from splitbrain.errors import BadInputError

    lineno = 0
    count = 0
    while True:
        raw = stream.readline()
        if not raw:
            break
        lineno += 1
        torn = not raw.endswith("\n")  # only the last line can lack its newline
        try:
            obj = loads_line(raw)
        except (json.JSONDecodeError, RecursionError) as e:
            if not raw.strip():
                continue
            if torn:
                if lenient is None:
                    warnings.warn(f"{path or '<stream>'}:{lineno}: dropping torn last line", stacklevel=2)
                else:
                    lenient.torn_last = lineno
                break
            if lenient is not None:
                lenient.lines.append(lineno)
                continue
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "nesting too deep"
            raise BadInputError(f"not valid JSON ({msg})", path, lineno) from None
        try:
            op = op_from_json(obj, path, lineno)
        except (BadInputError, RecursionError):
            if lenient is None:
                raise
            if torn:
                lenient.torn_last = lineno
            else:
                lenient.lines.append(lineno)
            continue
        if op.index < 0:
            op.index = count
        count += 1
        if on_progress is not None and not count & 0xFFFF:
            on_progress(count)
        yield op


def read_jsonl(path: str | os.PathLike[str], on_progress: Callable[[int], None] | None = None,
               lenient: Skipped | None = None) -> History:
    """Read a ``history.jsonl`` file into a :class:`History` (structure validated by :meth:`History.calls`).

    With ``lenient`` (see :func:`iter_jsonl`), undecodable bytes are replaced and only ``\\n`` ends
    a line (U+2028 inside a value does not), as a report reading any run's leftovers needs."""
    from splitbrain.errors import BadInputError, MissingInputError

    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="strict" if lenient is None else "replace",
                  newline="" if lenient is None else "\n") as fh:
            ops = list(iter_jsonl(fh, p, on_progress, lenient))
    except UnicodeDecodeError as e:
        raise BadInputError(f"not UTF-8 text (byte {e.start})", p) from None
    except FileNotFoundError:
        raise MissingInputError(f"{p}: no such file") from None
    except OSError as e:
        raise BadInputError(f"cannot read: {e.strerror}", p) from None
    return History(ops, source=p)


def parse_jsonl(text: str, source: str = "<string>") -> History:
    return History(list(iter_jsonl(io.StringIO(text), source)), source=source)


class HistoryWriter:
    """Append-only, line-flushed writer. Thread-safe; assigns ``index`` in write order.

    Every line is flushed (and the OS buffer handed to the kernel) before
    :meth:`write` returns, so a SIGKILL of the control node loses at most a
    line that was being written.
    """

    def __init__(self, path: str | os.PathLike[str], fsync_every: int = 0) -> None:
        self.path = os.fspath(path)
        self._fh = open(self.path, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self._next = 0
        self._fsync_every = fsync_every
        self.ops: list[Op] = []

    def write(self, op: Op) -> Op:
        with self._lock:
            op.index = self._next
            self._next += 1
            self._fh.write(op.to_line() + "\n")
            self._fh.flush()
            if self._fsync_every and self._next % self._fsync_every == 0:
                os.fsync(self._fh.fileno())
            self.ops.append(op)
            return op

    def history(self) -> History:
        with self._lock:
            return History(list(self.ops), source=self.path)

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                try:
                    os.fsync(self._fh.fileno())
                except OSError:
                    pass
                self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(ops: Iterable[Op], path: str | os.PathLike[str]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(op.to_line() + "\n")
