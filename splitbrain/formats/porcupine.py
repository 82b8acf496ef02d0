"""Readers for Porcupine's test corpora: Jepsen etcd logs and the kv logs.

Each reader keeps its origin's semantics in the ops it emits, and the matching
model (``etcd``, ``kv``) interprets them as Porcupine's test does:

* etcd logs (``INFO  jepsen.util - P<TAB>:type<TAB>:f<TAB>value``): ``:fail :cas``
  is emitted as a ``fail`` completion, which the ``etcd`` model reads as an
  *observed* failed compare (the register did not hold ``from``), not as "did not
  happen". ``:fail :read :timed-out`` becomes a ``fail`` read with error
  ``timed-out``: an unknown read, constraining nothing. ``:info`` completions are
  ``info``: the op stays pending and may take effect at any later time.
* kv logs: one EDN map per line with ``get``/``put``/``append`` on string keys;
  only ``invoke``/``ok`` occur. The exact Porcupine layout is matched by a regexp
  (fast); any other line is handed to a real EDN reader.

A line that is not in the format is bad input (``file:line``), except a torn
last line (no newline at the end), which is dropped with a warning.
"""

from __future__ import annotations

import re

from splitbrain.errors import BadInputError
from splitbrain.formats._common import finish, numbered_lines, torn_warning
from splitbrain.history import History, Op

_ETCD = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*?)\s*$")
_INT = re.compile(r"-?\d+$")
_PAIR = re.compile(r"\[\s*(-?\d+)\s+(-?\d+)\s*\]$")


def _etcd_value(typ: str, f: str, raw: str) -> tuple[object, str | None] | None:
    """(value, error) for one line's value field, or None when the combination is not Porcupine's."""
    if f == "read":
        if typ == "invoke" and raw == "nil":
            return None, None
        if typ == "ok":
            if raw == "nil":
                return None, None
            if _INT.match(raw):
                return int(raw), None
        if typ == "fail" and raw == ":timed-out":
            return None, "timed-out"
        if typ == "info":  # not in the corpus; Porcupine would leave such a read pending too
            return None, raw.lstrip(":") or "unknown"
        return None
    if f == "write":
        if typ in ("invoke", "ok") and _INT.match(raw):
            return int(raw), None
        if typ == "info":
            return None, raw.lstrip(":") or "unknown"
        return None
    if f == "cas":
        m = _PAIR.match(raw)
        if typ in ("invoke", "ok", "fail") and m:
            return [int(m.group(1)), int(m.group(2))], None
        if typ == "info":
            return None, raw.lstrip(":") or "unknown"
        return None
    return None


def read_porcupine_etcd(path: str) -> History:
    ops: list[Op] = []
    where: list[int] = []
    for no, line, torn in numbered_lines(path):
        m = _ETCD.match(line)
        parsed = None
        if m:
            typ, f = m.group(2), m.group(3)
            if typ in ("invoke", "ok", "fail", "info"):
                parsed = _etcd_value(typ, f, m.group(4))
        if parsed is None:
            if torn:
                torn_warning(path, no)
                break
            if not m:
                raise BadInputError("not a Jepsen etcd log line (INFO  jepsen.util - P :type :f value)", path, no)
            raise BadInputError(f"unexpected :{m.group(2)} :{m.group(3)} with value {m.group(4)!r}", path, no)
        value, error = parsed
        assert m is not None
        ops.append(Op(index=len(ops), process=int(m.group(1)), type=m.group(2), f=m.group(3),
                      value=value, time=no, error=error))
        where.append(no)
    return finish(ops, where, path)


_KV = re.compile(r'^\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "([^"\\]*)", '
                 r'(?::value nil|:value "([^"\\]*)")\}$')


def _kv_from_edn(line: str, path: str, no: int) -> tuple[int, str, str, str, str | None]:
    from splitbrain.formats.edn import EdnOpError, edn_op_fields, parse_edn_value

    obj = parse_edn_value(line, path, no)
    try:
        d = edn_op_fields(obj)
    except EdnOpError as e:
        raise BadInputError(str(e), path, no) from None
    except RecursionError:
        raise BadInputError("value nested too deeply", path, no) from None
    proc, typ, f, key, value = d.get("process"), d.get("type"), d.get("f"), d.get("key"), d.get("value")
    if not isinstance(proc, int) or isinstance(proc, bool):
        raise BadInputError(f":process must be an integer, got {proc!r}", path, no)
    if typ not in ("invoke", "ok"):
        raise BadInputError(f":type must be :invoke or :ok in a Porcupine kv log, got {typ!r}", path, no)
    if f not in ("get", "put", "append"):
        raise BadInputError(f":f must be :get, :put or :append, got {f!r}", path, no)
    if not isinstance(key, str):
        raise BadInputError(f":key must be a string, got {key!r}", path, no)
    if value is not None and not isinstance(value, str):
        raise BadInputError(f":value must be a string or nil, got {value!r}", path, no)
    return proc, typ, f, key, value


def read_porcupine_kv(path: str) -> History:
    ops: list[Op] = []
    where: list[int] = []
    for no, line, torn in numbered_lines(path):
        line = line.strip()
        m = _KV.match(line)
        if m:
            proc, typ, f, key, value = int(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5)
        else:
            try:
                proc, typ, f, key, value = _kv_from_edn(line, path, no)
            except BadInputError:
                if torn:
                    torn_warning(path, no)
                    break
                raise
        if typ == "invoke" and f == "get" and value is not None:
            raise BadInputError(f"a get is invoked with value nil, got {value!r}", path, no)
        if value is None and not (f == "get" and typ == "invoke"):
            raise BadInputError(f"{typ} {f} needs a string value, got nil", path, no)
        ops.append(Op(index=len(ops), process=proc, type=typ, f=f, key=key, value=value, time=no))
        where.append(no)
    return finish(ops, where, path)
