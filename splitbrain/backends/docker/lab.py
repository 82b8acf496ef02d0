"""SSH-reachable test hosts on one machine, to try the ssh backend (``splitbrain lab``).

Jepsen users get a docker environment of sshd hosts; this is ours. ``lab up``
starts N containers from splitbrain's node image running sshd on a private
network, generates a client key and a ``known_hosts`` file holding each
host's real host key (so the ssh backend's strict host-key checking works as
it would against real machines), and writes a nodes file. ``lab down``
removes everything it made. Containers get ``NET_ADMIN`` (for iptables) and
nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from splitbrain.backends.docker.execs import exec_in
from splitbrain.errors import BackendUnavailable, HarnessError, UsageError

LABEL = "splitbrain.lab"
DEFAULT_DIR = os.path.expanduser("~/.splitbrain/lab")


def lab_id(state_dir: str) -> str:
    """A lab is named after its state directory: two users (or two test sessions) with their own
    directories get their own containers and network, and ``lab down`` removes only its own."""
    return hashlib.sha256(os.path.realpath(state_dir).encode()).hexdigest()[:10]


def _docker() -> Any:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - any failure here means "no engine"
        raise BackendUnavailable(f"no Docker engine reachable ({type(e).__name__}); `lab` needs Docker") from None


def _image() -> str:
    from splitbrain.backends.docker import images

    return images.ensure_node_image()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def lab_up(nodes: int, state_dir: str = DEFAULT_DIR) -> dict[str, str]:
    import paramiko

    if not 1 <= nodes <= 32:
        raise UsageError("--nodes must be between 1 and 32")
    client = _docker()
    lab_down(state_dir, quiet=True)
    image = _image()
    lid = lab_id(state_dir)
    labels = {LABEL: lid}
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    key = paramiko.RSAKey.generate(2048)
    key_path = d / "id_rsa"
    key.write_private_key_file(str(key_path))
    os.chmod(key_path, 0o600)
    pub = f"{key.get_name()} {key.get_base64()} splitbrain-lab"
    network = f"splitbrain-lab-{lid}"
    net = client.networks.create(network, driver="bridge", labels=labels)
    hosts: list[str] = []
    known: list[str] = []
    try:
        containers = []
        for i in range(1, nodes + 1):
            containers.append(client.containers.run(
                image, name=f"splitbrain-lab-{lid}-n{i}", hostname=f"n{i}", detach=True, network=net.name,
                labels=labels, init=True, cap_drop=["ALL"],
                cap_add=["NET_ADMIN", "NET_RAW", "CHOWN", "SETUID", "SETGID", "SYS_CHROOT", "KILL", "DAC_OVERRIDE",
                         "FOWNER", "AUDIT_WRITE"],
                command=["sh", "-c", "rm -f /etc/ssh/ssh_host_* && mkdir -p /run/sshd && ssh-keygen -A >/dev/null && exec /usr/sbin/sshd -D -e"],
            ))
        for c in containers:
            code, out = exec_in(c, ["sh", "-c", 'mkdir -p /root/.ssh && printf "%s\\n" "$1" > '
                                    "/root/.ssh/authorized_keys && chmod 700 /root/.ssh && "
                                    "chmod 600 /root/.ssh/authorized_keys", "sh", pub])
            if code != 0:
                raise HarnessError(f"{c.name}: cannot install the lab key: {out.decode(errors='replace')[-200:]}")
        for c in containers:
            c.reload()
            ip = c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
            _wait_port(ip, 22, c)
            code, out = exec_in(c, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
            if code != 0:
                raise HarnessError(f"{c.name}: no host key: {out.decode(errors='replace')[-200:]}")
            kind, b64 = out.decode().split()[:2]
            hosts.append(ip)
            known.append(f"{ip} {kind} {b64}")
    except BaseException:
        lab_down(state_dir, quiet=True)
        raise
    (d / "nodes").write_text("".join(h + "\n" for h in hosts))
    (d / "known_hosts").write_text("".join(k + "\n" for k in known))
    info = {"nodes_file": str(d / "nodes"), "ssh_key": str(key_path), "known_hosts": str(d / "known_hosts"),
            "user": "root"}
    (d / "lab.json").write_text(json.dumps(info))
    return info


def _wait_port(host: str, port: int, container: Any, timeout_s: float = 90.0) -> None:
    """Wait (bounded) for sshd's banner; a host that does not come up says why (bring-up's words)."""
    from splitbrain.backends import bringup

    def banner() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                return s.recv(4).startswith(b"SSH")
        except OSError:
            return False

    def gone() -> str | None:
        container.reload()
        return f"container {container.status}" if container.status in ("exited", "dead") else None

    r = bringup.wait_ready(banner, gone, timeout_s)
    if not r.ready:
        tail = bringup.tail_text(container.logs(tail=bringup.TAIL_LINES))
        raise HarnessError(f"{container.name}: sshd did not come up on {host}:{port} "
                           f"({r.gone or f'no SSH banner after {r.waited_s:.0f} s'}); "
                           f"last output: {bringup.last_line(tail) or 'none'}")


def lab_down(state_dir: str = DEFAULT_DIR, quiet: bool = False, every_lab: bool = False) -> int:
    """Remove this state directory's lab (every lab with ``every_lab``): its containers, network and
    files, the private key included, and the directories it made if they are left empty."""
    client = _docker()
    selector = LABEL if every_lab else f"{LABEL}={lab_id(state_dir)}"
    removed = 0
    for c in client.containers.list(all=True, filters={"label": selector}):
        c.remove(force=True)
        removed += 1
    for n in client.networks.list(filters={"label": selector}):
        n.remove()
    d = Path(state_dir)
    for name in ("nodes", "known_hosts", "lab.json", "id_rsa"):
        (d / name).unlink(missing_ok=True)
    for empty in (d, d.parent if d.parent.name == ".splitbrain" else None):
        if empty is not None and empty.is_dir() and not any(empty.iterdir()):
            shutil.rmtree(empty, ignore_errors=True)
    if not quiet:
        print(f"lab: removed {removed} host(s)", flush=True)
    return removed
