"""A synced append-only log may lose only its last batch: a bad record before intact ones stops the node.

Every writer here fsyncs a batch before the next begins (unless a seeded no-fsync bug says
otherwise), so a crash can damage only the batch whose fsync never returned: cut short by a
process crash, or, by a power loss, with some of its sectors never written (NUL bytes past the
old end of the file). Anything else before an intact record is the disk breaking a promise, and
reading on from the first bad record would silently drop acknowledged records after it.
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import start_until_serving
from test_paxos_cluster import Cluster

from splitbrain.backends.disk.lazyjournal import Journal
from splitbrain.systems.common import AppendLog, GroupCommitLog
from splitbrain.systems.common.storage import CorruptStateError
from splitbrain.systems.raft.log import RaftLog

#: three records, the second flipped to garbage of the same length (a bit rot, a misdirected write)
LINES = [b'{"p":[1,"n1"]}\n', b'{"p":[2,"n2"]}\n', b'{"p":[3,"n3"]}\n']
BAD = b'{"p":[2,"n2"]x\n'


def open_group(path: Path, sync: bool) -> list:
    log = GroupCommitLog(path, sync)
    log.close()
    return log.read()


def open_append(path: Path, sync: bool) -> list:
    log, records = AppendLog.open(path, sync)
    log.close()
    return records


def append_log_lines(tmp_path: Path, raft: bool = False) -> list[bytes]:
    """Three records in AppendLog's checksummed format: those of :data:`LINES`, or raft entries."""
    log, _ = AppendLog.open(tmp_path / "scratch")
    log.append([{"i": i, "t": 1, "c": {"op": "write"}} if raft else {"p": [i, f"n{i}"]} for i in (1, 2, 3)])
    log.close()
    lines = (tmp_path / "scratch").read_bytes().splitlines(keepends=True)
    (tmp_path / "scratch").unlink()
    return lines


@pytest.mark.parametrize("kind", ["group", "append"])
def test_a_synced_log_with_a_bad_record_before_intact_ones_names_file_record_and_byte(tmp_path, kind):
    lines = LINES if kind == "group" else append_log_lines(tmp_path)
    bad = BAD if kind == "group" else lines[1][:-3] + b"x" + lines[1][-2:]
    path = tmp_path / "log"
    path.write_bytes(lines[0] + bad + lines[2])
    with pytest.raises(CorruptStateError) as err:
        (open_group if kind == "group" else open_append)(path, True)
    assert re.fullmatch(rf"log file {re.escape(str(path))}: record 2 at byte {len(lines[0])} is unreadable \(.+\), "
                        r"yet intact records follow it; every append to it was fsync'd, so only its last batch may "
                        r"be cut", str(err.value)), str(err.value)
    assert path.read_bytes() == lines[0] + bad + lines[2]  # nothing cut: the evidence stays for a human


@pytest.mark.parametrize("kind", ["group", "append"])
def test_an_unsynced_log_still_forgets_everything_from_its_first_bad_record(tmp_path, kind):
    """A no-fsync bug's log after a power loss: what it never synced is forgotten, as the bug says."""
    lines = LINES if kind == "group" else append_log_lines(tmp_path)
    path = tmp_path / "log"
    path.write_bytes(lines[0] + BAD + lines[2])
    assert len((open_group if kind == "group" else open_append)(path, False)) == 1
    assert path.read_bytes() == lines[0]


def test_a_synced_logs_torn_tail_is_dropped_and_cut_off(tmp_path):
    """A crash during the last append: bad lines up to the end, nothing intact after them."""
    path = tmp_path / "log"
    for tail in (b'{"p":[3,', b'{"p":[3,"n3"]}', BAD + b'{"p":[3,', BAD + b"garbage\n"):
        path.write_bytes(LINES[0] + tail)
        assert open_group(path, True) == [{"p": [1, "n1"]}]
        assert path.read_bytes() == LINES[0]


def test_a_synced_logs_last_batch_with_never_written_sectors_is_a_torn_tail(tmp_path):
    """A power loss during a batch that reached the disk in several writes: the file goes back to
    its synced size, then a prefix of the newest write lands past a hole of NULs, intact records
    and all. The lazyfs model itself makes the file; none of that batch was ever acknowledged."""
    synced = b"".join(LINES)
    batch = b"".join(b'{"a":[%d,[9,"n1"],"%s"]}\n' % (i, b"v" * 40) for i in range(60))
    backing = tmp_path / "backing"
    backing.mkdir()
    seen_intact_after_hole = False
    for seed in range(8):
        path = backing / "log"
        path.write_bytes(synced)
        journal = Journal(str(backing), str(tmp_path / "trash"))
        with open(path, "r+b") as fh:
            fd = fh.fileno()
            half = len(batch) // 2
            journal.write(fd, "/log", batch[:half], len(synced))  # one batch, two writes (FUSE splits them)
            journal.write(fd, "/log", batch[half:], len(synced) + half)
            report = journal.crash(random.Random(seed), torn=True)
        data = path.read_bytes()
        assert data.startswith(synced) and report.torn is not None
        if report.torn["kept"]:
            assert data[len(synced)] == 0
            seen_intact_after_hole |= any(line in data[len(synced) + half:] for line in batch.splitlines(keepends=True))
        assert open_group(path, True) == [{"p": [i, f"n{i}"]} for i in (1, 2, 3)]
        assert path.read_bytes() == synced
    assert seen_intact_after_hole


def test_a_raft_log_is_read_as_it_was_written(tmp_path):
    lines = append_log_lines(tmp_path, raft=True)
    for fsync in (True, False):
        (tmp_path / "raft").mkdir(exist_ok=True)
        (tmp_path / "raft" / "raft-log").write_bytes(lines[0] + lines[1][:-3] + b"x" + lines[1][-2:] + lines[2])
        if fsync:
            with pytest.raises(CorruptStateError, match=r"raft-log: record 2 at byte \d+ is unreadable"):
                RaftLog(str(tmp_path / "raft"))
        else:
            assert RaftLog(str(tmp_path / "raft"), fsync=False).last_index == 1  # the no-fsync bug forgets


@pytest.mark.parametrize("bug", [None, "acceptor-no-fsync"])
def test_a_paxos_node_with_a_bad_acceptor_record_before_intact_ones_stops_naming_it(tmp_path, bug):
    """A correct acceptor fsyncs every promise: finding one unreadable before intact ones, it exits 1
    with one line naming the log, record and byte instead of forgetting the promises after it. The
    no-fsync bug's acceptor restarts from the records before it, as a power loss leaves it."""
    c = Cluster("paxos", tmp_path, n=3, bug=bug)
    config = c.configs["n1"]
    data = Path(config.data_dir)
    data.mkdir(parents=True)
    (data / "acceptor.jsonl").write_bytes(LINES[0] + BAD + LINES[2])
    if bug is None:
        p = subprocess.run([sys.executable, "-m", "splitbrain.systems.paxos", "--config", config.to_json()],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert p.stderr.strip().splitlines() == [
            f"error: node n1: log file {data}/acceptor.jsonl: record 2 at byte {len(LINES[0])} is unreadable "
            "(Expecting ',' delimiter: line 1 column 14 (char 13)), yet intact records follow it; every append "
            "to it was fsync'd, so only its last batch may be cut"], p.stderr
        return
    try:
        start_until_serving(c, "n1", config.log_file)
        assert "restored promise [1, 'n1']" in c.log("n1")
    finally:
        c.__exit__(None, None, None)


def test_group_commit_appends_after_reading_a_synced_log_survive_the_next_restart(tmp_path):
    """The strict read does not change the happy path: records appended after a torn tail was cut
    are read back on the next start."""
    path = tmp_path / "log"
    path.write_bytes(LINES[0] + b'{"p":[2,')

    async def append() -> None:
        log = GroupCommitLog(path)
        await log.append([{"p": [5, "n5"]}])
        log.close()

    asyncio.run(append())
    assert open_group(path, True) == [{"p": [1, "n1"]}, {"p": [5, "n5"]}]
