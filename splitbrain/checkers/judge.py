"""Judge one history file: read it in its own format and run the right checker, under a memory cap.

Each file is read in its own format (``--format auto`` tells them apart), with
that format's semantics: an EDN history is checked with the Knossos flavour of
the register models (a ``nil`` read is a wildcard), a Porcupine etcd log with
Porcupine's etcd model (``:fail :cas`` observed a failed compare). The
``check`` command (:mod:`splitbrain.cli.check`) calls this once per file.
"""

from __future__ import annotations

import gc
from typing import Any

from splitbrain.checkers.memory import MemoryCap, MemoryCapReached
from splitbrain.checkers.models import ALIASES, KNOSSOS_VARIANT
from splitbrain.checkers.result import Result
from splitbrain.errors import (
    HarnessError,
)

#: models judged by the linearizability checker; the others go to their own checkers
LINEAR_MODELS = ("register", "cas-register", "kv", "multi-register", "mutex", "etcd")
OTHER_MODELS = ("set", "counter", "unique-ids", "list-append", "rw-register", "txn-rw-register")
#: transactional models: they take --consistency-models / --anomalies (Elle's names)
TXN_MODELS = ("list-append", "rw-register", "txn-rw-register")
FORMAT_CHOICES = ("auto", "jsonl", "porcupine-etcd", "porcupine-kv", "edn")


def effective_model(model: str, fmt: str) -> str:
    """The model variant that applies ``fmt``'s semantics."""
    name = ALIASES.get(model, model)
    if fmt == "edn":
        return KNOSSOS_VARIANT.get(name, name)
    if fmt == "porcupine-etcd" and name in ("register", "cas-register"):
        return "etcd"
    return name


def other_checker(model: str) -> Any:
    from splitbrain.registry import CHECKERS

    try:
        return CHECKERS.get(model)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"the {model} checker is not available in this installation ({e})") from None


def check_file(path: str, model: str, fmt: str, init: Any, timeout_s: float, max_memory_mb: float | None,
               txn_opts: dict[str, Any] | None = None) -> tuple[Result, int, str]:
    """Read and judge one file under the memory cap; returns (result, client ops, model actually used).

    Reaching the cap, while reading or checking, is an ``unknown`` that says how far it got.
    """
    from splitbrain.formats.detect import detect_format, read_history

    real_fmt = detect_format(path) if fmt == "auto" else fmt
    used = model if model in OTHER_MODELS else effective_model(model, real_fmt)
    cap = MemoryCap.default(max_memory_mb)
    progress: dict[str, Any] = {"phase": "reading", "ops_read": 0}
    ops = 0
    # Millions of acyclic records (ops, calls, the search's memo keys): the cycle collector would
    # rescan them again and again while they are built, for nothing to free.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        with cap.enforced(progress):
            history = read_history(path, real_fmt, on_progress=lambda n: progress.__setitem__("ops_read", n))
            progress.update(phase="checking", ops_read=len(history.ops))
            ops = sum(1 for op in history.ops if op.is_client and op.type == "invoke")
            if model in OTHER_MODELS:
                if gc_was_on:
                    gc.enable()  # other checkers (graphs, Elle's cycles) may make cyclic garbage
                fn = other_checker(model)
                history.calls(strict=True)
                opts: dict[str, Any] = {"timeout_s": timeout_s}
                if init is not None:
                    opts["init"] = init
                if model in TXN_MODELS:
                    opts.update(txn_opts or {})
                return fn(history, **opts), ops, model
            from splitbrain.checkers.linearizable import check_history

            return check_history(history, used, init=init, timeout_s=timeout_s, max_memory_mb=cap.limit_mb), ops, used
    except (MemoryCapReached, MemoryError) as e:
        if isinstance(e, MemoryError):
            e = MemoryCapReached(cap.limit_mb or 0, progress)
        summary = f"could not decide: {e}"
        res = Result(checker="linearizable" if model not in OTHER_MODELS else model, valid="unknown",
                     summary=summary, error=summary, stats={**e.progress, "rss_mb": round(cap.seen_mb)})
        return res, ops, used
    finally:
        if gc_was_on:
            gc.enable()


def txn_options(models: str | None, anomalies: str | None) -> dict[str, Any]:
    """``--consistency-models`` / ``--anomalies`` as checker options, validated (exit 64 on a bad name)."""
    if models is None and anomalies is None:
        return {}
    from splitbrain.checkers.consistency import parse_expectation

    e = parse_expectation(models, anomalies)
    return {"consistency_models": list(e.models), "anomalies": list(e.anomalies)}


def exit_valid(code: int) -> Any:
    return {0: True, 1: False}.get(code, "unknown")
