"""Node handles: "run this command on node X, put this file there", per backend.

Each class satisfies :class:`splitbrain.systems.capabilities.NodeHandle`, the
only view of a node a system's setup hook gets. Commands run as argv (no
shell unless the caller asks for ``sh -c``), in the node's ``files_dir``,
bounded by ``timeout_s``; a non-zero exit is returned, never raised.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from splitbrain.systems.capabilities import CommandResult


class LocalHandle:
    """A node that is a child process on this host: commands are subprocesses, uploads are copies."""

    def __init__(self, name: str, files_dir: str, data_dir: str, env: dict[str, str] | None = None) -> None:
        self.name, self.files_dir, self.data_dir = name, files_dir, data_dir
        self._env = env
        os.makedirs(files_dir, exist_ok=True)

    def run(self, argv: Sequence[str], timeout_s: float = 60.0) -> CommandResult:
        try:
            p = subprocess.run(list(argv), cwd=self.files_dir, env=self._env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            out = e.output.decode(errors="replace") if isinstance(e.output, bytes) else ""
            return CommandResult(124, out + f"\n(timed out after {timeout_s:.0f} s)")
        except OSError as e:
            return CommandResult(127, f"cannot execute {argv[0]!r}: {e}")
        return CommandResult(p.returncode, p.stdout.decode(errors="replace"))

    def upload(self, local: str | Path, name: str) -> str:
        dest = os.path.join(self.files_dir, name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(local, dest)
        return dest


class DockerHandle:
    """A node in a container: ``docker exec`` (without the faketime preload) and ``put_archive``.

    Uploads work before the container starts, so files are in place when the
    node's command runs; commands need it running.
    """

    def __init__(self, name: str, container: Any, files_dir: str, data_dir: str) -> None:
        self.name, self.files_dir, self.data_dir = name, files_dir, data_dir
        self._container = container

    def run(self, argv: Sequence[str], timeout_s: float = 60.0) -> CommandResult:
        script = f"cd {shlex.quote(self.files_dir)} && exec timeout {max(1, int(timeout_s))} {shlex.join(argv)}"
        from splitbrain.backends.docker.execs import exec_in

        code, out = exec_in(self._container, ["sh", "-c", script], environment={"LD_PRELOAD": ""})
        return CommandResult(code if code is not None else 255, out.decode(errors="replace"))

    def upload(self, local: str | Path, name: str) -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(local), arcname=os.path.join(self.files_dir.lstrip("/"), name), recursive=False)
        if not self._container.put_archive("/", buf.getvalue()):
            raise OSError(f"docker refused to copy {local} into {self.name}")
        return f"{self.files_dir}/{name}"


class SshHandle:
    """A node on an SSH host: an exec channel and SFTP (run as the SSH user, ``sudo -n`` if not root)."""

    def __init__(self, name: str, conn: Any, files_dir: str, data_dir: str) -> None:
        self.name, self.files_dir, self.data_dir = name, files_dir, data_dir
        self._conn = conn

    def run(self, argv: Sequence[str], timeout_s: float = 60.0) -> CommandResult:
        script = f"cd {shlex.quote(self.files_dir)} && exec {shlex.join(argv)}"
        code, out, err = self._conn.run_status(script, timeout_s, root=True)
        return CommandResult(code, out + err)

    def upload(self, local: str | Path, name: str) -> str:
        dest = f"{self.files_dir}/{name}"
        sftp = self._conn.sftp()
        try:
            self._conn.run(f"mkdir -p {shlex.quote(os.path.dirname(dest))}", root=False)
            sftp.put(str(local), dest)
            sftp.chmod(dest, os.stat(local).st_mode & 0o777)
        finally:
            sftp.close()
        return dest
