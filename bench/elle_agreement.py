"""Agreement figures for the transactional checkers: Elle's published cases and a brute-force oracle.

1. Elle's own test cases (tests/data/elle/*.json, transcribed from jepsen-io/elle): how many
   verdicts, anomaly-type sets and ``not`` sets agree, as published and in their concurrent form
   (every invocation first: no real-time or process order; only for cases whose expectation does
   not depend on those orders).
2. Random tiny histories (tests/txn_oracle.py) against the brute-force serial-order oracle:
   list-append must agree exactly (its version orders are fully known), for serializable and
   strict-serializable; rw-register must be sound (invalid => no serial order exists).

    python3 bench/elle_agreement.py [--seeds 500] [--first-seed 0]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.checkers.list_append import check_list_append  # noqa: E402
from splitbrain.checkers.rw_register import check_rw_register  # noqa: E402
from splitbrain.formats.edn import read_edn  # noqa: E402
from tests.test_elle_cases import CASES, RW_CASES, _agrees, _concurrent, _order_free  # noqa: E402
from tests.txn_oracle import generate, serializable  # noqa: E402


def _edn(text: str, d: Path):
    p = d / "h.edn"
    p.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_edn(str(p))


def elle_cases() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ok = conc_ok = conc_n = 0
        for c in CASES:
            res = check_list_append(_edn(c["history"], d), consistency_models=c["consistency_models"],
                                    anomalies=c["anomalies"])
            ok += _agrees(res, c["expect"])
            conc = _concurrent(c["history"])
            if conc and _order_free(c):
                conc_n += 1
                res = check_list_append(_edn(conc, d), consistency_models=c["consistency_models"],
                                        anomalies=c["anomalies"])
                conc_ok += _agrees(res, c["expect"])
        rw_ok = 0
        for c in RW_CASES:
            res = check_rw_register(_edn(c["history"], d), consistency_models=c["consistency_models"],
                                    anomalies=c["anomalies"], wfr_keys=c["wfr_keys"])
            rw_ok += _agrees(res, c["expect"])
        invalid = [c for c in CASES + RW_CASES if c["expect"]["valid"] is False]
        print(f"Elle list-append cases: {ok}/{len(CASES)} agree (verdict, anomaly types, not); "
              f"concurrent forms: {conc_ok}/{conc_n}")
        print(f"Elle rw-register cases: {rw_ok}/{len(RW_CASES)} agree; invalid cases: {len(invalid)}")


def oracle(seeds: int, first: int) -> None:
    counts = {"list-append serializable": [0, 0], "list-append strict-serializable": [0, 0],
              "rw-register sound": [0, 0]}
    invalid_seen = {"list-append serializable": 0, "list-append strict-serializable": 0}
    for seed in range(first, first + seeds):
        rng = random.Random(seed)
        n = rng.randint(1, 5)
        stale = rng.choice([0.0, 0.3, 0.7])
        h, txns, before = generate(rng, n, "list-append", stale=stale, concurrent=rng.choice([0.2, 0.6, 0.9]))
        for name, models, order in (("list-append serializable", ["serializable"], None),
                                    ("list-append strict-serializable", None, before)):
            res = check_list_append(h, consistency_models=models)
            got = True if (res.valid == "unknown" and res.details["anomaly-types"] == ["empty-transaction-graph"]) \
                else res.valid
            truth = serializable(txns, "list-append", order)
            counts[name][0] += got == truth
            counts[name][1] += 1
            invalid_seen[name] += not truth
        h, txns, before = generate(random.Random(seed), n, "rw-register", stale=stale)
        res = check_rw_register(h, consistency_models=["serializable"])
        counts["rw-register sound"][0] += res.valid is not False or not serializable(txns, "rw-register")
        counts["rw-register sound"][1] += 1
    for name, (agree, total) in counts.items():
        extra = f" ({invalid_seen[name]} not serializable by the oracle)" if name in invalid_seen else ""
        print(f"oracle, {name}: {agree}/{total} agree{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--first-seed", type=int, default=0)
    a = ap.parse_args()
    elle_cases()
    oracle(a.seeds, a.first_seed)


if __name__ == "__main__":
    main()
