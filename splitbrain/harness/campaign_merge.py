"""The shards of one campaign joined into one campaign (``splitbrain campaign merge``).

Each CI runner ran ``campaign --shard K/N`` into its own store and uploaded
it; the merge job downloads them all and joins them: one index.json (what
``serve`` shows), one JUnit file, the run directories copied into one store,
one exit code by the worst-of rule. It refuses what would make that verdict a
lie: shards of different campaigns (their ids differ), a shard given twice, a
shard missing, a shard whose runs did not all finish, a run dir that is gone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInputError, MissingInputError, UsageError, worst_exit
from splitbrain.harness.campaign import CampaignPlan, CampaignRun, CampaignSpec
from splitbrain.harness.campaign_index import campaign_dir, load_index, write_index
from splitbrain.harness.shards import Shard, run_key


@dataclass
class ShardResult:
    """One shard's index as found on disk, and the store its run dirs live in."""

    directory: Path
    index: dict[str, Any]

    @property
    def store(self) -> Path:
        return self.directory.parent.parent  # <store>/campaigns/<name>-<stamp>

    @property
    def shard(self) -> Shard:
        s = self.index.get("shard")
        if s is None:
            return Shard(1, 1)
        try:
            return Shard(int(s["k"]), int(s["n"]))
        except (KeyError, TypeError, ValueError):
            raise BadInputError(f"malformed shard {s!r}", str(self.directory / "index.json")) from None


def find_shards(paths: list[str]) -> list[ShardResult]:
    """Each PATH is a campaign dir (has index.json) or a store holding campaigns (a CI artefact)."""
    found: list[ShardResult] = []
    for path in paths:
        d = Path(path)
        if not d.is_dir():
            raise MissingInputError(f"no such directory: {path}")
        if (d / "index.json").is_file():
            found.append(ShardResult(d, load_index(d)))
            continue
        inner = sorted(c for c in (d / "campaigns").glob("*") if (c / "index.json").is_file())
        if not inner:
            raise MissingInputError(f"no campaign in {path} (neither {path}/index.json nor {path}/campaigns/*/index.json)")
        found += [ShardResult(c, load_index(c)) for c in inner]
    return found


def check_shards(shards: list[ShardResult]) -> None:
    """Refuse a merge whose result would not be the whole campaign, naming what is wrong."""
    ids: dict[str, list[str]] = {}
    for s in shards:
        ids.setdefault(str(s.index.get("campaign_id")), []).append(str(s.directory))
    if len(ids) > 1:
        raise UsageError("shards of different campaigns: " + "; ".join(
            f"campaign {cid}: {', '.join(dirs)}" for cid, dirs in sorted(ids.items())))
    ns = {s.shard.n for s in shards}
    if len(ns) > 1:
        raise UsageError(f"shards split the campaign in different numbers of shards: {sorted(ns)}")
    n = ns.pop()
    by_k: dict[int, list[str]] = {}
    for s in shards:
        by_k.setdefault(s.shard.k, []).append(str(s.directory))
    twice = {k: dirs for k, dirs in by_k.items() if len(dirs) > 1}
    if twice:
        raise UsageError("overlapping shards: " + "; ".join(
            f"shard {k}/{n} given {len(d)} times ({', '.join(d)})" for k, d in sorted(twice.items())))
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in by_k]
    if missing:
        raise MissingInputError(f"missing shard(s) {', '.join(missing)} of campaign {next(iter(ids))}")
    for s in shards:
        done = {r.get("name") for r in s.index["runs"] if isinstance(r, dict)}
        left = [name for name in s.index.get("expected") or [] if name not in done]
        if left:
            raise MissingInputError(
                f"shard {s.shard} in {s.directory} did not finish: {len(left)} run(s) missing (first: {left[0]}); "
                f"finish it with `splitbrain campaign --resume {s.directory}`")


def _source_dir(s: ShardResult, run: dict[str, Any]) -> Path | None:
    """Where this run's directory is now: inside the shard's store, or where the run said."""
    rel, rd = run.get("run_path"), run.get("run_dir")
    if not rel and rd:
        rel = "/".join(Path(rd).parts[-2:])  # <system>-<workload>/<stamp>
    for cand in ([s.store / rel] if rel else []) + ([Path(rd)] if rd else []):
        if cand.is_dir():
            return cand
    if rd:
        raise MissingInputError(f"run directory of {run.get('name')} not found (looked in {s.store / str(rel)})")
    return None


def _bring(src: Path, store: Path, rel: str) -> Path:
    """The run dir inside the merged store: left where it is if it is there already, else copied."""
    target = store / rel
    if target.exists() and target.resolve() == src.resolve():
        return target
    for i in range(1000):
        cand = target if i == 0 else target.with_name(f"{target.name}-m{i}")
        if not cand.exists():
            shutil.copytree(src, cand, symlinks=True)
            return cand
    raise UsageError(f"cannot place {src} under {store}")


def merge_shards(shards: list[ShardResult], store: Path, name: str | None) -> tuple[Path, list[CampaignRun]]:
    check_shards(shards)
    outcomes: list[CampaignRun] = []
    seen: dict[str, Path] = {}
    for s in sorted(shards, key=lambda s: s.shard.k):
        for run in s.index["runs"]:
            if not isinstance(run, dict):
                raise BadInputError("malformed run entry", str(s.directory / "index.json"))
            o = CampaignRun.from_json(run)
            if o.spec.name in seen:
                raise UsageError(f"run {o.spec.name} is in two shards ({seen[o.spec.name]}, {s.directory})")
            seen[o.spec.name] = s.directory
            src = _source_dir(s, run)
            if src is not None:
                rel = src.relative_to(s.store).as_posix() if src.is_relative_to(s.store) else src.name
                o.run_dir = str(_bring(src, store, rel))
            outcomes.append(o)
    outcomes.sort(key=lambda o: run_key(o.spec))
    first = shards[0].index
    known = {f.name for f in fields(CampaignSpec)}
    spec = CampaignSpec(**{k: v for k, v in first["spec"].items() if k in known})
    spec.shard, spec.store, spec.name = None, str(store), name or spec.name
    runs = [o.spec for o in outcomes]
    total = first.get("total_runs")
    if isinstance(total, int) and total != len(runs):
        raise MissingInputError(f"the shards hold {len(runs)} runs but the campaign has {total}")
    p = CampaignPlan(spec, runs, runs, None, str(first.get("campaign_id")))
    directory = campaign_dir(spec)
    write_index(directory, p, outcomes, worst_exit([o.exit_code for o in outcomes]),
                extra={"merged_from": [str(s.directory) for s in shards]})
    return directory, outcomes
