"""A pytest plugin, so a project can gate its own test suite on a splitbrain run.

::

    import pytest

    @pytest.mark.splitbrain(system="raft", workload="register", nemesis="partition,kill", time_limit=20)
    def test_raft_is_linearizable(splitbrain_run):
        run = splitbrain_run()          # arguments default to the marker's
        run.assert_valid()              # fails with the anomaly and the report path

``system`` is a registered name (built-in or from a plugin) or the path of a
system file (``mysys.toml``); ``system_opts={"reads": "sync"}`` becomes
``--system-opt reads=sync``.

Command-line options override the marker for the whole session:
``--splitbrain-store DIR``, ``--splitbrain-backend NAME``, ``--splitbrain-time-limit S``,
``--splitbrain-seed N``. The run happens in a child process through the CLI's
``--json`` contract, so the plugin adds nothing to the importing process and a
crashing run cannot crash pytest.

Registered through the ``pytest11`` entry point; this module imports nothing
heavy at import time because it is loaded into every pytest session of an
environment where splitbrain is installed.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from splitbrain.harness.runjson import last_json_object
from splitbrain.results import RunOutcome


@dataclass(kw_only=True)
class SplitbrainRun(RunOutcome):
    """The outcome of one run, as ``splitbrain run --json`` reports it, and the child's stderr."""

    stderr: str = ""

    def explain(self) -> str:
        if self.run_dir:
            from splitbrain.harness.campaign import describe_anomaly

            what = describe_anomaly(Path(self.run_dir)) if self.valid is False else f"verdict {self.valid}"
            return f"{what} -- report: {self.run_dir}/report.html"
        tail = self.stderr.strip().splitlines()[-1:] or [f"exit {self.exit_code}"]
        return tail[0]

    def assert_valid(self) -> None:
        if self.exit_code != 0 or self.valid is not True:
            raise AssertionError(f"splitbrain run not valid (exit {self.exit_code}): {self.explain()}")

    def assert_invalid(self) -> None:
        if self.exit_code != 1 or self.valid is not False:
            raise AssertionError(f"expected splitbrain to find an anomaly, got exit {self.exit_code}: {self.explain()}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("splitbrain", "fault-testing runs (splitbrain)")
    group.addoption("--splitbrain-store", default=None, help="store directory for runs (default: a temp dir)")
    group.addoption("--splitbrain-backend", default=None, help="backend for every run (local, docker, ssh)")
    group.addoption("--splitbrain-time-limit", type=float, default=None, help="seconds per run")
    group.addoption("--splitbrain-seed", type=int, default=None, help="seed for every run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "splitbrain(system, workload=..., nemesis=..., time_limit=..., bug=..., seed=..., backend=..., "
        "system_opts={KEY: VALUE}): "
        "defaults for the splitbrain_run fixture",
    )


_FLAGS = {
    "workload": "--workload", "nemesis": "--nemesis", "time_limit": "--time-limit", "bug": "--bug",
    "seed": "--seed", "backend": "--backend", "nodes": "--nodes", "concurrency": "--concurrency",
    "rate": "--rate", "store": "--store",
}


@pytest.fixture
def splitbrain_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A callable that runs ``splitbrain run`` and returns a :class:`SplitbrainRun`."""
    marker = request.node.get_closest_marker("splitbrain")
    defaults: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        defaults.setdefault("system", marker.args[0])
    opt = request.config.getoption
    overrides = {
        "backend": opt("--splitbrain-backend"), "time_limit": opt("--splitbrain-time-limit"),
        "seed": opt("--splitbrain-seed"), "store": opt("--splitbrain-store"),
    }

    def run(system: str | None = None, timeout_s: float | None = None, **kwargs: Any) -> SplitbrainRun:
        args = {**defaults, **kwargs, **{k: v for k, v in overrides.items() if v is not None}}
        system = system or args.pop("system", None)
        args.pop("system", None)
        if not system:
            raise pytest.UsageError("splitbrain_run needs a system (argument or @pytest.mark.splitbrain)")
        args.setdefault("store", str(tmp_path_factory.mktemp("splitbrain-store")))
        cmd = [sys.executable, "-m", "splitbrain", "run", system, "--json"]
        for key, value in sorted((args.pop("system_opts", None) or {}).items()):
            cmd += ["--system-opt", f"{key}={value}"]
        for key, value in args.items():
            if key not in _FLAGS:
                raise pytest.UsageError(f"splitbrain_run: unknown option {key!r}; valid: {', '.join(_FLAGS)}, system_opts")
            if value is not None:
                cmd += [_FLAGS[key], str(value)]
        limit = timeout_s or float(args.get("time_limit") or 60) * 3 + 120
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        outcome = RunOutcome.from_line(last_json_object(proc.stdout), proc.returncode)
        return SplitbrainRun(**vars(outcome), stderr=proc.stderr)

    return run
