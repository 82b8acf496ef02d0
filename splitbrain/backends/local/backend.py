"""Local backend: every node a child process on 127.0.0.1, every link a harness proxy.

Each node gets ``run_dir/nodes/<name>/`` with its data directory and
``node.log`` (its stdout and stderr, capped), a client port and a peer port.
Nodes never dial each other directly: a node's address for a peer is the link
proxy src -> dst (:mod:`splitbrain.backends.local.proxy`), so partitions, delay and
loss act per directed link without root. Systems whose members must agree on
every peer URL (``shared_peer_addresses``, e.g. etcd) get one proxy per
destination that identifies the caller through /proc instead
(:mod:`splitbrain.backends.local.sourceproxy`).

Faults on processes are signals to the node's own process group: SIGKILL (a
restart reuses the same data dir and ports), SIGSTOP/SIGCONT. Wall-clock skew
uses libfaketime (:mod:`splitbrain.backends.faketime`) with one timestamp file
per node. :meth:`LocalBackend.verify` measures what is in effect (proxy
counters, /proc states, /proc/net/tcp, mapped libraries) rather than
repeating what was asked.

Nodes must never outlive the control node: each child sets
``PR_SET_PDEATHSIG(SIGKILL)``. That signal fires when the *thread* that forked
the child exits, so every node is spawned from one long-lived spawner thread
owned by the backend, never from short-lived ``to_thread`` workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.backends import bringup, faketime, nodesetup
from splitbrain.backends.base import ClusterSpec, Grudge, LinkMeasure, Measurement, PacketRule
from splitbrain.backends.disk import mount as diskmount
from splitbrain.backends.disk.lazyjournal import NAME_RULES
from splitbrain.backends.handles import LocalHandle
from splitbrain.backends.local.nodeproc import (
    HOST,
    NodeProc,
    PortLease,
    child_setup,
    free_ports,
    proc_state,
    pump_log,
)
from splitbrain.backends.local.proxy import LinkProxy, ProxyThread, established
from splitbrain.errors import HarnessError, NodeStartError, UsageError
from splitbrain.messages import LinkTap
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.capabilities import WIPED_MARKER, traits_of

log = logging.getLogger(__name__)


class LocalBackend:
    name = "local"
    #: why this machine cannot run disk faults (None: it can); checked before a run starts
    disk_unavailable = staticmethod(diskmount.unavailable)

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        try:
            self.start_timeout_s = float(self.options.get("start_timeout_s", 15.0))
            self.log_max_bytes = int(self.options.get("log_max_bytes", 64 * 1024 * 1024))
        except (TypeError, ValueError) as e:
            raise UsageError(f"local backend options start_timeout_s and log_max_bytes take numbers: {e}") from None
        self.nodes: dict[str, NodeProc] = {}
        self.links: dict[tuple[str, str], LinkProxy] = {}
        self._source_proxies: list[Any] = []  # SourceProxy, one per (node, port peers dial)
        self._cut: frozenset[tuple[str, str]] = frozenset()
        self._fwd_at_cut: dict[tuple[str, str], int] = {}
        self._loss: dict[tuple[str, str], float] = {}
        self._proxies: ProxyThread | None = None
        self._spawner: ThreadPoolExecutor | None = None
        #: the nodes' ports, locked against other runs on this machine until teardown
        self._ports = PortLease()
        self._faketime_pids: set[int] = set()
        self._faketime_lib: str | None = None
        self._env: dict[str, str] = {}
        self._mounts: dict[str, diskmount.Mount] = {}
        self._system: Any = None
        self._handles: list[LocalHandle] = []
        self._torn_down = False
        self._our_kills: set[str] = set()  # nodes down because the harness killed them
        self.lost: list[str] = []          # nodes that died without the harness killing them

    # ------------------------------------------------------------------ lifecycle

    async def setup(self, cluster: ClusterSpec) -> None:
        try:
            await self._setup(cluster)
        except BaseException:
            await self.teardown()
            raise

    async def _setup(self, cluster: ClusterSpec) -> None:
        names = list(cluster.nodes)
        if len(set(names)) != len(names) or not names:
            raise UsageError(f"node names must be distinct and non-empty: {names}")
        system = self._system = cluster.system
        traits = traits_of(system)
        shared, line_protocol = traits.shared_peer_addresses, traits.line_protocol
        self.start_timeout_s = max(self.start_timeout_s, traits.start_timeout_s or 0.0)
        # A system that refuses clock faults runs without libfaketime: some cannot even start under
        # it (Redis: jemalloc and libfaketime recurse through clock_gettime at load time).
        wants_clock = "clock" not in traits.unsupported_faults
        self._faketime_lib = (faketime.library_path()
                              if wants_clock and self.options.get("faketime", faketime.available()) else None)
        self._env = dict(os.environ)
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        self._env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, self._env.get("PYTHONPATH")) if p)
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="splitbrain-spawner")
        self._proxies = ProxyThread()
        self._proxies.start()
        extra_names = tuple(traits.extra_ports)
        if extra_names and not shared:
            raise UsageError(f"system {getattr(system, 'name', '?')!r} declares extra_ports: on the local "
                             "backend that needs shared_peer_addresses=True")
        own = [p for p in extra_names if p != "client"]
        ports = free_ports((2 + len(own)) * len(names), self._ports)
        width = 2 + len(own)
        client_port = {n: ports[width * i] for i, n in enumerate(names)}
        peer_port = {n: ports[width * i + 1] for i, n in enumerate(names)}
        own_ports = {n: {p: ports[width * i + 2 + j] for j, p in enumerate(own)} for i, n in enumerate(names)}
        peers: dict[str, dict[str, tuple[str, int]]] = {n: {} for n in names}
        extra: dict[str, dict[str, Any]] = {n: {} for n in names}
        #: port name -> node -> address every node dials (shared) or this node's own view (per link)
        book: dict[str, dict[str, tuple[str, int]]] = {}
        if shared:
            from splitbrain.backends.local.sourceproxy import SourceProxy

            targets = {"peer": peer_port, **{p: client_port if p == "client" else {n: own_ports[n][p] for n in names}
                                            for p in extra_names}}
            for port_name, target in targets.items():
                book[port_name] = {}
                for dst in names:
                    seed = f"{cluster.run_id}:{dst}" + ("" if port_name == "peer" else f":{port_name}")
                    sp = SourceProxy(dst, (HOST, target[dst]), self._pids, self._is_cut, self._loss_of,
                                     random.Random(seed))
                    book[port_name][dst] = (HOST, await self._proxies.call(sp.start(HOST)))
                    self._source_proxies.append(sp)
            for dst in names:
                for src in names:
                    if src != dst:
                        peers[src][dst] = book["peer"][dst]
                extra[dst]["advertise_peer"] = list(book["peer"][dst])
        else:
            for src in names:
                for dst in names:
                    if src == dst:
                        continue
                    link = LinkProxy(src, dst, (HOST, peer_port[dst]), random.Random(f"{cluster.run_id}:{src}>{dst}"),
                                     line_protocol)
                    peers[src][dst] = (HOST, await self._proxies.call(link.start(HOST)))
                    self.links[(src, dst)] = link
            for (src, dst), link in self.links.items():
                link.reverse = self.links[(dst, src)]
        for name in names:
            ndir = os.path.abspath(os.path.join(cluster.run_dir, "nodes", name))  # nodes run with cwd=ndir
            os.makedirs(os.path.join(ndir, "data"), exist_ok=True)
            addresses = dict(book) if shared else {"peer": {**peers[name], name: (HOST, peer_port[name])}}
            config = NodeConfig(name=name, client_host=HOST, client_port=client_port[name], peer_host=HOST,
                                peer_port=peer_port[name], peers=peers[name], data_dir=os.path.join(ndir, "data"),
                                log_file=None, bug=cluster.bug, options={**cluster.options, **extra[name]},
                                ports=own_ports[name], addresses=addresses, files_dir=os.path.join(ndir, "files"))
            node = NodeProc(name, ndir, config, os.path.join(ndir, "node.log"), os.path.join(ndir, "clock"))
            node.command = list(system.node_command(config, sys.executable))
            open(node.log_path, "ab").close()
            if self._faketime_lib:
                faketime.write_offset(node.clock_file, 0.0)
            self.nodes[name] = node
            if cluster.disk:
                await self._mount(name, ndir, f"{cluster.run_id}:{name}")
        for name in names:
            handle = LocalHandle(name, self.nodes[name].config.files_dir, self.nodes[name].config.data_dir, self._env)
            self._handles.append(handle)
            await asyncio.to_thread(nodesetup.prepare, system, handle)
        for name in names:
            await self._spawn(name)
        await asyncio.gather(*(self._await_up(n) for n in names))

    async def teardown(self) -> None:
        """Kill every node (resuming paused ones first), stop the proxies. Safe to repeat."""
        handles, self._handles = self._handles, []
        for handle in handles:
            await asyncio.to_thread(nodesetup.finish, self._system, handle)
        for node in self.nodes.values():
            self._signal(node, signal.SIGCONT)
            self._signal(node, signal.SIGKILL)
        for node in self.nodes.values():
            if node.proc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(node.proc.wait, 5.0)
            if node.pump is not None:
                await asyncio.to_thread(node.pump.join, 2.0)
            self._release(node)
        await asyncio.to_thread(diskmount.release_all, list(self._mounts.values()))
        self._mounts.clear()
        if self._proxies is not None:
            if self._proxies.alive():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._proxies.call(self._stop_proxies()), 5.0)
            self._proxies.stop()
        if self._spawner is not None:
            self._spawner.shutdown(wait=False)
        self._ports.release()
        self._torn_down = True

    def _release(self, node: NodeProc) -> None:
        """Remove libfaketime's /dev/shm objects of this node's dead processes."""
        for pid in list(node.pids):
            if node.proc is not None and node.proc.pid == pid and node.proc.poll() is None:
                continue  # still running: its objects are in use
            faketime.release(pid)
            node.pids.remove(pid)

    async def _stop_proxies(self) -> None:
        for link in self.links.values():
            await link.stop()
        for sp in self._source_proxies:
            await sp.stop()

    def client_address(self, node: str) -> tuple[str, int]:
        return HOST, self._node(node).config.client_port

    # ------------------------------------------------------------------ messages

    def record_messages(self, origin_ns: int, max_records: int) -> LinkTap | None:
        """Start recording every node-to-node message the link proxies see (``messages.jsonl``);
        None when this cluster has no per-link proxies (shared peer addresses: etcd and the like)."""
        if not self.links:
            return None
        tap = LinkTap(origin_ns, max_records)
        for link in self.links.values():
            link.tap = tap  # one attribute store: the proxy thread sees it on its next message
        return tap

    # ------------------------------------------------------------------ processes

    def _node(self, name: str) -> NodeProc:
        if name not in self.nodes:
            raise UsageError(f"unknown node {name!r}; nodes: {', '.join(self.nodes)}")
        return self.nodes[name]

    def _pids(self) -> dict[str, int]:
        """The process (group leader) of every live node; a node's daemons are that process and its group."""
        return {n.name: n.proc.pid for n in list(self.nodes.values()) if n.proc is not None and n.alive()}

    def _forwarded(self, src: str, dst: str) -> int:
        """Bytes the source proxies forwarded from ``src`` to ``dst``, over every port of ``dst``."""
        return sum(sp.forwarded.get(f"{src}->{dst}", 0) for sp in self._source_proxies)

    def _popen(self, node: NodeProc) -> subprocess.Popen[bytes]:
        env = self._env
        if self._faketime_lib:
            env = faketime.node_env(node.clock_file, self._faketime_lib, self._env)
        parent = os.getpid()
        return subprocess.Popen(node.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, cwd=node.dir, process_group=0,
                                preexec_fn=lambda: child_setup(parent))

    async def _spawn(self, name: str) -> None:
        node = self._node(name)
        assert self._spawner is not None
        loop = asyncio.get_running_loop()
        try:
            node.proc = await loop.run_in_executor(self._spawner, self._popen, node)
        except OSError as e:
            raise NodeStartError.of(self._failure(node, f"cannot execute {node.command[0]!r}: {e}", None, 0.0)) from None
        node.pids.append(node.proc.pid)
        assert node.proc.stdout is not None
        node.pump = threading.Thread(target=pump_log, args=(node.proc.stdout, node.log_path, self.log_max_bytes),
                                     name=f"splitbrain-log-{name}", daemon=True)
        node.pump.start()

    async def _await_up(self, name: str) -> None:
        """Wait (bounded by ``start_timeout_s``) until the node's client port accepts; a node that
        exits or never opens its port raises NodeStartError with its command and last output."""
        node = self._node(name)

        def gone() -> str | None:
            if node.proc is None:
                return "never spawned"
            return None if node.proc.poll() is None else "exited before opening its client port"

        r = await bringup.wait_ready_async(lambda: bringup.port_open(HOST, node.config.client_port), gone,
                                           self.start_timeout_s)
        if r.ready:
            log.info("%s: client port %d accepting after %.2f s", name, node.config.client_port, r.waited_s)
            return
        status = None if node.proc is None else node.proc.poll()
        if status is not None and node.pump is not None:
            await asyncio.to_thread(node.pump.join, 2.0)  # the pump drains the pipe: the node's last words
        reason = r.gone or (f"client port {HOST}:{node.config.client_port} not accepting after "
                            f"{r.waited_s:.1f} s (deadline {self.start_timeout_s:.0f} s); the process is still "
                            f"running (state {proc_state(node.proc.pid) if node.proc else '?'})")
        raise NodeStartError.of(self._failure(node, reason, status, r.waited_s))

    def _failure(self, node: NodeProc, reason: str, status: int | None, waited_s: float) -> bringup.StartFailure:
        pid = node.proc.pid if node.proc is not None else None
        return bringup.StartFailure(node.name, reason, list(node.command),
                                    f"local process{f' pid {pid}' if pid else ''} on {HOST}, cwd {node.dir}",
                                    status, self.log_tail(node.name), waited_s=waited_s,
                                    facts={"log": node.log_path})

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            with open(self.nodes[name].log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.nodes[name].log_path) - 16384))
                return b"\n".join(fh.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except (OSError, KeyError):
            return ""

    def _signal(self, node: NodeProc, sig: int) -> None:
        if node.proc is None or node.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(node.proc.pid, sig)

    async def kill(self, node: str) -> None:
        n = self._node(node)
        self._our_kills.add(node)
        self._signal(n, signal.SIGKILL)
        if n.proc is not None:
            await asyncio.to_thread(n.proc.wait, 10.0)
        self._release(n)

    async def start(self, node: str) -> None:
        n = self._node(node)
        if n.alive():
            return
        self._note_unexpected()
        await self._spawn(node)
        await self._await_up(node)
        self._our_kills.discard(node)

    def _note_unexpected(self) -> None:
        """Record nodes found dead that the harness did not kill (a crash, or someone else's kill -9):
        the run cannot vouch for what it tested once its cluster changed under it."""
        for n in self.nodes.values():
            if n.proc is not None and not n.alive() and n.name not in self._our_kills:
                why = (f"node {n.name} (pid {n.proc.pid}) died without the harness killing it: exit status "
                       f"{bringup.describe_status(n.proc.returncode)}")
                if why not in self.lost:
                    log.error("%s", why)
                    self.lost.append(why)

    async def wipe(self, node: str) -> None:
        """Empty a killed node's data dir and leave the wiped marker (the ``membership`` fault: a
        node that comes back as new). Refused while the node runs: its files are open."""
        n = self._node(node)
        if n.alive():
            raise HarnessError(f"cannot wipe node {node}: it is running")
        data = n.config.data_dir

        def empty() -> None:
            for entry in os.listdir(data):
                path = os.path.join(data, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            with open(os.path.join(data, WIPED_MARKER), "w") as fh:
                fh.write("wiped by the harness: join the running cluster as a new member\n")

        await asyncio.to_thread(empty)

    async def pause(self, node: str) -> None:
        n = self._node(node)
        self._signal(n, signal.SIGSTOP)
        await self._await_state(n, "T")

    async def resume(self, node: str) -> None:
        n = self._node(node)
        self._signal(n, signal.SIGCONT)
        await self._await_state(n, None)

    async def _await_state(self, n: NodeProc, state: str | None) -> None:
        """Wait (briefly) until /proc shows the node stopped (``"T"``) or not stopped (None)."""
        for _ in range(100):
            if n.proc is None or not n.alive():
                return
            s = proc_state(n.proc.pid)
            if (s == "T") == (state == "T"):
                return
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ disks

    async def _mount(self, name: str, ndir: str, source: str) -> None:
        reason = diskmount.unavailable()
        if reason:
            raise UsageError(f"the disk fault cannot run on the local backend: {reason}")
        names = str(self.options.get("lazyfs_names", "ordered"))
        if names not in NAME_RULES:
            raise UsageError(f"--backend-opt lazyfs_names={names!r}: allowed values: {', '.join(NAME_RULES)}")
        m = self._mounts[name] = diskmount.Mount.under(ndir, name)
        await asyncio.to_thread(diskmount.start, m, sys.executable, source, self._env, diskmount.KERNEL_CACHE_S, names)

    async def disk(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        self._node(node)
        if node not in self._mounts:
            raise HarnessError(f"{node} has no fault filesystem (the cluster was started without a disk fault)")
        if request.get("cmd") == "fsync-error":
            self._our_kills.add(node)  # a node may stop on the injected EIO (fail-stop): the fault's doing
        elif request.get("cmd") == "clear" and self._node(node).alive():
            self._our_kills.discard(node)
        return await asyncio.to_thread(diskmount.control, self._mounts[node].control, request)

    async def power_loss(self, node: str, torn: bool, seed: int) -> dict[str, Any]:
        """Kill ``node``, then drop what it never synced (its daemon outlives it, so in this order
        nothing can be written between the crash and the kill)."""
        await self.kill(node)
        return await self.disk(node, {"cmd": "crash", "torn": torn, "seed": seed})

    # ------------------------------------------------------------------ network and clocks

    def _is_cut(self, src: str | None, dst: str | None) -> bool:
        return src is not None and dst is not None and (src, dst) in self._cut

    def _loss_of(self, src: str | None, dst: str | None) -> float:
        return self._loss.get((src, dst), 0.0) if src is not None and dst is not None else 0.0

    def _check_links(self, links: list[tuple[str, str]]) -> None:
        for src, dst in links:
            self._node(src), self._node(dst)
            if src == dst:
                raise UsageError(f"no link from {src} to itself")

    async def partition(self, grudge: Grudge) -> None:
        cut = {(src, dst) for dst, srcs in grudge.items() for src in srcs if src != dst}
        self._check_links(sorted(cut))
        assert self._proxies is not None
        await self._proxies.call(self._apply_cut(frozenset(cut)))

    async def _apply_cut(self, cut: frozenset[tuple[str, str]]) -> None:
        # On the proxies' own loop: no byte is between the source proxies' cut check and their
        # counters while the cut set and the counters' baseline change.
        self._cut = cut
        self._fwd_at_cut = {(a, d): self._forwarded(a, d) for a, d in cut} if self._source_proxies else {}
        for key, link in self.links.items():
            link.set_cut(key in cut)
        if not cut:
            for sp in self._source_proxies:
                sp.reset(tainted_only=True)  # streams a cut broke: start them clean

    async def packet(self, links: list[tuple[str, str]], rule: PacketRule) -> None:
        self._check_links(links)
        if not 0.0 <= rule.loss <= 1.0 or rule.delay_ms < 0 or rule.jitter_ms < 0:
            raise UsageError(f"bad packet rule {rule}: loss in [0, 1], delay and jitter >= 0")
        if self._source_proxies and (rule.delay_ms or rule.jitter_ms):
            raise HarnessError("the local backend cannot delay links of a shared-peer-address system (loss only)")
        for key in links:
            if rule.loss:
                self._loss[key] = rule.loss
            else:
                self._loss.pop(key, None)
        assert self._proxies is not None
        await self._proxies.call(self._apply_rule([self.links[k] for k in links if k in self.links], rule))

    async def _apply_rule(self, links: list[LinkProxy], rule: PacketRule) -> None:
        for link in links:
            link.set_rule(rule)

    async def clock(self, node: str, offset_s: float) -> None:
        n = self._node(node)
        if not self._faketime_lib:
            raise HarnessError("clock faults need libfaketime; this backend started without it")
        faketime.write_offset(n.clock_file, offset_s)

    # ------------------------------------------------------------------ verify and heal

    async def verify(self) -> Measurement:
        links = await self.link_counters()
        bypass: dict[str, int] = {}
        if self._proxies is not None and self._proxies.alive() and self.links:
            bypass = await self._bypassing()
        if self._source_proxies:
            # The cut set is what the proxies consult; the counters prove nothing crossed it.
            cut = sorted([*k] for k in self._cut)
            leaking = sorted(f"{a}->{d}" for (a, d), n in self._fwd_at_cut.items() if self._forwarded(a, d) > n)
        else:
            cut = sorted([v.src, v.dst] for v in links.values() if v.cut)
            leaking = sorted(k for k, v in links.items() if v.cut and v.forwarded_since_cut > 0)
        out = Measurement(
            cut=cut, leaking=leaking, links=links,
            degraded=sorted([v.src, v.dst] for v in links.values() if v.loss or v.delay_ms or v.jitter_ms),
            paused=sorted(n.name for n in self.nodes.values() if n.alive() and n.proc is not None
                          and proc_state(n.proc.pid) == "T"),
            killed=sorted(n.name for n in self.nodes.values() if not n.alive()),
            lost=self._lost_now(), clock={},
            details={"proxies_alive": bool(self._proxies and self._proxies.alive()), "bypass": bypass})
        if self._mounts:
            out.disk = {name: await self.disk(name, {"cmd": "stats"}) for name in sorted(self._mounts)
                        if diskmount.mounted(self._mounts[name].mountpoint)}
        if self._faketime_lib:
            for n in self.nodes.values():
                off = faketime.read_offset(n.clock_file)
                if off and out.clock is not None:
                    out.clock[n.name] = off
                if n.proc is not None and n.alive():
                    out.faketime[n.name] = self._faketime_loaded(n.proc.pid)
        return out

    def _faketime_loaded(self, pid: int) -> bool:
        """Whether libfaketime is mapped into ``pid``; read from /proc once per process (a mapped
        library stays mapped; the read costs tens of milliseconds of the main loop under load)."""
        if pid not in self._faketime_pids and faketime.loaded_in(pid):
            self._faketime_pids.add(pid)
        return pid in self._faketime_pids

    def _lost_now(self) -> list[str]:
        self._note_unexpected()
        return list(self.lost)

    async def link_counters(self) -> dict[str, LinkMeasure]:
        """The link counters alone (see ``backends.base.LinkCounting``): the link proxies', or with
        source proxies (nodes that dial their peers from ports of their own) theirs, per pair."""
        if self._source_proxies:
            return {f"{a}->{d}": LinkMeasure(a, d, (a, d) in self._cut, self._forwarded(a, d), sum(
                sp.dropped.get(a, 0) + sp.dropped.get(f"{a}->{d}", 0) for sp in self._source_proxies if sp.dst == d))
                for a in self.nodes for d in self.nodes if a != d}
        if self._proxies is None or not self._proxies.alive() or not self.links:
            return {}
        return await self._proxies.call(self._measure_links())

    async def _measure_links(self) -> dict[str, LinkMeasure]:
        return {
            link.name: LinkMeasure(
                link.src, link.dst, link.cut, link.stats.forwarded_bytes, link.stats.dropped_bytes,
                link.rule.delay_ms, link.rule.jitter_ms, link.rule.loss,
                link.stats.forwarded_bytes - link.forwarded_at_cut if link.cut else 0,
                {**vars(link.stats), "live": link.live_connections()})
            for link in self.links.values()
        }

    async def _bypassing(self) -> dict[str, int]:
        """Per node, peer connections into it that did not come from one of its proxies (seen twice
        0.05 s apart, so a proxy connection caught opening is not one). /proc/net/tcp is read in a
        thread: on the proxies' loop the read (a quarter second on a loaded machine) stalled every
        link, long enough for a Raft follower to start an election."""
        ports = {name: node.config.peer_port for name, node in self.nodes.items()}
        first = await self._foreign_peers(ports)
        if not first:
            return {}
        await asyncio.sleep(0.05)
        second = await self._foreign_peers(ports)
        still = {n: first[n] & second.get(n, set()) for n in first}
        return {n: len(s) for n, s in still.items() if s}

    async def _foreign_peers(self, ports: dict[str, int]) -> dict[str, set[int]]:
        assert self._proxies is not None
        seen = await asyncio.to_thread(established, set(ports.values()))
        ours = await self._proxies.call(self._upstreams())  # after the read: a proxy link opening meanwhile is ours
        foreign = {n: set(seen.get(p, ())) - ours.get(n, set()) for n, p in ports.items()}
        return {n: s for n, s in foreign.items() if s}

    async def _upstreams(self) -> dict[str, set[int]]:
        ours: dict[str, set[int]] = {}
        for (_, d), link in self.links.items():
            ours.setdefault(d, set()).update(link.upstream_ports())
        return ours

    async def heal(self) -> None:
        errors: list[str] = []
        steps: list[Any] = [self.partition({})]
        if self.links:
            steps.append(self.packet(list(self.links), PacketRule()))
        self._loss.clear()
        for n in self.nodes.values():
            if self._faketime_lib and faketime.read_offset(n.clock_file) != 0.0:
                faketime.write_offset(n.clock_file, 0.0)
            if n.alive():
                steps.append(self.resume(n.name))
        steps += [self.disk(name, {"cmd": "clear"}) for name in self._mounts]
        for step in steps:
            try:
                await step
            except Exception as e:  # noqa: BLE001 - heal every other fault regardless
                errors.append(f"{type(e).__name__}: {e}")
        dead = [n.name for n in self.nodes.values() if not n.alive()]
        results = await asyncio.gather(*(self.start(n) for n in dead), return_exceptions=True)
        errors += [str(r) for r in results if isinstance(r, BaseException)]
        if errors:
            raise HarnessError("heal incomplete: " + "; ".join(errors))
