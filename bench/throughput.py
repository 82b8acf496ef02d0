"""How fast the harness drives a system, and how fast a Raft cluster comes up.

Prints two figures:

* harness ops/s with 10 clients against memkv (a trivial in-memory system), at
  unlimited rate: the ceiling the control node imposes on every test (goal >= 2,000);
* seconds for a 5-node raft cluster to start and serve its first write (goal < 2 s).

Usage: python3 bench/throughput.py [--seconds S] [--clients C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from splitbrain.backends.base import ClusterSpec  # noqa: E402
from splitbrain.harness.build import build_test  # noqa: E402
from splitbrain.harness.client import open_client  # noqa: E402
from splitbrain.harness.runner import Run  # noqa: E402


def harness_ops_per_s(seconds: float, clients: int, store: Path) -> tuple[float, dict]:
    test, system, workload, backend_cls = build_test(
        "memkv", "register", "none", 1, "local", seconds, clients, 0, 1, None, str(store), None, 3.0, 5.0, {})
    run = Run(test, system, workload, backend_cls({}))
    outcome = asyncio.run(run.execute())
    assert outcome.result is not None
    counts = outcome.result.counts
    done = counts["ok"] + counts["fail"] + counts["info"]
    return done / seconds, counts


async def raft_bringup(store: Path) -> float:
    from splitbrain.registry import BACKENDS, SYSTEMS

    system = SYSTEMS.get("raft")
    backend = BACKENDS.get("local")({})
    nodes = [f"n{i}" for i in range(1, 6)]
    run_dir = store / "raft-bringup"
    run_dir.mkdir(parents=True)
    start = time.monotonic()
    try:
        await backend.setup(ClusterSpec(system=system, nodes=nodes, run_dir=str(run_dir), run_id="bench"))
        i = 0
        while time.monotonic() - start < 30:
            client = open_client(system, backend.client_address(nodes[i % 5]))
            try:
                resp = await client.invoke("write", "bench", 1, 1.0)
                if resp.get("ok"):
                    return time.monotonic() - start
            except (TimeoutError, OSError):
                pass
            finally:
                await client.close()
            i += 1
            await asyncio.sleep(0.02)
        raise RuntimeError("raft cluster did not serve a write within 30 s")
    finally:
        await backend.teardown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate, counts = harness_ops_per_s(args.seconds, args.clients, Path(tmp) / "store")
        print(f"harness vs memkv, {args.clients} clients, {args.seconds:g} s: {rate:,.0f} ops/s "
              f"(goal >= 2,000) {json.dumps(counts)}")
        try:
            seconds = asyncio.run(raft_bringup(Path(tmp)))
            print(f"5-node raft cluster up and serving a write: {seconds:.2f} s (goal < 2 s)")
        except Exception as e:  # noqa: BLE001 - the first figure still stands
            print(f"5-node raft bring-up: not measured ({type(e).__name__}: {e})")


if __name__ == "__main__":
    main()
