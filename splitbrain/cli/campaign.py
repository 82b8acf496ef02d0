"""``splitbrain campaign``: run a matrix (or one shard of it), resume one, or merge shards.

The campaign model (spec, matrix, one run) lives in :mod:`splitbrain.harness.campaign`
and the merge in :mod:`splitbrain.harness.campaign_merge`; this module is the command: flags and TOML into a plan, the plan run into its
directory, the verdict out as index.json, JUnit, annotations and an exit code.
"""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

import click

from splitbrain.cli._signals import stop_on_signals
from splitbrain.errors import EXIT_INTERRUPTED, UsageError, worst_exit
from splitbrain.harness.campaign import (
    CampaignPlan,
    CampaignRun,
    CampaignSpec,
    execute,
    github_annotations,
    load_toml,
    plan,
    split_names,
)
from splitbrain.harness.campaign_index import campaign_dir, load_index, write_index
from splitbrain.harness.campaign_merge import find_shards, merge_shards
from splitbrain.harness.junit import write_junit


class _CampaignCommand(click.Command):
    """``campaign [CONFIG] [flags]`` runs a matrix; ``campaign merge DIR...`` joins shards' results."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if args and args[0] == "merge":
            return merge.make_context("campaign merge", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


def _resume(directory: str, parallel: int | None, junit: str | None) -> tuple[CampaignPlan, list[CampaignRun]]:
    index = load_index(directory)
    known = {f.name for f in fields(CampaignSpec)}
    spec = CampaignSpec(**{k: v for k, v in index["spec"].items() if k in known})
    spec.parallel = parallel or spec.parallel
    spec.junit = junit or spec.junit
    p = plan(spec)
    if index.get("campaign_id") not in (None, p.id):
        raise UsageError(f"{directory}: its matrix no longer expands to campaign {index.get('campaign_id')} "
                         f"(now {p.id}): systems or workloads changed since")
    wanted = {r.name for r in p.runs}
    done = [o for o in map(CampaignRun.from_json, index["runs"]) if o.spec.name in wanted]
    return p, done


@click.command(cls=_CampaignCommand)
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="Campaign name (its directory under STORE/campaigns/).")
@click.option("--systems", default=None, help="Comma-separated systems.")
@click.option("--workloads", default=None, help="Comma-separated workloads.")
@click.option("--nemesis", multiple=True, help="A fault set (comma-separated); repeat for several sets.")
@click.option("--seeds", type=int, default=None, help="Seeds per cell (seed_base, seed_base+1, ...).")
@click.option("--seed-base", type=int, default=None)
@click.option("--time-limit", type=float, default=None, help="Seconds per run.")
@click.option("--bug", default=None, help="Seeded bug, applied to the systems that have it.")
@click.option("--system-opt", "system_opts", multiple=True, metavar="KEY=VALUE",
              help="Option for the systems under test, as `run --system-opt` (repeatable).")
@click.option("--backend", default=None)
@click.option("--store", default=None)
@click.option("--parallel", type=int, default=None,
              help="Runs at once (local; ssh: each run takes its own --nodes hosts of the nodes file).")
@click.option("--nodes", type=int, default=None, help="Nodes per run.")
@click.option("--junit", default=None, type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--run-arg", "run_args", multiple=True,
              help="Extra flag passed to every run, e.g. --run-arg=--nemesis-interval=2 (repeatable).")
@click.option("--shard", default=None, metavar="K/N",
              help="Run only shard K of N of the matrix (one per CI runner); `campaign merge` joins them.")
@click.option("--resume", default=None, metavar="DIR", type=click.Path(file_okay=False),
              help="Finish the campaign in DIR (STORE/campaigns/NAME-STAMP): run only what is missing.")
@click.option("--json", "as_json", is_flag=True, help="Print the campaign index as JSON.")
def campaign(config: str | None, name: str | None, systems: str | None, workloads: str | None,
             nemesis: tuple[str, ...], seeds: int | None, seed_base: int | None, time_limit: float | None,
             bug: str | None, system_opts: tuple[str, ...], backend: str | None, store: str | None, parallel: int | None,
             nodes: int | None,
             junit: str | None, run_args: tuple[str, ...], shard: str | None, resume: str | None,
             as_json: bool) -> None:
    """Run a matrix of tests (from flags or a TOML file) and exit with the worst verdict.

    `splitbrain campaign merge DIR... [--junit FILE] [--store DIR]` joins the shards of one
    campaign (see `campaign merge --help`)."""
    if resume is not None:
        matrix_flags = [config, name, systems, workloads, nemesis or None, seeds, seed_base, time_limit, bug,
                        system_opts or None, backend, store, run_args or None, shard, nodes]
        if any(f is not None for f in matrix_flags):
            raise UsageError("--resume DIR takes the campaign from DIR: only --parallel, --junit and --json go with it")
        p, done = _resume(resume, parallel, junit)
        _finish(p, Path(resume), done, as_json)
    values: dict[str, Any] = load_toml(config) if config else {}
    flags = {
        "name": name, "systems": split_names(systems) if systems else None,
        "workloads": split_names(workloads) if workloads else None, "nemesis": list(nemesis) or None,
        "seeds": seeds, "seed_base": seed_base, "time_limit": time_limit, "bug": bug, "backend": backend,
        "store": store, "parallel": parallel, "nodes": nodes, "junit": junit, "extra_args": list(run_args) or None,
        "system_opts": list(system_opts) or None, "shard": shard,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    spec = CampaignSpec(**values)
    p = plan(spec)
    _finish(p, campaign_dir(spec), [], as_json)


def _finish(p: CampaignPlan, directory: Path, done: list[CampaignRun], as_json: bool) -> NoReturn:
    """Run what is missing in ``directory`` (everything, on a fresh campaign), then write the verdict."""
    stop_on_signals()
    spec = p.spec
    if spec.parallel > 1 and spec.backend not in ("local", "ssh"):
        raise UsageError(f"--parallel is only supported on the local and ssh backends, not {spec.backend!r}")
    names = {o.spec.name for o in done}
    todo = [r for r in p.runs if r.name not in names]
    live = sys.stdout.isatty() and not os.environ.get("CI") and not as_json
    outcomes = list(done)
    write_index(directory, p, outcomes, EXIT_INTERRUPTED if todo else worst_exit([o.exit_code for o in outcomes]))
    try:
        execute(p, todo, outcomes, live,
                on_done=lambda so_far: write_index(directory, p, so_far, EXIT_INTERRUPTED), directory=directory)
    except KeyboardInterrupt:
        write_index(directory, p, outcomes, EXIT_INTERRUPTED)
        click.echo(f"splitbrain: campaign stopped; {len(p.runs) - len(outcomes)} run(s) left: "
                   f"splitbrain campaign --resume {directory}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    code = worst_exit([o.exit_code for o in outcomes])
    index = write_index(directory, p, outcomes, code)
    if spec.junit:
        write_junit(spec.junit, spec.name, outcomes)
    github_annotations(outcomes)
    if as_json:
        click.echo(index.read_text())
    else:
        from splitbrain.harness.campaign_view import print_summary

        print_summary(outcomes, index)
    sys.exit(code)


@click.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option("--junit", default=None, type=click.Path(dir_okay=False), help="Write the merged JUnit XML here.")
@click.option("--store", default="store", show_default=True,
              help="Store to merge into: the merged index goes to STORE/campaigns/, run dirs are copied in.")
@click.option("--name", default=None, help="Name of the merged campaign (default: the shards' name).")
@click.option("--json", "as_json", is_flag=True, help="Print the merged index as JSON.")
def merge(dirs: tuple[str, ...], junit: str | None, store: str, name: str | None, as_json: bool) -> None:
    """Join the shards of one campaign (campaign dirs, or stores holding them) into one campaign.

    Exits with the worst verdict of all runs (255 > 66 > 65 > 64 > 1 > 2 > 0); refuses shards of
    different campaigns or a shard given twice (64), a missing or unfinished shard (66)."""
    directory, outcomes = merge_shards(find_shards(list(dirs)), Path(store), name)
    code = worst_exit([o.exit_code for o in outcomes])
    if junit:
        write_junit(junit, name or str(load_index(directory)["name"]), outcomes)
    github_annotations(outcomes)
    if as_json:
        click.echo((directory / "index.json").read_text())
    else:
        from splitbrain.harness.campaign_view import print_summary

        print_summary(outcomes, directory / "index.json")
    sys.exit(code)
