"""``splitbrain run`` and ``splitbrain systems``.

Every name on the command line is validated before anything starts: a typo
exits 64 listing the valid names, never after a cluster was half started.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import click

from splitbrain.errors import HarnessError, UsageError
from splitbrain.registry import BACKENDS, BUILT_IN, CHECKERS, FAULTS, SYSTEMS, WORKLOADS
from splitbrain.systems.capabilities import Membership, SystemOpts, configure, parse_system_opts, traits_of

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
    if not hasattr(backend_cls, "disk"):
        return "it has no fault filesystem (disk faults run on the local and docker backends)"
    check = getattr(backend_cls, "disk_unavailable", None)
    return check() if callable(check) else None


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
    if not hasattr(system, "workload_for") and workload not in WORKLOADS:
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
        wl = system.workload_for(workload, node_names) if hasattr(system, "workload_for") else WORKLOADS.get(workload)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"workload {workload!r} is not available: {type(e).__name__}: {e}") from None
    try:
        backend_cls = BACKENDS.get(backend)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"backend {backend!r} is not available: {type(e).__name__}: {e}") from None
    if "membership" in faults and not hasattr(backend_cls, "wipe"):
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


class RunCommand(click.Command):
    """``run --help`` lists the names SYSTEM, --workload, --backend and --nemesis take (from the
    registries, so plugins show up) and the exit codes a script or CI job sees."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from splitbrain.errors import EXIT_CODES_HELP

        with formatter.section("Choices"):
            formatter.write_dl([
                ("SYSTEM", ", ".join(SYSTEMS.names())),
                ("--workload", ", ".join(WORKLOADS.names())),
                ("--backend", ", ".join(BACKENDS.names())),
                ("--nemesis", ", ".join(FAULTS.names()) + " (comma-separated), all, none"),
            ])
        with formatter.section("Exit codes"):
            formatter.write_dl(EXIT_CODES_HELP)


@click.command(cls=RunCommand)
@click.argument("system")
@click.option("--workload", "-w", default=None, help="Workload (default: the system's first, usually register).")
@click.option("--nemesis", default=None,
              help="F1,F2 | none | all. Default: all (every fault the system and backend support, composed "
              "into bursts), none for memkv.")
@click.option("--nodes", type=int, default=None, help="Cluster size (default: the system's, usually 5).")
@click.option("--backend", default="local", show_default=True)
@click.option("--time-limit", type=float, default=30.0, show_default=True, help="Seconds of main phase.")
@click.option("--concurrency", type=int, default=None,
              help="Client workers (default: 2 per node, as Jepsen does: a client stuck on a cut-off node "
              "leaves another there to observe it).")
@click.option("--rate", type=float, default=100.0, show_default=True,
              help="Ops/s overall; 0 = unlimited (independent keys keep every key checkable).")
@click.option("--seed", type=int, default=None, help="Drives every random choice (default: random, recorded).")
@click.option("--bug", default=None, help="Seeded bug to enable in the system.")
@click.option("--system-opt", multiple=True, metavar="KEY=VALUE",
              help="Option for the system under test (repeatable; see `splitbrain systems`).")
@click.option("--store", default="store", show_default=True)
@click.option("--max-ops", type=int, default=None, help="Stop the main phase after this many ops.")
@click.option("--op-timeout", type=float, default=3.0, show_default=True, help="Seconds before an op is info.")
@click.option("--nemesis-interval", type=float, default=5.0, show_default=True,
              help="Time scale of the schedule: mean fault window and recovery gap, in seconds.")
@click.option("--schedule", "schedule_file", default=None, metavar="FILE",
              help="Replay a stored schedule.json (same faults, targets and offsets) instead of drawing one "
              "from the seed; --nemesis is then ignored.")
@click.option("--ops-per-key", type=int, default=None,
              help="register, rw-register, kv: ops on one key before its clients move to a fresh key, so every "
              "key's history stays checkable at any rate and length (0 = never move on; "
              "default 200, kv 100).")
@click.option("--clients-per-key", type=int, default=None,
              help="register, rw-register, kv: clients sharing a key at a time (default 10, kv 5).")
@click.option("--nodes-file", default=None, help="ssh backend: hosts file.")
@click.option("--ssh-user", default=None)
@click.option("--ssh-key", default=None)
@click.option("--known-hosts", default=None)
@click.option("--insecure-host-keys", is_flag=True, default=False, help="ssh backend: accept unknown host keys.")
@click.option("--image", default=None, help="docker backend: image to run nodes in.")
@click.option("--backend-opt", multiple=True, help="Extra backend option KEY=VALUE (repeatable).")
@click.option("--consistency-models", "txn_models", default=None,
              help="Transactional workloads: models that must hold (Elle's names; default strict-serializable).")
@click.option("--anomalies", "txn_anomalies", default=None, help="Transactional workloads: anomalies to reject.")
@click.option("--bin", "binary", default=None, help="maelstrom: the node binary (any language; Maelstrom protocol).")
@click.option("--bin-arg", "bin_args", multiple=True, help="maelstrom: an argument for the binary (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the verdict.")
def run(system: str, workload: str | None, nemesis: str | None, nodes: int | None, backend: str, time_limit: float,
        concurrency: int | None, rate: float, seed: int | None, bug: str | None, system_opt: tuple[str, ...],
        store: str, max_ops: int | None,
        op_timeout: float, nemesis_interval: float, nodes_file: str | None, ssh_user: str | None,
        ssh_key: str | None, known_hosts: str | None, insecure_host_keys: bool, image: str | None,
        backend_opt: tuple[str, ...], txn_models: str | None, txn_anomalies: str | None, as_json: bool,
        schedule_file: str | None, ops_per_key: int | None, clients_per_key: int | None,
        binary: str | None, bin_args: tuple[str, ...]) -> None:
    """Run one test: start SYSTEM, drive clients under faults, check the history, write the report."""
    from splitbrain.checkers.cli import txn_options
    from splitbrain.harness.progress import live_allowed
    from splitbrain.harness.runner import Run

    options: dict[str, Any] = parse_backend_opts(backend_opt)
    for key, value in (("nodes_file", nodes_file), ("ssh_user", ssh_user), ("ssh_key", ssh_key),
                       ("known_hosts", known_hosts), ("image", image)):
        if value is not None:
            options[key] = value
    if insecure_host_keys:
        options["insecure_host_keys"] = True
    test, sysobj, wl, backend_cls = build_test(
        system, workload, nemesis, nodes, backend, time_limit, concurrency, rate, seed, bug, store,
        max_ops, op_timeout, nemesis_interval, options, parse_system_opts(system_opt), schedule_file, ops_per_key,
        clients_per_key, binary, bin_args)
    test.checker_options = txn_options(txn_models, txn_anomalies)
    be = backend_cls(dict(options))
    if callable(getattr(be, "check_nodes", None)):  # e.g. more nodes than the ssh nodes file lists
        be.check_nodes(list(test.nodes))
    r = Run(test, sysobj, wl, be, live=live_allowed(as_json), stream=sys.stderr if as_json else sys.stdout)
    outcome = asyncio.run(r.execute())
    res = outcome.results
    if as_json:
        click.echo(json.dumps({
            "run_dir": str(outcome.run_dir), "valid": res.get("valid"),
            "checkers": {k: {"valid": v.get("valid")} for k, v in res.get("checkers", {}).items()},
            "ops": res.get("ops", 0), "faults": res.get("faults", 0), "seed": test.seed,
        }))
    else:
        print_summary(outcome.run_dir, res, test.command)
        if not test.nemesis:
            click.echo("nemesis: none -- no faults were injected; this run tested the system only without faults")
    sys.exit(outcome.exit_code)


def print_summary(run_dir: Path, res: dict[str, Any], command: str) -> None:
    for name, r in res.get("checkers", {}).items():
        click.echo(f"  {name:<14} {json.dumps(r.get('valid')):<9} {r.get('summary', '')}")
    c = res.get("counts", {})
    click.echo(f"{res.get('ops', 0)} ops (ok {c.get('ok', 0)}, fail {c.get('fail', 0)}, info {c.get('info', 0)}), "
               f"{res.get('faults', 0)} faults, {res.get('duration_s', 0)} s")
    if res.get("error"):
        click.echo(f"error: {res['error']}")
    for err in res.get("nemesis_errors", []):
        click.echo(f"nemesis error: {err}")
    for err in res.get("node_errors", []):
        click.echo(f"node error: {err}")
    click.echo(f"valid: {json.dumps(res.get('valid'))}")
    click.echo(f"report: {run_dir / 'report.html'}")
    click.echo(f"re-run: {command}")


def systems_info() -> dict[str, Any]:
    """What ``systems --json`` prints: every name, where it comes from, and the plugins refused."""
    out: dict[str, Any] = {}
    for name in SYSTEMS.names():
        origin = SYSTEMS.origin(name)
        try:
            s = SYSTEMS.get(name)
            out[name] = {"workloads": list(s.workloads), "bugs": sorted(s.bugs),
                         "bug_descriptions": {b: str(s.bugs[b]) for b in sorted(s.bugs)}, "origin": origin}
        except Exception as e:  # noqa: BLE001 - one broken system must not hide the others
            out[name] = {"workloads": [], "bugs": [], "bug_descriptions": {}, "origin": origin,
                         "available": False, "error": str(e) if isinstance(e, UsageError) else f"{type(e).__name__}: {e}"}
    registries = (SYSTEMS, WORKLOADS, FAULTS, CHECKERS, BACKENDS)
    plugins = {r.kind: {n: r.origin(n) for n in r.names() if r.origin(n) != BUILT_IN} for r in registries}
    problems = [p for r in registries for p in r.problems().values()]
    return {"systems": out, "faults": FAULTS.names(), "backends": BACKENDS.names(), "workloads": WORKLOADS.names(),
            "checkers": CHECKERS.names(), "plugins": {k: v for k, v in plugins.items() if v}, "problems": problems}


@click.command()
@click.option("--json", "as_json", is_flag=True)
def systems(as_json: bool) -> None:
    """List systems (where each comes from, workloads, seeded bugs), workloads, faults, backends, plugins."""
    info = systems_info()
    if as_json:
        click.echo(json.dumps(info))
        return
    for name, s in info["systems"].items():
        origin = "" if s["origin"] == BUILT_IN else f"  (from {s['origin']})"
        if s.get("available") is False:
            click.echo(f"{name:<8} unavailable: {s['error']}")
            continue
        click.echo(f"{name:<8} workloads: {', '.join(s['workloads'])}{origin}")
        for bug, why in s["bug_descriptions"].items():
            click.echo(f"{'':<8} bug {bug}: {why}")
    click.echo(f"workloads: {', '.join(info['workloads'])}")
    click.echo(f"faults:    {', '.join(info['faults'])}")
    click.echo(f"backends:  {', '.join(info['backends'])}")
    for kind, names in info["plugins"].items():
        if kind != "system":
            click.echo(f"plugin {kind}s: " + ", ".join(f"{n} (from {d})" for n, d in names.items()))
    for problem in info["problems"]:
        click.echo(f"refused: {problem}")
