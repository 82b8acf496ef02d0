"""Detection of the example plugin's lost writes (examples/pbkv-plugin), through the plugin and its system file.

usage: python bench/own_system.py [--seeds 10] [--time-limit 30] [--ways plugin,file] [--backend local]

pbkv acknowledges writes before replicating them, so a cut-off or killed
primary loses acknowledged adds. For each way in, prints the detection rate
(runs exiting 1 with at least one ``lost`` anomaly), the mean lost adds per
detecting run, mean time to detection and mean wall time, and the seeds it
missed. Goal: >= 9/10 in 30-second runs under ``partition,kill``. The plugin
must be installed (``make examples``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import first_anomaly_time_s, run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WAYS = {"plugin": "pbkv", "file": str(ROOT / "examples" / "pbkv-plugin" / "pbkv.toml")}


def lost(run_dir: str) -> int:
    try:
        results = json.loads((Path(run_dir) / "results.json").read_text())
    except (OSError, ValueError):
        return 0
    # the count, not the anomaly list: the checker keeps at most a sample of anomalies
    return int(results["checkers"].get("set", {}).get("stats", {}).get("lost", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--ways", default="plugin,file")
    ap.add_argument("--nemesis", default="partition,kill")
    ap.add_argument("--backend", default="local")
    ap.add_argument("--store", default="store/bench-own-system")
    a = ap.parse_args()
    print(f"pbkv lost writes, {a.seeds} seeds from {a.first_seed}, {a.time_limit:.0f} s runs, "
          f"--nemesis {a.nemesis}, backend {a.backend}")
    for way in a.ways.split(","):
        caught, losses, ttd, wall, missed = 0, [], [], [], []
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            out = run(WAYS[way], workload="set", nemesis=a.nemesis, seed=seed, time_limit=a.time_limit,
                      backend=a.backend, store=a.store)
            wall.append(out["wall_s"])
            n = lost(out["run_dir"]) if out.get("run_dir") else 0
            if out["exit_code"] == 1 and n > 0:
                caught += 1
                losses.append(n)
                t = first_anomaly_time_s(out["run_dir"])
                if t is not None:
                    ttd.append(t)
            else:
                missed.append(f"{seed} (exit {out['exit_code']}{', ' + str(out.get('stderr_tail')) if 'stderr_tail' in out else ''})")
        print(f"  {way:<7} detected {caught}/{a.seeds}"
              f"  lost/run {statistics.mean(losses) if losses else 0:.1f}"
              f"  ttd {statistics.mean(ttd) if ttd else float('nan'):.1f} s"
              f"  wall {statistics.mean(wall):.1f} s"
              + (f"  missed seeds: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
