"""The local backend with real processes: proxies, partitions, kill, pause, clocks, cleanup.

Nodes are ``tests/peer_node.py``: each gossips a sequence number to every peer
through the link proxies every 50 ms, so "n1 hears n2" is a direct
measurement of the link n2 -> n1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from peer_cluster import ask, eventually, gone, hears, spec

from splitbrain.backends.base import PacketRule
from splitbrain.backends.local.backend import LocalBackend, proc_state
from splitbrain.errors import NodeStartError

pytestmark = pytest.mark.timeout(120)


def test_partition_cuts_exactly_the_grudge_links_and_heal_restores_them(tmp_path):
    async def go():
        b = LocalBackend({})
        await b.setup(spec(tmp_path))
        try:
            names = ["n1", "n2", "n3"]
            for a in names:
                for p in names:
                    if a != p:
                        assert await eventually(lambda a=a, p=p: hears(b, a, p)), f"{a} never heard {p}"
            v = await b.verify()
            assert v.cut == [] and v.details["bypass"] == {} and v.details["proxies_alive"]
            assert all(link.forwarded_bytes > 0 for link in v.links.values())

            await b.partition({"n1": {"n2"}})  # n1 drops n2's messages: link n2 -> n1 cut
            await asyncio.sleep(1.5)
            assert not await hears(b, "n1", "n2", fresh_s=1.0)
            assert await hears(b, "n1", "n3") and await hears(b, "n2", "n1") and await hears(b, "n3", "n2")
            v = await b.verify()
            assert v.cut == [["n2", "n1"]] and v.leaking == []
            assert v.links["n2->n1"].counters["dropped_msgs"] > 0

            # A restarted sender opens fresh connections: they must be cut too.
            await b.kill("n2")
            await b.start("n2")
            assert await eventually(lambda: hears(b, "n3", "n2"))
            await asyncio.sleep(1.0)
            assert not await hears(b, "n1", "n2", fresh_s=1.5)
            assert (await b.verify()).leaking == []

            await b.heal()
            assert await eventually(lambda: hears(b, "n1", "n2"))
            v = await b.verify()
            assert v.cut == [] and v.degraded == [] and v.paused == [] and v.killed == []
        finally:
            await b.teardown()

    asyncio.run(go())


def test_kill_restart_pause_and_clock_skew(tmp_path):
    async def go():
        b = LocalBackend({})
        await b.setup(spec(tmp_path, 2))
        try:
            data = Path(b.nodes["n1"].config.data_dir)
            (data / "marker").write_text("kept")
            port = b.client_address("n1")
            old = b.nodes["n1"].proc.pid
            await b.kill("n1")
            assert gone(old) and (await b.verify()).killed == ["n1"]
            await b.start("n1")
            assert b.client_address("n1") == port and (data / "marker").read_text() == "kept"
            assert b.nodes["n1"].proc.pid != old

            await b.pause("n2")
            assert proc_state(b.nodes["n2"].proc.pid) == "T" and (await b.verify()).paused == ["n2"]
            await asyncio.sleep(0.6)
            assert not await hears(b, "n1", "n2", fresh_s=0.5)
            await b.resume("n2")
            assert await eventually(lambda: hears(b, "n1", "n2"))

            await b.clock("n1", 120.0)
            mono0 = time.monotonic()
            c = await ask(b, "n1", "clock")
            assert abs(c["time"] - time.time() - 120.0) < 2.0
            assert abs(c["monotonic"] - mono0) < 2.0  # CLOCK_MONOTONIC is system-wide and untouched
            await asyncio.sleep(0.3)  # sleeps and asyncio keep working under libfaketime
            v = await b.verify()
            assert v.clock == {"n1": 120.0} and v.faketime["n1"] is True
            await b.clock("n1", -30.0)
            c = await ask(b, "n1", "clock")
            assert abs(c["time"] - time.time() + 30.0) < 2.0

            await b.kill("n2")
            await b.pause("n1")
            await b.heal()
            v = await b.verify()
            assert v.killed == [] and v.paused == [] and v.clock == {}
            c = await ask(b, "n1", "clock")
            assert abs(c["time"] - time.time()) < 2.0
        finally:
            await b.teardown()
        assert all(gone(n.proc.pid) for n in b.nodes.values())

    asyncio.run(go())


def test_packet_loss_and_delay_on_one_link(tmp_path):
    async def go():
        b = LocalBackend({})
        await b.setup(spec(tmp_path, 2))
        try:
            assert await eventually(lambda: hears(b, "n1", "n2"))
            await b.packet([("n2", "n1")], PacketRule(loss=1.0))
            await asyncio.sleep(1.0)
            assert not await hears(b, "n1", "n2", fresh_s=0.8) and await hears(b, "n2", "n1")
            v = await b.verify()
            assert v.degraded == [["n2", "n1"]] and v.links["n2->n1"].counters["dropped_msgs"] > 0
            await b.packet([("n2", "n1")], PacketRule(delay_ms=400, jitter_ms=50))
            await asyncio.sleep(1.0)
            # the stream flows again, each message about 0.4 s late
            heard0 = (await ask(b, "n1", "heard"))["n2"][0]
            fwd0 = (await b.verify()).links["n2->n1"].counters["forwarded_msgs"]
            assert await eventually(lambda: hears(b, "n1", "n2", fresh_s=1.0))
            await asyncio.sleep(0.5)
            assert (await ask(b, "n1", "heard"))["n2"][0] > heard0
            assert (await b.verify()).links["n2->n1"].counters["forwarded_msgs"] > fwd0
            await b.heal()
            assert (await b.verify()).degraded == []
        finally:
            await b.teardown()

    asyncio.run(go())


def test_node_that_exits_at_start_is_named_with_its_log_tail(tmp_path):
    b = LocalBackend({})
    with pytest.raises(NodeStartError) as err:
        asyncio.run(b.setup(spec(tmp_path, 2, exit_at_start=True)))
    assert err.value.node in ("n1", "n2") and "planted failure" in str(err.value)
    assert all(gone(n.proc.pid) for n in b.nodes.values() if n.proc is not None)
    asyncio.run(b.teardown())  # idempotent after a failed setup


def test_killed_control_process_leaves_no_node_behind(tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from peer_cluster import spec
        from splitbrain.backends.local.backend import LocalBackend
        import pathlib
        async def main():
            b = LocalBackend({{}})
            await b.setup(spec(pathlib.Path({str(tmp_path)!r}), 2))
            print(" ".join(str(n.proc.pid) for n in b.nodes.values()), flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
    """)
    ctl = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                           cwd=str(Path(__file__).parent.parent))
    try:
        pids = [int(p) for p in ctl.stdout.readline().split()]
        assert len(pids) == 2 and not any(gone(p) for p in pids)
    finally:
        os.kill(ctl.pid, signal.SIGKILL)
        ctl.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.05)
    assert all(gone(p) for p in pids)


def test_verify_spots_peer_traffic_that_bypasses_the_proxies(tmp_path):
    async def go():
        b = LocalBackend({})
        await b.setup(spec(tmp_path, 2))
        try:
            assert (await b.verify()).details["bypass"] == {}
            # A connection straight to n1's peer port, as a node ignoring its peer map would open.
            _, w = await asyncio.open_connection("127.0.0.1", b.nodes["n1"].config.peer_port)
            w.write(b'{"from": "n2", "seq": 1}\n')
            await w.drain()
            assert (await b.verify()).details["bypass"] == {"n1": 1}
            w.close()
        finally:
            await b.teardown()

    asyncio.run(go())


def test_node_log_is_capped(tmp_path):
    import threading

    from splitbrain.backends.local.nodeproc import pump_log

    r, w = os.pipe()
    path = tmp_path / "node.log"
    t = threading.Thread(target=pump_log, args=(os.fdopen(r, "rb"), str(path), 1000))
    t.start()
    for i in range(200):
        os.write(w, f"{i:09d} a log line\n".encode())
    os.close(w)
    t.join(10)
    text = path.read_text()
    older = (tmp_path / "node.log.1").read_text()
    assert text.rstrip().endswith("000000199 a log line"), "the newest lines are kept"
    assert "log rotated at 500 bytes" in text and "000000000 a log line" not in older + text
    assert len(text) + len(older) < 1000 + 200


def test_teardown_without_setup_is_harmless():
    b = LocalBackend({})
    asyncio.run(b.teardown())
    asyncio.run(b.teardown())


def test_proxy_delays_each_line_and_keeps_their_order():
    import random

    from splitbrain.backends.local.proxy import LinkProxy, ProxyThread

    async def go():
        got: list[tuple[float, int]] = []

        async def sink(reader, writer):
            while line := await reader.readline():
                got.append((time.monotonic(), int(line)))

        srv = await asyncio.start_server(sink, "127.0.0.1", 0)
        threads = ProxyThread()
        threads.start()
        try:
            link = LinkProxy("a", "b", ("127.0.0.1", srv.sockets[0].getsockname()[1]), random.Random(1))
            port = await threads.call(link.start())
            link.set_rule(PacketRule(delay_ms=200, jitter_ms=150))
            _, w = await asyncio.open_connection("127.0.0.1", port)
            sent = {}
            for i in range(40):
                sent[i] = time.monotonic()
                w.write(f"{i}\n".encode())
                await w.drain()
                await asyncio.sleep(0.005)
            deadline = time.monotonic() + 10
            while len(got) < 40 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert [i for _, i in got] == list(range(40))  # jitter never reorders a stream
            lags = [t - sent[i] for t, i in got]
            assert min(lags) >= 0.045 and statistics.mean(lags) >= 0.15
            w.close()
            await threads.call(link.stop())
        finally:
            threads.stop()
            srv.close()

    asyncio.run(go())


def test_local_backend_is_a_backend():
    from splitbrain.backends.base import Backend
    from splitbrain.registry import BACKENDS

    assert BACKENDS.get("local") is LocalBackend
    assert isinstance(LocalBackend({}), Backend)


def test_a_leased_port_is_never_handed_to_another_run_until_released():
    """Two runs on one machine: the ports one holds (its killed nodes' too) are skipped by the other."""
    from splitbrain.backends.local.nodeproc import PortLease, free_ports

    first, second = PortLease(), PortLease()
    try:
        ports = free_ports(6, first)
        assert len(set(ports)) == 6
        assert not any(second.take(p) for p in ports)  # held by the first run, though nothing listens
        first.release()
        assert all(second.take(p) for p in ports)
        assert not set(free_ports(20, first)) & set(ports)
    finally:
        first.release()
        second.release()
