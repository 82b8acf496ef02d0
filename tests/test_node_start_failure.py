"""A node that does not come up says why, on every backend: the node, the command, where, its exit
status and its own last output (also when it dies before it could open its log), and for ssh the
transport. Real processes, real containers, real sshd hosts; three ways to fail on each backend."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from _helpers import docker_engine, needs_docker

from splitbrain.backends.base import ClusterSpec
from splitbrain.errors import NodeStartError

# (case, argv after the interpreter, what the node printed last, exit status or None)
CASES = [
    ("bad-command", None, "nonexistent-node-binary", None),
    ("exits-at-once", ["-c", "import sys; print('out: cannot open data dir', flush=True); "
                             "print('err: giving up', file=sys.stderr); sys.exit(3)"], "err: giving up", 3),
    ("never-listens", ["-c", "import time; print('warming up forever', flush=True); time.sleep(120)"],
     "warming up forever", None),
]


class Failing:
    """A system whose node fails in one of three ways."""

    name = "failing"
    workloads = ["register"]
    bugs: dict[str, str] = {}

    def __init__(self, argv: list[str] | None) -> None:
        self.argv = argv

    def node_command(self, config: Any, python: str) -> list[str]:
        if self.argv is None:
            return ["/nonexistent-node-binary", "--name", config.name]
        return [python, *self.argv]


def _assert_explains(err: NodeStartError, case: str, last: str, status: int | None, python: str,
                     in_output: bool = True) -> None:
    first = str(err).splitlines()[0]
    assert first.startswith("node n1 failed to start: "), first
    assert "command: " in first and ("nonexistent-node-binary" if case == "bad-command" else python) in first
    assert "where: " in first
    assert last in first, first  # the node's own last line, on the first line of the error
    if status is not None:
        assert f"exit status {status}" in first
    if case == "never-listens":
        assert "not accepting after" in first
    f = err.failure
    assert f is not None and f.node == "n1" and (last in f.output or not in_output)
    assert json.dumps(f.to_json())  # crosses into results.json as data


@pytest.mark.parametrize("case,argv,last,status", CASES, ids=[c[0] for c in CASES])
def test_local_node_that_fails_to_start_says_why(tmp_path: Path, case: str, argv: Any, last: str,
                                                  status: int | None) -> None:
    from splitbrain.backends.local.backend import LocalBackend

    b = LocalBackend({"start_timeout_s": 2})
    with pytest.raises(NodeStartError) as e:
        asyncio.run(b.setup(ClusterSpec(Failing(argv), ["n1"], str(tmp_path), "t")))
    if case == "bad-command":  # nothing ran, so no output: the OS's reason says it
        last = "No such file or directory"
    _assert_explains(e.value, case, last, status, sys.executable, in_output=case != "bad-command")
    assert "where: local" in str(e.value).splitlines()[0]
    assert not any(n.alive() for n in b.nodes.values())


DOCKER = docker_engine()


@needs_docker
@pytest.mark.docker
@pytest.mark.parametrize("case,argv,last,status", CASES, ids=[c[0] for c in CASES])
def test_docker_node_that_fails_to_start_says_why(tmp_path: Path, case: str, argv: Any, last: str,
                                                   status: int | None) -> None:
    from splitbrain.backends.docker.backend import LABEL, DockerBackend

    run_id = f"startfail-{uuid.uuid4().hex[:8]}"
    b = DockerBackend({"start_timeout_s": 8})
    with pytest.raises(NodeStartError) as e:
        asyncio.run(b.setup(ClusterSpec(Failing(argv), ["n1"], str(tmp_path), run_id)))
    if case == "bad-command":  # the wrapper shell's own complaint is the node's last output
        last, status = "nonexistent-node-binary", 127
    _assert_explains(e.value, case, last, status, "python3")
    assert "container splitbrain-" in str(e.value).splitlines()[0]
    assert DOCKER.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}) == []


@pytest.fixture(scope="module")
def lab(tmp_path_factory: Any) -> Any:
    from splitbrain.backends.docker.lab import lab_down, lab_up

    d = str(tmp_path_factory.mktemp("lab"))
    info = lab_up(1, d)
    yield info
    lab_down(d, quiet=True)


@needs_docker
@pytest.mark.docker
@pytest.mark.parametrize("case,argv,last,status", CASES, ids=[c[0] for c in CASES])
def test_ssh_node_that_fails_to_start_says_why(lab: Any, tmp_path: Path, case: str, argv: Any, last: str,
                                                status: int | None) -> None:
    from splitbrain.backends.ssh.backend import SshBackend

    b = SshBackend({"nodes_file": lab["nodes_file"], "ssh_key": lab["ssh_key"], "known_hosts": lab["known_hosts"],
                    "start_timeout_s": 4})

    async def go() -> None:
        try:
            await b.setup(ClusterSpec(Failing(argv), ["n1"], str(tmp_path), f"sf-{uuid.uuid4().hex[:6]}"))
        finally:
            await b.teardown()

    with pytest.raises(NodeStartError) as e:
        asyncio.run(go())
    if case == "bad-command":
        last = "nonexistent-node-binary"
    _assert_explains(e.value, case, last, None, "python3")  # a daemon's status is init's: the state says it
    first = str(e.value).splitlines()[0]
    assert "ssh: root@" in first and "connected" in first and "where: ssh host" in first
    if case != "never-listens":
        assert "gone" in first


def test_a_failed_start_is_in_the_error_harness_log_results_and_report(tmp_path: Path) -> None:
    """End to end: exit 255, the first stderr line names node, command and last output; harness.log,
    results.json and report.html carry the same."""
    p = subprocess.run([sys.executable, "-m", "splitbrain", "run", "memkv", "--bug", "crash-on-start", "--nodes", "1",
                        "--time-limit", "2", "--store", str(tmp_path / "store")], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "CI": "1"})
    assert p.returncode == 255, p.stderr
    first = [ln for ln in p.stderr.splitlines() if ln.startswith("splitbrain: ")][0]
    assert "node n1 failed to start" in first and "splitbrain.systems.memkv" in first
    assert "crash-on-start" in first and "exit status" in first
    run_dir = (tmp_path / "store" / "latest").resolve()
    assert "crash-on-start" in (run_dir / "harness.log").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["start_failure"]["node"] == "n1" and "crash-on-start" in results["start_failure"]["output"]
    assert "failed to start" in (run_dir / "report.html").read_text()
