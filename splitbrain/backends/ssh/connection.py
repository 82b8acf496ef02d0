"""One SSH connection to one host: host keys checked, commands run with a bound, one reconnect.

Host keys are checked against ``known_hosts``; an unknown or changed key is
refused unless ``--insecure-host-keys`` is given, and never added silently.
The connection is kept for the whole run (TCP_NODELAY); a transport that
dropped is reconnected once before a command, except for a command that must
not run twice (a node's start).
"""

from __future__ import annotations

import os
import socket

import paramiko

from splitbrain.backends.ssh import remote
from splitbrain.backends.ssh.hosts import Host
from splitbrain.errors import HarnessError, UsageError


def load_private_key(path: str) -> paramiko.PKey:
    """Load a private key of any type paramiko knows; a bad key file is a usage error, said once."""
    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(path)
        except FileNotFoundError:
            raise UsageError(f"--ssh-key {path}: no such file") from None
        except paramiko.PasswordRequiredException:
            raise UsageError(f"--ssh-key {path}: the key is encrypted; use an unencrypted key or an agent") from None
        except (paramiko.SSHException, ValueError, OSError) as e:
            errors.append(f"{cls.__name__}: {e}")
    raise UsageError(f"--ssh-key {path}: not a private key paramiko can read ({'; '.join(errors)[:200]})")


class _RefusePolicy(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise UsageError(
            f"{hostname}: unknown host key ({key.get_name()} {key.get_base64()[:16]}...); add it to your "
            "known_hosts (e.g. with ssh-keyscan) or pass --insecure-host-keys"
        )


class _AcceptOncePolicy(paramiko.MissingHostKeyPolicy):
    """--insecure-host-keys: accept for this run only, never written to known_hosts."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


class Connection:
    """One SSH connection to one host, reconnecting once if the transport dropped."""

    def __init__(self, host: Host, user: str, key: str | None, known_hosts: str | None, insecure: bool) -> None:
        self.host, self.user, self.key, self.known_hosts, self.insecure = host, user, key, known_hosts, insecure
        self.client: paramiko.SSHClient | None = None
        self.sudo = "" if user == "root" else "sudo -n "
        self.last = ""  # how the last remote command ended (for start-failure reports)

    def connect(self) -> None:
        c = paramiko.SSHClient()
        if self.known_hosts and os.path.exists(self.known_hosts):
            try:
                c.load_host_keys(self.known_hosts)
            except (OSError, paramiko.SSHException) as e:
                raise UsageError(f"cannot read known_hosts {self.known_hosts}: {e}") from None
        c.set_missing_host_key_policy(_AcceptOncePolicy() if self.insecure else _RefusePolicy())
        where = f"{self.user}@{self.host.address}:{self.host.port}"
        pkey = load_private_key(self.key) if self.key else None
        try:
            c.connect(self.host.address, port=self.host.port, username=self.user, pkey=pkey,
                      timeout=10, banner_timeout=10, auth_timeout=10, allow_agent=False, look_for_keys=pkey is None)
        except paramiko.BadHostKeyException:
            raise UsageError(f"{where}: host key CHANGED (does not match known_hosts); refusing to connect") from None
        except paramiko.AuthenticationException as e:
            raise UsageError(f"{where}: authentication failed ({e}); check --ssh-user and --ssh-key") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            if isinstance(e, UsageError):
                raise
            raise HarnessError(f"{where}: cannot connect: {type(e).__name__}: {e}") from None
        transport = c.get_transport()
        if transport is not None:
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
            transport.set_keepalive(5)
        self.client = c

    @property
    def alive(self) -> bool:
        t = self.client.get_transport() if self.client else None
        return bool(t and t.is_active())

    def run(self, command: str, timeout_s: float = 30.0, check: bool = True, root: bool = True,
            retry: bool = True) -> str:
        """Run a shell command; a dropped connection is re-established and the command retried once
        (only when ``retry``: starting a node is not safe to repeat)."""
        status, out, err = self.run_status(command, timeout_s, root, retry)
        if check and status != 0:
            raise HarnessError(f"{self.host.address}: command failed ({status}): {err.strip()[-300:]}")
        return out

    def run_status(self, command: str, timeout_s: float = 30.0, root: bool = True,
                   retry: bool = True) -> tuple[int, str, str]:
        """(remote exit status, stdout, stderr); also remembered in :attr:`last` for diagnostics."""
        full = f"{self.sudo}sh -c {remote.q(command)}" if (root and self.sudo) else command
        for attempt in (1, 2):
            if not self.alive:
                self.connect()
            assert self.client is not None
            try:
                _, stdout, stderr = self.client.exec_command(full, timeout=timeout_s)
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                status = stdout.channel.recv_exit_status()
            except (paramiko.SSHException, OSError, EOFError) as e:
                self.last = f"lost the connection running a command: {type(e).__name__}: {e}"
                if attempt == 2 or not retry:
                    raise HarnessError(f"{self.host.address}: lost SSH connection: {e}") from None
                self.close()
                continue
            self.last = f"remote shell exit {status}" + (f", stderr: {err.strip()[-200:]}" if err.strip() else "")
            return status, out, err
        return 255, "", ""

    def state(self) -> str:
        """The transport as a user needs it in an error: where, connected or not, the last command's end."""
        return (f"{self.user}@{self.host.address}:{self.host.port} "
                f"{'connected' if self.alive else 'NOT connected'}; last command: {self.last or 'none'}")

    def sftp(self) -> paramiko.SFTPClient:
        if not self.alive:
            self.connect()
        assert self.client is not None
        return self.client.open_sftp()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
