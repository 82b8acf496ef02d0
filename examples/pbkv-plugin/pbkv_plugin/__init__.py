"""splitbrain plugin for pbkv, a primary-backup key-value store (see ``server.py``).

Written against ``splitbrain.api`` only, as any third-party plugin would be.
The server is one stdlib-only file, shipped to every node (``traits.files``),
so the same plugin runs on the local, docker and ssh backends.

Options (``--system-opt``): ``failover=SECONDS`` (default 1.0) -- how long a
backup waits for the primary before promoting itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from splitbrain.api import NodeConfig, SystemClient, SystemOpts, SystemTraits, WireClient

SERVER = Path(__file__).with_name("server.py")


@dataclass(frozen=True)
class PbkvSystem:
    name: str = "pbkv"
    #: the first is the default workload: a set shows lost acknowledged adds directly
    workloads: tuple[str, ...] = ("set", "register")
    bugs: dict[str, str] = field(default_factory=dict)  # the flaw is the design, not a switch
    #: what `run pbkv` injects without --nemesis: the faults that expose its flaw
    traits: SystemTraits = SystemTraits(default_nodes=3, files={"pbkv_server.py": str(SERVER)},
                                        default_nemesis="partition,kill")
    failover_s: float = 1.0

    def configure(self, opts: SystemOpts) -> PbkvSystem:
        opts.check_keys(self.name, ["failover"])
        return replace(self, failover_s=opts.number("failover", 1.0, low=0.1))

    def node_command(self, config: NodeConfig, python: str) -> list[str]:
        peers = ",".join(f"{n}={h}:{p}" for n, (h, p) in sorted(config.peers.items()))
        return [
            python, f"{config.files_dir}/pbkv_server.py", "--name", config.name,
            "--nodes", ",".join(sorted([config.name, *config.peers])),
            "--listen", config.client_host, "--port", str(config.client_port),
            "--peer-listen", config.peer_host, "--peer-port", str(config.peer_port),
            "--peers", peers, "--data", config.data_dir, "--failover", str(self.failover_s),
        ]

    def client(self, host: str, port: int) -> SystemClient:
        return WireClient(host, port)


SYSTEM = PbkvSystem()
