"""Your own system, going wrong: bad plugins, bad system files, foreign nodes that misbehave.

Each mistake is one clear line with the documented exit code (64 for what the
user wrote, 255 for a node that would not come up), nothing is left running,
and every other name keeps working.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "examples" / "pbkv-plugin" / "pbkv_plugin" / "server.py"


def splitbrain(*args: str, cwd: Path | None = None, env_path: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = None
    if env_path is not None:
        import os

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(env_path), os.environ.get("PYTHONPATH"))
                                                            if p)}
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _nothing_left(tmp_path: Path) -> None:
    left = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True).stdout
    assert not left, f"left running: {left}"


# ------------------------------------------------------------------ plugins

@pytest.fixture
def broken_plugins(tmp_path: Path) -> Path:
    """A distribution (metadata only, as pip would leave it) with three bad entry points."""
    site = tmp_path / "site"
    info = site / "broken_sb_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-sb-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [splitbrain.systems]
        broken = no_such_module_for_splitbrain:SYSTEM
        notasystem = json:dumps
        raft = json:loads

        [splitbrain.workloads]
        badload = json:JSONDecoder
    """))
    return site


def test_plugin_that_fails_to_import_is_one_line_naming_its_distribution(tmp_path, broken_plugins):
    p = splitbrain("run", "broken", "--store", str(tmp_path / "store"), env_path=broken_plugins)
    assert p.returncode == 64, p.stderr
    assert len(_lines(p.stderr)) == 1, p.stderr
    assert "broken-sb-plugin" in p.stderr and "ModuleNotFoundError" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "store").exists()


def test_plugin_object_that_is_not_a_system_is_refused(tmp_path, broken_plugins):
    p = splitbrain("run", "notasystem", "--store", str(tmp_path / "store"), env_path=broken_plugins)
    assert p.returncode == 64 and len(_lines(p.stderr)) == 1, p.stderr
    assert "broken-sb-plugin" in p.stderr and "not a valid system" in p.stderr
    # a plugin workload, asked for by a system file that serves it
    sysfile = _sysfile(tmp_path, workloads='["badload"]')
    p = splitbrain("run", str(sysfile), "--store", str(tmp_path / "store"), env_path=broken_plugins)
    assert p.returncode == 64 and "not a valid workload" in p.stderr and "broken-sb-plugin" in p.stderr, p.stderr


def test_other_names_keep_working_and_a_clash_is_refused(tmp_path, broken_plugins):
    p = splitbrain("systems", env_path=broken_plugins)
    assert p.returncode == 0, p.stderr
    assert "refused: system 'raft' from broken-sb-plugin refused: the name is taken by built-in" in p.stdout
    assert "broken" in p.stdout and "unavailable" in p.stdout
    p = splitbrain("run", "memkv", "--time-limit", "2", "--store", str(tmp_path / "store"), env_path=broken_plugins)
    assert p.returncode == 0, p.stderr[-1500:]
    assert "raft-register" not in str(list((tmp_path / "store").iterdir()))


# ------------------------------------------------------------------ system files

GOOD = {
    "name": '"mine"',
    "command": '["python3", "{dir}/server.py", "--name", "{name}", "--nodes", "{node_ids}", "--port", "{client_port}",'
                ' "--peer-port", "{peer_port}", "--peers", "{peers}", "--data", "{data_dir}", "--failover", "5"]',
    "files": '["server.py"]',
    "workloads": '["set"]',
}


def _sysfile(tmp_path: Path, **changes: str | None) -> Path:
    (tmp_path / "server.py").write_text(SERVER.read_text())
    keys = {**GOOD, **changes}
    path = tmp_path / "mine.toml"
    path.write_text("".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None))
    return path


@pytest.mark.parametrize("changes, key, allowed", [
    ({"colour": '"blue"'}, "colour", "allowed keys: name, command"),
    ({"command": None}, "command", "missing"),
    ({"command": '["./srv", "--port", "{port}"]'}, "command", "unknown placeholder {port}; allowed: {name}"),
    ({"files": '["server.py", "missing.bin"]'}, "files", "'missing.bin' does not exist"),
    ({"protocol": '"grpc"'}, "protocol", "not one of: wire, maelstrom"),
    ({"workloads": '["register", "nope"]'}, "workloads", "unknown workload 'nope'; allowed:"),
    ({"nodes": "0"}, "nodes", "from 1 to 64"),
])
def test_bad_system_file_is_one_line_naming_file_key_and_what_is_allowed(tmp_path, changes, key, allowed):
    path = _sysfile(tmp_path, **changes)
    p = splitbrain("run", str(path), "--store", str(tmp_path / "store"))
    assert p.returncode == 64, p.stderr
    (line,) = _lines(p.stderr)
    assert str(path) in line and f": {key}: " in line and allowed in line, line
    assert not (tmp_path / "store").exists()


def test_missing_or_malformed_system_file(tmp_path):
    p = splitbrain("run", str(tmp_path / "nope.toml"))
    assert p.returncode == 66 and "no such file" in p.stderr and len(_lines(p.stderr)) == 1, p.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("command = [\n")
    p = splitbrain("run", str(bad))
    assert p.returncode == 64 and "not valid TOML" in p.stderr, p.stderr


def test_a_good_system_file_runs_a_program_that_does_not_import_splitbrain(tmp_path):
    assert "splitbrain" not in SERVER.read_text().split('"""', 2)[2]  # the server is not ours
    path = _sysfile(tmp_path)
    p = splitbrain("run", str(path), "--nemesis", "none", "--time-limit", "3", "--store", str(tmp_path / "store"))
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    run = next((tmp_path / "store" / "mine-set").iterdir())
    assert (run / "nodes" / "n2" / "node.log").read_text().startswith("pbkv n2 serving")
    assert (run / "nodes" / "n2" / "files" / "server.py").is_file()
    _nothing_left(tmp_path)


# ------------------------------------------------------------------ foreign nodes that misbehave

def _misbehaving(tmp_path: Path, script: str) -> Path:
    """A system file whose node n2 runs ``script`` (sh) instead of the server; the others are fine."""
    (tmp_path / "wrap.sh").write_text(f'if [ "$1" = n2 ]; then {script}; fi\nshift\nexec python3 "$@"\n')
    return _sysfile(tmp_path, command='["sh", "{dir}/wrap.sh", "{name}", "{dir}/server.py", "--name", "{name}", '
                    '"--nodes", "{node_ids}", "--port", "{client_port}", "--peer-port", "{peer_port}", '
                    '"--peers", "{peers}", "--data", "{data_dir}"]', files='["server.py", "wrap.sh"]')


@pytest.mark.parametrize("script, expect", [
    ("echo 'n2: cannot bind, giving up' >&2; exit 1", ["node n2", "exit status 1", "n2: cannot bind, giving up"]),
    ("head -c 3000 /dev/urandom | base64; sleep 60", ["node n2", "not accepting after"]),
    ("echo 'warming up'; sleep 60", ["node n2", "not accepting after", "warming up"]),
])
def test_foreign_node_that_does_not_come_up_is_255_bounded_and_cleaned_up(tmp_path, script, expect):
    path = _misbehaving(tmp_path, script)
    p = splitbrain("run", str(path), "--time-limit", "5", "--store", str(tmp_path / "store"),
                   "--backend-opt", "start_timeout_s=4", timeout=90)
    assert p.returncode == 255, p.stdout[-1500:] + p.stderr[-1500:]
    first = next(ln for ln in _lines(p.stderr) + _lines(p.stdout) if "node n2" in ln)
    for part in expect:
        assert part in first, first
    _nothing_left(tmp_path)
