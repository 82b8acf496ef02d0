"""The README's commands, run as written by tests/readme_commands.py (so the README cannot drift)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_commands import REPO, parse  # noqa: E402

SCRIPT = str(REPO / "tests" / "readme_commands.py")


def test_the_readme_has_commands_and_their_expected_exits() -> None:
    commands, files = parse((REPO / "README.md").read_text())
    texts = [c.text for c in commands]
    assert any(t.startswith("splitbrain check ") for t in texts) and any(t.startswith("splitbrain run ") for t in texts)
    assert {c.expect for c in commands} >= {0, 1}  # "# exits 1" is read, not ignored
    assert "nightly.toml" in files and "splitbrain campaign nightly.toml" in texts
    assert all(not t.endswith("\\") for t in texts)  # continuation lines are joined


def test_fast_readme_commands_do_what_the_readme_says() -> None:
    p = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert p.stdout.count("\nok ") + p.stdout.startswith("ok ") >= 6


@pytest.mark.slow
def test_readme_run_commands_do_what_the_readme_says() -> None:
    """Every `splitbrain run` line of the README (minutes; docker and etcd included)."""
    p = subprocess.run([sys.executable, SCRIPT, "--all", "--only", "splitbrain run "], capture_output=True,
                       text=True, timeout=3600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
