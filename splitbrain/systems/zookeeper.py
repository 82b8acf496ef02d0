"""ZooKeeper as a system under test, written against :mod:`splitbrain.api` only.

An ensemble of Debian's ``zookeeper`` (3.8) servers, one per node, driven by
PyPI's ``kazoo``. ZooKeeper promises linearizable writes (every write goes
through the leader and the ZAB atomic broadcast) but only *sequential
consistency* for reads: "ZooKeeper does not guarantee that at every instance
in time, two different clients will have identical views of ZooKeeper data"
(Programmer's Guide, Consistency Guarantees). A read is answered by whichever
server the client is connected to, from its local copy, which may lag the
leader -- and a follower cut off from the leader keeps answering reads until
its ``syncLimit * tickTime`` timeout fires. Calling ``sync()`` first makes the
server catch up with the leader before the read.

So ``--system-opt reads=plain`` (the default) is expected to show stale reads
under partitions and the linearizability checker must find them, while
``--system-opt reads=sync`` is expected to be valid. Other options:
``tick_ms`` (ZooKeeper's ``tickTime``, default 2000 as Debian ships it).

Workloads, each on znodes under ``/splitbrain``:

* ``register``: one znode holding a JSON value. write = ``set`` (``create`` when
  absent), cas = ``get`` then ``set(version=...)``: the versioned set is checked
  at the leader, so a cas that read a stale value fails with ``BadVersion``
  (definite) instead of overwriting.
* ``set``: an add creates the child ``/splitbrain/<key>/<element>`` (the parent
  znode holds no data, which is how a read knows to list the children).
* ``counter``: an increment is a versioned cas loop on one znode.

Each node is ``nodewrap.py`` (shipped with the system) running one JVM, so the
server's output lands in the node log with timestamps. The quorum port is the
node's peer port and the election port an extra port; on the local backend
both go through the harness's proxies, so partitions cut them.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from splitbrain.api import HarnessError, NodeConfig, NodeHandle, SystemOpts, SystemTraits

#: Debian's layout: the server jar (its manifest names its dependencies) and a logger binding
CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ROOT = "/splitbrain"
NODEWRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nodewrap.py")
CONNECT_WAIT_S = 1.0
#: kazoo reports every dropped connection; under a nemesis that is expected, so only errors
#: reach the harness log (the history records what each operation saw)
KAZOO_LOG = logging.getLogger("splitbrain.zookeeper.kazoo")
KAZOO_LOG.setLevel(logging.ERROR)
#: the JVM's heap and GC, sized for five servers on a small shared machine
JVM_FLAGS = ["-Xms64m", "-Xmx256m", "-Djava.net.preferIPv4Stack=true", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Dzookeeper.admin.enableServer=false", "-Dorg.slf4j.simpleLogger.showDateTime=false",
             "-Dorg.slf4j.simpleLogger.showThreadName=false", "-Dorg.slf4j.simpleLogger.showShortLogName=true"]


def server_ids(config: NodeConfig) -> dict[str, int]:
    """ZooKeeper's ``myid`` of every node: its rank among all node names, from 1."""
    return {n: i + 1 for i, n in enumerate(sorted([*config.peers, config.name]))}


def zoo_cfg(config: NodeConfig, tick_ms: int) -> str:
    """This node's zoo.cfg: its own server line binds its real ports, the others' are what it dials."""
    ids = server_ids(config)
    lines = [
        f"tickTime={tick_ms}", "initLimit=10", "syncLimit=5",
        f"dataDir={config.data_dir}", f"clientPort={config.client_port}",
        f"clientPortAddress={config.client_host}",
        "admin.enableServer=false", "standaloneEnabled=false", "reconfigEnabled=false",
        "4lw.commands.whitelist=srvr,mntr,ruok",
        "maxClientCnxns=0",
    ]
    for name, sid in sorted(ids.items(), key=lambda kv: kv[1]):
        if name == config.name:
            host, quorum, elect = config.peer_host, config.peer_port, config.ports["election"]
        else:
            (host, quorum), (_, elect) = config.addresses["peer"][name], config.addresses["election"][name]
        lines.append(f"server.{sid}={host}:{quorum}:{elect}")
    return "\n".join(lines) + "\n"


def wrapper_path(config: NodeConfig) -> str:
    """nodewrap.py on the node: shipped into ``files_dir``, or this package's copy when the
    backend runs nodes on this host without shipping."""
    return os.path.join(config.files_dir, "nodewrap.py") if config.files_dir else NODEWRAP


def _path(key: Any) -> str:
    return f"{ROOT}/{key}"


def _session(hosts: str, session_timeout_s: float) -> tuple[Any, threading.Event]:
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=hosts, timeout=session_timeout_s, logger=KAZOO_LOG,
                     connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
    return zk, zk.start_async()


#: one reading session per server, shared by every client of that server in this process
_READERS: dict[str, tuple[Any, threading.Event]] = {}
_READERS_LOCK = threading.Lock()


def _reader(hosts: str, session_timeout_s: float) -> tuple[Any, threading.Event]:
    with _READERS_LOCK:
        if hosts not in _READERS:
            _READERS[hosts] = _session(hosts, session_timeout_s)
        return _READERS[hosts]


@atexit.register
def _close_readers() -> None:
    with _READERS_LOCK:
        for zk, _ in _READERS.values():
            _stop_quietly(zk)
        _READERS.clear()


class ZkClient:
    """SystemClient pinned to one server: a client sees what its server sees.

    Writes go through the client's own session. Reads go through one session per
    server that only ever reads, shared by the clients of that server: ZooKeeper
    answers a session's requests in order, so a read queued behind a write that
    is waiting for an unreachable leader would wait too (and time out) rather
    than answer from the server's copy. An application's reader threads see
    what this session sees; it is those reads that ZooKeeper documents as only
    sequentially consistent, and ``reads=sync`` that makes them linearizable.
    A session is created by the leader, so a session opened on a server cut
    off from it cannot start; the shared reader is opened with the client,
    before any fault.
    """

    def __init__(self, host: str, port: int, sync_reads: bool, session_timeout_s: float = 10.0) -> None:
        self.hosts = f"{host}:{port}"
        self.sync_reads = sync_reads
        self.session_timeout_s = session_timeout_s
        self._writer: tuple[Any, threading.Event] | None = None
        _reader(self.hosts, session_timeout_s)

    async def _client(self, reads: bool, timeout_s: float) -> Any:
        if reads:
            zk, started = _reader(self.hosts, self.session_timeout_s)
        else:
            if self._writer is None:
                self._writer = _session(self.hosts, self.session_timeout_s)
            zk, started = self._writer
        if not zk.connected:
            # A session that is not up within a second will not be soon (its server lost the
            # leader): fail this op fast, definitely (nothing was sent), and keep the client busy.
            await asyncio.to_thread(started.wait, min(timeout_s, CONNECT_WAIT_S))
        return zk

    async def _call(self, start: Any, timeout_s: float) -> Any:
        """Await a kazoo IAsyncResult from the event loop (kazoo runs its own threads)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def done(result: Any) -> None:
            def settle() -> None:
                if fut.done():
                    return
                try:
                    fut.set_result(result.get_nowait())
                except Exception as e:  # noqa: BLE001 - handed to the awaiting op
                    fut.set_exception(e)
            loop.call_soon_threadsafe(settle)

        start.rawlink(done)
        return await asyncio.wait_for(fut, timeout_s)

    async def invoke(self, op: str, key: Any, value: Any, timeout_s: float) -> dict[str, Any]:
        from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        zk = await self._client(op == "read", timeout_s)
        if not zk.connected:
            return {"ok": False, "error": "not connected to its server", "definite": True}

        def left() -> float:
            return max(0.05, deadline - loop.time())

        async def read_znode(path: str) -> tuple[Any, Any]:
            """The znode's value and stat; a set's parent (empty data) reads as its children."""
            if self.sync_reads:
                await self._call(zk.sync_async(path), left())
            data, stat = await self._call(zk.get_async(path), left())
            if data == b"":
                children = await self._call(zk.get_children_async(path), left())
                return sorted(int(c) for c in children), stat
            return json.loads(data), stat

        try:
            if op == "read":
                try:
                    seen, _ = await read_znode(_path(key))
                except NoNodeError:
                    seen = None
                return {"ok": True, "value": seen}
            if op == "write":
                data = json.dumps(value).encode()
                try:
                    await self._call(zk.set_async(_path(key), data), left())
                except NoNodeError:
                    try:
                        await self._call(zk.create_async(_path(key), data, makepath=True), left())
                    except NodeExistsError:  # created meanwhile: overwrite it
                        await self._call(zk.set_async(_path(key), data), left())
                return {"ok": True, "value": value}
            if op == "cas":
                old, new = value
                try:
                    seen, stat = await read_znode(_path(key))
                except NoNodeError:
                    seen, stat = None, None
                if seen != old:
                    return {"ok": False, "error": "cas-mismatch", "definite": True}
                try:
                    if stat is None:
                        await self._call(zk.create_async(_path(key), json.dumps(new).encode(), makepath=True), left())
                    else:
                        await self._call(zk.set_async(_path(key), json.dumps(new).encode(), stat.version), left())
                except (BadVersionError, NodeExistsError):
                    return {"ok": False, "error": "cas-mismatch", "definite": True}
                return {"ok": True, "value": value}
            if op == "add":
                try:
                    await self._call(zk.create_async(f"{_path(key)}/{int(value)}", b"", makepath=True), left())
                except NodeExistsError:
                    pass  # an earlier attempt of this very add landed
                return {"ok": True, "value": value}
            if op == "incr":
                return await self._incr(zk, _path(key), int(value), left)
            return {"ok": False, "error": "unsupported", "definite": True}
        except (BadVersionError, NoNodeError, NodeExistsError) as e:
            return {"ok": False, "error": type(e).__name__, "definite": True}
        except (TimeoutError, KazooException) as e:
            # A read never takes effect; a write that was sent may have.
            return {"ok": False, "error": type(e).__name__, "definite": op == "read"}

    async def _incr(self, zk: Any, path: str, amount: int, left: Any) -> dict[str, Any]:
        """Read, then a versioned set; a lost race (BadVersion) changed nothing, so try again."""
        from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

        while True:
            try:
                data, stat = await self._call(zk.get_async(path), left())
            except NoNodeError:
                try:
                    await self._call(zk.create_async(path, json.dumps(amount).encode(), makepath=True), left())
                    return {"ok": True, "value": amount}
                except NodeExistsError:
                    continue
            try:
                await self._call(zk.set_async(path, json.dumps(json.loads(data) + amount).encode(), stat.version), left())
                return {"ok": True, "value": amount}
            except BadVersionError:
                await asyncio.sleep(0.005)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(_stop_quietly, writer[0])


async def _four_letters(host: str, port: int, word: bytes, timeout_s: float = 2.0) -> bytes:
    """Ask a server one of ZooKeeper's four-letter words; the answer, up to the server's close."""
    async def ask() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(word)
            await writer.drain()
            return await reader.read(-1)
        finally:
            writer.close()

    return await asyncio.wait_for(ask(), timeout_s)


def _stop_quietly(zk: Any) -> None:
    try:
        zk.stop()
        zk.close()
    except Exception:  # noqa: BLE001 - closing a client of a dead server must not fail the run
        pass


@dataclass(frozen=True)
class ZooKeeperSystem:
    name: str = "zookeeper"
    workloads: tuple[str, ...] = ("register", "set", "counter")
    bugs: dict[str, str] = field(default_factory=dict)
    traits: SystemTraits = SystemTraits(
        default_nodes=3,
        shared_peer_addresses=True,
        line_protocol=False,  # ZAB and leader election are binary protocols
        extra_ports=("election",),
        files={"nodewrap.py": NODEWRAP},
        debs=("default-jre-headless", "libzookeeper-java", "libslf4j-java"),
        start_timeout_s=90.0,  # five JVMs starting at once on a small, busy machine
        # Plain reads go stale only on a follower cut off from a leader that keeps its majority:
        # most of ``partition``'s windows do that (a 30 s run has about four); the rest split the
        # nodes at random or cut the leader off (a stall that synced reads and writes must survive).
        partition_topologies=("isolate-follower", "isolate-follower", "isolate-follower", "isolate-follower",
                              "halves", "bridge", "isolate-leader"),
    )
    #: ``reads=sync``: every read is preceded by sync(), making it linearizable
    sync_reads: bool = False
    tick_ms: int = 2000

    def configure(self, opts: SystemOpts) -> ZooKeeperSystem:
        opts.check_keys(self.name, ["reads", "tick_ms"])
        reads = opts.choice("reads", ["plain", "sync"], "plain")
        return replace(self, sync_reads=reads == "sync", tick_ms=opts.integer("tick_ms", self.tick_ms, 100, 10000))

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        cfg = os.path.join(config.data_dir, "zoo.cfg")
        spec = {
            "files": [{"path": cfg, "text": zoo_cfg(config, self.tick_ms)},
                      {"path": os.path.join(config.data_dir, "myid"), "text": f"{server_ids(config)[config.name]}\n"}],
            "procs": [{"tag": "zookeeper", "argv": ["java", *JVM_FLAGS, "-cp", CLASSPATH, MAIN, cfg]}],
        }
        return [python, wrapper_path(config), json.dumps(spec)]

    def client(self, host: str, port: int) -> ZkClient:
        return ZkClient(host, port, sync_reads=self.sync_reads)

    def promises(self) -> str:
        if self.sync_reads:
            return ("ZooKeeper with reads=sync: every read is preceded by sync(), which makes the server "
                    "catch up with the leader first; with writes ordered by the leader (ZAB) and versioned "
                    "compare-and-set, every operation is expected to be linearizable -- except across a leader "
                    "change: sync() is not a quorum operation, so a deposed leader that has not yet noticed "
                    "answers it from its old state (ZOOKEEPER-1675, open).")
        return ("ZooKeeper with reads=plain (the default): writes are linearizable (ordered by the leader, "
                "ZAB), but a read is answered by the server the client is connected to, from its own copy: "
                "ZooKeeper promises only sequential consistency for reads (Programmer's Guide, 'Consistency "
                "Guarantees': clients may see different views; call sync() first for an up-to-date read). "
                f"A follower cut off from the leader keeps answering reads until it gives up on the leader "
                f"(syncLimit x tickTime = {5 * self.tick_ms / 1000:.0f} s) while the majority moves on, so "
                "stale reads under partitions are its documented behaviour, not a bug: --system-opt "
                "reads=sync removes them.")

    async def leader(self, nodes: Mapping[str, tuple[str, int]]) -> str | None:
        """The node whose ``srvr`` says ``Mode: leader`` (all asked at once)."""
        async def mode(host: str, port: int) -> bytes:
            try:
                return await _four_letters(host, port, b"srvr")
            except (OSError, TimeoutError):
                return b""

        answers = await asyncio.gather(*(mode(h, p) for h, p in nodes.values()))
        leaders = [name for name, out in zip(nodes, answers, strict=True) if b"Mode: leader" in out]
        return leaders[0] if len(leaders) == 1 else None

    async def ready(self, host: str, port: int) -> bool:
        """Serving: the ``srvr`` four-letter word names the server's mode (leader/follower) only
        once it has joined a quorum; before, it says it is not currently serving requests."""
        return b"Mode:" in await _four_letters(host, port, b"srvr")

    def setup_node(self, node: NodeHandle) -> None:
        """Fail early, naming the node, when ZooKeeper or Java is missing there."""
        found = node.run(["sh", "-c", "test -r /usr/share/java/zookeeper.jar && command -v java"], timeout_s=10.0)
        if found.exit_code != 0:
            raise HarnessError(f"ZooKeeper is not installed on node {node.name}; install Debian's "
                               "zookeeper package (make test does)")

    def teardown_node(self, node: NodeHandle) -> None:
        return None


SYSTEM = ZooKeeperSystem()
