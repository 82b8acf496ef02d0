"""The pytest plugin, used the way a project would: a test file in its own directory, run by pytest."""

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

ENV = {**os.environ, "CI": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

PROJECT_TEST = textwrap.dedent('''
    import pytest

    @pytest.mark.splitbrain(system="memkv", workload="register", nemesis="none", time_limit=3, nodes=1)
    def test_my_system_is_linearizable(splitbrain_run):
        run = splitbrain_run()
        run.assert_valid()
        assert run.ops > 10 and run.run_dir

    @pytest.mark.splitbrain(system="memkv", workload="register", nemesis="none", time_limit=3, nodes=1)
    def test_seeded_bug_is_caught(splitbrain_run):
        splitbrain_run(bug="stale-read").assert_invalid()

    def test_gate_fails_with_report_path(splitbrain_run):
        run = splitbrain_run("memkv", workload="register", nemesis="none", time_limit=3, nodes=1, bug="stale-read")
        with pytest.raises(AssertionError, match="report.html"):
            run.assert_valid()
''')


def test_plugin_in_a_project(tmp_path):
    (tmp_path / "test_project.py").write_text(PROJECT_TEST)
    registered = any(ep.value == "splitbrain.pytest_plugin" for ep in entry_points(group="pytest11"))
    # Installed packages load the plugin through the pytest11 entry point; a bare checkout names it.
    load = [] if registered else ["-p", "splitbrain.pytest_plugin"]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *load,
                        "--splitbrain-store", str(tmp_path / "store"), str(tmp_path / "test_project.py")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=ENV)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "3 passed" in r.stdout
    assert any((tmp_path / "store").rglob("report.html"))


def test_plugin_options_are_listed(tmp_path):
    registered = any(ep.value == "splitbrain.pytest_plugin" for ep in entry_points(group="pytest11"))
    load = [] if registered else ["-p", "splitbrain.pytest_plugin"]
    r = subprocess.run([sys.executable, "-m", "pytest", *load, "--help"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path, env=ENV)
    assert "--splitbrain-time-limit" in r.stdout and "--splitbrain-backend" in r.stdout
