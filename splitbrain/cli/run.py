"""``splitbrain run`` and ``splitbrain systems``.

The flags become a :class:`~splitbrain.harness.config.Test` through
:func:`splitbrain.harness.build.build_test`, which validates every name before
anything starts; this module only reads flags and prints.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from splitbrain.backends.base import NodeListChecker
from splitbrain.harness.build import build_test, parse_backend_opts
from splitbrain.harness.catalog import systems_info
from splitbrain.registry import BACKENDS, BUILT_IN, FAULTS, SYSTEMS, WORKLOADS
from splitbrain.results import RunResult
from splitbrain.systems.capabilities import parse_system_opts


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
              help="register, rw-register, kv: ops on one key before its clients move to a fresh key "
              "(default 200, kv 100; 0 = never move on). Under faults a key also lives two "
              "--nemesis-interval (a fault window and its heal: 10 s by default), up to 5x this many ops "
              "(every key's history stays checkable at any rate); keys left less than that ago get "
              "one read in ten.")
@click.option("--clients-per-key", type=int, default=None,
              help="register, rw-register, kv: clients sharing a key at a time (default 10, kv 5; "
              "raft 2, whose lost acknowledged writes hide behind many writers).")
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
    from splitbrain.checkers.judge import txn_options
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
    if isinstance(be, NodeListChecker):  # e.g. more nodes than the ssh nodes file lists
        be.check_nodes(list(test.nodes))
    r = Run(test, sysobj, wl, be, live=live_allowed(as_json), stream=sys.stderr if as_json else sys.stdout)
    outcome = asyncio.run(r.execute())
    result = outcome.result
    assert result is not None and outcome.run_dir is not None  # a run that ran here has its verdict
    if as_json:
        click.echo(json.dumps(outcome.to_line()))
    else:
        print_summary(Path(outcome.run_dir), result, test.command)
        if not test.nemesis:
            click.echo("nemesis: none -- no faults were injected; this run tested the system only without faults")
    sys.exit(outcome.exit_code)


def print_summary(run_dir: Path, res: RunResult, command: str) -> None:
    for name, r in res.checkers.items():
        click.echo(f"  {name:<14} {json.dumps(r.get('valid')):<9} {r.get('summary', '')}")
    c = res.counts
    click.echo(f"{res.ops} ops (ok {c.get('ok', 0)}, fail {c.get('fail', 0)}, info {c.get('info', 0)}), "
               f"{res.faults} faults, {res.duration_s} s")
    if res.error:
        click.echo(f"error: {res.error}")
    for err in res.nemesis_errors:
        click.echo(f"nemesis error: {err}")
    for err in res.node_errors:
        click.echo(f"node error: {err}")
    click.echo(f"valid: {json.dumps(res.valid)}")
    click.echo(f"report: {run_dir / 'report.html'}")
    click.echo(f"re-run: {command}")


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
