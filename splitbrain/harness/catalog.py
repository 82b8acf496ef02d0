"""What is installed: every system, workload, fault, checker and backend, and where each comes from.

``splitbrain systems`` prints it; a broken plugin is listed with its reason
instead of hiding the others.
"""

from __future__ import annotations

from typing import Any

from splitbrain.errors import UsageError
from splitbrain.registry import BACKENDS, BUILT_IN, CHECKERS, FAULTS, SYSTEMS, WORKLOADS


def systems_info() -> dict[str, Any]:
    """What ``systems --json`` prints: every name, where it comes from, and the plugins refused."""
    out: dict[str, Any] = {}
    for name in SYSTEMS.names():
        origin = SYSTEMS.origin(name)
        try:
            s = SYSTEMS.get(name)
            out[name] = {"workloads": list(s.workloads), "bugs": sorted(s.bugs),
                         "bug_descriptions": {b: str(s.bugs[b]) for b in sorted(s.bugs)}, "origin": origin}
        except Exception as e:  # noqa: BLE001 - one broken system must not hide the others
            out[name] = {"workloads": [], "bugs": [], "bug_descriptions": {}, "origin": origin,
                         "available": False, "error": str(e) if isinstance(e, UsageError) else f"{type(e).__name__}: {e}"}
    registries = (SYSTEMS, WORKLOADS, FAULTS, CHECKERS, BACKENDS)
    plugins = {r.kind: {n: r.origin(n) for n in r.names() if r.origin(n) != BUILT_IN} for r in registries}
    problems = [p for r in registries for p in r.problems().values()]
    return {"systems": out, "faults": FAULTS.names(), "backends": BACKENDS.names(), "workloads": WORKLOADS.names(),
            "checkers": CHECKERS.names(), "plugins": {k: v for k, v in plugins.items() if v}, "problems": problems}
