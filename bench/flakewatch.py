"""Flake watch: run the end-to-end tests N times and report every test that failed even once, with why.

    python3 bench/flakewatch.py --runs 20                  # the ssh, docker and local end-to-end tests
    python3 bench/flakewatch.py --runs 5 --preset ssh      # one backend
    python3 bench/flakewatch.py --runs 3 tests/test_ssh.py::test_raft_over_ssh_valid_under_faults_and_nothing_left

Each round is one ``pytest`` process over all the selected tests (so tests run in the suite's
order, after one another, with what earlier ones leave behind), with a JUnit XML file read back
for per-test outcomes. Prints per test: runs, passes, failures, skips, the slowest and median
seconds, and the first line of each distinct failure reason; then the totals and the load
average (a loaded machine stretches timings: say so next to the figures). Exits 1 if any test
failed at least once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PRESETS = {
    "local": [
        "tests/test_harness_e2e.py",
        "tests/test_node_start_failure.py::test_local_node_that_fails_to_start_says_why",
        "tests/test_lost_control.py::test_local_node_killed_by_someone_else_ends_255_never_valid",
    ],
    "docker": [
        "tests/test_docker.py::test_harness_run_in_containers_is_valid_and_ctrl_c_leaves_nothing",
        "tests/test_node_start_failure.py::test_docker_node_that_fails_to_start_says_why",
    ],
    "ssh": [
        "tests/test_ssh.py::test_raft_over_ssh_valid_under_faults_and_nothing_left",
        "tests/test_ssh.py::test_dropped_connection_is_reestablished_and_faults_verified",
        "tests/test_node_start_failure.py::test_ssh_node_that_fails_to_start_says_why",
    ],
}


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _reason(message: str) -> str:
    """The line that says why: splitbrain's own one-line error if the failure quotes one (a test
    that shows a run's stderr), else an error line, else the assertion's first line."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    for pick in (lambda ln: ln.startswith("splitbrain: ") or ln.startswith("error: "),
                 lambda ln: "error" in ln.lower() or "lost control" in ln):
        hits = [ln for ln in lines if pick(ln)]
        if hits:
            return hits[-1][:300]
    return (lines[0] if lines else "no message")[:300]


def one_round(targets: list[str], xml: Path, timeout_s: float) -> dict[str, tuple[str, float, str]]:
    """{test id: (outcome, seconds, reason)} for one pytest process over ``targets``."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={xml}",
           *targets]
    try:
        subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"(round)": ("failed", timeout_s, f"the round did not finish in {timeout_s:.0f} s")}
    out: dict[str, tuple[str, float, str]] = {}
    if not xml.exists():
        return {"(round)": ("failed", 0.0, "pytest wrote no report (collection error?)")}
    for case in ET.parse(xml).getroot().iter("testcase"):
        tid = f"{case.get('classname', '')}::{case.get('name', '')}"
        secs = float(case.get("time", 0) or 0)
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            out[tid] = ("failed", secs, _reason(bad.get("message") or bad.text or ""))
        elif case.find("skipped") is not None:
            out[tid] = ("skipped", secs, "")
        else:
            out[tid] = ("passed", secs, "")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tests", nargs="*", help="pytest node ids (default: the preset's)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--preset", choices=[*PRESETS, "all"], default="all")
    ap.add_argument("--round-timeout", type=float, default=3600.0, help="seconds one round may take")
    args = ap.parse_args(argv)
    targets = args.tests or [t for name, ts in PRESETS.items() if args.preset in (name, "all") for t in ts]
    tallies: dict[str, Tally] = defaultdict(Tally)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="flakewatch-") as tmp:
        for i in range(1, args.runs + 1):
            xml = Path(tmp) / f"round{i}.xml"
            results = one_round(targets, xml, args.round_timeout)
            bad = [t for t, (o, _, _) in results.items() if o == "failed"]
            print(f"round {i}/{args.runs}: {len(results)} tests, {len(bad)} failed"
                  + (f" ({', '.join(b.rsplit('::', 1)[-1] for b in bad)})" if bad else ""), flush=True)
            for tid, (outcome, secs, reason) in results.items():
                t = tallies[tid]
                setattr(t, outcome, getattr(t, outcome) + 1)
                t.seconds.append(secs)
                if reason:
                    t.reasons[reason] += 1
    print(f"\n{'test':<90} {'runs':>4} {'pass':>4} {'fail':>4} {'skip':>4} {'median s':>8} {'max s':>7}")
    flaky = 0
    for tid, t in sorted(tallies.items()):
        runs = t.passed + t.failed + t.skipped
        print(f"{tid[-90:]:<90} {runs:>4} {t.passed:>4} {t.failed:>4} {t.skipped:>4} "
              f"{statistics.median(t.seconds):>8.1f} {max(t.seconds):>7.1f}")
        for reason, n in t.reasons.items():
            print(f"    {n}x {reason}")
        flaky += t.failed > 0
    load = os.getloadavg()
    print(f"\n{args.runs} rounds of {len(tallies)} tests in {time.monotonic() - start:.0f} s; "
          f"{flaky} test(s) failed at least once; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores")
    return 1 if flaky else 0


if __name__ == "__main__":
    sys.exit(main())
