"""Campaigns: a matrix of runs, one verdict, and the artefacts CI gates on.

A campaign is the cross product systems x workloads x fault sets x seeds
(optionally with a seeded bug). Each cell is an ordinary ``splitbrain run``
executed as a child process: a run that crashes or hangs cannot take the
campaign down with it, parallel runs cannot share state by accident, and the
campaign only depends on the run's public contract (``--json`` and the exit
code). The campaign exits with the worst exit code of its runs.

Artefacts: ``<store>/campaigns/<name>/index.json`` (every run, its verdict and
run dir; ``splitbrain serve`` renders it), optional JUnit XML (``--junit``),
and on GitHub Actions ``::error`` annotations plus a Markdown summary in
``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.checkers.memory import ENV_VAR as MEMORY_ENV
from splitbrain.checkers.memory import default_cap_mb
from splitbrain.errors import (
    EXIT_HARNESS,
    BadInputError,
    UsageError,
)
from splitbrain.harness.hostgroups import HostGroups, nodes_file_arg
from splitbrain.harness.runjson import last_json_object
from splitbrain.harness.shards import Shard, campaign_id, parse_shard, slice_runs
from splitbrain.registry import WORKLOADS
from splitbrain.results import RunOutcome, RunResult
from splitbrain.systems.capabilities import SystemOpts, configure, parse_system_opts

#: keys a campaign TOML file may set (flags use the same names)
TOML_KEYS = {
    "name", "systems", "workloads", "nemesis", "seeds", "seed_base", "time_limit", "bug",
    "backend", "store", "parallel", "concurrency", "nodes", "junit", "run_timeout", "extra_args",
    "system_opts",
}


@dataclass
class CampaignSpec:
    """What to run. Built from flags or a TOML file; both produce the same runs."""

    name: str = "campaign"
    systems: list[str] = field(default_factory=lambda: ["raft"])
    workloads: list[str] = field(default_factory=lambda: ["register"])
    nemesis: list[str] = field(default_factory=lambda: ["partition,kill,pause"])
    seeds: int = 1
    seed_base: int = 1
    time_limit: float = 20.0
    bug: str | None = None
    backend: str = "local"
    store: str = "store"
    parallel: int = 1
    concurrency: int | None = None
    nodes: int | None = None
    junit: str | None = None
    run_timeout: float | None = None
    extra_args: list[str] = field(default_factory=list)
    #: ``KEY=VALUE`` options for the systems under test (``run --system-opt``)
    system_opts: list[str] = field(default_factory=list)
    #: ``K/N``: run only shard K of N of the matrix (flag only: each CI runner passes its own)
    shard: str | None = None

    def run_params(self) -> dict[str, Any]:
        """What changes what a run does, beyond the matrix: part of the campaign id."""
        return {"time_limit": self.time_limit, "backend": self.backend, "concurrency": self.concurrency,
                "nodes": self.nodes, "extra_args": self.extra_args, "system_opts": sorted(self.system_opts)}


@dataclass
class RunSpec:
    system: str
    workload: str
    nemesis: str
    seed: int
    bug: str | None

    @property
    def name(self) -> str:
        bug = f"/bug={self.bug}" if self.bug else ""
        return f"{self.system}/{self.workload}/{self.nemesis}/seed={self.seed}{bug}"


@dataclass(kw_only=True)
class CampaignRun(RunOutcome):
    """One cell of the matrix as it ran: the run's outcome, which cell, how long, what broke."""

    spec: RunSpec
    seconds: float = 0.0
    #: one line naming what broke (an invalid run), for JUnit and annotations
    anomaly: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self.spec)
        d.update(
            name=self.spec.name, exit_code=self.exit_code, valid=self.valid, run_dir=self.run_dir,
            seconds=round(self.seconds, 3), anomaly=self.anomaly, error=self.error,
        )
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CampaignRun:
        """Back from an index.json entry (resume, merge); a malformed entry is bad data (exit 65)."""
        try:
            spec = RunSpec(str(d["system"]), str(d["workload"]), str(d["nemesis"]), int(d["seed"]), d.get("bug"))
            return cls(exit_code=int(d["exit_code"]), valid=d.get("valid", "unknown"), run_dir=d.get("run_dir"),
                       seed=spec.seed, error=str(d.get("error") or ""), spec=spec,
                       seconds=float(d.get("seconds") or 0.0), anomaly=str(d.get("anomaly") or ""))
        except (KeyError, TypeError, ValueError) as e:
            raise BadInputError(f"malformed run entry in index.json: {e}") from None


@dataclass
class CampaignPlan:
    """The whole matrix, this shard's slice of it, and the id every shard shares."""

    spec: CampaignSpec
    matrix: list[RunSpec]
    runs: list[RunSpec]
    shard: Shard | None
    id: str


def plan(spec: CampaignSpec) -> CampaignPlan:
    shard = parse_shard(spec.shard) if spec.shard is not None else None
    if shard is not None:
        spec.shard = str(shard)
    matrix = expand(spec)
    return CampaignPlan(spec, slice_runs(matrix, None), slice_runs(matrix, shard), shard,
                        campaign_id(matrix, spec.run_params()))


def load_toml(path: str) -> dict[str, Any]:
    """Read a campaign file; unknown keys and wrong types are bad input (exit 65) naming the file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise UsageError(f"cannot read campaign file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInputError(f"not valid TOML: {e}", path) from None
    unknown = sorted(set(data) - TOML_KEYS)
    if unknown:
        raise BadInputError(f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(TOML_KEYS))}", path)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("systems", "workloads", "nemesis", "extra_args", "system_opts"):
            if isinstance(value, str):
                value = [value] if key in ("nemesis", "extra_args", "system_opts") else split_names(value)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadInputError(f"{key!r} must be a string or a list of strings", path)
        elif key in ("seeds", "seed_base", "parallel", "concurrency", "nodes"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInputError(f"{key!r} must be an integer, got {value!r}", path)
        elif key in ("time_limit", "run_timeout"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadInputError(f"{key!r} must be a number, got {value!r}", path)
            value = float(value)
        elif not isinstance(value, str):
            raise BadInputError(f"{key!r} must be a string, got {value!r}", path)
        out[key] = value
    if "systems" in out:  # a system file named in a campaign file is relative to that file
        from splitbrain.systems.sysfile import is_system_file

        base = os.path.dirname(os.path.abspath(path))
        out["systems"] = [os.path.normpath(os.path.join(base, s)) if is_system_file(s) and not os.path.isabs(s) else s
                          for s in out["systems"]]
    return out


def split_names(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def expand(spec: CampaignSpec) -> list[RunSpec]:
    """The matrix, validated up front: a typo fails before any run starts (exit 64)."""
    if spec.seeds < 1 or spec.parallel < 1 or spec.time_limit <= 0:
        raise UsageError("--seeds and --parallel must be >= 1 and --time-limit > 0")
    from splitbrain.harness.build import load_system

    sysobjs = {s: load_system(s) for s in spec.systems}
    opts = parse_system_opts(spec.system_opts)
    for w in spec.workloads:
        if w not in WORKLOADS:
            raise UsageError(f"unknown workload {w!r}; valid: {', '.join(WORKLOADS.names())}")
    from splitbrain.harness.build import parse_nemesis

    for n in spec.nemesis:
        try:
            parse_nemesis(n)
        except UsageError as e:
            raise UsageError(f"{e} (in --nemesis {n!r})") from None
    runs: list[RunSpec] = []
    bug_users = 0
    for system in spec.systems:
        sysobj = sysobjs[system]
        bug = None
        if spec.bug:
            if spec.bug not in sysobj.bugs:
                continue
            bug = spec.bug
            bug_users += 1
        configure(sysobj, SystemOpts(bug=bug, values=opts), system)  # a bad --system-opt fails before any run
        for workload in spec.workloads:
            if workload not in sysobj.workloads:
                continue
            for nemesis in spec.nemesis:
                for i in range(spec.seeds):
                    runs.append(RunSpec(system, workload, nemesis, spec.seed_base + i, bug))
    if spec.bug and not bug_users:
        raise UsageError(f"no selected system has a seeded bug {spec.bug!r}")
    if not runs:
        raise UsageError("the campaign matrix is empty: no selected system serves the selected workloads")
    return runs


def run_one(spec: CampaignSpec, run: RunSpec, nodes_file: str | None = None) -> CampaignRun:
    """One ``splitbrain run`` as a child process; its --json line is the whole interface."""
    cmd = [
        sys.executable, "-m", "splitbrain", "run", run.system, "--workload", run.workload,
        "--nemesis", run.nemesis, "--seed", str(run.seed), "--time-limit", str(spec.time_limit),
        "--backend", spec.backend, "--store", spec.store, "--json",
    ]
    if run.bug:
        cmd += ["--bug", run.bug]
    for opt in spec.system_opts:
        cmd += ["--system-opt", opt]
    if spec.concurrency:
        cmd += ["--concurrency", str(spec.concurrency)]
    if spec.nodes:
        cmd += ["--nodes", str(spec.nodes)]
    cmd += spec.extra_args
    if nodes_file:  # this run's own group of the fleet (last --nodes-file wins)
        cmd += ["--nodes-file", nodes_file]
    timeout = spec.run_timeout or (spec.time_limit * 3 + 120)
    start = time.monotonic()
    env = {**os.environ, "CI": os.environ.get("CI", "") or "1"}
    # parallel runs share the machine's memory: each run's checkers get an equal share of the cap
    env.setdefault(MEMORY_ENV, str(round(default_cap_mb() / spec.parallel)))
    try:
        returncode, stdout, stderr = _run_child(cmd, env, timeout)
    except subprocess.TimeoutExpired:
        return CampaignRun(exit_code=EXIT_HARNESS, seed=run.seed, spec=run, seconds=time.monotonic() - start,
                           error=f"run did not finish within {timeout:.0f} s")
    seconds = time.monotonic() - start
    err_lines = [ln for ln in stderr.splitlines() if ln.strip()]
    error = "" if returncode in (0, 1, 2) else (err_lines[-1] if err_lines else f"exit {returncode}")
    line = RunOutcome.from_line(last_json_object(stdout), returncode, error)
    outcome = CampaignRun(**vars(line), spec=run, seconds=seconds)
    if outcome.valid is False and outcome.run_dir:
        outcome.anomaly = describe_anomaly(Path(outcome.run_dir))
    return outcome


#: the runs in flight, so a Ctrl-C can stop each one cleanly (it heals, tears down and reports)
_CHILDREN: set[subprocess.Popen[str]] = set()
_CHILDREN_LOCK = threading.Lock()
_STOPPING = threading.Event()


def _run_child(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    """A run in its own session: a terminal's Ctrl-C reaches the campaign only, which then sends
    each run one SIGTERM (the run's own clean stop) instead of signals racing its teardown."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    with _CHILDREN_LOCK:
        _CHILDREN.add(proc)
        if _STOPPING.is_set():
            proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    finally:
        with _CHILDREN_LOCK:
            _CHILDREN.discard(proc)
    return proc.returncode, out, err


def _stop_children() -> None:
    with _CHILDREN_LOCK:
        _STOPPING.set()
        for proc in _CHILDREN:
            proc.terminate()


def describe_anomaly(run_dir: Path) -> str:
    """One line naming what broke, from the run's results.json (for JUnit and annotations)."""
    results = RunResult.read(run_dir)
    if results is None:
        return "invalid (results.json unreadable)"
    parts = []
    for name, res in results.checkers.items():
        if not isinstance(res, dict) or res.get("valid") is not False:
            continue
        anomalies = res.get("anomalies") or []
        if anomalies:
            a = anomalies[0]
            parts.append(f"{name}: {a.get('kind', 'anomaly')}: {a.get('explanation', '')}".strip())
        else:
            parts.append(f"{name}: {res.get('summary') or 'invalid'}")
    return "; ".join(parts) or "invalid"


def github_annotations(outcomes: list[CampaignRun]) -> None:
    """On GitHub Actions: ::error lines and a Markdown table in the step summary."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for o in outcomes:
        if o.exit_code != 0:
            msg = (o.anomaly or o.error or f"verdict {o.valid}").replace("\n", " ").replace("%", "%25")
            print(f"::error title=splitbrain {o.spec.name}::{msg} (report: {o.run_dir}/report.html)", flush=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        rows = ["| run | verdict | seconds | report |", "| --- | --- | --- | --- |"]
        for o in outcomes:
            rows.append(f"| {o.spec.name} | {o.valid} | {o.seconds:.1f} | {o.run_dir or ''} |")
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write("## splitbrain campaign\n\n" + "\n".join(rows) + "\n")


def fleet_groups(spec: CampaignSpec, directory: Path) -> HostGroups | None:
    """For parallel ssh runs: disjoint host groups; None when runs need no lending."""
    if spec.backend != "ssh" or spec.parallel < 2:
        return None
    nodes_file = nodes_file_arg(spec.extra_args)
    if not nodes_file or not spec.nodes:
        raise UsageError("campaign --backend ssh --parallel K needs --nodes N and --run-arg=--nodes-file=FILE "
                         "(each run gets N hosts of FILE, never shared)")
    return HostGroups(nodes_file, spec.nodes, spec.parallel, directory / "hosts")


def _run_on_hosts(spec: CampaignSpec, run: RunSpec, groups: HostGroups | None) -> CampaignRun:
    if groups is None:
        return run_one(spec, run)
    with groups.lend() as nodes_file:
        return run_one(spec, run, nodes_file)


def execute(p: CampaignPlan, todo: list[RunSpec], outcomes: list[CampaignRun], live: bool,
            on_done: Any = None, directory: Path = Path(".")) -> list[CampaignRun]:
    """Run ``todo``, appending to ``outcomes`` (the runs already done, on a resume) as each ends.

    Ctrl-C: no new run starts, the runs in flight get one SIGTERM and stop cleanly; their
    (interrupted) outcomes are not recorded, so ``--resume`` runs them again."""
    from splitbrain.harness.campaign_view import CampaignView

    groups = fleet_groups(p.spec, directory)
    with CampaignView(p.runs, live=live, shard=p.shard, total=len(p.matrix), already=list(outcomes)) as view:
        with concurrent.futures.ThreadPoolExecutor(max_workers=p.spec.parallel) as pool:
            futures = {pool.submit(_run_on_hosts, p.spec, r, groups): r for r in todo}
            try:
                for fut in concurrent.futures.as_completed(futures):
                    outcome = fut.result()
                    if _STOPPING.is_set():
                        continue
                    outcomes.append(outcome)
                    view.done(outcome)
                    if on_done is not None:
                        on_done(outcomes)
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                _stop_children()
                raise
    order = {r.name: i for i, r in enumerate(p.runs)}
    outcomes.sort(key=lambda o: order.get(o.spec.name, len(order)))
    return outcomes
