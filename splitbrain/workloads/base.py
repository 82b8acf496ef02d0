"""What a workload is, to the harness: ops to ask for, how to ask, how to judge.

A workload is a small, stateless description (one module-level ``WORKLOAD``
object per workload). It says:

* ``name`` and ``ops`` -- its name in :data:`splitbrain.registry.WORKLOADS` and
  the wire ops (:mod:`splitbrain.systems.wire`) a system must serve for it;
* ``requests(rng)`` -- an endless iterator of client :class:`Request` s, drawing
  every random choice from ``rng`` (the harness seeds it, so one seed replays
  the same stream). Stateful streams (unique set elements, increasing append
  values) keep their state inside the iterator, never on the workload;
* ``to_wire`` / ``from_wire`` -- how a request becomes a wire call
  ``(op, key, value)`` and how the wire response's ``value`` becomes the value
  recorded in the ``ok`` completion (the history keeps the *model's* op
  shapes, the ones the checkers read: :mod:`splitbrain.checkers.models` for the
  registers, :mod:`splitbrain.checkers.set`, :mod:`splitbrain.checkers.counter`, ...);
* ``final_requests(rng)`` -- ops the harness runs once every fault is healed
  and the cluster has recovered (e.g. the set's final read); each is retried
  until it succeeds or the recovery deadline passes;
* ``checkers()`` -- which checkers judge the history (names in
  :data:`splitbrain.registry.CHECKERS` plus keyword options);
* ``no_effect`` -- the ``f`` s that never change state (reads). An indefinite
  outcome of such an op is recorded as ``fail``, not ``info``: it cannot have
  taken effect, and the process keeps its number. Anything else that ends
  indefinitely is ``info`` and its process is retired.

:class:`BaseWorkload` fills every part but ``requests`` with the identity /
empty defaults, so a simple workload is a dozen lines.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Request:
    """One client operation to invoke, in the history's shape (``f``, ``key``, ``value``)."""

    f: str
    value: Any = None
    key: Any = None


@dataclass(frozen=True)
class CheckerSpec:
    """A checker to run on the history: its registry name and keyword options.

    ``label`` names the result in ``results.json`` (defaults to ``name``), so a
    workload can run the same checker twice with different options.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.name


@runtime_checkable
class Workload(Protocol):
    """Ops to ask for, how to ask (wire calls), and which checkers judge them (see the module docs).
    Subclass :class:`BaseWorkload` to get the identity defaults."""

    name: str
    #: wire ops the system must serve
    ops: tuple[str, ...]
    #: history ``f`` s that never take effect (indefinite -> recorded as fail)
    no_effect: frozenset[str]

    def requests(self, rng: random.Random) -> Iterator[Request]:
        """An endless stream of client requests; all randomness from ``rng``."""
        ...

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        """``(op, key, value)`` for :meth:`SystemClient.invoke`."""
        ...

    def from_wire(self, req: Request, value: Any) -> Any:
        """The value recorded in the ``ok`` completion, from the wire response's ``value``."""
        ...

    def final_requests(self, rng: random.Random) -> list[Request]:
        """Ops run after healing, each retried until it succeeds (may be empty)."""
        ...

    def checkers(self) -> list[CheckerSpec]: ...


class BaseWorkload:
    """Defaults: history op = wire op, value passed through, no final ops."""

    name: str = "base"
    ops: tuple[str, ...] = ()
    no_effect: frozenset[str] = frozenset({"read"})

    def requests(self, rng: random.Random) -> Iterator[Request]:
        raise NotImplementedError

    def to_wire(self, req: Request) -> tuple[str, Any, Any]:
        return req.f, req.key, req.value

    def from_wire(self, req: Request, value: Any) -> Any:
        return value

    def final_requests(self, rng: random.Random) -> list[Request]:
        return []

    def checkers(self) -> list[CheckerSpec]:
        return []

    def __repr__(self) -> str:
        return f"<workload {self.name}>"
