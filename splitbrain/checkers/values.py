"""JSON values as hashable Python values, and back: one encoding for every checker.

A history's values (register contents, set elements, ids, keys, cas pairs) may
be JSON lists or objects, which Python cannot hash; the linearizability search
memoizes on model states and the other checkers keep values in sets and dict
keys. :func:`freeze` makes a JSON value hashable and comparable by value: a list
becomes a tuple (so a model can unpack a ``cas`` pair as ``old, new``), an
object a tuple tagged ``"__map__"`` of its items sorted by key. :func:`thaw`
turns a frozen value back into JSON for results and reports.
"""

from __future__ import annotations

from typing import Any

MAP = "__map__"


def freeze(v: Any) -> Any:
    """A hashable stand-in for a JSON value (lists -> tuples, objects -> tagged sorted item tuples)."""
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return (MAP, *sorted((str(k), freeze(x)) for k, x in v.items()))
    return v


def thaw(v: Any) -> Any:
    """Inverse of :func:`freeze`, for putting values back into JSON results."""
    if isinstance(v, tuple):
        if v and v[0] == MAP:
            return {k: thaw(x) for k, x in v[1:]}
        return [thaw(x) for x in v]
    return v
