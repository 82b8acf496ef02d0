"""set, counter, unique-ids and list-append workloads, end to end over the real wire.

Each workload's request stream is driven by the harness's real client workers
against a real wire server (memkv's store, in process) and judged by the
workload's own checkers: a correct store must come out valid, and a store with
a planted bug (dropped adds, doubled increments, recycled ids, dropped appends,
stale transactional reads) must come out invalid with the expected anomaly.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from splitbrain.harness import generator as g
from splitbrain.harness.client import Recorder, Workers
from splitbrain.harness.verdict import check
from splitbrain.history import HistoryWriter, read_jsonl
from splitbrain.registry import SYSTEMS, WORKLOADS
from splitbrain.systems import wire
from splitbrain.systems.memkv.__main__ import Store
from splitbrain.workloads.base import Request

WORKLOAD_NAMES = ["set", "counter", "unique-ids", "list-append", "txn-rw-register"]


async def _drive(tmp_path: Path, workload: Any, handler: Any, n: int, seed: int, concurrency: int) -> Any:
    server = await wire.serve_clients("127.0.0.1", 0, handler, "n1")
    port = server.sockets[0].getsockname()[1]
    writer = HistoryWriter(tmp_path / "history.jsonl")
    workers = Workers(system=SYSTEMS.get("memkv"), workload=workload, recorder=Recorder(writer), nodes=["n1"],
                      address=lambda _n: ("127.0.0.1", port), concurrency=concurrency, op_timeout_s=2.0)
    try:
        rng = random.Random(seed)
        await workers.run(g.FromIter(itertools.islice(workload.requests(rng), n)))
        for req in workload.final_requests(rng):
            client = SYSTEMS.get("memkv").client("127.0.0.1", port)
            await workers.invoke(client, workers.fresh_process(), "n1", req)
            await client.close()
    finally:
        await asyncio.sleep(0.05)  # let retired clients close before the server goes
        server.close()
        writer.close()
    return read_jsonl(tmp_path / "history.jsonl")


SEED = 1


def run(tmp_path: Path, name: str, handler: Any, n: int = 300, seed: int | None = None, concurrency: int = 5):
    seed = SEED if seed is None else seed
    workload = WORKLOADS.get(name)
    history = asyncio.run(_drive(tmp_path, workload, handler, n, seed, concurrency))
    results = check(history, workload.checkers(), 30.0)
    return history, results


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_correct_store_is_valid(tmp_path: Path, name: str) -> None:
    history, results = run(tmp_path, name, Store("n1", None).handle)
    main = results[WORKLOADS.get(name).checkers()[0].key]
    assert main.valid is True, (main.summary, [a.explanation for a in main.anomalies[:3]])
    assert results["perf"].valid is True
    assert sum(1 for op in history if op.type == "ok") >= 300
    history.calls()  # structurally sound


def _wrap(store: Store, change) -> Any:
    async def handler(req: dict[str, Any]) -> dict[str, Any]:
        out = change(req)
        return out if out is not None else await store.handle(req)
    return handler


def test_dropped_adds_are_lost(tmp_path: Path) -> None:
    store = Store("n1", None)

    def drop(req):
        if req["op"] == "add" and req["value"] % 7 == 3:
            return wire.reply(req, req["value"])  # acknowledged, never stored
        return None

    _, results = run(tmp_path, "set", _wrap(store, drop))
    assert results["set"].valid is False
    assert {a.kind for a in results["set"].anomalies} == {"lost"}


def test_doubled_increments_are_out_of_bounds(tmp_path: Path) -> None:
    store = Store("n1", None)
    n = itertools.count()

    def double(req):
        if req["op"] == "incr" and next(n) % 10 == 0:
            asyncio.get_running_loop().create_task(store.handle(dict(req)))  # applied twice
        return None

    _, results = run(tmp_path, "counter", _wrap(store, double))
    assert results["counter"].valid is False
    assert results["counter"].anomalies[0].kind == "out-of-bounds"


def test_recycled_ids_are_duplicates(tmp_path: Path) -> None:
    n = itertools.count()
    _, results = run(tmp_path, "unique-ids", lambda req: _reply(wire.reply(req, next(n) % 250)))
    assert results["unique-ids"].valid is False and results["unique-ids"].anomalies[0].kind == "duplicate"


async def _reply(resp: dict[str, Any]) -> dict[str, Any]:
    return resp


def test_dropped_appends_are_lost(tmp_path: Path) -> None:
    store = Store("n1", None)

    def drop(req):
        if req["op"] == "txn" and any(m[0] == "append" and m[2] == 5 for m in req["value"]):
            return wire.reply(req, [[f, k, v] if f == "append" else [f, k, None] for f, k, v in req["value"]])
        return None

    _, results = run(tmp_path, "list-append", _wrap(store, drop))
    res = results["list-append"]
    # Elle's rule: an append no read shows comes after the last version read, so the acknowledged,
    # never-applied append is ordered after appends that began once it had completed: a real-time cycle.
    assert res.valid is False and any(a.kind.endswith("-realtime") for a in res.anomalies), res.summary


def test_stale_transactional_reads_make_realtime_cycles(tmp_path: Path) -> None:
    store = Store("n1", None)
    snapshots: list[dict[Any, Any]] = []

    async def stale(req: dict[str, Any]) -> dict[str, Any]:
        if req["op"] == "txn" and all(m[0] == "r" for m in req["value"]) and len(snapshots) > 3:
            old = snapshots[-3]  # answer read-only txns from a state three txns old
            return wire.reply(req, [["r", k, list(old.get(("list", k), [])) or None] for _, k, _ in req["value"]])
        resp = await store.handle(req)
        snapshots.append(copy.deepcopy(store.data))
        return resp

    _, results = run(tmp_path, "list-append", stale, concurrency=2)
    res = results["list-append"]
    assert res.valid is False
    assert any(a.kind.endswith("-realtime") for a in res.anomalies), res.summary


# ----------------------------------------------------------------------------- request streams


@pytest.mark.parametrize("name", WORKLOAD_NAMES)
def test_streams_are_reproducible_from_the_seed(name: str) -> None:
    w = WORKLOADS.get(name)
    a = list(itertools.islice(w.requests(random.Random(5)), 200))
    b = list(itertools.islice(w.requests(random.Random(5)), 200))
    assert a == b and all(isinstance(r, Request) for r in a)
    assert set(w.ops) <= set(wire.OPS)
    for r in a:
        op, _, _ = w.to_wire(r)
        assert op in w.ops


def test_set_elements_unique_and_final_read_per_key() -> None:
    w = WORKLOADS.get("set")
    adds = [r.value for r in itertools.islice(w.requests(random.Random(1)), 2000) if r.f == "add"]
    assert len(adds) == len(set(adds)) > 1500
    assert w.final_requests(random.Random(1)) == [Request("read", None, "s")]
    assert w.from_wire(Request("read", None, "s"), None) == []


def test_counter_records_add_but_sends_incr() -> None:
    w = WORKLOADS.get("counter")
    reqs = list(itertools.islice(w.requests(random.Random(1)), 500))
    assert {r.f for r in reqs} == {"add", "read"}
    assert all(1 <= r.value <= 5 for r in reqs if r.f == "add")
    assert w.to_wire(Request("add", 3, "c")) == ("incr", "c", 3)
    assert w.from_wire(Request("read", None, "c"), None) == 0


def test_list_append_values_unique_per_key_and_keys_rotate() -> None:
    w = WORKLOADS.get("list-append")
    seen: set[tuple[int, int]] = set()
    keys: set[int] = set()
    for r in itertools.islice(w.requests(random.Random(3)), 3000):
        assert r.f == "txn" and 1 <= len(r.value) <= 4
        for f, k, v in r.value:
            keys.add(k)
            if f == "append":
                assert (k, v) not in seen
                seen.add((k, v))
            else:
                assert v is None
    per_key = {k: sum(1 for kk, _ in seen if kk == k) for k in keys}
    assert max(per_key.values()) <= 32 and len(keys) > 20


def test_stale_set_reads_are_anomalies_for_the_workload(tmp_path: Path) -> None:
    store = Store("n1", None)
    lagging: list[Any] = []

    async def stale(req: dict[str, Any]) -> dict[str, Any]:
        if req["op"] == "read" and len(lagging) > 20 and req["id"] % 2:
            return wire.reply(req, lagging[-20])  # a set as it was twenty adds ago
        resp = await store.handle(req)
        if req["op"] == "add":
            lagging.append(sorted(store.data.get("s", ())))
        return resp

    _, results = run(tmp_path, "set", stale, n=600)
    assert results["set"].valid is False
    assert "stale" in {a.kind for a in results["set"].anomalies}
