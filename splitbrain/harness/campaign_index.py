"""A campaign's index.json: the record of one campaign (or one shard of it), written as runs end.

It is what ``serve`` renders, what ``campaign --resume`` reads to know what is
missing, and what ``campaign merge`` joins: besides every run's verdict it
carries the campaign id, the shard, the runs this shard was to run, and each
run dir's path inside its store (so a store downloaded from a CI runner to
another path is still found).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbrain.errors import BadInputError, MissingInputError

if TYPE_CHECKING:
    from splitbrain.harness.campaign import CampaignPlan, CampaignRun, CampaignSpec


def campaign_dir(spec: CampaignSpec) -> Path:
    """A fresh directory, never shared: two campaigns (or shards) started in the same second
    into one store must not write one index.json."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    shard = f"-shard{spec.shard.replace('/', 'of')}" if spec.shard else ""
    base = Path(spec.store) / "campaigns"
    base.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        d = base / f"{spec.name}{shard}-{stamp}{f'-{i}' if i else ''}"
        try:
            d.mkdir()
        except FileExistsError:
            continue
        return d
    raise FileExistsError(f"cannot create a campaign directory under {base}")


def store_relative(run_dir: str | None, store: str) -> str | None:
    """Where a run dir lies inside its store: how ``merge`` finds it after the store moved (CI artefacts)."""
    if not run_dir:
        return None
    rel = os.path.relpath(os.path.abspath(run_dir), os.path.abspath(store))
    return None if rel.startswith("..") else Path(rel).as_posix()


def write_index(directory: Path, p: CampaignPlan, outcomes: list[CampaignRun], exit_code: int,
                extra: dict[str, Any] | None = None) -> Path:
    done = {o.spec.name for o in outcomes}
    index = {
        "name": p.spec.name,
        "campaign_id": p.id,
        "shard": p.shard.to_json() if p.shard else None,
        "total_runs": len(p.matrix),
        "expected": [r.name for r in p.runs],
        "complete": all(r.name in done for r in p.runs),
        "spec": asdict(p.spec),
        "exit_code": exit_code,
        "runs": [{**o.to_json(), "run_path": store_relative(o.run_dir, p.spec.store)} for o in outcomes],
    }
    index.update(extra or {})
    path = directory / "index.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    tmp.replace(path)
    return path


def load_index(directory: str | Path) -> dict[str, Any]:
    """A campaign directory's index.json: missing is exit 66, unreadable exit 65, both naming it."""
    path = Path(directory) / "index.json"
    if not path.is_file():
        raise MissingInputError(f"no campaign index here: {path}")
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BadInputError(f"unreadable campaign index: {e}", str(path)) from None
    if not isinstance(index, dict) or not isinstance(index.get("runs"), list) or not isinstance(index.get("spec"), dict):
        raise BadInputError("not a campaign index (no runs/spec)", str(path))
    return index
