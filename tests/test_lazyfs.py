"""The fault filesystem's semantics, on a real FUSE mount: what a crash keeps is what was fsync'd."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lazyfs_mount import fsync_dir, lazyfs, write

from splitbrain.backends.disk import mount as diskmount
from splitbrain.systems.common.storage import AppendLog, GroupCommitLog, atomic_write, read_json, write_json

pytestmark = pytest.mark.skipif(diskmount.unavailable() is not None, reason=str(diskmount.unavailable()))


def test_unsynced_write_is_gone_after_a_crash_and_fsynced_one_kept(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        write(mnt / "kept", b"durable", sync=True)
        fsync_dir(mnt)
        write(mnt / "kept", b" and more", mode="ab")  # appended, never fsync'd
        write(mnt / "new", b"x" * 100)  # a new file, nothing fsync'd
        assert (mnt / "kept").read_bytes() == b"durable and more"
        assert ctl({"cmd": "stats"})["unsynced_bytes"] == 109
        report = ctl({"cmd": "crash"})
        assert (report["dropped_bytes"], report["dropped_files"], report["undone_names"]) == (109, 2, 1)
        assert (mnt / "kept").read_bytes() == b"durable"
        assert not (mnt / "new").exists()
        assert ctl({"cmd": "stats"})["unsynced_bytes"] == 0


def test_with_kernel_caching_a_crash_is_visible_once_the_cache_expires(tmp_path):
    with lazyfs(tmp_path, cache_s=diskmount.KERNEL_CACHE_S) as (mnt, ctl):
        write(mnt / "kept", b"12345678", sync=True)
        fsync_dir(mnt)
        os.unlink(mnt / "kept")
        write(mnt / "gone", b"unsynced")
        assert sorted(os.listdir(mnt)) == ["gone"] and not (mnt / "kept").exists()  # both cached now
        with open(mnt / "gone", "ab") as fh:
            fh.write(b" and more")
        ctl({"cmd": "crash"})
        time.sleep(diskmount.CRASH_SETTLE_S)  # what the disk fault waits before restarting a node
        assert os.listdir(mnt) == ["kept"] and not (mnt / "gone").exists()
        assert os.stat(mnt / "kept").st_size == 8 and (mnt / "kept").read_bytes() == b"12345678"


def test_a_new_file_needs_its_directory_fsynced_too(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        write(mnt / "a", b"synced data, unsynced name", sync=True)
        os.mkdir(mnt / "d")
        write(mnt / "d" / "b", b"in a new dir", sync=True)
        fsync_dir(mnt / "d")  # b's name is durable in d, but d itself is not in the root
        ctl({"cmd": "crash"})
        assert os.listdir(mnt) == []
        write(mnt / "a", b"now durable", sync=True)
        fsync_dir(mnt)
        ctl({"cmd": "crash"})
        assert (mnt / "a").read_bytes() == b"now durable"


def test_ordered_names_become_durable_with_the_next_fsync_of_anything(tmp_path):
    """The journaling-filesystem rule (the default): one metadata log, committed by any fsync."""
    with lazyfs(tmp_path, names="ordered") as (mnt, ctl):
        os.mkdir(mnt / "member")
        write(mnt / "member" / "wal", b"entry", sync=True)  # commits the mkdir before it, too
        os.mkdir(mnt / "later")  # nothing fsync'd after this
        write(mnt / "member" / "db", b"page")
        report = ctl({"cmd": "crash"})
        assert report["undone_names"] == 2 and report["dropped_files"] == 1
        assert os.listdir(mnt) == ["member"] and os.listdir(mnt / "member") == ["wal"]
        assert (mnt / "member" / "wal").read_bytes() == b"entry"


def test_rename_is_durable_only_with_the_directory_fsync(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        atomic_write(mnt / "state", b"v1")
        atomic_write(mnt / "state", b"v2")
        write(mnt / "state.tmp", b"v3", sync=True)
        os.replace(mnt / "state.tmp", mnt / "state")  # no directory fsync
        assert (mnt / "state").read_bytes() == b"v3"
        report = ctl({"cmd": "crash"})
        assert report["undone_names"] == 2  # the rename and the temp file's creation
        assert (mnt / "state").read_bytes() == b"v2"
        assert sorted(os.listdir(mnt)) == ["state"]
        write_json(mnt / "meta", {"term": 3})
        ctl({"cmd": "crash"})
        assert read_json(mnt / "meta") == {"term": 3}


def test_truncation_and_overwrite_roll_back_to_the_synced_bytes(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        body = bytes(range(256)) * 4
        write(mnt / "f", body, sync=True)
        fsync_dir(mnt)
        with open(mnt / "f", "r+b") as fh:
            fh.seek(100)
            fh.write(b"OVERWRITTEN")
            fh.truncate(50)
            fh.seek(500)
            fh.write(b"past a hole")
        ctl({"cmd": "crash"})
        assert (mnt / "f").read_bytes() == body
        with open(mnt / "f", "r+b") as fh:
            fh.truncate(10)
            os.fsync(fh.fileno())
        ctl({"cmd": "crash"})
        assert (mnt / "f").read_bytes() == body[:10]


def test_unlink_comes_back_unless_the_directory_was_fsynced(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        write(mnt / "f", b"keep me", sync=True)
        os.mkdir(mnt / "d")
        fsync_dir(mnt)
        os.unlink(mnt / "f")
        os.rmdir(mnt / "d")
        assert os.listdir(mnt) == []
        ctl({"cmd": "crash"})
        assert sorted(os.listdir(mnt)) == ["d", "f"]
        assert (mnt / "f").read_bytes() == b"keep me"
        os.unlink(mnt / "f")
        fsync_dir(mnt)
        ctl({"cmd": "crash"})
        assert os.listdir(mnt) == ["d"]


def test_torn_write_keeps_a_prefix_of_the_last_unsynced_write_up_to_a_sector_boundary(tmp_path):
    record = bytes(range(256)) * 8  # 2,048 bytes from offset 7: sector boundaries at 512, 1024, 1536
    with lazyfs(tmp_path) as (mnt, ctl):
        write(mnt / "log", b"header\n", sync=True)
        fsync_dir(mnt)
        write(mnt / "log", record, mode="ab")
        report = ctl({"cmd": "crash", "torn": True, "seed": 7})
        torn = report["torn"]
        assert torn["path"] == "/log" and torn["offset"] == 7 and torn["of"] == len(record)
        assert torn["kept"] in (505, 1017, 1529) and (7 + torn["kept"]) % 512 == 0
        assert (mnt / "log").read_bytes() == b"header\n" + record[: torn["kept"]]
        assert report["dropped_bytes"] == len(record) - torn["kept"]


def test_a_torn_write_within_one_sector_is_lost_whole(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        write(mnt / "log", b"header\n", sync=True)
        fsync_dir(mnt)
        write(mnt / "log", b"0123456789abcdef\n", mode="ab")
        report = ctl({"cmd": "crash", "torn": True, "seed": 7})
        assert report["torn"]["kept"] == 0 and (mnt / "log").read_bytes() == b"header\n"


def test_append_log_drops_a_torn_record_after_a_torn_crash(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        log, _ = AppendLog.open(mnt / "wal")
        log.append([{"i": 1}, {"i": 2}])
        log.append([{"i": 3, "pad": "x" * 200}], sync=False)
        log.close()
        ctl({"cmd": "crash", "torn": True, "seed": 1})
        log, records = AppendLog.open(mnt / "wal")
        log.close()
        assert records == [{"i": 1}, {"i": 2}]


def test_a_synced_logs_batch_torn_across_two_writes_reads_as_its_synced_records(tmp_path):
    """A power loss during a batch the kernel passed on in two writes keeps a prefix of the second
    past a hole: intact records behind a bad one, yet nothing synced lost, so no CorruptStateError."""
    with lazyfs(tmp_path) as (mnt, ctl):
        path = mnt / "acceptor.jsonl"
        log = GroupCommitLog(path)
        asyncio.run(log.append([{"p": [1, "n1"]}]))
        log.close()
        batch = b"".join(b'{"a":[%d,[2,"n1"],"%s"]}\n' % (i, b"v" * 40) for i in range(60))
        with open(path, "ab", buffering=0) as fh:  # the batch a crash interrupted before its fsync
            fh.write(batch[: len(batch) // 2])
            fh.write(batch[len(batch) // 2 :])
        torn = ctl({"cmd": "crash", "torn": True, "seed": 3})["torn"]
        assert torn["kept"] > 600 and b"\0" in path.read_bytes()  # a hole, then whole records
        log = GroupCommitLog(path)
        log.close()
        assert log.read() == [{"p": [1, "n1"]}]


def test_fsync_error_fails_the_next_fsync_once_and_is_reported(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        assert ctl({"cmd": "fsync-error", "count": 1})["armed_fsync_errors"] == 1
        with open(mnt / "f", "wb") as fh:
            fh.write(b"data")
            fh.flush()
            with pytest.raises(OSError) as err:
                os.fsync(fh.fileno())
            assert err.value.errno == errno.EIO
            os.fsync(fh.fileno())  # once only
        stats = ctl({"cmd": "stats"})
        assert [f["path"] for f in stats["failed_fsyncs"]] == ["/f"] and stats["armed_fsync_errors"] == 0


def test_slow_fsync_delays_each_fsync(tmp_path):
    with lazyfs(tmp_path) as (mnt, ctl):
        ctl({"cmd": "slow-fsync", "delay_ms": 150})
        start = time.monotonic()
        write(mnt / "f", b"x", sync=True)
        assert time.monotonic() - start >= 0.15
        ctl({"cmd": "clear"})
        assert ctl({"cmd": "stats"})["fsync_delay_ms"] == 0


NAMES = ("a", "b", "c")
OPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.integers(0, 40), st.binary(min_size=1, max_size=30)),
    st.tuples(st.just("truncate"), st.sampled_from(NAMES), st.integers(0, 60)),
    st.tuples(st.just("fsync"), st.sampled_from(NAMES)),
    st.tuples(st.just("fsyncdir")),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("unlink"), st.sampled_from(NAMES)),
    st.tuples(st.just("crash")),
)


class Model:
    """POSIX durability, brute force: inodes with current and durable bytes, names current and durable."""

    def __init__(self, names: str) -> None:
        self.ordered = names == "ordered"  # any fsync commits every name change (one metadata journal)
        self.inodes: dict[int, list[bytes]] = {}  # id -> [current, durable]
        self.names: dict[str, int] = {}
        self.durable_names: dict[str, int] = {}

    def apply(self, op: tuple, mnt: Path) -> None:
        kind, *args = op
        if kind == "write":
            name, off, data = args
            if name not in self.names:
                self.names[name] = len(self.inodes)
                self.inodes[self.names[name]] = [b"", b""]
            ino = self.inodes[self.names[name]]
            cur = ino[0].ljust(off, b"\0")
            ino[0] = cur[:off] + data + cur[off + len(data):]
            fd = os.open(mnt / name, os.O_RDWR | os.O_CREAT, 0o644)
            os.pwrite(fd, data, off)
            os.close(fd)
        elif kind == "truncate" and args[0] in self.names:
            ino = self.inodes[self.names[args[0]]]
            ino[0] = ino[0][: args[1]].ljust(args[1], b"\0")
            os.truncate(mnt / args[0], args[1])
        elif kind == "fsync" and args[0] in self.names:
            ino = self.inodes[self.names[args[0]]]
            ino[1] = ino[0]
            if self.ordered:
                self.durable_names = dict(self.names)
            fd = os.open(mnt / args[0], os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        elif kind == "fsyncdir":
            self.durable_names = dict(self.names)
            fsync_dir(mnt)
        elif kind == "rename" and args[0] in self.names and args[0] != args[1]:
            self.names[args[1]] = self.names.pop(args[0])
            os.rename(mnt / args[0], mnt / args[1])
        elif kind == "unlink" and args[0] in self.names:
            del self.names[args[0]]
            os.unlink(mnt / args[0])

    def crash(self) -> None:
        self.names = dict(self.durable_names)
        for ino in self.inodes.values():
            ino[0] = ino[1]

    def view(self) -> dict[str, bytes]:
        return {n: self.inodes[i][0] for n, i in self.names.items()}


def _view(mnt: Path) -> dict[str, bytes]:
    return {n: (mnt / n).read_bytes() for n in os.listdir(mnt)}


@pytest.mark.parametrize("names", ["posix", "ordered"])
def test_any_sequence_of_operations_survives_a_crash_as_the_rule_promises(tmp_path, names):
    """Brute-force model check: after every op and every crash the mount equals the model."""
    with lazyfs(tmp_path, names=names) as (mnt, ctl):

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(OPS, max_size=25))
        def check(ops: list[tuple]) -> None:
            for n in os.listdir(mnt):
                os.unlink(mnt / n)
            fsync_dir(mnt)
            ctl({"cmd": "crash"})
            model = Model(names)
            for op in [*ops, ("crash",)]:
                if op[0] == "crash":
                    ctl({"cmd": "crash"})
                    model.crash()
                else:
                    model.apply(op, mnt)
                assert _view(mnt) == model.view(), op

        check()


def test_a_freezing_crash_rolls_back_then_fails_every_change_with_eio(tmp_path):
    """The docker backend's power loss: the node still runs until its container is killed, so after
    the rollback nothing it writes may land (a write or fsync then is EIO, never a wait: a process
    inside a FUSE request the daemon holds could not be killed)."""
    with lazyfs(tmp_path) as (mnt, ctl):
        write(mnt / "kept", b"durable", sync=True)
        fsync_dir(mnt)
        fh = open(mnt / "kept", "ab")  # noqa: SIM115 - open across the crash, as a node's log is
        try:
            fh.write(b" unsynced")
            fh.flush()
            report = ctl({"cmd": "crash", "freeze": True})
            assert report["frozen"] is True and report["dropped_bytes"] == 9
            with pytest.raises(OSError) as e:
                fh.write(b" after the power went")
                fh.flush()
            assert e.value.errno == errno.EIO
            with pytest.raises(OSError) as e:
                os.fsync(fh.fileno())
            assert e.value.errno == errno.EIO
            with pytest.raises(OSError) as e:
                write(mnt / "new", b"x")
            assert e.value.errno == errno.EIO
        finally:
            with contextlib.suppress(OSError):
                fh.close()
        assert (tmp_path / "data.disk" / "kept").read_bytes() == b"durable"
        assert not (tmp_path / "data.disk" / "new").exists()


def test_failed_fsyncs_outlive_the_daemon_in_its_events_file(tmp_path):
    """In a container the daemon dies with a node that stopped on the injected EIO: the next one
    still knows which fsync failed (the fault reports it)."""
    from splitbrain.backends.disk.lazyjournal import Journal

    backing, events = tmp_path / "b", tmp_path / "events.jsonl"
    backing.mkdir()
    j = Journal(str(backing), str(tmp_path / "t"), events=str(events))
    fd = os.open(backing / "f", os.O_RDWR | os.O_CREAT)
    try:
        j.fail_next_fsyncs = 1
        with pytest.raises(OSError) as e:
            j.fsync(fd, "/f")
        assert e.value.errno == errno.EIO
        j.fsync(fd, "/f")  # once only
    finally:
        os.close(fd)
    j.close()
    again = Journal(str(backing), str(tmp_path / "t"), events=str(events))
    assert [f["path"] for f in again.failed_fsyncs] == ["/f"] and again.failed_fsyncs[0]["fsync"] == 1
