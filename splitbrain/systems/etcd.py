"""etcd as a system under test: software nobody here wrote.

A harness earns trust by testing software it did not write. This adapter
starts real etcd servers (Debian's ``etcd-server`` package, installed on
demand) and drives them through etcd's own v3 JSON gateway over HTTP:
``/v3/kv/range`` for reads (linearizable by default), ``/v3/kv/put`` for
writes, and ``/v3/kv/txn`` with a value compare for cas.

Seeded weakness ``serializable-reads``: reads ask for ``serializable: true``,
which lets any member answer from its local, possibly stale, state. The
harness must catch it under partitions.

Unlike splitbrain's own systems, etcd members must all agree on every
member's peer URL (the cluster ID is derived from them), so a backend cannot
give each node its own per-link proxy address for a peer. The system says so
with ``SystemTraits(shared_peer_addresses=True)``; backends then give every node the same
address for a peer, in ``NodeConfig.peers``, and this node's own advertised
peer address in ``options["advertise_peer"]``.

Membership (``--nemesis membership``): etcd's own member API, see
:mod:`splitbrain.systems.etcd_membership`.

Outcome rules: a read that errors is ``fail`` (a read has no effect, so failing
it is always safe); a write or cas that errors or times out is indefinite,
except a cas whose compare was evaluated and failed, which is a definite
``cas-mismatch``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# The public API only: this adapter is the proof that a third-party system needs nothing else.
from splitbrain.api import (
    HarnessError,
    MembershipChange,
    MembershipView,
    NodeConfig,
    NodeHandle,
    SystemOpts,
    SystemTraits,
)
from splitbrain.systems.etcd_membership import EtcdMembers, wrapped

BUGS = {
    "serializable-reads": "reads use serializable=true: any member answers from local, possibly stale, state",
}


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _unb64(text: str) -> Any:
    return json.loads(base64.b64decode(text))


def _key(key: Any) -> str:
    return base64.b64encode(f"splitbrain/{key}".encode()).decode()


class EtcdError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def http_post_json(host: str, port: int, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST a JSON body over a fresh HTTP/1.1 connection (no third-party HTTP client needed)."""

    async def go() -> dict[str, Any]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            payload = json.dumps(body).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
            raw = await reader.read(-1)
        finally:
            writer.close()
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if b"transfer-encoding: chunked" in head.lower():
            rest = _dechunk(rest)
        try:
            data = json.loads(rest or b"{}")
        except ValueError:
            raise EtcdError(f"HTTP {status}: unparseable body", status) from None
        if status != 200 or "error" in data:
            raise EtcdError(str(data.get("error") or data.get("message") or f"HTTP {status}"), status)
        return data

    return await asyncio.wait_for(go(), timeout_s)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)


class EtcdClient:
    """SystemClient speaking etcd's v3 JSON gateway; answers in the wire protocol's shape."""

    def __init__(self, host: str, port: int, serializable: bool) -> None:
        self.host, self.port, self.serializable = host, port, serializable

    async def invoke(self, op: str, key: Any, value: Any, timeout_s: float) -> dict[str, Any]:
        try:
            if op == "read":
                body: dict[str, Any] = {"key": _key(key)}
                if self.serializable:
                    body["serializable"] = True
                data = await http_post_json(self.host, self.port, "/v3/kv/range", body, timeout_s)
                kvs = data.get("kvs") or []
                return {"ok": True, "value": _unb64(kvs[0]["value"]) if kvs else None}
            if op == "write":
                await http_post_json(self.host, self.port, "/v3/kv/put",
                                     {"key": _key(key), "value": _b64(value)}, timeout_s)
                return {"ok": True, "value": value}
            if op == "cas":
                old, new = value
                compare = (
                    {"key": _key(key), "target": "VERSION", "result": "EQUAL", "version": "0"}
                    if old is None
                    else {"key": _key(key), "target": "VALUE", "result": "EQUAL", "value": _b64(old)}
                )
                data = await http_post_json(self.host, self.port, "/v3/kv/txn", {
                    "compare": [compare],
                    "success": [{"request_put": {"key": _key(key), "value": _b64(new)}}],
                }, timeout_s)
                if data.get("succeeded"):
                    return {"ok": True, "value": value}
                return {"ok": False, "error": "cas-mismatch", "definite": True}
            return {"ok": False, "error": "unsupported", "definite": True}
        except EtcdError as e:
            # Reads never take effect, so a failed read is definite; writes may have.
            return {"ok": False, "error": str(e), "definite": op == "read"}
        except (TimeoutError, ConnectionError, OSError) as e:
            if op == "read":
                return {"ok": False, "error": f"{type(e).__name__}: {e}", "definite": True}
            raise

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class EtcdSystem:
    name: str = "etcd"
    workloads: tuple[str, ...] = ("register", "kv")
    bugs: dict[str, str] = field(default_factory=lambda: dict(BUGS))
    traits: SystemTraits = SystemTraits(
        default_nodes=3,
        shared_peer_addresses=True,
        # etcd peers speak gRPC/HTTP2, not JSON lines: proxies must not split lines
        line_protocol=False,
        # a removed member stops itself and can only come back wiped (its member ID is gone)
        removed_member_exits=True,
        rejoin_wiped_only=True,
        # its cut-off leader, alone of three, held the opener's removals a median 13.6 s, and every
        # later membership window ran past its planned stop (0 removals applied in 20 runs)
        side_change_s=3.0,
        unsupported_faults={
            "clock": "etcd is a Go binary and Go reads the wall clock through the vDSO, which "
            "libfaketime (LD_PRELOAD) never intercepts, so a skew would silently do nothing",
        },
    )
    #: reads ask for serializable=true (the seeded bug ``serializable-reads``)
    serializable: bool = False
    #: the member API (the Membership capability); remembers peer URLs across a run's changes
    member_api: EtcdMembers = field(default_factory=EtcdMembers, compare=False, repr=False)

    async def members(self, nodes: Mapping[str, tuple[str, int]], timeout_s: float) -> MembershipView:
        return await self.member_api.members(nodes, timeout_s)

    async def remove_member(self, node: str, nodes: Mapping[str, tuple[str, int]],
                            timeout_s: float) -> MembershipChange:
        return await self.member_api.remove_member(node, nodes, timeout_s)

    async def add_member(self, node: str, nodes: Mapping[str, tuple[str, int]], timeout_s: float,
                         wiped: bool) -> MembershipChange:
        return await self.member_api.add_member(node, nodes, timeout_s, wiped)

    def configure(self, opts: SystemOpts) -> EtcdSystem:
        opts.check_keys(self.name, [])
        return replace(self, serializable=opts.bug == "serializable-reads")

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        binary = config.options.get("etcd_binary") or "etcd"
        adv = config.options.get("advertise_peer") or [config.peer_host, config.peer_port]
        members = {**{n: tuple(a) for n, a in config.peers.items()}, config.name: tuple(adv)}
        cluster = ",".join(f"{n}=http://{h}:{p}" for n, (h, p) in sorted(members.items()))
        client = f"http://{config.client_host}:{config.client_port}"
        # behind a wrapper: a wiped node (the membership fault) joins the running cluster
        return wrapped(config.data_dir, [
            binary, "--name", config.name, "--data-dir", config.data_dir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", f"http://{config.peer_host}:{config.peer_port}",
            "--initial-advertise-peer-urls", f"http://{adv[0]}:{adv[1]}",
            "--initial-cluster", cluster,
            "--initial-cluster-token", str(config.options.get("cluster_token", "splitbrain")),
            "--heartbeat-interval", "100", "--election-timeout", "1000",
            "--logger", "zap", "--log-outputs", "stderr",
        ])

    def client(self, host: str, port: int) -> EtcdClient:
        return EtcdClient(host, port, serializable=self.serializable)

    def setup_node(self, node: NodeHandle) -> None:
        """Fail early, naming the node, when etcd is missing there (rather than a start timeout)."""
        found = node.run(["sh", "-c", "command -v etcd"], timeout_s=10.0)
        if found.exit_code != 0:
            raise HarnessError(f"etcd is not installed on node {node.name}; "
                               "install Debian's etcd-server (make test does)")

    def teardown_node(self, node: NodeHandle) -> None:
        return None


SYSTEM = EtcdSystem()
