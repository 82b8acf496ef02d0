"""Shards: one campaign split over N machines (CI runners), each running a 1/N slice.

A campaign's matrix is put in a canonical order -- sorted by (system,
workload, fault set, seed, bug) -- before it is sliced, so the slice a runner
gets does not depend on the order flags or TOML lists were written in, and
shard K of N takes every N-th run of that order (round robin: each shard gets
a mix of systems and seeds, so shard times stay close). Every run lands in
exactly one shard and seeds are split, never re-drawn.

The campaign id is a hash of that canonical matrix and of every parameter that
changes what a run does (time limit, backend, run flags...), never of the
shard, store or parallelism: all shards of one campaign share it, and
``campaign merge`` refuses to join shards whose ids differ.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from splitbrain.errors import UsageError


class _Run(Protocol):
    system: str
    workload: str
    nemesis: str
    seed: int
    bug: str | None


@dataclass(frozen=True)
class Shard:
    """Shard ``k`` (1-based) of ``n``."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def to_json(self) -> dict[str, int]:
        return {"k": self.k, "n": self.n}


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N; anything else is a usage error (exit 64)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--shard must be K/N (e.g. 2/4), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard {text}: need 1 <= K <= N")
    return Shard(k, n)


def fault_set(nemesis: str) -> str:
    """A fault set written in any order, in one order (``kill,partition`` == ``partition,kill``)."""
    return ",".join(sorted({p.strip() for p in nemesis.split(",") if p.strip()}))


def run_key(run: _Run) -> tuple[str, str, str, int, str]:
    """The canonical sort key of one run of the matrix."""
    return (run.system, run.workload, fault_set(run.nemesis), run.seed, run.bug or "")


def canonical(runs: list[Any]) -> list[Any]:
    """The matrix in canonical order (stable, so equal keys keep their relative order)."""
    return sorted(runs, key=run_key)


def slice_runs(runs: list[Any], shard: Shard | None) -> list[Any]:
    """Shard ``k`` of ``n`` of the canonical matrix: runs ``k-1, k-1+n, k-1+2n, ...``."""
    ordered = canonical(runs)
    if shard is None:
        return ordered
    return ordered[shard.k - 1::shard.n]


def campaign_id(runs: list[Any], params: dict[str, Any]) -> str:
    """A short stable id of "these runs with these run parameters" (shared by all shards)."""
    body = json.dumps({"runs": [list(run_key(r)) for r in canonical(runs)], "params": params},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]
