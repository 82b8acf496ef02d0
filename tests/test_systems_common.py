"""The shared node runtime: durable storage after a torn write, the state machine, peer links."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from splitbrain.backends.local.nodeproc import free_ports
from splitbrain.systems.common import (
    AppendLog,
    GroupCommitLog,
    PeerNet,
    StateMachine,
    atomic_write,
    read_json,
    tick_forever,
)
from splitbrain.systems.common.storage import CorruptStateError
from splitbrain.systems.raft.log import RaftLog


def test_append_log_drops_torn_last_record_and_keeps_appending(tmp_path):
    path = tmp_path / "log"
    log, recs = AppendLog.open(path)
    assert recs == []
    log.append([{"i": 1}, {"i": 2}])
    log.close()
    with open(path, "ab") as fh:  # a crash in the middle of the third record
        fh.write(b'0badcafe {"i":')
    log, recs = AppendLog.open(path)
    assert recs == [{"i": 1}, {"i": 2}]
    log.append([{"i": 3}])
    log.close()
    assert AppendLog.open(path)[1] == [{"i": 1}, {"i": 2}, {"i": 3}]


def test_append_log_stops_at_corrupt_record(tmp_path):
    path = tmp_path / "log"
    log, _ = AppendLog.open(path)
    log.append([{"i": 1}, {"i": 2}])
    log.close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # flip a bit inside the last record's body
    path.write_bytes(bytes(data))
    assert AppendLog.open(path)[1] == [{"i": 1}]


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "state.json"
    assert read_json(p, {"term": 0}) == {"term": 0}
    atomic_write(p, b'{"term": 3}')
    atomic_write(p, b'{"term": 4}')
    assert read_json(p) == {"term": 4}
    assert not (tmp_path / "state.json.tmp").exists()


def test_an_unsynced_state_file_a_power_loss_emptied_or_cut_reads_as_never_written(tmp_path):
    """Unsynced (a no-fsync bug), a power loss keeps the rename and drops the data: the node forgets
    its term and vote, as the bug says, instead of failing to start (a run then ended 255)."""
    p = tmp_path / "meta.json"
    for data in (b"", b"  \n", b'{"term": 7, "vo', b"\x00\x00\x00\x00", b'{"vote": "\xff'):
        p.write_bytes(data)
        assert read_json(p, {"term": 0, "vote": None}, sync=False) == {"term": 0, "vote": None}
    p.write_bytes(b'{"term": 7, "vote": "n2"}')
    assert read_json(p, {"term": 0}, sync=False) == {"term": 7, "vote": "n2"}
    # raft's no-fsync node restarts from such a file as one that never voted
    data = tmp_path / "raft"
    data.mkdir()
    (data / "raft-state.json").write_bytes(b'{"term": 7, "vo')
    rlog = RaftLog(str(data), fsync=False)
    assert (rlog.term, rlog.vote) == (0, None)


def test_a_synced_state_file_that_is_empty_or_cut_is_corruption_named_by_its_file(tmp_path):
    """fsync + rename never leaves a state file empty or cut, so a correct node that finds one must
    not forget the term and vote it promised: it stops, and one line names the file."""
    p = tmp_path / "meta.json"
    for data, problem in ((b"", "is empty"), (b"  \n", "is empty"), (b'{"term": 7, "vo', "is cut short or corrupt")):
        p.write_bytes(data)
        with pytest.raises(CorruptStateError, match=f"state file {re.escape(str(p))} {problem}") as err:
            read_json(p, {"term": 0, "vote": None})
        assert "\n" not in str(err.value)
    (tmp_path / "raft").mkdir()
    (tmp_path / "raft" / "raft-state.json").write_bytes(b"")
    with pytest.raises(CorruptStateError, match="raft-state.json is empty"):
        RaftLog(str(tmp_path / "raft"))


def test_state_machine_ops():
    m = StateMachine()
    assert m.apply({"op": "read", "key": "k"}, 1) == (True, None)
    assert m.apply({"op": "write", "key": "k", "value": 3}, 2) == (True, 3)
    assert m.apply({"op": "cas", "key": "k", "value": [2, 4]}, 3) == (False, "cas-mismatch")
    assert m.apply({"op": "cas", "key": "k", "value": [3, 4]}, 4) == (True, [3, 4])
    assert m.read("k") == 4
    for i, e in enumerate([10, 9, 10, 100]):
        assert m.apply({"op": "add", "key": "s", "value": e}, 5 + i) == (True, e)
    assert m.read("s") == [9, 10, 100]
    assert m.apply({"op": "incr", "key": "c", "value": 2}, 10) == (True, 2)
    assert m.apply({"op": "incr", "key": "c", "value": 5}, 11) == (True, 5)
    assert m.read("c") == 7
    assert m.apply({"op": "incr", "key": "c", "value": "x"}, 12) == (False, "bad-request")
    txn = [["append", "x", 1], ["r", "x", None], ["append", "x", 2], ["r", "x", None], ["r", "y", None]]
    assert m.apply({"op": "txn", "value": txn}, 13) == (
        True, [["append", "x", 1], ["r", "x", [1]], ["append", "x", 2], ["r", "x", [1, 2]], ["r", "y", None]]
    )
    assert m.apply({"op": "generate"}, 14) == (True, 14)
    assert m.apply({"op": "nope"}, 15) == (False, "unsupported")


def test_state_machine_is_deterministic():
    cmds = [{"op": "add", "key": "s", "value": v} for v in (5, 1, 3)] + [{"op": "write", "key": ["a", 1], "value": 2}]
    a, b = StateMachine(), StateMachine()
    for i, c in enumerate(cmds):
        assert a.apply(dict(c), i) == b.apply(dict(c), i)
    assert a.data == b.data


def test_peer_messages_are_one_way_and_survive_late_listener():
    async def main():
        got: dict[str, list] = {"a": [], "b": []}
        log = logging.getLogger("test")
        import socket

        ports = []
        for _ in range(2):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
            s.close()
        a = PeerNet("a", ("127.0.0.1", ports[0]), {"b": ("127.0.0.1", ports[1])}, got["a"].append, log)
        b = PeerNet("b", ("127.0.0.1", ports[1]), {"a": ("127.0.0.1", ports[0])}, got["b"].append, log)
        await a.start()
        a.send("b", {"type": "ping", "n": 1})  # b is not listening yet: queued, retried
        await asyncio.sleep(0.1)
        await b.start()
        for _ in range(100):
            if got["b"]:
                break
            await asyncio.sleep(0.05)
        b.send("a", {"type": "pong", "n": 1})
        for _ in range(100):
            if got["a"]:
                break
            await asyncio.sleep(0.05)
        await a.stop()
        await b.stop()
        return got

    got = asyncio.run(main())
    assert got["b"] == [{"type": "ping", "n": 1, "from": "a"}]
    assert got["a"] == [{"type": "pong", "n": 1, "from": "b"}]


def test_lossy_peer_net_drops_while_down_and_runs_async_handlers_as_tasks():
    async def main():
        pa, pb = free_ports(2)
        log = logging.getLogger("test")
        got: list[dict] = []
        release = asyncio.Event()

        async def slow(msg: dict) -> None:
            if msg["n"] == 1:
                await release.wait()  # a handler awaiting its fsync holds up nobody
            got.append(msg)

        a = PeerNet.lossy("a", ("127.0.0.1", pa), {"b": ("127.0.0.1", pb)}, lambda m: None, log)
        b = PeerNet.lossy("b", ("127.0.0.1", pb), {"a": ("127.0.0.1", pa)}, slow, log)
        await a.start()
        a.send("b", {"n": 0})  # b is not listening: lost, not queued
        await asyncio.sleep(0.3)
        await b.start()
        await asyncio.sleep(0.3)
        a.send("b", {"n": 1})
        a.send("b", {"n": 2})
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        release.set()
        await asyncio.sleep(0.1)
        await a.stop()
        await b.stop()
        return got

    got = asyncio.run(main())
    assert [m["n"] for m in got] == [2, 1]
    assert all(m["from"] == "a" for m in got)


def test_peer_net_overflow_policies():
    log = logging.getLogger("test")
    oldest = PeerNet("a", ("127.0.0.1", 0), {"b": ("127.0.0.1", 1)}, lambda m: None, log, queue_max=2)
    newest = PeerNet("a", ("127.0.0.1", 0), {"b": ("127.0.0.1", 1)}, lambda m: None, log, queue_max=2,
                     overflow="drop-newest")
    for net in (oldest, newest):
        for n in range(3):
            net.send("b", {"n": n})
    assert [b'"n":1' in m for m in oldest._queues["b"]] == [True, False]
    assert [b'"n":0' in m for m in newest._queues["b"]] == [True, False]
    assert oldest.dropped == newest.dropped == 1


def test_group_commit_log_shares_fsyncs_and_stops_at_a_torn_line(tmp_path):
    async def main():
        log = GroupCommitLog(tmp_path / "d" / "log.jsonl")
        await asyncio.gather(*(log.append([[i, {"v": i}]]) for i in range(5)))
        log.append_nowait([["x", 1]])
        log.close()

    asyncio.run(main())
    with open(tmp_path / "d" / "log.jsonl", "ab") as fh:
        fh.write(b'["torn"')
    assert GroupCommitLog(tmp_path / "d" / "log.jsonl").read() == [[i, {"v": i}] for i in range(5)] + [["x", 1]]


def test_tick_forever_survives_a_bad_tick(caplog):
    calls = []

    def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    async def main():
        t = asyncio.create_task(tick_forever(0.01, tick, logging.getLogger("test.tick")))
        await asyncio.sleep(0.1)
        t.cancel()

    with caplog.at_level(logging.ERROR, logger="test.tick"):
        asyncio.run(main())
    assert len(calls) > 2
    assert "tick failed: RuntimeError: boom" in caplog.text


def test_group_commit_log_cuts_a_torn_tail_so_later_records_survive_the_next_restart(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'[1]\n[2]\n["to')  # crashed mid-write

    async def restart_and_append(record):
        log = GroupCommitLog(path)
        await log.append([record])
        log.close()

    asyncio.run(restart_and_append([3]))
    assert GroupCommitLog(path).read() == [[1], [2], [3]]
    path.write_bytes(b'[1]\n[2]')  # torn exactly before the newline: parses, but is not whole
    asyncio.run(restart_and_append([3]))
    assert GroupCommitLog(path).read() == [[1], [3]]
