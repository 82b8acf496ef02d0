"""Redis with Sentinel as a system under test, written against :mod:`splitbrain.api` only.

Every node runs Debian's ``redis-server`` and ``redis-sentinel`` (7.0), the
usual layout: one primary (the first node) and replicas, and a sentinel beside
each. Replication is asynchronous: the primary acknowledges a write before
any replica has it. When the sentinels that can still talk to each other (a
majority, ``quorum`` = majority) stop hearing from the primary for
``down_after_ms``, they elect one of themselves to fail over, promote a
replica, and repoint the others. Meanwhile the old primary, cut off with its
own sentinel and the clients that ask that sentinel, keeps acknowledging
writes; when the partition heals it is turned into a replica of the new
primary and resynchronised from it, discarding them. Those are *acknowledged
writes lost by design* (Redis' replication docs; Jepsen, 2013).
``--system-opt wait=N`` makes every write wait (``WAIT N timeout``) until N
replicas acknowledged it; a write that does not get them is reported
indefinite. It narrows the window; it cannot close it, since the write already
applied on the primary stays there, and a failover may still pick a replica
that never got it.

A client is pinned to its node's sentinel (PyPI ``redis``'s ``Sentinel``): each
operation asks it for the primary (``discover_master``) and runs there, so
clients on the cut-off side keep writing to the old primary while the others
follow the failover. The primary that answered is named in each operation's
``node`` (read from its ``dbfilename``, ``splitbrain-<node>.rdb``), which is how
the report's localization quotes the old primary's and the new primary's logs
(``+switch-master``, ``MASTER MODE enabled``) next to the writes that were lost.

Peers reach a node's redis-server on its peer port and its sentinel on its
client port, both through the harness's proxies on the local backend
(``extra_ports=("client",)``), so partitions cut replication and sentinel
gossip alike; the control node's own clients reach the sentinel directly.
Redis and Sentinel rewrite their configs on failover; the node keeps them
across restarts (``nodewrap``'s ``keep``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from splitbrain.api import HarnessError, NodeConfig, NodeHandle, SystemOpts, SystemTraits

SERVICE = "splitbrain"
NODEWRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nodewrap.py")
#: compare-and-set in one atomic step on the primary (``ARGV[3]`` says the expected value is absent)
CAS_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if (ARGV[3] == '1' and v == false) or (ARGV[3] == '0' and v == ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
#: one atomic read whatever the key holds: a string (register) or a set of integers
READ_SCRIPT = """#!lua flags=no-writes
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'set' then return {t, redis.call('SMEMBERS', KEYS[1])} end
if t == 'string' then return {t, redis.call('GET', KEYS[1])} end
return {t}
"""


#: redis-server address -> node name, learnt once per address (a node keeps its address for the run)
NAMES: dict[tuple[str, int], str] = {}


def _node_name(config_get: Any) -> str | None:
    """The node name in a ``CONFIG GET dbfilename`` answer (``splitbrain-<node>.rdb``)."""
    fname = str((config_get or {}).get("dbfilename", ""))
    if fname.startswith("splitbrain-") and fname.endswith(".rdb"):
        return fname[len("splitbrain-"):-len(".rdb")]
    return None


def primary_of(config: NodeConfig) -> str:
    """The initial primary: the first node by name (every node computes the same)."""
    return min([*config.peers, config.name])


def _addr(config: NodeConfig, port: str, node: str) -> tuple[str, int]:
    host, p = config.addresses[port][node]
    return host, int(p)


def redis_conf(config: NodeConfig) -> str:
    me_host, me_port = _addr(config, "peer", config.name)
    lines = [
        f"port {config.peer_port}", f"bind {config.peer_host}", "protected-mode no",
        f"dir {config.data_dir}", f"dbfilename splitbrain-{config.name}.rdb",
        "appendonly yes", "appendfsync always", 'save ""', 'logfile ""', "daemonize no",
        "repl-diskless-sync-delay 0", "repl-ping-replica-period 1", "repl-timeout 5",
        f"replica-announce-ip {me_host}", f"replica-announce-port {me_port}",
    ]
    primary = primary_of(config)
    if config.name != primary:
        host, port = _addr(config, "peer", primary)
        lines.append(f"replicaof {host} {port}")
    return "\n".join(lines) + "\n"


def sentinel_conf(config: NodeConfig, down_after_ms: int) -> str:
    me_host, me_port = _addr(config, "client", config.name)
    host, port = _addr(config, "peer", primary_of(config))
    quorum = (len(config.peers) + 1) // 2 + 1
    return "\n".join([
        f"port {config.client_port}", f"bind {config.client_host}", "protected-mode no",
        f"dir {config.data_dir}", 'logfile ""', "daemonize no",
        f"sentinel announce-ip {me_host}", f"sentinel announce-port {me_port}",
        f"sentinel monitor {SERVICE} {host} {port} {quorum}",
        f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}",
        f"sentinel failover-timeout {SERVICE} {max(3 * down_after_ms, 6000)}",
        f"sentinel parallel-syncs {SERVICE} 1",
    ]) + "\n"


class RedisSentinelClient:
    """SystemClient pinned to one node's sentinel; every operation runs on the primary it names."""

    def __init__(self, host: str, port: int, wait_replicas: int, wait_timeout_ms: int) -> None:
        self.sentinel_addr = (host, port)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._sentinel: Any = None
        self._primaries: dict[tuple[str, int], Any] = {}

    async def _primary(self, timeout_s: float) -> tuple[Any, tuple[str, int]]:
        from redis.asyncio import Redis
        from redis.asyncio.sentinel import Sentinel

        if self._sentinel is None:
            self._sentinel = Sentinel([self.sentinel_addr], socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s)
        host, port = await self._sentinel.discover_master(SERVICE)
        addr = (str(host), int(port))
        if addr not in self._primaries:
            self._primaries[addr] = Redis(host=addr[0], port=addr[1], socket_timeout=timeout_s,
                                          socket_connect_timeout=timeout_s, retry_on_timeout=False,
                                          single_connection_client=True)
        return self._primaries[addr], addr

    async def _name(self, conn: Any, addr: tuple[str, int]) -> str | None:
        """The node name of the redis-server at ``addr`` (from its own dbfilename, never replicated)."""
        if addr not in NAMES:
            name = _node_name(await conn.config_get("dbfilename"))
            if name:
                NAMES[addr] = name
        return NAMES.get(addr)

    async def invoke(self, op: str, key: Any, value: Any, timeout_s: float) -> dict[str, Any]:
        """One operation, bounded by ``timeout_s`` as a whole (asking the sentinel included)."""
        state = {"sent": False}
        try:
            return await asyncio.wait_for(self._invoke(op, key, value, timeout_s, state), timeout_s)
        except TimeoutError:
            return {"ok": False, "error": "timeout", "definite": op == "read" or not state["sent"]}

    async def _invoke(self, op: str, key: Any, value: Any, timeout_s: float, state: dict[str, bool]) -> dict[str, Any]:
        from redis.asyncio.sentinel import MasterNotFoundError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ReadOnlyError, RedisError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            conn, addr = await self._primary(timeout_s)
        except (RedisError, OSError) as e:
            return {"ok": False, "error": f"no primary: {type(e).__name__}", "definite": True}
        sent = False
        try:
            node = await self._name(conn, addr)
            extra = {"node": node} if node else {}
            k = f"splitbrain:{key}"
            sent = state["sent"] = True
            if op == "read":
                got = await conn.eval(READ_SCRIPT, 1, k)
                kind = got[0].decode() if isinstance(got[0], bytes) else str(got[0])
                if kind == "set":
                    return {"ok": True, "value": sorted(int(m) for m in got[1]), **extra}
                if kind == "string":
                    return {"ok": True, "value": json.loads(got[1]), **extra}
                return {"ok": True, "value": None, **extra}
            if op == "write":
                await conn.set(k, json.dumps(value))
            elif op == "cas":
                old, new = value
                done = await conn.eval(CAS_SCRIPT, 1, k, json.dumps(old), json.dumps(new), "1" if old is None else "0")
                if not done:
                    return {"ok": False, "error": "cas-mismatch", "definite": True, **extra}
            elif op == "add":
                await conn.sadd(k, int(value))
            else:
                return {"ok": False, "error": "unsupported", "definite": True}
            if self.wait_replicas:
                acked = await conn.wait(self.wait_replicas, self.wait_timeout_ms)
                if acked < self.wait_replicas:
                    # Applied on the primary but not on enough replicas: it may or may not survive.
                    return {"ok": False, "error": f"wait: {acked}/{self.wait_replicas} replicas", "definite": False,
                            **extra}
            return {"ok": True, "value": value, **extra}
        except (ReadOnlyError, MasterNotFoundError) as e:
            # A replica (or no primary) refused it before executing anything.
            await self._forget(addr)
            return {"ok": False, "error": type(e).__name__, "definite": True}
        except ResponseError as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}", "definite": True}
        except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as e:
            await self._forget(addr)
            return {"ok": False, "error": type(e).__name__, "definite": op == "read" or not sent}

    async def _forget(self, addr: tuple[str, int]) -> None:
        conn = self._primaries.pop(addr, None)
        if conn is not None:
            try:
                await conn.aclose()
            except Exception:  # noqa: BLE001 - the connection is broken already
                pass

    async def close(self) -> None:
        for addr in list(self._primaries):
            await self._forget(addr)
        if self._sentinel is not None:
            for s in self._sentinel.sentinels:
                try:
                    await s.aclose()
                except Exception:  # noqa: BLE001
                    pass


@dataclass(frozen=True)
class RedisSentinelSystem:
    name: str = "redis-sentinel"
    workloads: tuple[str, ...] = ("set", "register")
    bugs: dict[str, str] = field(default_factory=dict)
    traits: SystemTraits = SystemTraits(
        default_nodes=3,
        shared_peer_addresses=True,  # sentinels hand peers' addresses around: all must see the same
        line_protocol=False,
        extra_ports=("client",),  # peers dial the sentinel on the client port too
        files={"nodewrap.py": NODEWRAP},
        debs=("redis-server", "redis-sentinel"),
        # Acknowledged writes are lost when the primary is cut off with its clients long enough for
        # a failover: most of ``partition``'s windows cut the primary off (alone or in a minority);
        # the rest split the nodes at random (a failover only when the primary lands on the small side)
        partition_topologies=("isolate-leader", "isolate-leader", "leader-minority", "halves"),
        unsupported_faults={
            "clock": "Debian's redis-server does not start under libfaketime (measured: its jemalloc "
            "calls clock_gettime while libfaketime initialises, libfaketime breaks the recursion by "
            "failing the call, and the server hangs), so a skew cannot be injected",
        },
    )
    #: ``wait=N``: every write waits for N replica acknowledgements (0: plain asynchronous replication)
    wait_replicas: int = 0
    wait_timeout_ms: int = 1000
    down_after_ms: int = 2000

    def configure(self, opts: SystemOpts) -> RedisSentinelSystem:
        opts.check_keys(self.name, ["wait", "wait_timeout_ms", "down_after_ms"])
        return replace(self, wait_replicas=opts.integer("wait", 0, 0, 10),
                       wait_timeout_ms=opts.integer("wait_timeout_ms", self.wait_timeout_ms, 1, 60000),
                       down_after_ms=opts.integer("down_after_ms", self.down_after_ms, 100, 60000))

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        rconf = os.path.join(config.data_dir, "redis.conf")
        sconf = os.path.join(config.data_dir, "sentinel.conf")
        spec = {
            "files": [{"path": rconf, "text": redis_conf(config), "keep": True},
                      {"path": sconf, "text": sentinel_conf(config, self.down_after_ms), "keep": True}],
            "procs": [{"tag": "redis", "argv": ["redis-server", rconf]},
                      {"tag": "sentinel", "argv": ["redis-sentinel", sconf]}],
        }
        wrapper = os.path.join(config.files_dir, "nodewrap.py") if config.files_dir else NODEWRAP
        return [python, wrapper, json.dumps(spec)]

    def client(self, host: str, port: int) -> RedisSentinelClient:
        return RedisSentinelClient(host, port, self.wait_replicas, self.wait_timeout_ms)

    def promises(self) -> str:
        text = ("Redis with Sentinel: replication is asynchronous, so the primary acknowledges a write "
                "before any replica has it, and Sentinel fails over to a replica when a majority of "
                "sentinels cannot reach the primary. The Redis documentation says so (Replication; "
                "Sentinel: 'Sentinel + Redis distributed system does not guarantee that acknowledged "
                "writes are retained during failures, since Redis uses asynchronous replication'): an old primary cut off with its clients keeps acknowledging "
                "writes that are discarded when it rejoins as a replica, and reads on either side can be "
                "stale. Lost acknowledged writes under a partition of the primary are its documented "
                "behaviour.")
        if self.wait_replicas:
            text += (f" This run uses WAIT {self.wait_replicas} on every write: a write is acknowledged only "
                     f"once {self.wait_replicas} replica(s) have it (else it is reported indefinite), which "
                     "narrows the window but cannot close it (the write already applied on the primary, "
                     "and a failover may promote a replica without it).")
        return text

    async def leader(self, nodes: Mapping[str, tuple[str, int]]) -> str | None:
        """The primary most sentinels name (each asked on its node, all at once), as a node name."""
        from redis.asyncio import Redis

        async def ask(host: str, port: int) -> tuple[str, int] | None:
            sentinel = Redis(host=host, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
            try:
                addr: Any = await sentinel.sentinel_get_master_addr_by_name(SERVICE)
                if not addr:
                    return None
                host = addr[0].decode() if isinstance(addr[0], bytes) else str(addr[0])
                return host, int(addr[1])
            except Exception:  # noqa: BLE001 - a sentinel cut off or down just does not vote
                return None
            finally:
                await sentinel.aclose()

        answers = await asyncio.gather(*(ask(h, p) for h, p in nodes.values()))
        votes: dict[tuple[str, int], int] = {}
        for addr in answers:
            if addr is not None:
                votes[addr] = votes.get(addr, 0) + 1
        if not votes:
            return None
        addr = max(votes, key=lambda a: votes[a])
        if addr not in NAMES:
            primary = Redis(host=addr[0], port=addr[1], socket_timeout=2.0, socket_connect_timeout=2.0)
            try:
                name = _node_name(await primary.config_get("dbfilename"))
            finally:
                await primary.aclose()
            if name:
                NAMES[addr] = name
        return NAMES.get(addr)

    async def ready(self, host: str, port: int) -> bool:
        """Ready when this node's sentinel can authorise a failover (``CKQUORUM``) and knows a
        replica on every other node it knows a sentinel on: the layout failovers act on."""
        from redis.asyncio import Redis

        sentinel = Redis(host=host, port=port, socket_timeout=2.0, socket_connect_timeout=2.0)
        try:
            quorum = await sentinel.execute_command("SENTINEL", "CKQUORUM", SERVICE)
            state: Any = await sentinel.sentinel_master(SERVICE)
        finally:
            await sentinel.aclose()
        ok = (quorum.decode() if isinstance(quorum, bytes) else str(quorum)).startswith("OK")
        return ok and int(state.get("num-slaves", 0)) >= int(state.get("num-other-sentinels", 0))

    def setup_node(self, node: NodeHandle) -> None:
        found = node.run(["sh", "-c", "command -v redis-server && command -v redis-sentinel"], timeout_s=10.0)
        if found.exit_code != 0:
            raise HarnessError(f"Redis is not installed on node {node.name}; install Debian's "
                               "redis-server and redis-sentinel (make test does)")

    def teardown_node(self, node: NodeHandle) -> None:
        return None


SYSTEM = RedisSentinelSystem()
