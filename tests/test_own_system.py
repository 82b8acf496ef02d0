"""Your own system, end to end: a pip-installed plugin, its system-file twin, a campaign, the pytest plugin.

The plugin (examples/pbkv-plugin) is a primary-backup KV store that nobody
seeded a bug into: it acknowledges writes before replicating them, so a cut-off
or killed primary loses acknowledged writes. splitbrain must find them (exit 1)
through every way in, and report them as lost.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pbkv-plugin"
SYSFILE = EXAMPLE / "pbkv.toml"


@pytest.fixture(scope="module", autouse=True)
def installed_example():
    """The example plugin installed into this environment with pip, fresh (make test does it too)."""
    try:
        dist = importlib.metadata.distribution("splitbrain-pbkv")
        sources = sorted((EXAMPLE / "pbkv_plugin").glob("*.py"))
        stale = any(Path(str(dist.locate_file(f"pbkv_plugin/{p.name}"))).read_bytes() != p.read_bytes() for p in sources)
    except (importlib.metadata.PackageNotFoundError, OSError):
        stale = True
    if stale:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(EXAMPLE)],
                       check=True, capture_output=True, timeout=300)


def splitbrain(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _lost(run_dir: str) -> int:
    results = json.loads((Path(run_dir) / "results.json").read_text())
    return sum(1 for a in results["checkers"]["set"]["anomalies"] if a["kind"] == "lost")


def test_systems_lists_the_plugin_with_its_distribution(tmp_path):
    p = splitbrain("systems", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    pbkv = json.loads(p.stdout)["systems"]["pbkv"]
    assert pbkv["origin"] == "splitbrain-pbkv" and pbkv["workloads"] == ["set", "register"]
    text = splitbrain("systems", cwd=tmp_path).stdout
    assert "pbkv" in text and "(from splitbrain-pbkv)" in text


def test_plugin_loses_acknowledged_writes_under_partition_and_kill(tmp_path):
    p = splitbrain("run", "pbkv", "--nemesis", "partition,kill", "--time-limit", "20", "--seed", "1",
                   "--store", str(tmp_path), "--json")
    assert p.returncode == 1, p.stderr[-2000:]
    out = json.loads(p.stdout.splitlines()[-1])
    assert out["valid"] is False and out["checkers"]["set"]["valid"] is False
    assert _lost(out["run_dir"]) > 0
    assert "lost" in (Path(out["run_dir"]) / "report.html").read_text()
    assert not subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout, "a node was left running"


def test_plugin_is_valid_without_faults(tmp_path):
    """The flaw needs a fault to show: a quiet run is valid (no false alarm)."""
    # failover=5: a backup that misses syncs for a second on a loaded machine must not promote itself
    p = splitbrain("run", "pbkv", "--nemesis", "none", "--time-limit", "4", "--seed", "1", "--store", str(tmp_path),
                   "--system-opt", "failover=5", "--json")
    assert p.returncode == 0, p.stderr[-2000:]


def test_campaign_over_the_plugin_and_its_system_file(tmp_path):
    """Both ways in, in one campaign (TOML, with the system file relative to the campaign file)."""
    (tmp_path / "pbkv.toml").write_text(SYSFILE.read_text())
    (tmp_path / "pbkv_plugin").mkdir()
    (tmp_path / "pbkv_plugin" / "server.py").write_text((EXAMPLE / "pbkv_plugin" / "server.py").read_text())
    campaign = tmp_path / "c" / "campaign.toml"
    campaign.parent.mkdir()
    campaign.write_text(textwrap.dedent(f"""
        name = "own"
        systems = ["pbkv", "../pbkv.toml"]
        workloads = ["set"]
        nemesis = ["partition,kill"]
        seeds = 1
        seed_base = 1
        time_limit = 20
        store = "{tmp_path / 'store'}"
        junit = "{tmp_path / 'junit.xml'}"
    """))
    p = splitbrain("campaign", str(campaign), "--json", cwd=tmp_path, timeout=400)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    index = json.loads(p.stdout)
    runs = index["runs"]
    assert sorted(r["system"] for r in runs) == sorted(["pbkv", str(tmp_path / "pbkv.toml")])
    assert all(r["valid"] is False and "lost" in r["anomaly"] for r in runs), runs
    assert "<failure" in (tmp_path / "junit.xml").read_text()


def test_pytest_plugin_from_a_separate_project(tmp_path):
    """A user's own test suite gates on the plugin with nothing but the marker (system_opts included)."""
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.splitbrain(system="pbkv", nemesis="partition,kill", time_limit=30, seed=1)
        def test_pbkv_loses_writes(splitbrain_run):
            run = splitbrain_run()
            run.assert_invalid()
            assert "lost" in run.explain()

        @pytest.mark.splitbrain(system="pbkv", nemesis="none", time_limit=3, seed=1, system_opts={"failover": 5})
        def test_pbkv_is_valid_when_quiet(splitbrain_run):
            splitbrain_run().assert_valid()
    """))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                        "--splitbrain-store", str(tmp_path / "store"), str(tmp_path / "test_mine.py")],
                       capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert p.returncode == 0 and "2 passed" in p.stdout, p.stdout[-3000:] + p.stderr[-2000:]


def test_system_file_with_a_maelstrom_node(tmp_path):
    """protocol = "maelstrom": the command is a Maelstrom node binary, relative to the file."""
    node = tmp_path / "pynode.py"
    node.write_text((ROOT / "tests" / "maelstrom_nodes" / "pynode.py").read_text())
    node.chmod(0o755)
    (tmp_path / "mnode.toml").write_text('command = ["pynode.py", "lin-kv"]\nprotocol = "maelstrom"\nnodes = 3\n')
    p = splitbrain("run", str(tmp_path / "mnode.toml"), "--workload", "lin-kv", "--nemesis", "none",
                   "--time-limit", "4", "--seed", "1",
                   "--store", str(tmp_path / "store"), "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.splitlines()[-1])["valid"] is True
    (tmp_path / "bad.toml").write_text('command = ["pynode.py", "{name}"]\nprotocol = "maelstrom"\n')
    p = splitbrain("run", str(tmp_path / "bad.toml"), "--store", str(tmp_path / "store2"))
    assert p.returncode == 64 and "takes no placeholders" in p.stderr, p.stderr
