"""A run's configuration from names and flags: a :class:`~splitbrain.harness.config.Test`.

``run``, ``hunt``, campaigns, the pytest plugin and the benches all build their
tests here, so every name is validated the same way before anything starts: a
typo exits 64 listing the valid names, never after a cluster was half started.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from splitbrain.backends.base import DiskBackend, DiskPrecheck, WipingBackend
from splitbrain.errors import HarnessError, UsageError
from splitbrain.registry import BACKENDS, FAULTS, SYSTEMS, WORKLOADS
from splitbrain.systems.capabilities import Membership, OwnWorkloads, SystemOpts, configure, traits_of

#: backend options accepted as their own flags (collected into Test.backend_options)
BACKEND_FLAGS = ("nodes_file", "ssh_user", "ssh_key", "known_hosts", "image")


def parse_nemesis(text: str) -> list[str]:
    """``none`` -> [], ``all`` -> every fault, else a comma list of known faults (order kept, deduplicated)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or parts == ["none"]:
        return []
    if parts == ["all"]:
        return FAULTS.names()
    out: list[str] = []
    for p in parts:
        if ":" in p:
            FAULTS.get(p)  # partition:<topology>; its own message names the valid topologies
        elif p not in FAULTS:
            raise UsageError(f"unknown fault {p!r}; valid: {', '.join(FAULTS.names())}, none, all")
        if p not in out:
            out.append(p)
    return out


def disk_refusal(backend_cls: Any) -> str | None:
    """Why ``backend_cls`` cannot serve data dirs through the fault filesystem here, or None."""
    if not issubclass(backend_cls, DiskBackend):
        return "it has no fault filesystem (disk faults run on the local and docker backends)"
    return backend_cls.disk_unavailable() if issubclass(backend_cls, DiskPrecheck) else None


def load_system(name: str) -> Any:
    """The system a name on the command line means: a registered name (built-in or plugin) or a
    system file (exit 64 for an unknown name, a broken plugin or a bad file)."""
    from splitbrain.systems import sysfile

    if sysfile.is_system_file(name):
        return sysfile.load(name)
    try:
        return SYSTEMS.get(name)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"system {name!r} is not available: {type(e).__name__}: {e}") from None


def maelstrom_system(name: str, binary: str | None, args: tuple[str, ...]) -> Any:
    """The system for ``run maelstrom --bin PATH`` (exit 64 without --bin, 66 when the file is missing)."""
    from splitbrain.systems.maelstrom import system_for

    if binary is None:
        raise UsageError("`splitbrain run maelstrom` needs the node binary: --bin PATH [--bin-arg ARG]...")
    if not Path(binary).is_file():
        from splitbrain.errors import MissingInputError

        raise MissingInputError(f"--bin {binary}: no such file")
    return system_for(binary, list(args), name)


def parse_backend_opts(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--backend-opt expects KEY=VALUE, got {pair!r}")
        out[key.replace("-", "_")] = value
    return out


def build_test(system_name: str, workload: str | None, nemesis: str | None, nodes: int | None, backend: str,
               time_limit: float, concurrency: int | None, rate: float, seed: int | None, bug: str | None,
               store: str, max_ops: int | None, op_timeout: float, nemesis_interval: float,
               backend_options: dict[str, Any], system_opts: dict[str, str] | None = None,
               schedule: str | None = None, ops_per_key: int | None = None,
               clients_per_key: int | None = None,
               binary: str | None = None, bin_args: tuple[str, ...] = ()) -> tuple[Any, Any, Any, Any]:
    """Validate every flag and name; returns (test, system configured for the run, workload, backend class)."""
    from splitbrain.harness.config import Test

    system = maelstrom_system(system_name, binary, bin_args) if system_name == "maelstrom" else load_system(system_name)
    if binary is not None and system_name != "maelstrom":
        raise UsageError("--bin and --bin-arg are for `splitbrain run maelstrom` (a Maelstrom node binary)")
    traits = traits_of(system)
    if nemesis is None:
        nemesis = traits.default_nemesis
    if schedule is not None:
        nemesis, nodes, schedule = _replayed(schedule, nodes)
    workload = workload or (system.workloads[0] if system.workloads else "register")
    own = isinstance(system, OwnWorkloads)
    if not own and workload not in WORKLOADS:
        raise UsageError(f"unknown workload {workload!r}; valid: {', '.join(WORKLOADS.names())}")
    if workload not in system.workloads:
        raise UsageError(f"system {system_name!r} cannot serve workload {workload!r}; "
                         f"it serves: {', '.join(system.workloads)}")
    faults = parse_nemesis(nemesis)
    unsupported = traits.unsupported_faults
    if nemesis.strip() == "all":
        faults = [f for f in faults if f not in unsupported]
    if nemesis.strip() == "all":
        # membership changes are asked for by name (as Jepsen's membership nemesis): `all` keeps the
        # default runs, their figures and their seeded-bug rates, what they were
        faults = [f for f in faults if f != "membership"]
    for f in faults:
        if f in unsupported:
            raise UsageError(f"fault {f!r} cannot act on {system_name}: {unsupported[f]}")
        if f == "membership" and not isinstance(system, Membership):
            raise UsageError(f"fault 'membership' cannot act on {system_name}: the system has no Membership "
                             "capability (members/remove_member/add_member, see splitbrain.systems.capabilities)")
    if bug is not None and bug not in system.bugs:
        valid = ", ".join(sorted(system.bugs)) or "(none)"
        raise UsageError(f"unknown bug {bug!r} for system {system_name!r}; valid: {valid}")
    system = configure(system, SystemOpts(bug=bug, values=dict(system_opts or {})), system_name)
    from splitbrain.backends.nodesetup import check_files

    check_files(system)
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS.names())}")
    n = nodes if nodes is not None else traits.default_nodes
    concurrency = 2 * n if concurrency is None else concurrency
    for label, value, low in (("--nodes", n, 1), ("--concurrency", concurrency, 1), ("--max-ops", max_ops, 1)):
        if value is not None and value < low:
            raise UsageError(f"{label} must be >= {low}, got {value}")
    from splitbrain.workloads.independent import KeySpec

    KeySpec(0 if ops_per_key is None else ops_per_key, 1 if clients_per_key is None else clients_per_key).validate()
    if n > 64:
        raise UsageError(f"--nodes must be <= 64, got {n}")
    if time_limit <= 0 or rate < 0 or op_timeout <= 0 or nemesis_interval <= 0:
        raise UsageError("--time-limit, --op-timeout and --nemesis-interval must be > 0 and --rate >= 0")
    try:
        node_names = [f"n{i}" for i in range(1, n + 1)]
        # a system with workloads of its own (Maelstrom's message shapes) makes them for its cluster
        wl = system.workload_for(workload, node_names) if own else WORKLOADS.get(workload)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"workload {workload!r} is not available: {type(e).__name__}: {e}") from None
    if clients_per_key is None and ops_per_key != 0 and traits.clients_per_key is not None \
            and getattr(wl, "key_spec", None) is not None:
        # the system's own default for independent keys, written into the test (and so into its
        # re-run command) as if given; --ops-per-key 0 (one key for the run) keeps the workload's own
        clients_per_key = traits.clients_per_key
    try:
        backend_cls = BACKENDS.get(backend)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"backend {backend!r} is not available: {type(e).__name__}: {e}") from None
    if "membership" in faults and not issubclass(backend_cls, WipingBackend):
        raise UsageError(f"the membership fault cannot run on the {backend} backend: it cannot wipe a node's data")
    refused = disk_refusal(backend_cls) if any(f.partition(":")[0] == "disk" for f in faults) else None
    if refused and nemesis.strip() == "all":
        faults = [f for f in faults if f.partition(":")[0] != "disk"]
    elif refused:
        raise UsageError(f"the disk fault cannot run on the {backend} backend: {refused}")
    if nemesis.strip() == "all" and backend == "local" and getattr(traits, "shared_peer_addresses", False):
        # the local backend cannot delay (nor verify a degraded link of) a system whose members share
        # peer addresses (etcd): `all` must not end every default run in a packet fault it cannot apply
        faults = [f for f in faults if f != "packet"]
    if faults:
        try:
            import splitbrain.nemesis.schedule  # noqa: F401
        except ImportError as e:
            raise HarnessError(f"the nemesis is not available: {e}") from None
    test = Test(
        system=system_name, workload=workload, nemesis=faults, nodes=node_names, bin=binary, bin_args=list(bin_args),
        backend=backend, backend_options=backend_options, time_limit_s=time_limit, concurrency=concurrency,
        rate=rate, seed=seed if seed is not None else secrets.randbelow(2**31), bug=bug,
        system_opts=dict(system_opts or {}), max_ops=max_ops,
        op_timeout_s=op_timeout, nemesis_interval_s=nemesis_interval, store=store, schedule=schedule,
        ops_per_key=ops_per_key, clients_per_key=clients_per_key,
    )
    return test, system, wl, backend_cls


def _replayed(path: str, nodes: int | None) -> tuple[str, int | None, str]:
    """``--schedule FILE``: its faults become the run's nemesis and its nodes the cluster size."""
    from splitbrain.errors import BadInputError
    from splitbrain.nemesis.plan import Schedule

    sched = Schedule.load(Path(path))
    unknown = [f for f in sched.faults if f not in FAULTS]
    if unknown:
        raise BadInputError(f"unknown fault(s) {', '.join(unknown)}; valid: {', '.join(FAULTS.names())}", path)
    n = nodes if nodes is not None else (len(sched.nodes) or None)
    if n is not None and sched.nodes and len(sched.nodes) != n:
        raise UsageError(f"--schedule {path} was made for {len(sched.nodes)} nodes, not --nodes {n}")
    return ",".join(sched.faults) or "none", n, str(Path(path).resolve())
