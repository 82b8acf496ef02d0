"""Counterexample shrinking on corpus histories known to be non-linearizable."""

from __future__ import annotations

import csv
import time

import pytest

from splitbrain.checkers.linearizable import is_linearizable
from splitbrain.formats.detect import read_history
from splitbrain.reports.shrink import shrink

EDN_BAD = ["bad-analysis.edn", "cas-failure.edn", "mongodb-v0-ack-rollback-6.edn", "rethink-fail-smaller.edn"]


def _etcd_bad(data_dir, n=4):
    with open(data_dir / "porcupine" / "expected.tsv") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t")
                if r["file"].startswith("jepsen/etcd_") and r["expected"] == "not-linearizable"]
    return [data_dir / "porcupine" / r["file"] for r in rows[:n]]


def _assert_one_minimal(core, model, init):
    assert is_linearizable(core, model, init) is False
    for i in range(len(core)):
        rest = core[:i] + core[i + 1:]
        assert is_linearizable(rest, model, init) is True, f"still fails without op {core[i].invoke_index}"


@pytest.mark.parametrize("closed", [False, True])
@pytest.mark.parametrize("name", EDN_BAD)
def test_knossos_bad_histories_shrink_to_a_core(data_dir, name, closed):
    calls = read_history(data_dir / "knossos" / "cas-register" / "bad" / name).calls(strict=False)
    core = shrink(calls, "knossos-cas-register", 0, budget_s=60, closed=closed)
    assert core is not None and core.minimal
    assert 0 < len(core.calls) < len(calls)
    if closed:
        # the explained core: non-linearizable, and dropping any op makes it linearizable
        # or takes away the only write a kept read could have seen
        assert is_linearizable(core.calls, "knossos-cas-register", 0) is False
    else:
        _assert_one_minimal(core.calls, "knossos-cas-register", 0)


def test_etcd_bad_logs_shrink_to_a_core(data_dir):
    files = _etcd_bad(data_dir)
    assert len(files) == 4
    for f in files:
        calls = read_history(f).calls(strict=False)
        core = shrink(calls, "etcd", None, budget_s=60)
        assert core is not None and core.minimal, f
        _assert_one_minimal(core.calls, "etcd", None)
        explained = shrink(calls, "etcd", None, budget_s=60, closed=True)
        assert explained is not None and is_linearizable(explained.calls, "etcd", None) is False


def test_linearizable_history_has_no_core(data_dir):
    with open(data_dir / "porcupine" / "expected.tsv") as fh:
        good = next(r["file"] for r in csv.DictReader(fh, delimiter="\t")
                    if r["file"].startswith("jepsen/etcd_") and r["expected"] == "linearizable")
    calls = read_history(data_dir / "porcupine" / good).calls(strict=False)
    assert shrink(calls, "etcd", None, budget_s=30) is None


def test_out_of_budget_returns_a_failing_set_marked_not_minimal(data_dir):
    calls = read_history(data_dir / "knossos" / "cas-register" / "bad" / "cas-failure.edn").calls(strict=False)

    def slow(sub):
        time.sleep(0.05)
        return is_linearizable(sub, "knossos-cas-register", 0)

    core = shrink(calls, "knossos-cas-register", 0, budget_s=0.3, check=slow)
    assert core is not None and not core.minimal
    assert is_linearizable(core.calls, "knossos-cas-register", 0) is False


def test_hint_cut_skips_the_full_history_check(data_dir):
    calls = read_history(data_dir / "knossos" / "cas-register" / "bad" / "cas-failure.edn").calls(strict=False)
    full = shrink(calls, "knossos-cas-register", 0, budget_s=60)
    sizes = []

    def counting(sub):
        sizes.append(len(sub))
        return is_linearizable(sub, "knossos-cas-register", 0)

    last = max(c.complete_index or c.invoke_index for c in full.calls)
    core = shrink(calls, "knossos-cas-register", 0, budget_s=60, check=counting, hint_cut=last + 1)
    assert core is not None and core.minimal and max(sizes) < len(calls)
    _assert_one_minimal(core.calls, "knossos-cas-register", 0)
