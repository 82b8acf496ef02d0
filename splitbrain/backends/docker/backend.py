"""The cluster in containers: one container per node on a private network per run.

Faults act on the kernel, not on a proxy: partitions and loss are iptables
rules in each container's own network namespace (see
:mod:`splitbrain.backends.linux.net`, shared with the ssh backend), delay is
NFQUEUE plus a tiny daemon,
kill is ``docker kill``, pause is the cgroup freezer (``docker pause``), and
clock skew is libfaketime reading ``/data/faketime`` inside the container.
Nodes dial each other's container IPs directly; the control node reaches the
client ports on the same bridge IPs (routable from the host on Linux).

Containers get ``NET_ADMIN`` and nothing else: no host network, no privileged
mode. Each node's data and log live in a named volume mounted at ``/data``,
so a killed node restarts with what it made durable. Every container, network
and volume carries the label ``splitbrain.run=<run id>``; teardown removes
them (also after a partial setup), and ``splitbrain cleanup`` removes what a
dead run left behind. Static IPs keep partition rules valid across restarts.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import ipaddress
import json
import logging
import os
import re
import shutil
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.backends import bringup, faketime, nodesetup
from splitbrain.backends.base import ClusterSpec, Grudge, Measurement, PacketRule
from splitbrain.backends.disk import container as dockerdisk
from splitbrain.backends.disk.lazyjournal import NAME_RULES
from splitbrain.backends.docker import execs, owner
from splitbrain.backends.docker.execs import exec_in
from splitbrain.backends.handles import DockerHandle
from splitbrain.backends.linux import net as linuxnet
from splitbrain.errors import HarnessError, NodeStartError, UsageError
from splitbrain.systems.base import NodeConfig
from splitbrain.systems.capabilities import traits_of

LABEL = owner.RUN
log = logging.getLogger(__name__)

CLIENT_PORT = 7000
PEER_PORT = 7001
#: first of the ports for a system's ``extra_ports`` (ZooKeeper's election port, ...)
EXTRA_PORT_BASE = 7002
LIB = "/opt/splitbrain/lib/libfaketime.so.1"
#: where the node image holds the delay daemon (``image_files/Dockerfile``)
NETDELAY = "/opt/splitbrain/netdelay.py"
CLOCK_FILE = "/data/faketime"
# Redirect the node's output into the volume and make sure the clock file exists before exec.
_WRAP = (f'mkdir -p /data/data; [ -f {CLOCK_FILE} ] || {{ {faketime.write_command(CLOCK_FILE, 0.0)}; }}; '
         'exec "$@" >>/data/node.log 2>&1')
#: a system with a setup hook: the node's command waits (bounded) until the hook ran in the started container
_WRAP_AFTER_SETUP = 'i=0; while [ ! -e /data/.setup-done ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done; ' + _WRAP
FILES_DIR = "/splitbrain-files"


class DockerBackend:
    name = "docker"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.start_timeout_s = float(self.options.get("start_timeout_s", 60.0))
        self.image: str | None = self.options.get("image")
        self.client: Any = None
        self.run_id = ""
        self.run_dir = ""
        self.nodes: list[str] = []
        self.ips: dict[str, str] = {}
        self.containers: dict[str, Any] = {}
        self.commands: dict[str, list[str]] = {}
        self.handles: dict[str, DockerHandle] = {}
        self.system: Any = None
        self.network: Any = None
        self.volumes: list[Any] = []
        self._grudge: dict[str, set[str]] = {}
        self._packet: dict[tuple[str, str], PacketRule] = {}
        self._clock: dict[str, float] = {}
        self._paused: set[str] = set()
        self._killed: set[str] = set()
        self._torn_down = False
        #: node data dirs served by lazyfs inside the containers (a disk fault is scheduled)
        self._disk = False
        #: nodes armed with an fsync error: their container exiting is the fault's doing, not a lost node
        self._may_stop: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="docker-backend")
        # One lock per container: the nemesis applies fault groups concurrently, and an exec into a
        # container that another thread is killing or pausing fails ("cannot exec in a stopped
        # state", exit 137). Under its lock a node is either live (rules applied now) or not
        # (rules recorded, applied by start/resume), never half of each.
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------------ setup / teardown
    async def setup(self, cluster: ClusterSpec) -> None:
        try:
            await asyncio.to_thread(self._setup, cluster)
        except BaseException:
            await asyncio.to_thread(self._teardown)
            raise

    def _setup(self, cluster: ClusterSpec) -> None:
        from splitbrain.backends.docker import images

        if not cluster.nodes:
            raise UsageError("the docker backend needs at least one node")
        # --backend-opt docker_host=... (else DOCKER_HOST, else the default socket): any engine the SDK reaches
        self.client = images.docker_client(self.options.get("docker_host") or None)
        self.run_id, self.run_dir, self.nodes = cluster.run_id, cluster.run_dir, list(cluster.nodes)
        traits = traits_of(cluster.system)
        self.start_timeout_s = max(self.start_timeout_s, traits.start_timeout_s or 0.0)
        self._disk = cluster.disk
        debs = (*traits.debs, *(dockerdisk.DEBS if self._disk else ()))
        self.image = self.image or images.ensure_node_image(debs=tuple(debs), client=self.client)
        atexit.register(self._teardown)
        labels = {LABEL: self.run_id, owner.LABEL: owner.control_id()}
        prefix = "splitbrain-" + re.sub(r"[^a-zA-Z0-9_.-]+", "-", self.run_id).strip("-")
        self.network = self._create_network(prefix, labels)
        subnet = ipaddress.ip_network(self.network.attrs["IPAM"]["Config"][0]["Subnet"])
        hosts = list(subnet.hosts())
        self.ips = {n: str(hosts[10 + i]) for i, n in enumerate(self.nodes)}
        # Every node listens on the same ports; iptables rules on the container IPs cut them all.
        own = {p: EXTRA_PORT_BASE + i for i, p in enumerate(x for x in traits.extra_ports if x != "client")}
        port_of = {"peer": PEER_PORT, "client": CLIENT_PORT, **own}
        addresses = {p: {n: (self.ips[n], port_of[p]) for n in self.nodes} for p in ("peer", *traits.extra_ports)}
        for name in self.nodes:
            config = NodeConfig(name=name, client_host="0.0.0.0", client_port=CLIENT_PORT, peer_host="0.0.0.0",
                                peer_port=PEER_PORT, peers={p: (self.ips[p], PEER_PORT) for p in self.nodes if p != name},
                                data_dir="/data/data", log_file=None, bug=cluster.bug,
                                options={**cluster.options, "advertise_peer": [self.ips[name], PEER_PORT]},
                                ports=dict(own), addresses=addresses, files_dir=FILES_DIR)
            self.commands[name] = list(cluster.system.node_command(config, "python3"))
            wrap = _WRAP_AFTER_SETUP if nodesetup.needs_setup(cluster.system) else _WRAP
            if self._disk:
                names = str(self.options.get("lazyfs_names", "ordered"))
                if names not in NAME_RULES:
                    raise UsageError(f"--backend-opt lazyfs_names={names!r}: allowed values: {', '.join(NAME_RULES)}")
                wrap = dockerdisk.mount_script(f"{self.run_id}:{name}", names) + wrap
            command = ["sh", "-c", wrap, "sh", *self.commands[name]]
            vol = self.client.volumes.create(name=f"{prefix}-{name}", labels=labels)
            self.volumes.append(vol)
            # A system that refuses clock faults runs without libfaketime (Redis cannot start under it).
            env = (faketime.node_env(CLOCK_FILE, LIB, base={})
                   if "clock" not in traits.unsupported_faults else {})
            api = self.client.api
            disk = {"cap_add": ["NET_ADMIN", dockerdisk.CAPABILITY], "devices": [dockerdisk.DEVICE]} if self._disk \
                else {"cap_add": ["NET_ADMIN"]}
            cid = api.create_container(
                self.image, command=command, name=f"{prefix}-{name}", hostname=name, labels=labels,
                environment=env, detach=True,
                host_config=api.create_host_config(binds={vol.name: {"bind": "/data", "mode": "rw"}},
                                                   network_mode=self.network.name, **disk),
                networking_config=api.create_networking_config(
                    {self.network.name: api.create_endpoint_config(ipv4_address=self.ips[name], aliases=[name])}),
            )["Id"]
            self.containers[name] = self.client.containers.get(cid)
            if self._disk:
                dockerdisk.install(self.containers[name])
            self.handles[name] = DockerHandle(name, self.containers[name], FILES_DIR, "/data/data")
            nodesetup.ship(cluster.system, self.handles[name])
        self.system = cluster.system
        list(self._pool.map(self._first_start, self.nodes))
        if nodesetup.needs_setup(cluster.system):
            list(self._pool.map(self._setup_node, self.nodes))
        list(self._pool.map(self._await_node, self.nodes))
        host = self.containers[self.nodes[0]].attrs.get("HostConfig", {})
        _record(self.run_dir, {"backend": "docker", "image": self.image, "network": self.network.name,
                               "ips": self.ips, "delay": "nfqueue", "netem_available": self._netem_available(),
                               "cap_add": host.get("CapAdd"), "privileged": host.get("Privileged"),
                               "devices": [d.get("PathOnHost") for d in host.get("Devices") or []],
                               "lazyfs": self._disk})

    def _first_start(self, name: str) -> None:
        import docker

        try:
            self.containers[name].start()
        except docker.errors.APIError as e:
            if self._disk and "/dev/fuse" in str(e):
                raise UsageError(f"the disk fault cannot run on this docker engine: its host has no /dev/fuse "
                                 f"({e.explanation or e})") from None
            raise

    def _setup_node(self, name: str) -> None:
        """Run the system's setup hook in the started container, then let the node's command go."""
        nodesetup.setup(self.system, self.handles[name])
        self._exec(name, "touch /data/.setup-done")

    def _netem_available(self) -> bool:
        """Whether this kernel has sch_netem (recorded; delay uses NFQUEUE either way, so runs on
        kernels with and without netem inject the same fault)."""
        code, _ = exec_in(self.containers[self.nodes[0]],
                          ["sh", "-c", "tc qdisc add dev lo root netem delay 1ms && tc qdisc del dev lo root"],
                          environment={"LD_PRELOAD": ""})
        return code == 0

    def _create_network(self, name: str, labels: dict[str, str]) -> Any:
        """A bridge network with an explicit subnet (Docker's static IPs need one): let Docker
        pick a free subnet, then recreate the network with that subnet pinned."""
        import docker

        probe = self.client.networks.create(name, driver="bridge", labels=labels)
        probe.reload()
        subnet = probe.attrs["IPAM"]["Config"][0]["Subnet"]
        probe.remove()
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        net = self.client.networks.create(name, driver="bridge", labels=labels, ipam=ipam)
        net.reload()
        return net

    def _await_node(self, name: str) -> None:
        """Wait (bounded by ``start_timeout_s``) until ``name``'s client port accepts, then install its
        fault chains; a container that exits or never opens the port raises NodeStartError."""
        c = self.containers[name]

        def gone() -> str | None:
            import docker

            try:
                c.reload()
            except docker.errors.NotFound:
                return f"container {c.name} was removed while it started (by someone else's cleanup?)"
            return f"container {c.status} before opening its client port" if c.status in ("exited", "dead") else None

        r = bringup.wait_ready(lambda: bringup.port_open_sync(self.ips[name], CLIENT_PORT), gone, self.start_timeout_s)
        if not r.ready:
            state = c.attrs.get("State", {})
            status = state.get("ExitCode") if r.gone else None
            reason = r.gone or (f"client port {self.ips[name]}:{CLIENT_PORT} not accepting after {r.waited_s:.1f} s "
                                f"(deadline {self.start_timeout_s:.0f} s); container {c.status}")
            if state.get("OOMKilled"):
                reason += " (killed: out of memory)"
            raise NodeStartError.of(bringup.StartFailure(
                name, reason, self.commands.get(name, []),
                f"container {c.name} ({c.short_id}) at {self.ips[name]}, image {self.image}", status,
                self._log_tail(name), waited_s=r.waited_s, facts={"state": state.get("Status"),
                                                                 "error": state.get("Error") or None}))
        log.info("%s: client port %s:%d accepting after %.2f s", name, self.ips[name], CLIENT_PORT, r.waited_s)
        self._exec(name, linuxnet.ensure_chains())

    def _log_tail(self, name: str, lines: int = 20) -> str:
        """The node's last output: its node.log in the volume, after anything the wrapper shell printed
        to the container's own stdout/stderr before the redirection took effect."""
        parts = []
        for read in (lambda: self.containers[name].logs(tail=lines), lambda: self._read_volume_file(name, "node.log")):
            try:
                parts.append(read().decode(errors="replace"))
            except Exception:  # noqa: BLE001 - best effort for an error message
                pass
        return bringup.tail_text("".join(p if p.endswith("\n") or not p else p + "\n" for p in parts), lines)

    def _read_volume_file(self, name: str, rel: str) -> bytes:
        stream, _ = self.containers[name].get_archive(f"/data/{rel}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmembers()[0]
            fh = tar.extractfile(member)
            return fh.read() if fh else b""

    async def teardown(self) -> None:
        await asyncio.to_thread(self._teardown)

    def _teardown(self) -> None:
        if self._torn_down or self.client is None:
            return
        self._torn_down = True
        for name, c in self.containers.items():
            try:
                c.reload()
                if c.status == "paused":
                    c.unpause()
                if c.status == "running" and name in self.handles:
                    nodesetup.finish(self.system, self.handles[name])
                if c.status in ("running", "paused"):
                    c.kill()
            except Exception:  # noqa: BLE001 - teardown must go on
                pass
            self._collect(name)
        owner.remove_labelled(self.client, self.run_id, live_too=True)  # our own run: we are its owner
        self._pool.shutdown(wait=False)

    def _collect(self, name: str) -> None:
        """Copy the node's /data (node.log and data/) into run_dir/nodes/<name>/."""
        if not self.run_dir:
            return
        dest = os.path.join(self.run_dir, "nodes", name)
        os.makedirs(dest, exist_ok=True)
        try:
            stream, _ = self.containers[name].get_archive("/data/.")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
                for m in members:
                    m.name = m.name.split("/", 1)[1] if "/" in m.name else ""
                tar.extractall(dest, members=[m for m in members if m.name and not m.name.startswith("..")],
                               filter="data")
            backing, data = os.path.join(dest, "data.disk"), os.path.join(dest, "data")
            if os.path.isdir(backing):  # the lazyfs platter is the node's data dir (as on the local backend)
                shutil.rmtree(data, ignore_errors=True)
                os.rename(backing, data)
                shutil.rmtree(os.path.join(dest, "data.trash"), ignore_errors=True)
        except Exception as e:  # noqa: BLE001 - a missing log must not hide the run's result
            with open(os.path.join(dest, "collect-error.txt"), "w") as fh:
                fh.write(f"{type(e).__name__}: {e}\n")

    # ------------------------------------------------------------------ nodes
    def client_address(self, node: str) -> tuple[str, int]:
        return self.ips[node], CLIENT_PORT

    def _exec(self, name: str, script: str) -> str:
        code, out = exec_in(self.containers[name], ["sh", "-c", script], environment={"LD_PRELOAD": ""})
        text = out.decode(errors="replace")
        if code != 0:
            how = f"exited {code}" if code is not None else f"has no exit code after {execs.EXIT_WAIT_S:.0f} s"
            raise HarnessError(f"in container {name}: `{script[:80]}` {how}: {text.strip()[-300:]}")
        return text

    async def kill(self, node: str) -> None:
        await asyncio.to_thread(self._kill, node)

    def _lock(self, node: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(node, threading.RLock())

    def _kill(self, node: str) -> None:
        with self._lock(node):
            self._kill_locked(node)

    def _kill_locked(self, node: str) -> None:
        c = self.containers[node]
        c.reload()
        if c.status == "paused":
            c.unpause()
        if c.status in ("running", "paused"):
            c.kill()
        c.wait(timeout=30)
        self._paused.discard(node)
        self._killed.add(node)

    async def start(self, node: str) -> None:
        await asyncio.to_thread(self._start, node)

    def _start(self, node: str) -> None:
        with self._lock(node):
            self._start_locked(node)

    def _start_locked(self, node: str) -> None:
        c = self.containers[node]
        c.reload()
        if c.status not in ("running", "paused"):
            c.start()
            self._await_node(node)
        self._killed.discard(node)
        self._may_stop.discard(node)
        self._apply_node(node)

    async def pause(self, node: str) -> None:
        await asyncio.to_thread(self._pause, node)

    def _pause(self, node: str, tries: int = 4) -> None:
        with self._lock(node):
            self._pause_locked(node, tries)

    def _pause_locked(self, node: str, tries: int) -> None:
        """``docker pause``, retried: on a loaded host the cgroup freezer can fail to freeze a busy
        container in runc's window ("unable to freeze") and runc thaws it again, so a retry is safe
        (pausing is idempotent) and is what makes the fault land. Other errors are not retried."""
        import docker

        for attempt in range(1, tries + 1):
            try:
                self.containers[node].pause()
                break
            except docker.errors.APIError as e:
                if "unable to freeze" not in str(e) or attempt == tries:
                    raise
                log.warning("%s: docker pause failed (%s); retrying (%d/%d)", node, e.explanation, attempt, tries)
                time.sleep(0.5 * attempt)
        self._paused.add(node)

    async def resume(self, node: str) -> None:
        def go() -> None:
            with self._lock(node):
                c = self.containers[node]
                c.reload()
                if c.status == "paused":
                    c.unpause()
                self._paused.discard(node)
                if node not in self._killed:
                    self._apply_node(node)
        await asyncio.to_thread(go)

    # ------------------------------------------------------------------ disks
    async def disk(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._disk_request, node, request)

    def _disk_request(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        if not self._disk:
            raise HarnessError(f"{node} has no fault filesystem (the cluster was started without a disk fault)")
        with self._lock(node):
            c = self.containers[node]
            c.reload()
            if c.status != "running":
                try:
                    events = self._read_volume_file(node, dockerdisk.EVENTS.removeprefix("/data/"))
                except Exception:  # noqa: BLE001 - no failed fsync recorded yet
                    events = None
                return dockerdisk.stopped_answer(node, request, events)
            code, out = exec_in(c, dockerdisk.ask_argv(request), environment={"LD_PRELOAD": ""}, exit_wait_s=0)
            if request.get("cmd") == "fsync-error":
                self._may_stop.add(node)  # a correct node stops on the injected EIO (fail-stop): the fault's doing
            elif request.get("cmd") == "clear":
                self._may_stop.discard(node)
            return dockerdisk.parse_answer(node, request, code, out)

    async def power_loss(self, node: str, torn: bool, seed: int) -> dict[str, Any]:
        """Drop what ``node`` never synced, then kill its container (the daemon dies with it, so
        the crash comes first and freezes the disk until the kill)."""
        def go() -> dict[str, Any]:
            with self._lock(node):
                self._killed.add(node)  # a correct node stops by itself on the frozen disk's first EIO
                answer = self._disk_request(node, {"cmd": "crash", "torn": torn, "seed": seed, "freeze": True})
                if answer.get("stopped"):
                    raise HarnessError(f"{node} was not running at the power loss")
                self._kill_locked(node)
                return answer
        return await asyncio.to_thread(go)

    # ------------------------------------------------------------------ faults
    def _live(self) -> list[str]:
        return [n for n in self.nodes if n not in self._killed and n not in self._paused]

    def _apply_node(self, node: str) -> None:
        """Bring one running container's rules, daemons and clock file to the desired state."""
        self._exec(node, linuxnet.partition([self.ips[s] for s in self._grudge.get(node, set())]))
        self._exec(node, linuxnet.packet(self._faults_from(node), NETDELAY))
        self._exec(node, faketime.write_command(CLOCK_FILE, self._clock.get(node, 0.0)))

    def _apply_if_live(self, node: str) -> None:
        with self._lock(node):
            if node in self._live():
                self._apply_node(node)

    def _faults_from(self, src: str) -> list[linuxnet.LinkFault]:
        return [linuxnet.LinkFault(self.ips[dst], linuxnet.QUEUE_BASE + self.nodes.index(dst), r.loss, r.delay_ms,
                                    r.jitter_ms)
                for (s, dst), r in sorted(self._packet.items()) if s == src]

    def _each(self, nodes: list[str], script_for: Any) -> None:
        list(self._pool.map(lambda n: self._exec_if_live(n, script_for), nodes))

    def _exec_if_live(self, node: str, script_for: Any) -> None:
        """Apply a rule to a node that is live once its lock is held; a node killed or paused
        meanwhile gets the recorded rules when it runs again (start/resume re-apply them)."""
        with self._lock(node):
            if node in self._live():
                self._exec(node, script_for(node))

    async def partition(self, grudge: Grudge) -> None:
        unknown = {n for k, v in grudge.items() for n in {k, *v}} - set(self.nodes)
        if unknown:
            raise UsageError(f"grudge names unknown nodes: {sorted(unknown)}")
        old = self._grudge
        self._grudge = {k: set(v) - {k} for k, v in grudge.items() if set(v) - {k}}
        changed = [n for n in self._live() if old.get(n, set()) != self._grudge.get(n, set())]
        await asyncio.to_thread(self._each, changed, lambda n: linuxnet.partition(
            [self.ips[s] for s in self._grudge.get(n, set())]))

    async def packet(self, links: list[tuple[str, str]], rule: PacketRule) -> None:
        for src, dst in links:
            if src not in self.ips or dst not in self.ips:
                raise UsageError(f"unknown link {src}->{dst}")
            if rule.loss or rule.delay_ms or rule.jitter_ms:
                self._packet[(src, dst)] = rule
            else:
                self._packet.pop((src, dst), None)
        srcs = sorted({s for s, _ in links} & set(self._live()))
        await asyncio.to_thread(self._each, srcs, lambda n: linuxnet.packet(self._faults_from(n), NETDELAY))

    async def clock(self, node: str, offset_s: float) -> None:
        if offset_s:
            self._clock[node] = offset_s
        else:
            self._clock.pop(node, None)
        await asyncio.to_thread(self._exec_if_live, node,
                                lambda n: faketime.write_command(CLOCK_FILE, offset_s))

    async def heal(self) -> None:
        def go() -> None:
            for n in list(self._paused):
                with self._lock(n):
                    c = self.containers[n]
                    c.reload()
                    if c.status == "paused":
                        c.unpause()
                    self._paused.discard(n)
            self._grudge, self._packet, self._clock = {}, {}, {}
            list(self._pool.map(self._start, [n for n in self.nodes if n in self._killed or n in self._may_stop]))
            list(self._pool.map(self._apply_if_live, self._live()))
            if self._disk:  # disarm fsync errors and delays
                list(self._pool.map(lambda n: self._disk_request(n, {"cmd": "clear"}), self._live()))
        await asyncio.to_thread(go)

    async def verify(self) -> Measurement:
        return await asyncio.to_thread(self._verify)

    def _verify(self) -> Measurement:
        import docker

        by_ip = {ip: n for n, ip in self.ips.items()}
        cut: list[list[str]] = []
        degraded: list[list[str]] = []
        out = Measurement(cut=cut, degraded=degraded, paused=[], killed=[], clock={},
                          details={"delay_daemons": {}, "states": {}, "wall_skew_s": {}})
        assert out.paused is not None and out.killed is not None and out.clock is not None
        running = []
        for n in self.nodes:
            c = self.containers[n]
            try:
                c.reload()
            except docker.errors.NotFound:
                raise HarnessError(f"container {c.name} of node {n} was removed under the run "
                                   "(someone else's `docker rm` or `splitbrain cleanup --all`?)") from None
            out.details["states"][n] = c.status
            if c.status in ("exited", "dead") and n not in self._killed and n not in self._may_stop:
                out.lost.append(f"node {n}'s container {c.status} without the harness killing it "
                                   f"(exit code {c.attrs.get('State', {}).get('ExitCode')})")
            if c.status == "paused":
                out.paused.append(n)
            elif c.status != "running":
                out.killed.append(n)
            else:
                running.append(n)

        def measure(n: str) -> tuple[str, dict[str, Any], float]:
            with self._lock(n):
                if n not in self._live():  # killed or paused since the status read above
                    return n, {}, 0.0
                before = time.time()
                m = _parse_probe(self._exec(n, _PROBE))
                return n, m, (before + time.time()) / 2

        measured = [r for r in self._pool.map(measure, running) if r[1]]
        running = [n for n, _, _ in measured]
        for n, m, host_now in measured:
            cut += [[by_ip.get(ip, ip), n] for ip in m["drop_from"]]
            degraded += [[n, by_ip.get(ip, ip)] for ip in {*m["loss_to"], *m["delay_to"]}]
            out.details["delay_daemons"][n] = m["daemons"]
            out.faketime[n] = bool(m["faketime"])
            offset = faketime.parse_offset(str(m["faketime"]))
            if offset:
                out.clock[n] = offset  # the file libfaketime reads, as read inside the container
            if m["wall"] is not None:
                out.details["wall_skew_s"][n] = round(m["wall"] - host_now, 3)  # time.time() there minus here
        # A frozen or dead node cannot be measured; it gets its rules and clock the moment it runs
        # again (resume/start re-apply them) and meanwhile receives nothing at all.
        for n in self.nodes:
            if n in running:
                continue
            cut += [[s, n] for s in sorted(self._grudge.get(n, set()))]
            degraded += [[n, d] for (s, d) in self._packet if s == n]
            if self._clock.get(n):
                out.clock[n] = self._clock[n]
        out.details["unmeasured"] = [n for n in self.nodes if n not in running]
        cut.sort()
        degraded.sort()
        return out


#: the network probe, then the wall clock a faked process reads there, then the clock file
_PROBE = (f"{linuxnet.PROBE}; echo {linuxnet.SECTION}; "
          f"LD_PRELOAD={LIB} python3 -c 'import time; print(repr(time.time()))'; echo {linuxnet.SECTION}; "
          f"cat {CLOCK_FILE} 2>/dev/null; true")


def _parse_probe(out: str) -> dict[str, Any]:
    """One container's measured state: blocked sources, lossy/delayed destinations, wall clock."""
    net, rest = linuxnet.parse_probe(out)
    now, fake = (rest + ["", ""])[:2]
    try:
        wall: float | None = float(now.strip().splitlines()[-1])
    except (ValueError, IndexError):
        wall = None
    return {"drop_from": net.drop_from, "loss_to": net.loss_to, "delay_to": net.delay_to, "wall": wall,
            "faketime": fake.strip(), "daemons": net.daemons, "counters": net.counters, "chains_ok": net.chains_ok}


def _record(run_dir: str, facts: dict[str, Any]) -> None:
    """Write ``backend.json`` beside test.json: the image this run's nodes ran and how faults are
    injected (the harness saves test.json from its own config, which does not know these)."""
    if not run_dir or not os.path.isdir(run_dir):
        return
    with open(os.path.join(run_dir, "backend.json"), "w") as fh:
        json.dump(facts, fh)
        fh.write("\n")
