"""Campaigns: the matrix, the TOML form, JUnit output and exit codes, with real runs."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from splitbrain.errors import BadInputError, UsageError
from splitbrain.harness.campaign import CampaignSpec, expand, load_toml


def _cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "CI": "1"})


def test_toml_and_flags_give_the_same_runs(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('systems = ["raft", "paxos"]\nworkloads = "register"\nnemesis = ["partition,kill", "pause"]\n'
                 "seeds = 2\ntime_limit = 5\n")
    from_toml = expand(CampaignSpec(**load_toml(str(f))))
    from_flags = expand(CampaignSpec(systems=["raft", "paxos"], workloads=["register"],
                                     nemesis=["partition,kill", "pause"], seeds=2, time_limit=5))
    assert [r.name for r in from_toml] == [r.name for r in from_flags]
    assert len(from_flags) == 2 * 1 * 2 * 2


@pytest.mark.parametrize("text,err", [
    ("systems = 3\n", BadInputError), ("bogus = 1\n", BadInputError), ("systems = [\n", BadInputError),
    ("seeds = 'x'\n", BadInputError),
])
def test_bad_toml(tmp_path, text, err):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(err):
        load_toml(str(f))


def test_unknown_names_fail_before_any_run():
    with pytest.raises(UsageError, match="valid"):
        expand(CampaignSpec(systems=["nope"]))
    with pytest.raises(UsageError, match="fault"):
        expand(CampaignSpec(nemesis=["partition,meteor"]))
    with pytest.raises(UsageError, match="bug"):
        expand(CampaignSpec(bug="no-such-bug"))


def test_bad_toml_cli_exit_65(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("systems = [\n")
    r = _cli("campaign", str(f))
    assert r.returncode == 65, r.stderr
    assert "Traceback" not in r.stderr and "c.toml" in r.stderr


@pytest.mark.slow
def test_three_system_campaign_passes_with_junit(tmp_path):
    junit = tmp_path / "junit.xml"
    r = _cli("campaign", "--systems", "raft,paxos,ring", "--workloads", "set", "--nemesis", "partition,kill",
             "--seeds", "1", "--time-limit", "8", "--store", str(tmp_path / "store"), "--junit", str(junit),
             "--parallel", "1", "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 3
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    index = json.loads(r.stdout)
    assert {run["system"] for run in index["runs"]} == {"raft", "paxos", "ring"}
    assert all(run["valid"] is True for run in index["runs"])


def test_campaign_with_seeded_bug_fails(tmp_path):
    junit = tmp_path / "junit.xml"
    r = _cli("campaign", "--systems", "raft", "--workloads", "register", "--nemesis", "partition",
             "--seeds", "2", "--time-limit", "12", "--bug", "quorum-off-by-one", "--store", str(tmp_path / "store"),
             "--run-arg=--nemesis-interval=2", "--junit", str(junit))
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    failure = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "report.html" in failure.get("message")


def test_summary_table_is_not_cut_in_a_ci_log(capsys, tmp_path) -> None:
    """No terminal (a CI log): the run-dir and nemesis columns are printed whole, not cut to 80 columns."""
    from types import SimpleNamespace

    from splitbrain.harness.campaign_view import print_summary

    run_dir = str(tmp_path / "store" / "raft-register" / "20261201T000000.000Z-a-long-run-directory-name")
    spec = SimpleNamespace(system="raft", workload="register", nemesis="partition,kill,pause,clock,packet",
                           seed=7, bug=None)
    print_summary([SimpleNamespace(spec=spec, valid=True, exit_code=0, seconds=21.5, run_dir=run_dir, error=None)],
                  tmp_path / "index.json")
    out = capsys.readouterr().out
    assert run_dir in out and "partition,kill,pause,clock,packet" in out
