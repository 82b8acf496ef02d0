"""rw-register end to end over the real wire: valid on a correct store, stale reads caught."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

from test_workloads_checked import run  # the shared wire driver (tests/ is on sys.path via conftest)

from splitbrain.registry import WORKLOADS
from splitbrain.systems import wire
from splitbrain.systems.memkv.__main__ import Store


def test_stream_is_reads_and_writes_only_and_seeded() -> None:
    w = WORKLOADS.get("rw-register")
    a = list(itertools.islice(w.requests(random.Random(3)), 600))
    assert a == list(itertools.islice(w.requests(random.Random(3)), 600))
    fs = [r.f for r in a]
    assert set(fs) == {"read", "write"} and set(w.ops) <= set(wire.OPS)
    assert 0.85 < fs.count("read") / len(fs) < 0.95
    assert {r.key for r in a} == {"r"}


def test_correct_store_is_valid(tmp_path: Path) -> None:
    history, results = run(tmp_path, "rw-register", Store("n1", None).handle)
    res = results["linearizable"]
    assert res.valid is True, (res.summary, [a.explanation for a in res.anomalies[:3]])
    assert sum(1 for op in history if op.type == "ok") >= 300


def test_reads_of_the_previous_value_are_not_linearizable(tmp_path: Path) -> None:
    store = Store("n1", None)
    written: list[Any] = [None]
    rng = random.Random(7)

    async def stale(req: dict[str, Any]) -> dict[str, Any]:
        if req["op"] == "read" and len(written) > 2 and rng.random() < 0.3:
            return wire.reply(req, written[-2])  # the value before the last acknowledged write
        resp = await store.handle(req)
        if req["op"] == "write":
            written.append(req["value"])
        return resp

    _, results = run(tmp_path, "rw-register", stale, concurrency=2)
    assert results["linearizable"].valid is False
