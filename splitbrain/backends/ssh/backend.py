"""The SSH backend: nodes on real hosts, reached from the control node over SSH, as Jepsen does.

One paramiko connection per host, kept for the whole run (TCP_NODELAY, one
reconnect on a dropped connection); commands fan out across hosts in
parallel. Host keys are checked against ``known_hosts`` and an unknown or
changed key is refused unless ``--insecure-host-keys`` is given: never added
silently. Every remote command is built from quoted argv
(:mod:`splitbrain.backends.ssh.remote` for the node's process,
:mod:`splitbrain.backends.linux.net` for network faults, the same rules the
docker backend applies), and ``sudo -n`` is prefixed when the user is not root.

Install: splitbrain's system code (stdlib only) and libfaketime's library
are uploaded by SFTP into ``/tmp/splitbrain-<run id>`` on each host; nodes run
there as daemons with pid files; their logs and data listings are fetched
back into the run directory at teardown, and the remote directory removed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.backends import bringup, faketime, nodesetup, onnode
from splitbrain.backends.base import ClusterSpec, Grudge, Measurement, PacketRule
from splitbrain.backends.handles import SshHandle
from splitbrain.backends.linux import net as linuxnet
from splitbrain.backends.ssh import remote
from splitbrain.backends.ssh.connection import Connection
from splitbrain.backends.ssh.hosts import Host, load_nodes_file
from splitbrain.errors import HarnessError, NodeStartError, UsageError
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.capabilities import traits_of

log = logging.getLogger(__name__)

CLIENT_PORT = 7101
PEER_PORT = 7102


@dataclass
class _Node:
    name: str
    host: Host
    workdir: str
    config: NodeConfig
    argv: list[str]
    env: dict[str, str]


def _faketime_lib() -> Path | None:
    try:
        import libfaketime  # type: ignore[import-untyped]
    except ImportError:
        return None
    for p in Path(libfaketime.__file__).parent.rglob("libfaketime.so.1"):
        return p
    return None


class SshBackend:
    """Backend over SSH. Options: nodes_file, ssh_user, ssh_key, known_hosts, insecure_host_keys."""

    name = "ssh"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        opts = dict(options or {})
        self.nodes_file = opts.get("nodes_file")
        if not self.nodes_file:
            raise UsageError("--backend ssh needs --nodes-file FILE (one host[:port] a line); "
                             "`splitbrain lab up` makes local test hosts")
        self.user = opts.get("ssh_user") or "root"
        self.key = opts.get("ssh_key")
        self.known_hosts = opts.get("known_hosts") or os.path.expanduser("~/.ssh/known_hosts")
        self.insecure = bool(opts.get("insecure_host_keys"))
        self.hosts = load_nodes_file(self.nodes_file)
        self.conns: dict[str, Connection] = {}
        self.nodes: dict[str, _Node] = {}
        self.cluster: ClusterSpec | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16)
        self._killed: set[str] = set()
        self._paused: set[str] = set()
        self._clock: dict[str, float] = {}
        self._grudge: Grudge = {}
        self._packet = False
        self._links: dict[tuple[str, str], PacketRule] = {}
        self._torn_down = False
        self._netem: bool | None = None
        try:
            self.start_timeout_s = float(opts.get("start_timeout_s", 30.0))
        except (TypeError, ValueError):
            raise UsageError("backend option start_timeout_s takes seconds") from None

    # ------------------------------------------------------------------ plumbing
    async def _each(self, fn: Any, names: list[str]) -> list[Any]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(self._pool, fn, n) for n in names)))

    def _run(self, node: str, command: str, **kw: Any) -> str:
        return self.conns[node].run(command, **kw)

    # ------------------------------------------------------------------ lifecycle
    def check_nodes(self, nodes: list[str]) -> None:
        """Refuse a cluster bigger than the nodes file before anything is written (a usage error)."""
        if len(nodes) > len(self.hosts):
            raise UsageError(f"{len(nodes)} nodes requested but {self.nodes_file} lists "
                             f"{len(self.hosts)} hosts (pass --nodes {len(self.hosts)})")

    async def setup(self, cluster: ClusterSpec) -> None:
        self.cluster = cluster
        self.check_nodes(list(cluster.nodes))
        if traits_of(cluster.system).extra_ports:
            raise UsageError(f"system {getattr(cluster.system, 'name', '?')!r} needs more peer ports than one "
                             "(SystemTraits.extra_ports): the ssh backend does not give them yet; use local or docker")
        for name, host in zip(cluster.nodes, self.hosts, strict=False):
            self.conns[name] = Connection(host, self.user, self.key, self.known_hosts, self.insecure)
        # Connect everywhere first: a bad host fails the run before anything is installed or injected.
        await self._each(lambda n: self.conns[n].connect(), cluster.nodes)
        await self._each(lambda n: self._run(n, "command -v python3 >/dev/null && command -v iptables >/dev/null "
                                              "|| { echo 'needs python3 and iptables' >&2; exit 1; }"), cluster.nodes)
        safe_id = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in cluster.run_id)
        workdir = f"/tmp/splitbrain-{safe_id}"
        addr = {n: self.conns[n].host.address for n in cluster.nodes}
        lib = _faketime_lib()
        for i, name in enumerate(cluster.nodes):
            cfg = NodeConfig(
                name=name, client_host="0.0.0.0", client_port=CLIENT_PORT, peer_host="0.0.0.0", peer_port=PEER_PORT,
                peers={m: (addr[m], PEER_PORT) for m in cluster.nodes if m != name},
                data_dir=f"{workdir}/data", log_file=f"{workdir}/node.log", bug=cluster.bug,
                options={**cluster.options, "advertise_peer": [addr[name], PEER_PORT], "node_index": i},
                files_dir=f"{workdir}/files",
            )
            env = {"PYTHONPATH": workdir}
            if lib is not None:
                env.update(LD_PRELOAD=f"{workdir}/libfaketime.so.1", FAKETIME_TIMESTAMP_FILE=f"{workdir}/faketime",
                           FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
            self.nodes[name] = _Node(name, self.conns[name].host, workdir, cfg,
                                     cluster.system.node_command(cfg, "python3"), env)
        await self._each(self._install, cluster.nodes)
        await self._each(lambda n: nodesetup.prepare(cluster.system, self._handle(n)), cluster.nodes)
        await self._each(self._start, cluster.nodes)
        await self._each(self._await_ready, cluster.nodes)

    def _handle(self, name: str) -> SshHandle:
        node = self.nodes[name]
        return SshHandle(name, self.conns[name], node.config.files_dir, node.config.data_dir)

    def _install(self, name: str) -> None:
        node = self.nodes[name]
        conn = self.conns[name]
        conn.run(f"rm -rf {remote.q(node.workdir)} && mkdir -p {remote.q(node.workdir + '/data')} && "
                 f"chown -R {remote.q(self.user)} {remote.q(node.workdir)}")
        sftp = conn.sftp()
        try:
            made: set[str] = set()
            for rel, local in onnode.node_files().items():
                d = f"{node.workdir}/{os.path.dirname(rel)}"
                parts = d.split("/")
                for k in range(2, len(parts) + 1):
                    sub = "/".join(parts[:k])
                    if sub and sub not in made:
                        try:
                            sftp.mkdir(sub)
                        except OSError:
                            pass
                        made.add(sub)
                sftp.put(str(local), f"{node.workdir}/{rel}")
            lib = _faketime_lib()
            if lib is not None:
                sftp.put(str(lib), f"{node.workdir}/libfaketime.so.1")
            with sftp.open(f"{node.workdir}/faketime", "w") as fh:
                fh.write(faketime.offset_text(0.0))
        finally:
            sftp.close()
        conn.run(linuxnet.ensure_chains())

    def _start(self, name: str) -> None:
        """Run the node's start command once (never retried: a second copy would fight the first);
        it returns when the node's pid is recorded."""
        node = self.nodes[name]
        conn = self.conns[name]
        status, _, err = conn.run_status(remote.start_daemon(node.workdir, node.argv, node.env,
                                                             f"{node.workdir}/node.log", f"{node.workdir}/node.pid"),
                                         retry=False)
        if status != 0:
            raise NodeStartError.of(self._failure(name, f"the start command exited {status}: {err.strip()[-300:]}",
                                                  None, 0.0))

    def _await_ready(self, name: str) -> None:
        """Wait (bounded by ``start_timeout_s``) until the node's client port accepts from here."""
        host, port = self.client_address(name)
        pidfile = f"{self.nodes[name].workdir}/node.pid"
        states: list[str] = []

        def gone() -> str | None:
            status, out, _ = self.conns[name].run_status(remote.pid_state(pidfile))
            states.append(out.strip())
            return f"the node process is gone (remote state {out.strip()!r})" if out.strip() in ("dead", "Z") else None

        r = bringup.wait_ready(lambda: bringup.port_open_sync(host, port), gone, self.start_timeout_s)
        if r.ready:
            log.info("%s: client port %s:%d accepting after %.2f s", name, host, port, r.waited_s)
            return
        reason = r.gone or (f"client port {host}:{port} not accepting after {r.waited_s:.1f} s (deadline "
                            f"{self.start_timeout_s:.0f} s); remote process state {states[-1] if states else '?'}")
        # A daemon's exit status is its parent's (init's) to collect, not ours: the remote state says it.
        raise NodeStartError.of(self._failure(name, reason, None, r.waited_s))

    def _failure(self, name: str, reason: str, status: int | None, waited_s: float) -> bringup.StartFailure:
        node, conn = self.nodes[name], self.conns[name]
        try:
            _, out, _ = conn.run_status(f"tail -n {bringup.TAIL_LINES} {remote.q(node.workdir + '/node.log')} 2>&1")
        except HarnessError as e:
            out = f"(cannot read the node's log: {e})"
        return bringup.StartFailure(name, reason, list(node.argv),
                                    f"ssh host {conn.host.address}:{conn.host.port}, workdir {node.workdir}", status,
                                    bringup.tail_text(out), transport=conn.state(), waited_s=waited_s,
                                    facts={"log": f"{node.workdir}/node.log"})

    def client_address(self, node: str) -> tuple[str, int]:
        return self.conns[node].host.address, CLIENT_PORT

    async def teardown(self) -> None:
        if self._torn_down or not self.nodes:
            self._pool.shutdown(wait=False)
            return
        self._torn_down = True
        names = list(self.nodes)

        def finish(name: str) -> None:
            node = self.nodes[name]
            pid = f"{node.workdir}/node.pid"
            try:
                if self.cluster is not None:
                    self._run(name, remote.signal_pidfile(pid, "CONT"), check=False)
                    nodesetup.finish(self.cluster.system, self._handle(name))
                self._run(name, remote.signal_pidfile(pid, "CONT") + "; " + remote.signal_pidfile(pid, "KILL")
                          + "; " + faketime.release_command(pid), check=False)
                self._run(name, linuxnet.remove(), check=False)
                self._collect(name)
                self._run(name, f"rm -rf {remote.q(node.workdir)}", check=False)
            except Exception:  # noqa: BLE001 - teardown must reach every host
                pass
            finally:
                self.conns[name].close()

        await self._each(finish, names)
        self._pool.shutdown(wait=False)

    def _collect(self, name: str) -> None:
        if self.cluster is None:
            return
        dest = Path(self.cluster.run_dir) / "nodes" / name
        dest.mkdir(parents=True, exist_ok=True)
        node = self.nodes[name]
        listing = self._run(name, f"ls -laR {remote.q(node.workdir + '/data')}", check=False)
        (dest / "data-listing.txt").write_text(listing)
        sftp = self.conns[name].sftp()
        try:
            sftp.get(f"{node.workdir}/node.log", str(dest / "node.log"))
        except OSError:
            pass
        finally:
            sftp.close()

    # ------------------------------------------------------------------ faults
    async def kill(self, node: str) -> None:
        pid = f"{self.nodes[node].workdir}/node.pid"
        await self._each(lambda n: self._run(n, remote.signal_pidfile(pid, "KILL") + "; "
                                             + faketime.release_command(pid)), [node])
        self._killed.add(node)
        self._paused.discard(node)

    async def start(self, node: str) -> None:
        await self._each(self._start, [node])
        self._killed.discard(node)

    async def pause(self, node: str) -> None:
        await self._each(lambda n: self._run(n, remote.signal_pidfile(f"{self.nodes[n].workdir}/node.pid", "STOP")),
                         [node])
        self._paused.add(node)

    async def resume(self, node: str) -> None:
        await self._each(lambda n: self._run(n, remote.signal_pidfile(f"{self.nodes[n].workdir}/node.pid", "CONT")),
                         [node])
        self._paused.discard(node)

    async def partition(self, grudge: Grudge) -> None:
        addr = {n: self.conns[n].host.address for n in self.nodes}
        self._grudge = {k: set(v) for k, v in grudge.items()}
        await self._each(lambda n: self._run(n, linuxnet.partition([addr[s] for s in grudge.get(n, ())],
                                                                   keep_port=self.conns[n].host.port)),
                         list(self.nodes))

    async def packet(self, links: list[tuple[str, str]], rule: PacketRule) -> None:
        """Loss and delay on directed links: loss is an iptables rule per link; delay is netem on the
        whole device where the hosts' kernel has it, otherwise NFQUEUE + the uploaded delay daemon
        per link (as the docker backend does)."""
        for src, dst in links:
            if src not in self.nodes or dst not in self.nodes or src == dst:
                raise UsageError(f"unknown link {src}->{dst}")
            if rule.loss or rule.delay_ms or rule.jitter_ms:
                self._links[(src, dst)] = rule
            else:
                self._links.pop((src, dst), None)
        if self._netem is None:
            first = next(iter(self.nodes))
            self._netem = "ok" in self._run(first, linuxnet.netem_available(self._dev(first)) + " && echo ok",
                                            check=False)
        srcs = sorted({s for s, _ in links})
        await self._each(self._apply_packet, srcs)
        self._packet = bool(self._links)

    def _apply_packet(self, src: str) -> None:
        addr = {n: self.conns[n].host.address for n in self.nodes}
        order = list(self.nodes)
        mine = {dst: r for (s, dst), r in self._links.items() if s == src}
        faults = [linuxnet.LinkFault(addr[d], linuxnet.QUEUE_BASE + order.index(d), r.loss,
                                     0.0 if self._netem else r.delay_ms, 0.0 if self._netem else r.jitter_ms)
                  for d, r in sorted(mine.items())]
        self._run(src, linuxnet.packet(faults, f"{self.nodes[src].workdir}/netdelay.py"))
        if self._netem:
            delay = max([r.delay_ms for r in mine.values()], default=0.0)
            jitter = max([r.jitter_ms for r in mine.values()], default=0.0)
            self._run(src, linuxnet.netem_delay(self._dev(src), delay, jitter))

    def _dev(self, node: str) -> str:
        out = self._run(node, "ip -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'",
                        check=False).strip()
        return out or "eth0"

    async def clock(self, node: str, offset_s: float) -> None:
        wd = self.nodes[node].workdir
        await self._each(lambda n: self._run(n, faketime.write_command(f"{wd}/faketime", offset_s)), [node])
        self._clock[node] = offset_s

    async def verify(self) -> Measurement:
        """Measured state per host: iptables rules in our chains, process state, wall clock vs ours."""

        def probe(n: str) -> dict[str, Any]:
            wd = self.nodes[n].workdir
            t0 = time.time()
            sep = f"echo {linuxnet.SECTION}"
            out = self._run(n, f"{linuxnet.PROBE}; {sep}; {remote.pid_state(wd + '/node.pid')}; {sep}; "
                               f"cat {remote.q(wd + '/faketime')} 2>/dev/null; echo; {sep}; "
                               "tc qdisc show 2>/dev/null | grep netem; true", check=False)
            net, rest = linuxnet.parse_probe(out)
            state, fake, qdisc = (rest + ["", "", ""])[:3]
            return {"dropped_from": net.drop_from, "state": state.strip(), "faketime": fake.strip(),
                    "degraded_to": net.degraded_to, "netem": "netem" in qdisc, "rtt_s": round(time.time() - t0, 4)}

        names = list(self.nodes)
        results = await self._each(probe, names)
        by_addr = {self.conns[n].host.address: n for n in names}
        blocked = sorted((by_addr.get(a, a), n) for n, r in zip(names, results, strict=True) for a in r["dropped_from"])
        paused = sorted(n for n, r in zip(names, results, strict=True) if r["state"] == "T")
        dead = sorted(n for n, r in zip(names, results, strict=True) if r["state"] in ("dead", "Z", "nopid"))
        clock = {n: faketime.parse_offset(r["faketime"]) or 0.0 for n, r in zip(names, results, strict=True)}
        return Measurement(
            cut=[list(x) for x in blocked], paused=paused, killed=dead,
            lost=[f"node {n} on {self.conns[n].host.address} is {'gone' if r['state'] != 'Z' else 'a zombie'} "
                  "without the harness killing it" for n, r in zip(names, results, strict=True)
                  if n in dead and n not in self._killed],
            clock={n: off for n, off in clock.items() if off},
            degraded=sorted([n, by_addr.get(a, a)] for n, r in zip(names, results, strict=True)
                            for a in r["degraded_to"]),
            details={"hosts": dict(zip(names, results, strict=True))})

    async def heal(self) -> None:
        names = list(self.nodes)
        await self._each(lambda n: self._run(n, linuxnet.heal(), check=False), names)
        if self._links:
            await self.packet(list(self._links), PacketRule())
        for n in list(self._paused):
            await self.resume(n)
        for n in list(self._clock):
            await self.clock(n, 0.0)
        self._clock.clear()
        for n in list(self._killed):
            await self.start(n)
        self._grudge = {}
        self._packet = False
