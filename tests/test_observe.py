"""What the harness records beside the history: messages in the link proxies, node states by polling.

Real proxies on loopback and real raft nodes started through the local backend; the
files are read back the way the report reads them.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest

from splitbrain.backends.base import ClusterSpec, PacketRule
from splitbrain.backends.local.backend import LocalBackend
from splitbrain.backends.local.proxy import LinkProxy, ProxyThread
from splitbrain.harness.nodestates import StatePoller, read_states
from splitbrain.harness.observe import Observers
from splitbrain.messages import LinkTap, parse_head, read_messages

pytestmark = pytest.mark.timeout(120)


def test_parse_head_reads_type_and_ids_of_each_system():
    assert parse_head(b'{"type":"append","term":4,"prev_idx":3,"seq":17,"entries":[]}\n') == \
        ("append", {"term": 4, "seq": 17})
    assert parse_head(b'{"t":"accept","b":[3,"n1"],"slot":9,"v":{"op":"write"}}\n') == ("accept", {"b": 3, "slot": 9})
    assert parse_head(b'{"t":"put","rid":12,"key":"k"}\n') == ("put", {"rid": 12})
    assert parse_head(b"\x00\x01binary\n") == ("?", None)


def test_tap_is_bounded_and_counts_what_it_sampled_away(tmp_path):
    tap = LinkTap(origin_ns=1000, max_records=3)
    for i in range(5):
        tap.record("a", "b", 2000 + i, None if i % 2 else 2500 + i, b'{"type":"x","seq":%d}\n' % i,
                   "partition" if i % 2 else None)
    s = tap.write(tmp_path / "m.jsonl")
    assert s["total"] == 5 and s["recorded"] == 3 and s["sampled_away"] == 2
    assert s["dropped"] == 2  # one recorded (i=1), one sampled away (i=3)
    recs = read_messages(tmp_path / "m.jsonl")
    assert [r.send_ns for r in recs] == [1000, 1001, 1002]
    assert recs[1].dropped and recs[1].fault == "partition" and recs[1].deliver_ns is None
    assert recs[0].ids == {"seq": 0} and recs[0].bytes == len(b'{"type":"x","seq":0}\n')


def test_proxy_records_delivered_delayed_and_cut_messages():
    async def go():
        got: list[bytes] = []

        async def sink(reader, writer):
            while line := await reader.readline():
                got.append(line)

        srv = await asyncio.start_server(sink, "127.0.0.1", 0)
        threads = ProxyThread()
        threads.start()
        tap = LinkTap(time.monotonic_ns())
        try:
            link = LinkProxy("n1", "n2", ("127.0.0.1", srv.sockets[0].getsockname()[1]), random.Random(1))
            link.tap = tap
            port = await threads.call(link.start())
            _, w = await asyncio.open_connection("127.0.0.1", port)

            async def send(i: int) -> None:
                w.write(json.dumps({"type": "append", "term": 2, "seq": i}).encode() + b"\n")
                await w.drain()
                await asyncio.sleep(0.01)

            for i in range(3):
                await send(i)
            link.set_rule(PacketRule(delay_ms=100))
            await send(3)
            deadline = time.monotonic() + 10
            while len(got) < 4 and time.monotonic() < deadline:  # the rule holds until the line went through
                await asyncio.sleep(0.01)
            link.set_rule(PacketRule())
            await threads.call(_set_cut(link, True))
            for i in range(4, 6):
                await send(i)
            await asyncio.sleep(0.2)
            assert len(got) == 4  # the cut ones never arrived
            w.close()
            await threads.call(link.stop())
        finally:
            threads.stop()
            srv.close()
        recs = tap.records()
        assert [r.ids["seq"] for r in recs] == [0, 1, 2, 3, 4, 5]
        assert all(r.type == "append" and r.src == "n1" and r.dest == "n2" for r in recs)
        assert [r.fault for r in recs] == [None, None, None, "delay", "partition", "partition"]
        assert [r.dropped for r in recs] == [False] * 4 + [True] * 2
        delayed = recs[3]
        assert delayed.deliver_ns is not None and delayed.send_ns is not None
        assert delayed.deliver_ns - delayed.send_ns >= 90_000_000

    asyncio.run(go())


async def _set_cut(link: LinkProxy, cut: bool) -> None:
    link.set_cut(cut)


def test_raft_nodes_report_status_and_the_run_files_are_written(tmp_path):
    """Three raft nodes: the poller sees one leader and followers of its term; a cut shows as
    dropped messages; a paused node shows as down."""
    from splitbrain.registry import SYSTEMS

    system = SYSTEMS.get("raft")

    async def go():
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=["n1", "n2", "n3"], run_dir=str(tmp_path), run_id="t"))
        obs = Observers(b, system, ["n1", "n2", "n3"], time.monotonic_ns(), tmp_path)
        try:
            assert obs.tap is not None and isinstance(obs.poller, StatePoller)
            await asyncio.sleep(2.0)
            await b.partition({"n1": {"n2"}})
            await asyncio.sleep(0.5)
            await b.pause("n3")
            await asyncio.sleep(1.5)
            await b.heal()
            await asyncio.sleep(0.5)
        finally:
            await obs.stop_polling()
            await b.teardown()
        return obs.finish()

    out = asyncio.run(go())
    m, s = out["messages"], out["node_states"]
    assert m["captured_by"] == "link proxies" and m["total"] > 20 and m["dropped"] > 0
    assert m["by_fault"].get("partition", 0) > 0 and {"append", "append_resp"} <= set(m["by_type"])
    assert s["recorded"] >= 3 and not s.get("no_status")
    states = read_states(tmp_path / "node-states.jsonl")
    leaders = {(st.node, st.term) for st in states if st.role == "leader"}
    assert leaders, states
    node, term = next(iter(leaders))
    assert any(st.role == "follower" and st.term == term and st.leader == node for st in states)
    assert any(st.node == "n3" and not st.up for st in states)  # paused: no answer
    recs = read_messages(tmp_path / "messages.jsonl")
    assert any(r.dropped and r.src == "n2" and r.dest == "n1" and r.fault == "partition" for r in recs)
    assert all(r.send_ns is not None and r.send_ns >= 0 for r in recs)


@pytest.mark.parametrize("name,roles,term_name", [("paxos", {"leader", "follower"}, "ballot"),
                                                  ("ring", {"member"}, "epoch")])
def test_paxos_and_ring_answer_status(tmp_path, name, roles, term_name):
    """Paxos elects a leader the others follow; ring nodes are members of epoch 0 and suspect no one."""
    from splitbrain.registry import SYSTEMS

    system = SYSTEMS.get(name)
    nodes = ["n1", "n2", "n3"]

    async def go():
        b = LocalBackend({})
        await b.setup(ClusterSpec(system=system, nodes=nodes, run_dir=str(tmp_path), run_id="t"))
        poller = StatePoller(nodes, b.client_address, time.monotonic_ns())
        try:
            poller.start()
            await asyncio.sleep(3.0)
        finally:
            await poller.stop()
            await b.teardown()
        return poller

    poller = asyncio.run(go())
    assert not poller.unsupported
    last = {}
    for st in poller.log.records:
        last[st.node] = st
    assert set(last) == set(nodes) and all(st.up for st in last.values())
    assert {st.role for st in last.values()} == roles, last
    assert all(st.extra.get("term_name") == term_name and st.term is not None for st in last.values())
    if name == "paxos":
        leader = next(n for n, st in last.items() if st.role == "leader")
        assert all(st.leader == leader for st in last.values())
    else:
        assert all(st.suspects == [] for st in last.values())
