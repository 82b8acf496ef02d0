"""Elle's own published list-append test cases, checked through the EDN reader and the CLI's path.

The histories and expected verdicts are data in ``tests/data/elle/list_append_cases.json``
(transcribed from jepsen-io/elle's test suite; license and source in the file). Each case is
checked as published and, where its ops come in invoke/ok pairs, also in its *concurrent
form* (every invocation first, then every completion: no real-time or process order), which
must not change a verdict that does not depend on those orders.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from splitbrain.checkers.list_append import check_list_append
from splitbrain.formats.edn import read_edn

DATA = Path(__file__).parent / "data" / "elle"
CASES = json.loads((DATA / "list_append_cases.json").read_text())["cases"]


def _check(tmp_path: Path, edn: str, case: dict[str, Any]) -> Any:
    path = tmp_path / "h.edn"
    path.write_text(edn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = read_edn(str(path))
    return check_list_append(h, consistency_models=case["consistency_models"], anomalies=case["anomalies"])


def _agrees(res: Any, expect: dict[str, Any]) -> bool:
    return (res.valid == expect["valid"] and sorted(res.details["anomaly-types"]) == expect["anomaly_types"]
            and (expect["not"] is None or sorted(res.details["not"]) == expect["not"]))


def _concurrent(edn: str) -> str | None:
    lines = edn.splitlines()
    if not all(re.search(r":type :(invoke|ok)", x) for x in lines) or len(lines) % 2:
        return None
    inv = [x for x in lines if ":type :invoke" in x]
    done = [x for x in lines if ":type :ok" in x]
    procs = [re.search(r":process (\d+)", x) for x in inv]
    if len({m.group(1) for m in procs if m}) != len(inv):  # a process runs several txns: keep its order
        return None
    return "\n".join(inv + done)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_elle_case(tmp_path: Path, case: dict[str, Any]) -> None:
    res = _check(tmp_path, case["history"], case)
    assert _agrees(res, case["expect"]), (res.valid, res.details, [a.explanation for a in res.anomalies])


def _order_free(case: dict[str, Any]) -> bool:
    types = case["expect"]["anomaly_types"]
    return not any(t.endswith(("-realtime", "-process")) for t in types) and not any(
        m.startswith("strong") or m == "strict-serializable" for m in (case["consistency_models"] or []))


@pytest.mark.parametrize("case", [c for c in CASES if _concurrent(c["history"]) and _order_free(c)],
                         ids=lambda c: c["name"])
def test_elle_case_concurrent_form(tmp_path: Path, case: dict[str, Any]) -> None:
    conc = _concurrent(case["history"])
    assert conc is not None
    res = _check(tmp_path, conc, case)
    assert _agrees(res, case["expect"]), (res.valid, res.details, [a.explanation for a in res.anomalies])


def test_paper_example_loads_and_is_g_single() -> None:
    with pytest.warns(UserWarning, match="no :process"):
        h = read_edn(str(DATA.parent.parent.parent / "corpora" / "elle" / "paper-example.edn"))
    res = check_list_append(h)
    assert res.valid is False and res.details["anomaly-types"] == ["G-single-item"]
    steps = res.anomalies[0].data["edges"]
    assert sorted(s["type"] for s in steps) == ["rw", "wr", "ww"]
    assert {s["key"] for s in steps} == {255, 256}


RW_CASES = json.loads((DATA / "rw_register_cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", RW_CASES, ids=[c["name"] for c in RW_CASES])
def test_elle_rw_register_case(tmp_path: Path, case: dict[str, Any]) -> None:
    from splitbrain.checkers.rw_register import check_rw_register

    path = tmp_path / "h.edn"
    path.write_text(case["history"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = read_edn(str(path))
    res = check_rw_register(h, consistency_models=case["consistency_models"], anomalies=case["anomalies"],
                            wfr_keys=case["wfr_keys"])
    assert _agrees(res, case["expect"]), (res.valid, res.details, [a.explanation for a in res.anomalies])
