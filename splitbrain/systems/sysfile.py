"""System files: test your own server without writing Python.

A TOML file describes how to start one node of your system; splitbrain does
the rest (addresses, proxies, faults, clients, checking)::

    name = "mykv"
    command = ["python3", "{dir}/server.py", "--name", "{name}", "--port", "{client_port}",
               "--peer-port", "{peer_port}", "--peers", "{peers}", "--data", "{data_dir}"]
    protocol = "wire"          # splitbrain's JSON-lines client protocol, or "maelstrom"
    workloads = ["register", "kv"]
    nodes = 3                  # default cluster size
    files = ["server.py"]      # relative to this file; shipped to every node into {dir}
    [env]                      # extra environment for each node
    GOMAXPROCS = "1"

A path ending in ``.toml`` (or containing a ``/``) is accepted wherever a
system name is: ``run``, campaign ``systems``, the pytest marker. The file is
validated completely before anything starts; a mistake exits 64 with the
file, the key and what is allowed (:func:`load`); a file that does not exist, 66.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from splitbrain.errors import MissingInputError, UsageError
from splitbrain.systems.base import NodeConfig, SystemClient, WireClient
from splitbrain.systems.capabilities import SystemTraits

KEYS = ("name", "command", "protocol", "workloads", "nodes", "files", "env")
PROTOCOLS = ("wire", "maelstrom")
PLACEHOLDERS = ("name", "node_ids", "client_host", "client_port", "peer_host", "peer_port", "peers",
                "data_dir", "dir")


def is_system_file(spec: str) -> bool:
    """Whether a system name on the command line means a file (``*.toml`` or a path)."""
    return spec.endswith(".toml") or "/" in spec or os.sep in spec


@dataclass(frozen=True)
class FileSystem:
    """A system described by a system file, speaking the wire protocol."""

    name: str
    command: tuple[str, ...]
    workloads: tuple[str, ...]
    traits: SystemTraits
    env: Mapping[str, str] = field(default_factory=dict)
    bugs: Mapping[str, str] = field(default_factory=dict)
    path: str = ""

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        values = placeholder_values(config)
        argv = [part.format(**values) for part in self.command]
        if self.env:
            argv = ["env", *(f"{k}={v}" for k, v in sorted(self.env.items())), *argv]
        return argv

    def client(self, host: str, port: int) -> SystemClient:
        return WireClient(host, port)


def placeholder_values(config: NodeConfig) -> dict[str, str]:
    """What each ``{placeholder}`` of a command means for one node."""
    return {
        "name": config.name,
        "node_ids": ",".join(sorted([config.name, *config.peers])),
        "client_host": config.client_host, "client_port": str(config.client_port),
        "peer_host": config.peer_host, "peer_port": str(config.peer_port),
        "peers": ",".join(f"{n}={h}:{p}" for n, (h, p) in sorted(config.peers.items())),
        "data_dir": config.data_dir, "dir": config.files_dir,
    }


def load(spec: str) -> Any:
    """Read and validate a system file; returns a System (exit 64 on any mistake, before anything starts)."""
    path = Path(spec)
    if not path.is_file():
        raise MissingInputError(f"system file {spec}: no such file")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise UsageError(f"system file {spec}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"system file {spec}: not valid TOML: {e}") from None

    def bad(key: str, why: str) -> UsageError:
        return UsageError(f"system file {spec}: {key}: {why}")

    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise bad(unknown[0], f"unknown key; allowed keys: {', '.join(KEYS)}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise bad("name", "must be a name of letters, digits, '.', '_', '-'")
    command = data.get("command")
    if command is None:
        raise bad("command", 'missing; e.g. command = ["./server", "--port", "{client_port}"]')
    if isinstance(command, str):
        command = command.split()
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise bad("command", "must be a non-empty list of strings")
    for part in command:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(part) if f is not None]
        except ValueError as e:
            raise bad("command", f"{part!r}: {e} (write {{{{ and }}}} for literal braces)") from None
        for f in fields:
            if f not in PLACEHOLDERS:
                raise bad("command", f"unknown placeholder {{{f}}}; allowed: "
                                     + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
    protocol = data.get("protocol", "wire")
    if protocol not in PROTOCOLS:
        raise bad("protocol", f"{protocol!r} is not one of: {', '.join(PROTOCOLS)}")
    nodes = data.get("nodes", 3)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 64:
        raise bad("nodes", f"must be an integer from 1 to 64, got {nodes!r}")
    files = data.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise bad("files", "must be a list of paths relative to the system file")
    shipped: dict[str, str] = {}
    for rel in files:
        local = (path.parent / rel).resolve()
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise bad("files", f"{rel!r} must be a relative path inside {path.parent or '.'}")
        if not local.is_file():
            raise bad("files", f"{rel!r} does not exist (looked for {local})")
        shipped[rel] = str(local)
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str | int | float | bool)
                                            for k, v in env.items()):
        raise bad("env", "must be a table of NAME = value")
    traits = SystemTraits(default_nodes=nodes, files=shipped)
    workloads = _workloads(data, protocol, bad)
    if protocol == "maelstrom":
        return _maelstrom(spec, name, command, path, bad, nodes)
    return FileSystem(name=name, command=tuple(command), workloads=workloads, traits=traits,
                      env={k: str(v) for k, v in env.items()}, path=str(path))


def _workloads(data: dict[str, Any], protocol: str, bad: Any) -> tuple[str, ...]:
    from splitbrain.registry import WORKLOADS

    workloads = data.get("workloads", ["register"])
    if isinstance(workloads, str):
        workloads = [workloads]
    if not isinstance(workloads, list) or not workloads or not all(isinstance(w, str) for w in workloads):
        raise bad("workloads", "must be a non-empty list of workload names")
    if protocol == "wire":
        for w in workloads:
            if w not in WORKLOADS:
                raise bad("workloads", f"unknown workload {w!r}; allowed: {', '.join(WORKLOADS.names())}")
    return tuple(workloads)


def _maelstrom(spec: str, name: str, command: list[str], path: Path, bad: Any, nodes: int) -> Any:
    """A Maelstrom node binary (``command`` = the binary and its arguments), run by the Maelstrom adapter."""
    from splitbrain.systems.maelstrom import system_for  # imported only when a file asks for it

    for part in command:
        if "{" in part:
            raise bad("command", "a Maelstrom node takes no placeholders: it learns its id and peers from "
                                 "the init message")
    binary = command[0]
    if not os.path.isabs(binary) and (path.parent / binary).exists():
        binary = str((path.parent / binary).resolve())
    return replace(system_for(binary, command[1:], name), default_nodes=nodes)
