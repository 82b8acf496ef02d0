"""Jepsen/Knossos EDN histories, read with a real EDN reader (``edn_format``).

A file is one vector or list of op maps, or a bare stream of maps; maps may span
lines and carry ``;`` comments. A small bracket scanner splits the text into
top-level maps (so every op knows its line, and a file torn mid-op by a crashed
control node can drop just that op with a warning); each map is then parsed by
``edn_format``.

Knossos semantics are kept in the ops: ``:fail`` ops stay ``fail`` (the Knossos
models drop them: did not happen), ``:info`` completions leave the op pending,
a read whose value is ``nil`` is emitted with value ``None`` (the Knossos-flavoured
register models treat it as a wildcard), and ``:nemesis`` events become
``process: "nemesis"`` ops, which checkers ignore. Keywords become strings,
vectors and lists become lists.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import edn_format

from splitbrain.errors import BadInputError
from splitbrain.formats import elle
from splitbrain.formats._common import finish, read_text
from splitbrain.history import NEMESIS, History, Op

_OPEN = {"[": "]", "(": ")", "{": "}"}
_CLOSE = {"]", ")", "}"}


class EdnOpError(ValueError):
    pass


def to_plain(v: Any) -> Any:
    """EDN value -> JSON-shaped Python value (keywords and symbols become their names)."""
    if isinstance(v, edn_format.Keyword | edn_format.Symbol):
        return v.name
    if isinstance(v, Mapping):
        return {to_plain(k): to_plain(x) for k, x in v.items()}
    if isinstance(v, str):
        return v
    if isinstance(v, Sequence | AbstractSet):
        return [to_plain(x) for x in v]
    return v


def parse_edn_value(text: str, path: str, line: int) -> Any:
    try:
        return edn_format.loads(text)
    except (edn_format.EDNDecodeError, NotImplementedError, ValueError, TypeError, IndexError, KeyError,
            RecursionError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BadInputError(f"not valid EDN ({msg[:120]})", path, line) from None


def edn_op_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise EdnOpError(f"expected an op map, got {type(obj).__name__}")
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if not isinstance(k, edn_format.Keyword):
            raise EdnOpError(f"op map keys must be keywords, got {k!r}")
        out[k.name] = to_plain(v)
    return out


def _spans(text: str, path: str) -> tuple[list[tuple[int, int, int]], bool]:
    """Top-level op maps as (start, end, line); and whether the text ends inside one (torn)."""
    spans: list[tuple[int, int, int]] = []
    stack: list[str] = []
    container_depth: int | None = None  # 0: bare stream of maps; 1: maps inside a vector/list
    i, n, line = 0, len(text), 1
    start = start_line = 0
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == ";":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    line += 1
                j += 1
            if j >= n:
                return spans, True
            i = j
        elif c == "\\":
            i += 2
            continue
        elif c in _OPEN:
            if container_depth is None:
                container_depth = 0 if c == "{" else 1
            if len(stack) == container_depth:
                if c != "{":
                    raise BadInputError("expected an op map {...}", path, line)
                start, start_line = i, line
            stack.append(_OPEN[c])
        elif c in _CLOSE:
            if not stack or stack[-1] != c:
                raise BadInputError(f"unbalanced {c!r}", path, line)
            stack.pop()
            if container_depth is not None and len(stack) == container_depth and c == "}":
                spans.append((start, i + 1, start_line))
        elif not c.isspace() and c != "," and container_depth is not None and len(stack) == container_depth:
            raise BadInputError(f"unexpected {c!r} between ops (expected an op map)", path, line)
        elif not c.isspace() and c != "," and container_depth is None:
            raise BadInputError(f"unexpected {c!r}: not an EDN history (expected [ or {{)", path, line)
        i += 1
    return spans, bool(stack) and len(stack) > (container_depth or 0)


def read_edn(path: str) -> History:
    text = read_text(path)
    spans, torn = _spans(text, path)
    if torn:
        line = text.count("\n", 0, spans[-1][1]) + 2 if spans else 1
        warnings.warn(f"{path}:{line}: dropping torn last op", stacklevel=2)
    maps = _parse_all(text, spans, path)
    ds: list[dict[str, Any]] = []
    lines: list[int] = []
    for obj, (_, _, line) in zip(maps, spans, strict=True):
        try:
            ds.append(edn_op_fields(obj))
        except EdnOpError as e:
            raise BadInputError(str(e), path, line) from None
        except RecursionError:
            raise BadInputError("value nested too deeply", path, line) from None
        lines.append(line)
    ds, lines = elle.normalize(ds, lines, path)
    ops = [_op(d, i, path, line) for i, (d, line) in enumerate(zip(ds, lines, strict=True))]
    return finish(ops, lines, path)


def _parse_all(text: str, spans: list[tuple[int, int, int]], path: str) -> list[Any]:
    """One edn_format call for the whole file (it is slow per call); only when that fails,
    parse map by map to name the line at fault."""
    if not spans:
        return []
    try:
        maps = edn_format.loads("[" + "\n".join(text[s:e] for s, e, _ in spans) + "]")
    except Exception:  # noqa: BLE001 - localized below, with the real reader's message
        for s, e, line in spans:
            parse_edn_value(text[s:e], path, line)
        raise BadInputError("not valid EDN", path, spans[0][2]) from None
    if len(maps) != len(spans):
        raise BadInputError("not valid EDN (op maps do not parse one to one)", path, spans[0][2])
    return list(maps)


def _op(d: dict[str, Any], index: int, path: str, line: int) -> Op:
    proc = d.get("process")
    if proc == NEMESIS:
        pass
    elif isinstance(proc, bool) or not isinstance(proc, int):
        raise BadInputError(f":process must be an integer or :nemesis, got {proc!r}", path, line)
    typ = d.get("type")
    if typ not in ("invoke", "ok", "fail", "info"):
        raise BadInputError(f":type must be :invoke, :ok, :fail or :info, got {typ!r}", path, line)
    f = d.get("f")
    if not isinstance(f, str) or not f:
        raise BadInputError(f":f must be a keyword, got {f!r}", path, line)
    t = d.get("time")
    time = t if isinstance(t, int) and not isinstance(t, bool) else index
    err = d.get("error")
    return Op(index=index, process=proc, type=typ, f=f, value=d.get("value"), time=time,
              key=d.get("key"), error=None if err is None else str(err))
