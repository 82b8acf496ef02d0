"""Sharded campaigns: the slicing, real shards merged back into the unsharded campaign, resume.

The real campaigns here use ``memkv`` with no faults and 1 s runs, so a few runs cost seconds;
``test_24_runs_in_4_shards`` is the issue's full figure (24 runs, 4 shards) and is marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from splitbrain.errors import UsageError
from splitbrain.harness.campaign import CampaignSpec, expand, plan
from splitbrain.harness.shards import Shard, parse_shard, run_key, slice_runs

TIMING = {"seconds", "run_dir", "run_path"}


def _cli(*args: str, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "CI": "1"})


def _matrix(*extra: str, store: Path, seeds: int = 2) -> list[str]:
    return ["campaign", "--name", "sh", "--systems", "memkv", "--workloads", "register,set", "--nemesis", "none",
            "--seeds", str(seeds), "--time-limit", "1", "--store", str(store), "--json", *extra]


def _runs(index: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in index["runs"]]


def _cases(junit: Path) -> list[tuple[str, str, str]]:
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    return [(c.get("name", ""), c.get("classname", ""),
             "failure" if c.find("failure") is not None else "error" if c.find("error") is not None else "pass")
            for c in suite.findall("testcase")]


# ---------------------------------------------------------------- slicing (no runs)


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "x", "2/", "-1/3", "1/2/3"])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(UsageError, match="shard"):
        parse_shard(text)


def test_bad_shard_cli_exit_64_one_line(tmp_path):
    r = _cli(*_matrix("--shard", "5/4", store=tmp_path / "store"))
    assert r.returncode == 64, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "shard" in r.stderr
    assert not (tmp_path / "store").exists()


def test_shards_partition_the_matrix_whatever_the_flag_order():
    a = CampaignSpec(systems=["raft", "paxos"], workloads=["register", "set"],
                     nemesis=["partition,kill", "pause"], seeds=3, seed_base=7)
    b = CampaignSpec(systems=["paxos", "raft"], workloads=["set", "register"],
                     nemesis=["pause", "kill,partition"], seeds=3, seed_base=7)
    matrix = expand(a)
    assert len(matrix) == 24
    assert plan(a).id == plan(b).id
    for n in range(1, 8):
        slices = [slice_runs(expand(a), Shard(k, n)) for k in range(1, n + 1)]
        other = [slice_runs(expand(b), Shard(k, n)) for k in range(1, n + 1)]
        assert [[run_key(r) for r in s] for s in slices] == [[run_key(r) for r in s] for s in other]
        keys = [run_key(r) for s in slices for r in s]
        assert sorted(keys) == sorted(run_key(r) for r in matrix)  # each run in exactly one shard
        assert max(map(len, slices)) - min(map(len, slices)) <= 1
    # seeds are split among shards, never re-drawn
    assert {r.seed for k in (1, 2, 3, 4) for r in slice_runs(matrix, Shard(k, 4))} == {7, 8, 9}


def test_campaign_id_changes_with_what_runs():
    base = CampaignSpec(systems=["raft"], seeds=2)
    assert plan(base).id != plan(CampaignSpec(systems=["raft"], seeds=3)).id
    assert plan(base).id != plan(CampaignSpec(systems=["raft"], seeds=2, time_limit=5)).id
    assert plan(base).id == plan(CampaignSpec(systems=["raft"], seeds=2, parallel=2, store="elsewhere",
                                              shard="1/2")).id


# ---------------------------------------------------------------- real shards, merged


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory):
    """One unsharded campaign and the same campaign as 2 shards (each into its own store, as CI runners)."""
    root = tmp_path_factory.mktemp("shards")
    whole = _cli(*_matrix("--junit", str(root / "whole.xml"), store=root / "whole"))
    assert whole.returncode == 0, whole.stdout[-2000:] + whole.stderr[-2000:]
    shards = []
    for k in (2, 1):  # out of order on purpose
        r = _cli(*_matrix("--shard", f"{k}/2", store=root / f"shard{k}"))
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        shards.append(json.loads(r.stdout))
    return root, json.loads(whole.stdout), shards


def test_merged_shards_equal_the_unsharded_campaign(campaigns):
    root, whole, shards = campaigns
    assert {s["campaign_id"] for s in shards} == {whole["campaign_id"]}
    assert sorted(len(s["runs"]) for s in shards) == [2, 2]
    r = _cli("campaign", "merge", str(root / "shard1"), str(root / "shard2"), "--store", str(root / "merged"),
             "--junit", str(root / "merged.xml"), "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    merged = json.loads(r.stdout)
    for key in ("campaign_id", "total_runs", "expected", "complete", "exit_code", "shard"):
        assert merged[key] == whole[key], key
    assert _runs(merged) == _runs(whole)
    assert _cases(root / "merged.xml") == _cases(root / "whole.xml")
    assert len(_cases(root / "whole.xml")) == 4
    # the run dirs came along into the merged store, and every one has its report
    for run in merged["runs"]:
        assert (root / "merged" / run["run_path"] / "report.html").is_file()
        assert Path(run["run_dir"]).resolve() == (root / "merged" / run["run_path"]).resolve()


def test_serve_shows_the_merged_campaign(campaigns):
    from splitbrain.reports.serve import make_server

    root, _, _ = campaigns
    store = root / "served"
    r = _cli("campaign", "merge", str(root / "shard1"), str(root / "shard2"), "--store", str(store))
    assert r.returncode == 0, r.stderr
    (name,) = [d.name for d in (store / "campaigns").iterdir()]
    server = make_server(store, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        page = urllib.request.urlopen(f"{base}/campaigns/{name}/", timeout=30).read().decode()
        links = [ln.split('"')[0] for ln in page.split('href="')[1:] if ln.split('"')[0].endswith("report.html")]
        assert len(links) == 4, page
        for link in links:
            assert urllib.request.urlopen(base + link, timeout=30).status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_merge_refuses_what_is_not_one_whole_campaign(campaigns, tmp_path):
    root, _, _ = campaigns
    s1, s2 = str(root / "shard1"), str(root / "shard2")
    r = _cli("campaign", "merge", s1, "--store", str(tmp_path / "m"))
    assert r.returncode == 66 and "missing shard(s) 2/2" in r.stderr, r.stderr
    r = _cli("campaign", "merge", s1, s1, s2, "--store", str(tmp_path / "m"))
    assert r.returncode == 64 and "overlapping" in r.stderr and "1/2" in r.stderr, r.stderr
    other = tmp_path / "other"
    shutil.copytree(s2, other, symlinks=True)
    (idx_path,) = (other / "campaigns").glob("*/index.json")
    idx = json.loads(idx_path.read_text())
    idx["campaign_id"] = "0123456789abcdef"
    idx_path.write_text(json.dumps(idx))
    r = _cli("campaign", "merge", s1, str(other), "--store", str(tmp_path / "m"))
    assert r.returncode == 64 and "different campaigns" in r.stderr and str(other) in r.stderr, r.stderr
    r = _cli("campaign", "merge", str(tmp_path / "nope"), "--store", str(tmp_path / "m"))
    assert r.returncode == 66, r.stderr
    assert not (tmp_path / "m" / "campaigns").exists() or not any((tmp_path / "m" / "campaigns").iterdir())


def test_resume_runs_only_what_is_missing(campaigns, tmp_path):
    root, _, _ = campaigns
    store = tmp_path / "store"
    shutil.copytree(root / "shard1", store, symlinks=True)
    (cdir,) = [d for d in (store / "campaigns").iterdir()]
    idx = json.loads((cdir / "index.json").read_text())
    kept, dropped = idx["runs"][0], idx["runs"][1]
    idx["runs"] = [kept]
    (cdir / "index.json").write_text(json.dumps(idx))
    r = _cli("campaign", "merge", str(store), str(root / "shard2"), "--store", str(tmp_path / "m"))
    assert r.returncode == 66 and "did not finish" in r.stderr and "--resume" in r.stderr, r.stderr
    # the index still names the shard's store as it was written; resume from where the store was made
    idx["spec"]["store"] = str(store)
    (cdir / "index.json").write_text(json.dumps(idx))
    r = _cli("campaign", "--resume", str(cdir), "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    resumed = json.loads(r.stdout)
    assert [x["name"] for x in resumed["runs"]] == [kept["name"], dropped["name"]]
    assert resumed["runs"][0]["run_dir"] == kept["run_dir"]  # not run again
    assert resumed["complete"] is True
    assert "shard 1/2: 1/2 runs, 1 left" in r.stderr and "[2/2]" in r.stderr  # the kept run counted as done
    r = _cli("campaign", "--resume", str(cdir), "--systems", "raft")
    assert r.returncode == 64, r.stderr


@pytest.mark.slow
def test_24_runs_in_4_shards(tmp_path):
    """The issue's figure: 24 runs, 4 shards run one after another (as CI runners would), merged."""
    args = ["campaign", "--name", "big", "--systems", "memkv", "--workloads", "register,set,counter",
            "--nemesis", "none", "--seeds", "8", "--time-limit", "1", "--json"]
    whole = _cli(*args, "--store", str(tmp_path / "whole"), "--junit", str(tmp_path / "whole.xml"))
    assert whole.returncode == 0, whole.stderr[-2000:]
    for k in range(1, 5):
        r = _cli(*args, "--store", str(tmp_path / f"s{k}"), "--shard", f"{k}/4")
        assert r.returncode == 0, r.stderr[-2000:]
    r = _cli("campaign", "merge", *(str(tmp_path / f"s{k}") for k in range(1, 5)), "--store",
             str(tmp_path / "merged"), "--junit", str(tmp_path / "merged.xml"), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _runs(json.loads(r.stdout)) == _runs(json.loads(whole.stdout))
    assert len(_cases(tmp_path / "merged.xml")) == 24
    assert _cases(tmp_path / "merged.xml") == _cases(tmp_path / "whole.xml")


def _as_background_job() -> None:
    """What a shell does to a job started with ``&`` (and what many CI launchers inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path, sig):
    """SIGINT (or a CI runner's SIGTERM) mid-campaign: exit 130, the finished run kept, no run left
    behind; --resume runs the rest. The campaign starts as a background job would, with SIGINT
    ignored: it must stop all the same."""
    store = tmp_path / "store"
    p = subprocess.Popen([sys.executable, "-m", "splitbrain", *_matrix(store=store, seeds=2)[:-1]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "1"},
                         preexec_fn=_as_background_job)
    assert p.stderr is not None
    seen = ""
    for line in p.stderr:  # the first run has ended: the second is in flight
        seen += line
        if line.startswith("[1/4]"):
            break
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, seen + err
    assert "--resume" in err
    (cdir,) = (store / "campaigns").iterdir()
    idx = json.loads((cdir / "index.json").read_text())
    assert idx["complete"] is False and idx["exit_code"] == 130 and 1 <= len(idx["runs"]) < 4
    assert not subprocess.run(["pgrep", "-f", str(store)], capture_output=True).stdout
    r = _cli("campaign", "--resume", str(cdir), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = json.loads(r.stdout)
    assert resumed["complete"] is True and len(resumed["runs"]) == 4
    assert [x["run_dir"] for x in resumed["runs"] if x["name"] in {y["name"] for y in idx["runs"]}] == \
        [x["run_dir"] for x in idx["runs"]]
