"""A large run's report stays bounded: the history is streamed, the timeline drawn from a sample that
keeps every operation an anomaly names, and the page says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbrain.checkers.linearizable import check_history
from splitbrain.checkers.synth import write_register
from splitbrain.history import read_jsonl
from splitbrain.reports import html
from splitbrain.reports.rundata import load_run


def _run_dir(tmp_path: Path, n: int) -> tuple[Path, list[int]]:
    d = tmp_path / "run"
    d.mkdir()
    write_register(d / "history.jsonl", n, invalid=True, seed=3, info_rate=0.0)
    res = check_history(read_jsonl(d / "history.jsonl"), "register")
    assert res.valid is False
    (d / "test.json").write_text(json.dumps({"system": "raft", "workload": "register", "seed": 3, "concurrency": 8}))
    (d / "results.json").write_text(json.dumps({"valid": False, "ops": n, "checkers": {"linearizable": res.to_json()}}))
    return d, res.anomalies[0].ops


def test_timeline_is_sampled_past_its_limit_and_keeps_the_anomaly(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    d, named = _run_dir(tmp_path, 3000)
    monkeypatch.setattr(html, "MAX_TIMELINE_CALLS", 500)
    data = html.build_data(load_run(d))
    drawn = {c[0] for c in data["calls"]}
    invokes = {c.invoke_index for c in load_run(d).calls}
    assert 300 <= len(drawn) <= 500 + 101 * len(named)
    assert {i for i in named if i in invokes} <= drawn  # every op the anomaly names is on the timeline
    assert any("timeline draws" in n for n in data["notes"])
    assert sum(data["counts"].values()) == 3000  # counted in full


def test_small_runs_draw_every_call(tmp_path: Path) -> None:
    d, _ = _run_dir(tmp_path, 400)
    data = html.build_data(load_run(d))
    assert len(data["calls"]) == 400 and not any("timeline draws" in n for n in data["notes"])
    assert html.write_report(d).stat().st_size > 0
