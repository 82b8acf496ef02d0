"""Sequential specifications for the linearizability checker, as plain data.

A :class:`Model` is a frozen bundle of functions, Porcupine-style:

* ``init(json_init)`` -> the initial state (``--init``; ``None`` means the model's default);
* ``prepare(call)`` -> ``(input, output)`` for the search, or ``None`` to drop the call;
  this is where each origin's meaning of ``fail``/``info`` lives, and where a wrong
  value shape is rejected (``ValueError``, reported as bad input);
* ``step(state, input, output)`` -> ``(ok, new_state)``;
* ``partition(call)`` -> a key, when the model is P-compositional (kv: one register
  per key), else ``None``;
* ``describe(state)`` -> a JSON-able view of a state, for reports;
* ``readonly(input, output)`` -> whether the op never changes any state (a read);
* ``unseen_pending`` -> whether pending writes nobody could have observed may be dropped
  (see :func:`splitbrain.checkers.linearizable.drop_unseen_pending`).

States must be hashable and compare by value (the search memoizes on them):
ints, strings, ``None``, tuples. JSON lists and objects are frozen into tuples.

Outcome semantics by model family:

* register / cas-register / kv / multi-register / mutex (Jepsen semantics): ``ok``
  constrains, ``fail`` did not happen (dropped), ``info`` may take effect at any
  time after its invocation, or never. The ``knossos-*`` variants (used for EDN
  histories) also treat a read of ``nil`` as "value unknown": a wildcard.
* etcd (Porcupine's ``etcdModel``): a ``fail`` cas is an *observed* failed compare
  (the register did not hold ``from``); a ``fail`` read (``:timed-out``) is an
  unknown read, which constrains nothing and is dropped; ``null`` is "absent".
* kv also speaks Porcupine's kv ops: ``get`` (a missing key reads as ``""``),
  ``put``, ``append`` (string concatenation).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from splitbrain.checkers.values import freeze, thaw
from splitbrain.errors import UsageError
from splitbrain.history import Call


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


#: output of a call whose result nobody saw (info, or no completion)
UNKNOWN: Any = _Unknown()
#: output of an etcd cas whose compare was observed to fail
CAS_FAILED = "__cas_failed__"


@dataclass(frozen=True)
class Model:
    name: str
    init: Callable[[Any], Hashable]
    prepare: Callable[[Call], tuple[Any, Any] | None]
    step: Callable[[Any, Any, Any], tuple[bool, Any]]
    partition: Callable[[Call], Hashable] | None = None
    describe: Callable[[Any], Any] = thaw
    #: True when the op, whenever legal, leaves every state unchanged (a read): the search
    #: may then place it as early as possible without trying alternatives
    readonly: Callable[[Any, Any], bool] = lambda inp, out: False
    #: a register whose failed ops constrain nothing: an info write of a value no read and
    #: no cas ever names can be dropped without changing the verdict
    unseen_pending: bool = False
    #: reads ("r", or kv "g") and writes ("w", v) follow :func:`_register_step`: a partition of
    #: those alone with unique written values is decided in O(n log n) (:mod:`._zones`)
    register_like: bool = False
    #: whether the op is a read whose output names the one state it saw (default: :attr:`readonly`);
    #: the search heads for the state the next such read names (see :mod:`._search`)
    target: Callable[[Any, Any], bool] | None = None
    #: ``toward(state, output)``: whether ``state`` may lie on the way to the state a target read saw
    #: (default: the read is legal in it); a heuristic only: it orders the search, never prunes it
    toward: Callable[[Any, Any], bool] | None = None


# --------------------------------------------------------------------------- registers

def _pair(v: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise ValueError(f"{what} value must be [old, new], got {v!r}")
    return freeze(v[0]), freeze(v[1])


def _register_prepare(cas: bool, wildcard_nil: bool, kv_ops: bool = False) -> Callable[[Call], Any]:
    def prepare(c: Call) -> tuple[Any, Any] | None:
        if c.type == "fail":
            return None
        known = c.type == "ok"
        f = c.f
        if f == "read" or (kv_ops and f == "get"):
            if not known:
                return None  # an unseen read constrains nothing
            out = c.output
            if out is None and wildcard_nil:
                return None
            return ("g",) if f == "get" else ("r",), freeze(out)
        if f == "write" or (kv_ops and f == "put"):
            return ("w", freeze(c.value)), None
        if kv_ops and f == "append":
            if not isinstance(c.value, str):
                raise ValueError(f"append value must be a string, got {c.value!r}")
            return ("a", c.value), None
        if f == "cas" and cas:
            return ("cas", *_pair(c.value, "cas")), None
        allowed = "read, write" + (", cas" if cas else "") + (", get, put, append" if kv_ops else "")
        raise ValueError(f"f={f!r} is not an operation of this model ({allowed})")
    return prepare


def _register_step(state: Any, inp: tuple[Any, ...], out: Any) -> tuple[bool, Any]:
    k = inp[0]
    if k == "r":
        return out == state, state
    if k == "w":
        return True, inp[1]
    if k == "cas":
        if state == inp[1]:
            return True, inp[2]
        return False, state
    if k == "g":
        return out == ("" if state is None else state), state
    if k == "a":
        return True, ("" if state is None else state) + inp[1]
    return False, state


def _register_readonly(inp: Any, out: Any) -> bool:
    return inp[0] in ("r", "g")


def _string_toward(state: Any, out: Any) -> bool:
    """kv's appends only extend a string: a state is on the way to any string it begins."""
    if isinstance(out, str):
        s = "" if state is None else state
        return isinstance(s, str) and out.startswith(s)
    return bool(state == out)


def _plain_init(default: Any) -> Callable[[Any], Hashable]:
    def init(v: Any) -> Hashable:
        return freeze(default if v is None else v)
    return init


def _by_key(c: Call) -> Hashable:
    return freeze(c.key)


# --------------------------------------------------------------------------- etcd (Porcupine)

def _etcd_prepare(c: Call) -> tuple[Any, Any] | None:
    f = c.f
    if f == "read":
        if c.type != "ok":
            return None  # :fail :read :timed-out is an unknown read: no constraint
        if c.output is not None and not isinstance(c.output, int):
            raise ValueError(f"etcd read must return an integer or nil, got {c.output!r}")
        return ("r",), c.output
    if f == "write":
        if c.type == "fail":
            return None
        return ("w", freeze(c.value)), None
    if f == "cas":
        a, b = _pair(c.value, "cas")
        out = UNKNOWN if c.type == "info" else (CAS_FAILED if c.type == "fail" else None)
        return ("cas", a, b), out
    raise ValueError(f"f={f!r} is not an etcd register operation (read, write, cas)")


def _etcd_readonly(inp: Any, out: Any) -> bool:
    return inp[0] == "r" or out is CAS_FAILED


def _etcd_step(state: Any, inp: tuple[Any, ...], out: Any) -> tuple[bool, Any]:
    k = inp[0]
    if k == "r":
        return out == state, state
    if k == "w":
        return True, inp[1]
    hit = state == inp[1]
    if out is UNKNOWN:
        return True, inp[2] if hit else state
    if out is CAS_FAILED:
        return not hit, state
    return hit, inp[2] if hit else state


# --------------------------------------------------------------------------- multi-register

def _multi_init(v: Any) -> Hashable:
    if v is None:
        return ()
    if not isinstance(v, dict):
        raise UsageError(f"multi-register --init must be a JSON object of registers, got {v!r}")
    return tuple(sorted((str(k), freeze(x)) for k, x in v.items()))


def _mops(v: Any) -> tuple[tuple[str, Any, Any], ...]:
    if not isinstance(v, list | tuple):
        raise ValueError(f"txn value must be a list of [f, key, value], got {v!r}")
    out = []
    for m in v:
        if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in ("read", "write", "r", "w"):
            raise ValueError(f"txn micro-op must be [read|write, key, value], got {m!r}")
        out.append(("r" if m[0] in ("read", "r") else "w", freeze(m[1]), freeze(m[2])))
    return tuple(out)


def _multi_prepare(c: Call) -> tuple[Any, Any] | None:
    if c.f != "txn":
        raise ValueError(f"f={c.f!r} is not a multi-register operation (txn)")
    if c.type == "fail":
        return None
    mops = _mops(c.output if c.type == "ok" and c.output is not None else c.value)
    return mops, None


def _multi_step(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    d = dict(state)
    changed = False
    for f, k, v in inp:
        if f == "r":
            if v is not None and d.get(k) != v:
                return False, state
        else:
            d[k] = v
            changed = True
    return True, tuple(sorted(d.items())) if changed else state


def _multi_readonly(inp: Any, out: Any) -> bool:
    return all(f == "r" for f, _, _ in inp)


def _multi_describe(state: Any) -> Any:
    return {str(k): thaw(v) for k, v in state}


# --------------------------------------------------------------------------- mutex

def _mutex_prepare(c: Call) -> tuple[Any, Any] | None:
    if c.f not in ("acquire", "release"):
        raise ValueError(f"f={c.f!r} is not a mutex operation (acquire, release)")
    if c.type == "fail":
        return None
    return c.f == "acquire", None


def _mutex_step(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return (not state, True) if inp else (bool(state), False)


def _mutex_init(v: Any) -> Hashable:
    if v is None or isinstance(v, bool):
        return bool(v)
    raise UsageError(f"mutex --init must be true (held) or false, got {v!r}")


# --------------------------------------------------------------------------- registry

_R = _register_readonly
_T = _register_readonly  # register reads (and kv gets) name the value they saw; etcd's failed cas does not
MODELS: dict[str, Model] = {
    "register": Model("register", _plain_init(None), _register_prepare(False, False), _register_step,
                      readonly=_R, unseen_pending=True, register_like=True, target=_T, toward=_string_toward),
    "cas-register": Model("cas-register", _plain_init(None), _register_prepare(True, False), _register_step,
                          readonly=_R, unseen_pending=True, register_like=True, target=_T, toward=_string_toward),
    "kv": Model("kv", _plain_init(None), _register_prepare(True, False, kv_ops=True), _register_step, _by_key,
                readonly=_R, unseen_pending=True, register_like=True, target=_T, toward=_string_toward),
    "multi-register": Model("multi-register", _multi_init, _multi_prepare, _multi_step, None, _multi_describe,
                            readonly=_multi_readonly),
    "mutex": Model("mutex", _mutex_init, _mutex_prepare, _mutex_step),
    "etcd": Model("etcd", _plain_init(None), _etcd_prepare, _etcd_step, readonly=_etcd_readonly,
                  register_like=True, target=_T),
    "knossos-register": Model("knossos-register", _plain_init(None), _register_prepare(False, True),
                              _register_step, readonly=_R, unseen_pending=True, register_like=True, target=_T),
    "knossos-cas-register": Model("knossos-cas-register", _plain_init(None), _register_prepare(True, True),
                                  _register_step, readonly=_R, unseen_pending=True, register_like=True, target=_T),
}
ALIASES = {"etcd-register": "etcd", "porcupine-kv": "kv", "knossos-multi-register": "multi-register"}
#: what each model becomes when the history came from Knossos (EDN): nil reads are wildcards
KNOSSOS_VARIANT = {"register": "knossos-register", "cas-register": "knossos-cas-register"}


def get_model(name: str | Model) -> Model:
    if isinstance(name, Model):
        return name
    m = MODELS.get(ALIASES.get(name, name))
    if m is None:
        raise UsageError(f"unknown model {name!r}; valid: {', '.join(sorted([*MODELS, *ALIASES]))}")
    return m
