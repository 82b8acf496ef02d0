"""report.html as a file: self-contained, data escaped, runs cut short, the report CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from report_runs import HOSTILE, stale_read_run

from splitbrain.reports.html import safe_json, write_report


def _data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_safe_json_cannot_close_a_script_and_round_trips():
    obj = {"v": HOSTILE + ["a & b", "<!--", "\u2028x\u2029"]}
    text = safe_json(obj)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == obj


def test_report_is_self_contained_and_escaped(tmp_path):
    run = stale_read_run(tmp_path / "run", hostile=True)
    html = write_report(run).read_text()
    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "<img" not in html
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:|//)', html)
    data = _data(html)
    assert data["command"].endswith(HOSTILE[0])
    assert any(HOSTILE[0] in c[8] for c in data["calls"])
    assert data["valid"] is False and data["counts"] == {"ok": 5, "fail": 1, "info": 1}


def test_cut_short_run_renders_with_notes(tmp_path):
    run = stale_read_run(tmp_path / "run", results=False, torn=True)
    data = _data(write_report(run).read_text())
    assert data["valid"] is None
    assert any("torn" in n for n in data["notes"]) and any("no verdict" in n for n in data["notes"])
    assert len(data["calls"]) == 7


def test_localization_names_fault_nodes_and_log_lines(tmp_path):
    data = _data(write_report(stale_read_run(tmp_path / "run")).read_text())
    entry = data["localization"][0]
    assert entry["kind"] == "nonlinearizable"
    assert [f["relation"] for f in entry["faults"]] == ["overlaps"]
    assert entry["nodes"] == ["n3"]
    assert entry["lines"] and all(ln[0] == "n3" and -0.5 <= ln[1] - 0.3 <= 0.6 for ln in entry["lines"])
    core = data["counterexamples"][0]
    assert [o["label"] for o in core["ops"]] == ["write 1", "write 2", "read -> 1"]
    assert core["minimal"] is True


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True, timeout=120)


def test_report_cli_rerenders_and_rejects_bad_dirs(tmp_path):
    run = stale_read_run(tmp_path / "run")
    r = _cli("report", str(run))
    assert r.returncode == 0 and r.stdout.strip() == str(run / "report.html")
    r = _cli("report", str(tmp_path / "missing"))
    assert r.returncode == 66 and len(r.stderr.strip().splitlines()) == 1  # missing: named, sysexits' NOINPUT
    assert "missing: no such run directory" in r.stderr
    (tmp_path / "empty").mkdir()
    r = _cli("report", str(tmp_path / "empty"))
    assert r.returncode == 65 and len(r.stderr.strip().splitlines()) == 1


def test_fault_that_ended_just_before_an_anomaly_is_named(tmp_path):
    from splitbrain.reports.localize import localize
    from splitbrain.reports.rundata import load_run

    run = load_run(stale_read_run(tmp_path / "run"))
    for f in run.faults:
        f.start_s, f.stop_s = 0.05, 0.2  # healed 0.1 s before the stale read began
    [entry] = localize(run, [("linearizable", {"kind": "stale", "ops": [9, 11]})], follow_s=1.0)
    assert entry["faults"] == [{"fault": 0, "kind": "partition", "relation": "precedes", "gap_s": 0.1}]
    [entry] = localize(run, [("linearizable", {"kind": "stale", "ops": [9, 11]})], follow_s=0.05)
    assert entry["faults"] == []
