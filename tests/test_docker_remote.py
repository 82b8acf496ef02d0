"""The docker backend on an engine that is not the default socket (a "remote" engine).

The test exposes the local engine on another unix socket through a forwarder it runs
itself, and counts the connections that pass: a run with ``--backend-opt
docker_host=unix://...`` (and one with ``DOCKER_HOST``) must go through it, faults
included, and still be valid and leave nothing behind. Skipped only when no engine answers.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker")

ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def _engine() -> bool:
    try:
        docker.from_env(timeout=10).ping()
        return ENGINE.startswith("unix://")
    except Exception:  # noqa: BLE001
        return False


pytestmark = [pytest.mark.skipif(not _engine(), reason="no Docker engine on a unix socket"),
              pytest.mark.timeout(400)]


class _Forward(socketserver.BaseRequestHandler):
    """Pump bytes between a client of the new socket and the real engine."""

    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(ENGINE.removeprefix("unix://"))
        sel = selectors.DefaultSelector()
        sel.register(self.request, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, self.request)
        try:
            while True:
                for key, _ in sel.select(timeout=60):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


@pytest.fixture
def engine_socket() -> Any:
    d = tempfile.mkdtemp(prefix="sb-eng-")  # short: a unix socket path is limited to ~100 bytes
    path = os.path.join(d, "docker.sock")
    server = socketserver.ThreadingUnixStreamServer(path, _Forward)
    server.daemon_threads = True
    server.connections = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"unix://{path}"
    server.shutdown()
    server.server_close()
    os.unlink(path)
    os.rmdir(d)


def _run(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "splitbrain", "run", "raft", "--backend", "docker", "--nodes", "3",
           "--nemesis", "partition,kill,pause", "--nemesis-interval", "2", "--time-limit", "10", "--seed", "3",
           "--store", str(tmp_path), "--json", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-2000:]  # with --json the reason is in the JSON line
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_run_on_an_engine_named_by_backend_opt(tmp_path: Path, engine_socket: Any) -> None:
    server, url = engine_socket
    result = _run(tmp_path, "--backend-opt", f"docker_host={url}",
                  env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})  # the option wins over the variable
    assert result["valid"] is True and result["faults"] > 0
    assert server.connections > 0
    run_dir = Path(result["run_dir"])
    assert (run_dir / "nodes" / "n1" / "node.log").stat().st_size > 0  # logs came back from that engine
    run_id = json.loads((run_dir / "test.json").read_text())["run_id"]
    client = docker.from_env()
    assert client.containers.list(all=True, filters={"label": f"splitbrain.run={run_id}"}) == []


def test_docker_host_is_honoured_and_a_dead_address_is_one_line(tmp_path: Path, engine_socket: Any) -> None:
    from splitbrain.backends.docker.images import docker_client
    from splitbrain.errors import BackendUnavailable

    server, url = engine_socket
    before = server.connections
    docker_client(url).ping()
    assert server.connections > before
    p = subprocess.run([sys.executable, "-m", "splitbrain", "run", "raft", "--backend", "docker", "--time-limit", "5",
                        "--store", str(tmp_path)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert p.returncode == 64, p.stderr[-2000:]
    assert "/nonexistent/docker.sock" in p.stderr and "Traceback" not in p.stderr
    with pytest.raises(BackendUnavailable, match="nonexistent"):
        docker_client("unix:///nonexistent/docker.sock")
