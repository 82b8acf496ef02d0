"""What a system under test is, to the harness.

A :class:`System` knows how to turn a :class:`NodeConfig` into the command that
starts one node, and how to open a client to a node. It knows nothing about
where the node runs: the backend (local process, container, ssh host) decides
addresses and runs the command. This split is what lets one Raft
implementation run unchanged on every backend.

Node processes of splitbrain's own systems are started as
``python3 -m splitbrain.systems.<name> --config '<NodeConfig JSON>'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from splitbrain.systems.capabilities import SystemTraits


@dataclass
class NodeConfig:
    """Everything one node needs to start. Serialized as JSON onto its command line.

    ``peers`` maps every *other* node's name to the address *this* node must dial
    to reach it; on the local backend that is a link proxy owned by the harness,
    so partitions and packet faults act on the directed link (this node -> peer).
    Peer messages are therefore one-way: a node sends on connections it opened
    and only reads from connections others opened (answers travel back on the
    answerer's own outbound connection), so cutting link a->b stops exactly the
    messages from a to b.
    """

    name: str
    client_host: str
    client_port: int
    peer_host: str
    peer_port: int
    peers: dict[str, tuple[str, int]]
    data_dir: str
    log_file: str | None = None
    bug: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: where the files the system ships (``SystemTraits.files``) are on this node
    files_dir: str = ""
    #: this node's own listening port for each of ``SystemTraits.extra_ports`` (but "client")
    ports: dict[str, int] = field(default_factory=dict)
    #: port name ("peer", "client", or an extra port) -> node -> the address to dial that
    #: node's port at; every node is listed, this one too (as the others reach it)
    addresses: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> NodeConfig:
        d = json.loads(text)
        d["peers"] = {k: (v[0], int(v[1])) for k, v in d["peers"].items()}
        d["addresses"] = {port: {k: (v[0], int(v[1])) for k, v in book.items()}
                          for port, book in d.get("addresses", {}).items()}
        return cls(**d)


@runtime_checkable
class SystemClient(Protocol):
    """One client connection to one node. ``invoke`` returns a wire response dict
    (see :mod:`splitbrain.systems.wire`); it raises TimeoutError/ConnectionError when
    the outcome is unknown."""

    async def invoke(self, op: str, key: Any, value: Any, timeout_s: float) -> dict[str, Any]: ...

    async def close(self) -> None: ...


@runtime_checkable
class System(Protocol):
    """A system under test: names, and how to start a node and talk to one.

    Optional abilities are separate, typed declarations in
    :mod:`splitbrain.systems.capabilities` (``traits``, ``configure``,
    ``setup_node``/``teardown_node``), checked for, never guessed at."""

    name: str
    #: workloads this system can serve (names from the workload registry)
    workloads: tuple[str, ...]
    #: seeded bugs: name -> one-line description of the mistake
    bugs: Mapping[str, str]

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        """argv that starts one node (``python`` is the interpreter on the node's host)."""
        ...

    def client(self, host: str, port: int) -> SystemClient:
        """A client for the node whose client port is at host:port."""
        ...


@dataclass
class SessionContext:
    """What a system with harness-side parts gets once its cluster is up.

    A system may define ``open_session(ctx) -> HarnessSession``: the run starts it
    before the first client op and stops it after the final reads, before the
    cluster is torn down (Maelstrom nodes use it for the services they call and
    for the message log). ``address`` maps a node to its client address;
    ``origin_ns`` is the monotonic time of the history's 0.
    """

    nodes: list[str]
    address: Callable[[str], tuple[str, int]]
    run_dir: str
    origin_ns: int
    seed: int


@runtime_checkable
class HarnessSession(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> dict[str, Any]:
        """Release everything; the returned summary goes into ``results.json`` under the system's name."""
        ...


class WireClient:
    """SystemClient for every system speaking :mod:`splitbrain.systems.wire`."""

    def __init__(self, host: str, port: int) -> None:
        from splitbrain.systems.wire import ClientConnection

        self._conn = ClientConnection(host, port)

    async def invoke(self, op: str, key: Any, value: Any, timeout_s: float) -> dict[str, Any]:
        req: dict[str, Any] = {"op": op}
        if key is not None:
            req["key"] = key
        if value is not None:
            req["value"] = value
        return await self._conn.request(req, timeout_s)

    async def close(self) -> None:
        await self._conn.close()


@dataclass(frozen=True)
class PythonSystem:
    """A system implemented as a stdlib-only Python module of this package."""

    name: str
    module: str
    workloads: tuple[str, ...]
    bugs: Mapping[str, str]
    traits: SystemTraits = SystemTraits()

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        return [python, "-m", self.module, "--config", config.to_json()]

    def client(self, host: str, port: int) -> SystemClient:
        return WireClient(host, port)
