"""Docker backend figures: image build (cold and warm), cluster start, ops/s against the local backend.

    python3 bench/docker_backend.py            # warm build, start time, ops/s (about 2 minutes)
    python3 bench/docker_backend.py --cold     # also a cold build (debootstrap + import + docker build)
                                       # under throwaway tags, leaving the real images alone

Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

# This file is named docker.py: drop its own directory from the path so `import docker` finds the SDK.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.join(_HERE, ".."))

from splitbrain.backends.base import ClusterSpec  # noqa: E402
from splitbrain.backends.docker import images  # noqa: E402


def cold_build() -> tuple[float, float]:
    """Base and node image from nothing, tagged splitbrain-bench:* and removed afterwards."""
    client = images.docker_client()
    p = images.base_params()
    tag = f"splitbrain-bench:base-{uuid.uuid4().hex[:6]}"
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-", dir="/var/tmp") as tmp:
        root = os.path.join(tmp, "rootfs")
        subprocess.run(["debootstrap", f"--variant={p['variant']}", f"--include={','.join(p['include'])}",
                        p["suite"], root, p["mirror"]], check=True, stdout=subprocess.DEVNULL)
        images._import_rootfs(client, root, tag, lambda _s: None)
    base_s = time.monotonic() - start
    start = time.monotonic()
    node = images.build_node(client, tag, lambda _s: None)
    node_s = time.monotonic() - start
    if node != images.node_tag():  # never remove an image that real runs use
        client.images.remove(node, force=True)
    client.images.remove(tag, force=True)
    return base_s, node_s


def cluster_start(system_name: str, nodes: int) -> float:
    from splitbrain.backends.docker.backend import DockerBackend
    from splitbrain.registry import SYSTEMS

    backend = DockerBackend({})
    spec = ClusterSpec(system=SYSTEMS.get(system_name), nodes=[f"n{i}" for i in range(1, nodes + 1)],
                       run_dir=tempfile.mkdtemp(prefix="splitbrain-bench-"), run_id=f"bench-{uuid.uuid4().hex[:6]}")
    start = time.monotonic()
    try:
        asyncio.run(backend.setup(spec))
        return time.monotonic() - start
    finally:
        asyncio.run(backend.teardown())


def ops_per_s(system_name: str, backend: str, seconds: int) -> float:
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-") as store:
        out = subprocess.run([sys.executable, "-m", "splitbrain", "run", system_name, "--backend", backend,
                              "--nemesis", "none", "--time-limit", str(seconds), "--rate", "2000",
                              "--concurrency", "10", "--store", store, "--json"],
                             capture_output=True, text=True, timeout=seconds + 180)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        with open(os.path.join(result["run_dir"], "results.json")) as fh:
            duration = json.load(fh).get("duration_s") or seconds
        return result["ops"] / duration


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--system", default="paxos")
    ap.add_argument("--seconds", type=int, default=15)
    a = ap.parse_args()
    if a.cold:
        base_s, node_s = cold_build()
        print(f"cold build: base (debootstrap + import) {base_s:.1f} s, node image {node_s:.1f} s")
    images.ensure_node_image()
    start = time.monotonic()
    images.ensure_node_image()
    print(f"warm build (inputs unchanged): {time.monotonic() - start:.2f} s")
    for n in (3, 5):
        print(f"cluster start, {a.system}, {n} containers: {cluster_start(a.system, n):.1f} s")
    local = ops_per_s(a.system, "local", a.seconds)
    dock = ops_per_s(a.system, "docker", a.seconds)
    print(f"ops/s {a.system} (no faults, concurrency 10, {a.seconds} s): local {local:.0f}, docker {dock:.0f} "
          f"({dock / local:.2f}x)")


if __name__ == "__main__":
    main()
