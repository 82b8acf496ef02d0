"""The remote command builders, executed for real by /bin/sh: hostile strings stay data."""

import json
import subprocess
import sys
import time

import pytest

from splitbrain.backends.ssh import remote
from splitbrain.backends.ssh.hosts import Host, parse_hosts
from splitbrain.errors import BadInputError

HOSTILE = ["a b", "$(touch /tmp/pwned-sb)", "`id`", "x; rm -rf /", "it's", '"q"', "\\", "*", "\n", "--x"]


def test_parse_hosts():
    hosts = parse_hosts("# lab\n10.0.0.1\nnode2:2222\n\n[::1]:22  # v6\n")
    assert hosts == [Host("10.0.0.1", 22), Host("node2", 2222), Host("::1", 22)]


@pytest.mark.parametrize("text,msg", [("", "no hosts"), ("a b\n", "host"), ("h:99999\n", "range"),
                                      ("h\nh\n", "twice"), ("h;rm\n", "host")])
def test_parse_hosts_rejects(text, msg):
    with pytest.raises(BadInputError, match=msg):
        parse_hosts(text, "nodes.txt")


def test_quoted_argv_arrives_intact(tmp_path):
    cmd = remote.q(sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))", *HOSTILE)
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == HOSTILE


def test_start_daemon_quotes_argv_env_and_paths(tmp_path):
    work = tmp_path / "dir with 'quote' $(x)"
    work.mkdir()
    pidfile = str(work / "node.pid")
    log = str(work / "node.log")
    argv = [sys.executable, "-c", "import json,os,sys; print(json.dumps([sys.argv[1:], os.environ['EVIL']]))",
            *HOSTILE]
    cmd = remote.start_daemon(str(work), argv, {"EVIL": "$(id) `id`; x"}, log, pidfile)
    subprocess.run(["sh", "-c", cmd], check=True)
    deadline = time.time() + 10
    text = ""
    while time.time() < deadline:
        text = (work / "node.log").read_text() if (work / "node.log").exists() else ""
        if text.endswith("\n"):
            break
        time.sleep(0.05)
    args, evil = json.loads(text)
    assert args == HOSTILE and evil == "$(id) `id`; x"
    assert int((work / "node.pid").read_text())  > 0
    assert not __import__("os").path.exists("/tmp/pwned-sb")


def test_faketime_file_written_by_a_node_command_is_what_libfaketime_and_the_harness_read(tmp_path):
    """docker and ssh write a node's clock file with one shell command; its bytes are the same
    as the local backend's file (one format, written in one place) and read back as the offset."""
    from splitbrain.backends import faketime

    path = tmp_path / "dir 'q' $(x)" / "faketime"
    path.parent.mkdir()
    for offset in (5, -0.25, 0.0):
        subprocess.run(["sh", "-c", faketime.write_command(str(path), offset)], check=True)
        assert path.read_text() == faketime.offset_text(offset)
        assert faketime.read_offset(str(path)) == offset
    assert faketime.offset_text(5) == "+5.000000s\n" and faketime.offset_text(-0.25) == "-0.250000s\n"
    assert not (tmp_path / "dir 'q' $(x)" / "faketime.tmp").exists()


def test_start_daemon_returns_only_once_the_pid_is_recorded(tmp_path):
    """The ssh flake: the start command returned before the daemon wrote its pid file, so the first
    readiness probe read "no pid" as "dead" (32 of 100 starts here before the fix) and teardown's
    kill, finding no pid either, left the node running. Now the pid is there, and is the node's."""
    import subprocess as sp

    for i in range(30):
        work = tmp_path / str(i)
        work.mkdir()
        pidfile = str(work / "node.pid")
        sp.run(["sh", "-c", remote.start_daemon(str(work), ["sleep", "30"], {}, str(work / "log"), pidfile)],
               check=True)
        try:
            state = sp.run(["sh", "-c", remote.pid_state(pidfile)], capture_output=True, text=True).stdout.strip()
            assert state not in ("dead", "nopid"), (i, state)
            pid = int((work / "node.pid").read_text())
            assert "sleep" in open(f"/proc/{pid}/cmdline").read()  # the node itself, not a wrapper
        finally:
            sp.run(["sh", "-c", remote.signal_pidfile(pidfile, "KILL")])
