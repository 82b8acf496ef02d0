"""Elle's and Jepsen's transactional EDN histories, as they are published.

Elle's own example histories (``histories/paper-example.edn``) and test
histories leave out fields a harness would write: no ``:f`` (every op is a
transaction), no ``:process`` (invocations and completions follow each other),
sometimes no invocation at all (a bare ``:ok`` or ``:fail`` completion).
Before the generic EDN checks run, this fills them in the way Elle reads them:

* no ``:f`` on an op whose value is a list of micro-ops -> ``:txn``;
* no ``:process`` -> each operation is its own process: an invocation gets a
  fresh process, and a completion without one closes the oldest pending
  invocation without one whose micro-ops match it (f and key, in order);
* a transaction completion with no pending invocation -> an invocation is added at the very
  start of the history (a fresh process), so the op is concurrent with every
  other: Elle draws no real-time edge into an op it never saw invoked.

Each rule that fired is reported as one warning line.
"""

from __future__ import annotations

import warnings
from typing import Any


def _shape(v: Any) -> Any:
    if isinstance(v, list) and all(isinstance(m, list) and m for m in v):
        return [(m[0], repr(m[1]) if len(m) > 1 else None) for m in v]
    return None


def _is_txn(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(m, list) and 2 <= len(m) <= 3 and isinstance(m[0], str) for m in v)


def _blank_reads(v: Any) -> Any:
    if _is_txn(v):
        return [[m[0], m[1], None] if m[0] == "r" else list(m) for m in v]
    return v


def normalize(ds: list[dict[str, Any]], lines: list[int], path: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Fill in what Elle's histories leave out (see the module docstring)."""
    used = {d["process"] for d in ds if isinstance(d.get("process"), int) and not isinstance(d.get("process"), bool)}
    fresh = [max(used, default=-1) + 1]

    def new_process() -> int:
        fresh[0] += 1
        return fresh[0] - 1

    no_f = no_process = 0
    for d in ds:
        if "f" not in d and _is_txn(d.get("value")):
            d["f"] = "txn"
            no_f += 1
    pending_anon: list[dict[str, Any]] = []
    for d in ds:
        if "process" in d or d.get("type") not in ("invoke", "ok", "fail", "info"):
            continue
        no_process += 1
        if d["type"] == "invoke":
            d["process"] = new_process()
            pending_anon.append(d)
            continue
        shape = _shape(d.get("value"))
        match = next((p for p in pending_anon if p.get("f") == d.get("f") and _shape(p.get("value")) == shape), None)
        if match is None:
            match = next((p for p in pending_anon if p.get("f") == d.get("f")), None)
        if match is not None:
            pending_anon.remove(match)
            d["process"] = match["process"]
        else:
            d["process"] = new_process()  # an orphan: given an invocation below
    # Completions with no pending invocation get one at the start of the history.
    pending: set[Any] = set()
    prefix: list[dict[str, Any]] = []
    for d in ds:
        p = d.get("process")
        if not isinstance(p, int) or isinstance(p, bool) or d.get("type") not in ("invoke", "ok", "fail", "info"):
            continue  # the nemesis, or a bad process the reader reports with its line
        if d["type"] == "invoke":
            pending.add(p)
        elif p in pending:
            pending.discard(p)
        elif d.get("f") == "txn":  # other orphans stay errors (a Knossos history must pair its ops)
            proc = new_process()
            d["process"] = proc
            prefix.append({"process": proc, "type": "invoke", "f": d.get("f"), "value": _blank_reads(d.get("value"))})
    if no_f:
        warnings.warn(f"{path}: {no_f} ops have no :f; read as :txn (Elle's histories)", stacklevel=2)
    if no_process:
        warnings.warn(f"{path}: {no_process} ops have no :process; each operation is taken as its own process",
                      stacklevel=2)
    if prefix:
        warnings.warn(f"{path}: {len(prefix)} completions have no invocation; each is taken as invoked at the "
                      "start of the history (concurrent with every other op)", stacklevel=2)
    return prefix + ds, [lines[0] if lines else 1] * len(prefix) + lines
